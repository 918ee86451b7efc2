import type { CompletionKind } from "../lro.ts";
import type { Route } from "../router.ts";
import { cdnRoutes, originUpdated } from "./cdn.ts";
import { frontDoorPut, frontDoorRoutes } from "./frontdoor.ts";
import { keyVaultRoutes } from "./keyvault.ts";
import { metricsRoutes } from "./metrics.ts";
import { groupFailedOver, groupPut, sqlRoutes } from "./sql.ts";
import { accountFailedOver, accountMigrated, storageRoutes } from "./storage.ts";
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

/** Every kind of long-running operation completion, by kind. */
export function serviceCompletions(): ReadonlyMap<string, CompletionKind<never>> {
  const kinds: CompletionKind<never>[] = [groupFailedOver, groupPut, accountFailedOver, accountMigrated, originUpdated, frontDoorPut];
  return new Map(kinds.map((k) => [k.kind, k]));
}
