import type { Route } from "../router.ts";

export function storageRoutes(): Route[] {
  return [];
}
