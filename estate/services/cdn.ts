import type { Route } from "../router.ts";

export function cdnRoutes(): Route[] {
  return [];
}
