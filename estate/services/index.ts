import type { CompletionKind } from "../lro.ts";
import { Rbac } from "../rbac.ts";
import type { Route } from "../router.ts";
import { authorizationRoutes } from "./authorization.ts";
import { cdnRoutes, originUpdated } from "./cdn.ts";
import { frontDoorPut, frontDoorRoutes } from "./frontdoor.ts";
import { keyVaultRoutes } from "./keyvault.ts";
import { metricsRoutes } from "./metrics.ts";
import { groupFailedOver, groupPut, sqlRoutes } from "./sql.ts";
import { accountFailedOver, accountMigrated, storageRoutes } from "./storage.ts";
import { webRoutes } from "./web.ts";

/**
 * Every Azure operation the estate serves, plus the operation-status URLs its 202s point at. `rbac` is
 * the estate's RBAC mode, which `Microsoft.Authorization/permissions` answers from (off when not given).
 */
export function serviceRoutes(rbac: Rbac = new Rbac()): Route[] {
  return [
    ...sqlRoutes(),
    ...storageRoutes(),
    ...cdnRoutes(),
    ...frontDoorRoutes(),
    ...webRoutes(),
    ...keyVaultRoutes(),
    ...metricsRoutes(),
    ...authorizationRoutes(rbac),
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
