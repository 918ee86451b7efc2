import type { Route } from "../router.ts";

export function keyVaultRoutes(): Route[] {
  return [];
}
