import type { Route } from "../router.ts";

export function frontDoorRoutes(): Route[] {
  return [];
}
