import type { Route } from "../router.ts";

export function metricsRoutes(): Route[] {
  return [];
}
