import type { Route } from "../router.ts";
import { cdnRoutes } from "./cdn.ts";
import { frontDoorRoutes } from "./frontdoor.ts";
import { keyVaultRoutes } from "./keyvault.ts";
import { metricsRoutes } from "./metrics.ts";
import { sqlRoutes } from "./sql.ts";
import { storageRoutes } from "./storage.ts";
import { webRoutes } from "./web.ts";

/** Every Azure operation the estate serves, plus the operation-status URLs its 202s point at. */
export function serviceRoutes(): Route[] {
  return [
    ...sqlRoutes(),
    ...storageRoutes(),
    ...cdnRoutes(),
    ...frontDoorRoutes(),
    ...webRoutes(),
    ...keyVaultRoutes(),
    ...metricsRoutes(),
    {
      method: "GET",
      path: "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/{segment}/{operationId}",
      operationId: "Operations_GetStatus",
      api: "arm",
      handler: (req, ctx) => ctx.operations.poll(req, req.params.segment!, req.params.operationId!),
    },
  ];
}
