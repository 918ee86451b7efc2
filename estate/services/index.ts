import type { Route } from "../router.ts";
import { sqlRoutes } from "./sql.ts";

/** Every Azure operation the estate serves, plus the operation-status URLs its 202s point at. */
export function serviceRoutes(): Route[] {
  return [
    ...sqlRoutes(),
    {
      method: "GET",
      path: "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/{segment}/{operationId}",
      operationId: "Operations_GetStatus",
      api: "arm",
      handler: (req, ctx) => ctx.operations.poll(req, req.params.segment!, req.params.operationId!),
    },
  ];
}
