import type { Route } from "../router.ts";

export function webRoutes(): Route[] {
  return [];
}
