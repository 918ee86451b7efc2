import { callerOf, armScope, type Rbac } from "../rbac.ts";
import type { RolePermission } from "../roles.ts";
import type { EstateRequest, EstateResponse, Route } from "../router.ts";

/**
 * `Microsoft.Authorization/permissions` (api-version 2022-04-01, authorization-RoleDefinitionsCalls.json):
 * the permissions the caller has at a resource group or a resource. Azure answers one entry per role
 * assignment that applies there (assigned at that scope or any scope above it), each with its role's
 * `actions`, `notActions`, `dataActions` and `notDataActions`; `value` is empty when none does. With
 * the estate's RBAC mode off every caller may do everything: one entry allowing every action and data
 * action (`*` in both).
 *
 * `@azure/arm-authorization` builds the resource URL from `{resourceProviderNamespace}/{parentResourcePath}
 * /{resourceType}/{resourceName}` without encoding the middle two: an empty parent path gives a double
 * slash (`Microsoft.Sql//servers/{name}`), a parent or a type with slashes gives more segments. The
 * estate answers resources one to three levels deep, with or without that empty segment.
 */

const RG = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}";
const PERMISSIONS = "/providers/Microsoft.Authorization/permissions";

/** Type/name pairs after the namespace: 1, 2 and 3 levels, each with and without the empty parent segment. */
const RESOURCE_PATHS = [1, 2, 3].flatMap((depth) => {
  const pairs = Array.from({ length: depth }, (_, i) => `{type${i}}/{name${i}}`).join("/");
  return [`/${pairs}`, `//${pairs}`];
});

/** Everything: what a caller may do while the estate's RBAC mode is off. */
const EVERYTHING: RolePermission = { actions: ["*"], notActions: [], dataActions: ["*"], notDataActions: [] };

export function authorizationRoutes(rbac: Rbac): Route[] {
  const list = (req: EstateRequest): EstateResponse => {
    const scope = armScope("GET", req.url.pathname);
    const authorization = req.headers.authorization;
    const caller = callerOf(Array.isArray(authorization) ? authorization[0] : authorization);
    const permissions = rbac.enabled ? rbac.permissionsAt(caller, scope) : [EVERYTHING];
    return {
      status: 200,
      body: { value: permissions.map((p) => ({ actions: [...p.actions], notActions: [...p.notActions], dataActions: [...p.dataActions], notDataActions: [...p.notDataActions] })) },
    };
  };
  return [
    { method: "GET", path: `${RG}${PERMISSIONS}`, operationId: "Permissions_ListForResourceGroup", api: "arm", handler: list },
    ...RESOURCE_PATHS.map(
      (resource): Route => ({
        method: "GET",
        path: `${RG}/providers/{resourceProviderNamespace}${resource}${PERMISSIONS}`,
        operationId: "Permissions_ListForResource",
        api: "arm",
        handler: list,
      }),
    ),
  ];
}
