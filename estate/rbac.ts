import { createHash } from "node:crypto";
import { EstateHttpError, type ArmErrorBody } from "./errors.ts";
import { isObject, stringAt } from "./json.ts";
import type { Operation } from "./lro.ts";
import { findBuiltInRole, grants, type ActionKind, type BuiltInRole, type RolePermission } from "./roles.ts";
import type { Route } from "./router.ts";
import type { EstateState } from "./state.ts";

/**
 * Azure RBAC as Resource Manager and Key Vault enforce it, for the estate's optional RBAC mode: the
 * action each operation needs (Azure's resource provider operations reference,
 * learn.microsoft.com/azure/role-based-access-control/permissions/*), the scope a request names, who
 * the caller is, and the refusal Azure answers when no role assigned to the caller grants the action.
 *
 * Authorization happens where Azure does it, before the resource provider sees the request: in
 * Resource Manager's front door for ARM operations, in Key Vault's own data plane for secrets
 * (estate/server.ts calls `authorize` after authentication and Resource Manager throttling, before
 * planted faults and the regional control plane). Tokens are not validated: the caller is read from
 * the token as it comes.
 */

/** What an operation needs from Azure RBAC. */
export interface OperationAuthorization {
  /** The RBAC action (or data action) it needs; absent when none is public. */
  readonly action?: string;
  readonly kind: ActionKind;
  /** Whether the estate's RBAC mode checks it (false: logged only, or not at all without an action). */
  readonly enforced: boolean;
  /** Why it is not checked, or how the action was chosen where the reference leaves room. */
  readonly note?: string;
}

const arm = (action: string, note?: string): OperationAuthorization => ({ action, kind: "action", enforced: true, ...(note ? { note } : {}) });
const data = (action: string): OperationAuthorization => ({ action, kind: "dataAction", enforced: true });

const SQL_GROUP = "Microsoft.Sql/servers/failoverGroups";
const STORAGE = "Microsoft.Storage/storageAccounts";
const WEB_CONFIG = "Microsoft.Web/sites/config";
const SECRETS = "Microsoft.KeyVault/vaults/secrets";

/**
 * The action each operation the estate serves needs, by operation id. Control plane actions are named
 * as the resource provider operations reference names them (compared case-insensitively, as Azure
 * does); Key Vault's are data actions ("Azure Key Vault data plane" operations, the RBAC guide and the
 * ABAC attribute reference).
 */
export const OPERATION_AUTHORIZATION: Readonly<Record<string, OperationAuthorization>> = {
  FailoverGroups_Get: arm(`${SQL_GROUP}/read`),
  FailoverGroups_ListByServer: arm(`${SQL_GROUP}/read`),
  FailoverGroups_CreateOrUpdate: arm(`${SQL_GROUP}/write`),
  FailoverGroups_Failover: arm(`${SQL_GROUP}/failover/action`),
  FailoverGroups_ForceFailoverAllowDataLoss: arm(`${SQL_GROUP}/forceFailoverAllowDataLoss/action`),
  FailoverGroups_TryPlannedBeforeForcedFailover: arm(`${SQL_GROUP}/tryPlannedBeforeForcedFailover/action`),
  ReplicationLinks_ListByDatabase: arm("Microsoft.Sql/servers/databases/replicationLinks/read"),
  ReplicationLinks_Get: arm("Microsoft.Sql/servers/databases/replicationLinks/read"),
  StorageAccounts_GetProperties: arm(`${STORAGE}/read`),
  StorageAccounts_Update: arm(`${STORAGE}/write`),
  StorageAccounts_Failover: arm(`${STORAGE}/failover/action`),
  StorageAccounts_CustomerInitiatedMigration: arm(
    `${STORAGE}/accountMigrations/write`,
    "the operations reference lists no startAccountMigration action; accountMigrations/write is the one it describes as changing an account's redundancy",
  ),
  StorageAccounts_GetCustomerInitiatedMigration: arm(`${STORAGE}/accountMigrations/read`),
  StorageAccounts_ListKeys: arm(`${STORAGE}/listkeys/action`),
  StorageAccounts_RegenerateKey: arm(`${STORAGE}/regeneratekey/action`),
  AFDOriginGroups_Get: arm("Microsoft.Cdn/profiles/originGroups/read"),
  AFDOriginGroups_ListByProfile: arm("Microsoft.Cdn/profiles/originGroups/read"),
  AFDOrigins_Get: arm("Microsoft.Cdn/profiles/originGroups/origins/read"),
  AFDOrigins_ListByOriginGroup: arm("Microsoft.Cdn/profiles/originGroups/origins/read"),
  AFDOrigins_Update: arm("Microsoft.Cdn/profiles/originGroups/origins/write"),
  AFDEndpoints_Get: arm("Microsoft.Cdn/profiles/afdEndpoints/read"),
  AFDEndpoints_ListByProfile: arm("Microsoft.Cdn/profiles/afdEndpoints/read"),
  Routes_Get: arm("Microsoft.Cdn/profiles/afdEndpoints/routes/read"),
  Routes_ListByEndpoint: arm("Microsoft.Cdn/profiles/afdEndpoints/routes/read"),
  FrontDoors_Get: arm("Microsoft.Network/frontDoors/read"),
  FrontDoors_ListByResourceGroup: arm("Microsoft.Network/frontDoors/read"),
  FrontDoors_CreateOrUpdate: arm("Microsoft.Network/frontDoors/write"),
  WebApps_Get: arm("Microsoft.Web/sites/read"),
  WebApps_ListApplicationSettings: arm(`${WEB_CONFIG}/list/action`),
  WebApps_ListConnectionStrings: arm(`${WEB_CONFIG}/list/action`),
  WebApps_UpdateApplicationSettings: arm(`${WEB_CONFIG}/write`),
  WebApps_UpdateConnectionStrings: arm(`${WEB_CONFIG}/write`),
  WebApps_ListAppSettingsKeyVaultReferences: arm(`${WEB_CONFIG}/read`, "the operations reference names no configreferences action: config/read is its read of a site's configuration"),
  WebApps_GetAppSettingKeyVaultReference: arm(`${WEB_CONFIG}/read`, "as WebApps_ListAppSettingsKeyVaultReferences"),
  WebApps_ListSiteConnectionStringKeyVaultReferences: arm(`${WEB_CONFIG}/read`, "as WebApps_ListAppSettingsKeyVaultReferences"),
  WebApps_GetSiteConnectionStringKeyVaultReference: arm(`${WEB_CONFIG}/read`, "as WebApps_ListAppSettingsKeyVaultReferences"),
  WebApps_RefreshAppSettingsKeyVaultReferences: arm(`${WEB_CONFIG}/write`, "the operations reference names no refresh action: the estate takes it as a configuration write"),
  Permissions_ListForResourceGroup: arm("Microsoft.Authorization/permissions/read"),
  Permissions_ListForResource: arm("Microsoft.Authorization/permissions/read"),
  Operations_GetStatus: {
    kind: "action",
    enforced: true,
    note: "the action and the scope come from the operation polled: its provider's status read (OPERATION_STATUS_ACTIONS) over the resource group of the resource it acts on",
  },
  GetSecrets: data(`${SECRETS}/readMetadata/action`),
  GetSecretVersions: data(`${SECRETS}/readMetadata/action`),
  GetSecret: data(`${SECRETS}/getSecret/action`),
  SetSecret: data(`${SECRETS}/setSecret/action`),
  UpdateSecret: data(`${SECRETS}/update/action`),
  MetricsBatch_Batch: {
    action: "Microsoft.Insights/Metrics/Read",
    kind: "action",
    enforced: false,
    note: "how the metrics batch API reports a resource the caller may not read is not public: logged, not checked",
  },
  MetricsBatch_NotRegional: { kind: "action", enforced: false, note: "not a service: the estate's own 404 for a batch sent to Resource Manager's host" },
};

/**
 * The action that reads a long-running operation's status or result, by the provider whose operation it
 * is and the segment of the status URL (`/subscriptions/{s}/providers/{namespace}/locations/{location}
 * /{segment}/{operationId}`, the `Azure-AsyncOperation` and `Location` URLs the estate's 202s hand out):
 *
 * - SQL: the read of the resource types `locations/failoverGroupAzureAsyncOperation` and
 *   `locations/failoverGroupOperationResults`, which Microsoft.Sql registers (Azure's "Move operation
 *   support for resources" lists them), named in the reference's `{Company}.{ProviderName}/{resourceType}/{action}`
 *   format. Microsoft.Sql's operations reference lists that read for its other status types
 *   (`locations/firewallRulesAzureAsyncOperation/read`, `locations/databaseOperationResults/read`, …)
 *   but not for these two: the two names are the estate's reading.
 * - Storage: `Microsoft.Storage/operations/read`, which the operations reference describes as polling
 *   the status of an asynchronous operation (it lists no read of `locations/asyncoperations`).
 * - Front Door Standard/Premium: `Microsoft.Cdn/operationresults/read`, the operations reference's read
 *   of the CDN provider's operation results.
 * - Front Door (classic): `Microsoft.Network/frontdooroperationresults/read`, "Gets Frontdoor operation
 *   result" in the operations reference.
 */
const STATUS_READS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "Microsoft.Sql": {
    failoverGroupAzureAsyncOperation: "Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read",
    failoverGroupOperationResults: "Microsoft.Sql/locations/failoverGroupOperationResults/read",
  },
  "Microsoft.Storage": { asyncoperations: "Microsoft.Storage/operations/read", operationResults: "Microsoft.Storage/operations/read" },
  "Microsoft.Cdn": { operationresults: "Microsoft.Cdn/operationresults/read", operationresultlocations: "Microsoft.Cdn/operationresults/read" },
  "Microsoft.Network": { frontdoorOperationResults: "Microsoft.Network/frontdooroperationresults/read" },
};

/** The actions that read an operation's status, by provider namespace: what a caller needs on the resource group to follow that provider's long-running operations. */
export const OPERATION_STATUS_ACTIONS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(STATUS_READS).map(([namespace, bySegment]) => [namespace, [...new Set(Object.values(bySegment))]]),
);

/**
 * The action a poll of a provider's status URL segment needs (namespace and segment in any case). A
 * segment the table does not know is read as Resource Manager names the read of a location-level
 * resource type: `{namespace}/locations/{segment}/read`.
 */
export function operationStatusAction(namespace: string, segment: string): string {
  const provider = Object.entries(STATUS_READS).find(([name]) => name.toLowerCase() === namespace.toLowerCase());
  const known = provider && Object.entries(provider[1]).find(([name]) => name.toLowerCase() === segment.toLowerCase());
  return known ? known[1] : `${provider?.[0] ?? namespace}/locations/${segment}/read`;
}

/** The operations the estate tracks, by id: what a status poll is authorized from. */
export interface OperationLookup {
  get(id: string): Pick<Operation, "subscriptionId" | "namespace" | "resourceId"> | undefined;
}

/** The authorization a request needs: its operation's action, over the scope its path names. */
export interface RequestAuthorization {
  readonly action: string;
  readonly kind: ActionKind;
  /** The ARM resource id the request names (a resource, or the resource group, or the subscription). */
  readonly scope: string;
  readonly enforced: boolean;
  /** Key Vault requests: the vault, for the data plane's refusal. */
  readonly vault?: { readonly name: string; readonly location?: string };
}

/**
 * What a request needs, from its route, method, path and parameters (undefined for an operation that
 * needs no action the estate knows). The scope is the ARM resource id the request names, as Resource
 * Manager reads a request URI, from its decoded segments (`armScope`): a POST's last segment is the
 * action, a collection's type is not part of its scope (listing a server's failover groups is
 * authorized on the server). Key Vault: the vault's ARM id as seeded (plus `/secrets/{name}` when the
 * request names a secret); a vault the estate knows by name only has no ARM id, and is
 * `/providers/Microsoft.KeyVault/vaults/{name}`.
 *
 * A poll of a long-running operation's status URL (`Operations_GetStatus`) is authorized as Azure
 * documents for tracking an asynchronous operation (learn.microsoft.com/azure/azure-resource-manager/management/async-operations,
 * "Permission for tracking async status"): the status URL is not under the resource, so the caller needs
 * permission at the resource group level. Its scope is the resource group of the resource the operation
 * acts on (from `operations`), its action the provider's status read (`operationStatusAction`). A poll
 * of an operation the estate does not know (or of another subscription's) needs nothing here: it is
 * answered as before.
 */
export function requestAuthorization(
  route: Route,
  request: { method: string; path: string; params: Record<string, string> },
  state: EstateState,
  operations?: OperationLookup,
): RequestAuthorization | undefined {
  const needs = OPERATION_AUTHORIZATION[route.operationId];
  if (route.operationId === STATUS_POLL && needs) {
    const op = operations?.get(request.params.operationId ?? "");
    if (!op || op.subscriptionId.toLowerCase() !== (request.params.subscriptionId ?? "").toLowerCase()) return undefined;
    return { action: operationStatusAction(op.namespace, request.params.segment ?? ""), kind: needs.kind, enforced: needs.enforced, scope: resourceGroupOf(op.resourceId, op.subscriptionId) };
  }
  if (!needs?.action) return undefined;
  const base = { action: needs.action, kind: needs.kind, enforced: needs.enforced };
  if (route.api === "keyvault") {
    const name = request.params.vaultName ?? "";
    const vault = state.vaults.get(name.toLowerCase());
    const vaultScope = vault?.id ?? `/providers/Microsoft.KeyVault/vaults/${scopeSegment(name)}`;
    const secret = request.params.secretName;
    return {
      ...base,
      scope: secret !== undefined ? `${vaultScope}/secrets/${scopeSegment(secret)}` : vaultScope,
      vault: { name: vault?.name ?? name, ...(vault?.location !== undefined ? { location: vault.location } : {}) },
    };
  }
  if (route.api === "metrics") return { ...base, scope: `/subscriptions/${scopeSegment(request.params.subscriptionId ?? "")}` };
  return { ...base, scope: armScope(request.method, request.path) };
}

const STATUS_POLL = "Operations_GetStatus";

/** The resource group an ARM resource id is in (`/subscriptions/{s}/resourceGroups/{rg}`), else the subscription. */
function resourceGroupOf(resourceId: string, subscriptionId: string): string {
  const segments = resourceId.split("/").filter((s) => s !== "");
  const inGroup = segments[0]?.toLowerCase() === "subscriptions" && segments[2]?.toLowerCase() === "resourcegroups" && segments[3] !== undefined;
  return inGroup ? `/${segments.slice(0, 4).join("/")}` : `/subscriptions/${scopeSegment(subscriptionId)}`;
}

/**
 * A decoded path segment (or path parameter) as one segment of a scope: `%` and `/` inside it stay
 * escaped (`%25`, `%2F`), so that a `%2F` a client sends inside a name never adds a segment to the
 * scope, nor moves it to another resource.
 */
function scopeSegment(decoded: string): string {
  return decoded.replace(/%/g, "%25").replace(/\//g, "%2F");
}

/** A request path's segments, each decoded as the router decodes path parameters (a malformed escape is kept as sent). */
function decodedSegments(path: string): string[] {
  return path
    .split("/")
    .filter((s) => s !== "")
    .map((raw) => {
      try {
        return scopeSegment(decodeURIComponent(raw));
      } catch {
        return raw;
      }
    });
}

/**
 * The ARM resource id a Resource Manager request path names: `/subscriptions/{s}/resourceGroups/{rg}
 * /providers/{Namespace}/{type}/{name}/…` without a POST's action segment and a collection's type; the
 * resource a `…/providers/Microsoft.Authorization/{permissions}` extension is called on; the resource
 * group or subscription when the path names no resource. Built from the path's decoded segments, as
 * the request is handled (`servers/mer%2Dsql` names the server `mer-sql`); a `%2F` inside a segment
 * stays in that segment (`scopeSegment`).
 */
export function armScope(method: string, path: string): string {
  let segments = decodedSegments(path);
  let action = method.toUpperCase() === "POST";
  const extension = segments.findIndex((s, i) => i >= 4 && s.toLowerCase() === "providers" && segments[i + 1]?.toLowerCase() === "microsoft.authorization");
  if (extension > 0) {
    segments = segments.slice(0, extension);
    action = false;
  }
  const head = segments.slice(0, 4);
  if (segments[4]?.toLowerCase() !== "providers" || segments.length < 6) return `/${head.join("/")}`;
  let rest = segments.slice(6);
  if (action) rest = rest.slice(0, -1);
  if (rest.length % 2 === 1) rest = rest.slice(0, -1);
  return rest.length === 0 ? `/${head.join("/")}` : `/${[...segments.slice(0, 6), ...rest].join("/")}`;
}

/** The segments of a scope, lower-case: `/` is none (the root scope). */
const segmentsOf = (scope: string) => scope.toLowerCase().split("/").filter((s) => s !== "");

/** Whether an assignment at `assigned` applies at `scope`: at it or below it, segment by segment, case-insensitively. */
export function scopeCovers(assigned: string, scope: string): boolean {
  const outer = segmentsOf(assigned);
  const inner = segmentsOf(scope);
  return outer.length <= inner.length && outer.every((s, i) => s === inner[i]);
}

// ---- the caller --------------------------------------------------------------------------------

/** Who is calling, from the bearer token. The token itself is never kept: only its SHA-256. */
export interface Caller {
  /** The token's `oid` claim when it is a JWT carrying one, else the token's fingerprint `sha256:<16 hex digits>`. */
  readonly objectId: string;
  readonly appId?: string;
  /** A user's sign-in name (`upn`, else `unique_name`), which Resource Manager names a user by. */
  readonly userName?: string;
  readonly issuer?: string;
  /** Whether a role assignment's principal is this caller: the object id, or the token text itself (or its fingerprint) for any other token. */
  readonly is: (principalId: string) => boolean;
}

const CLAIM = /^[\w.:@/-]{1,256}$/;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * The caller of a request, from its `Authorization` header. A JWT's payload is decoded without any
 * signature check (the estate validates no token): its `oid` names the principal. Any other token
 * is the principal itself, matched by its hash and shown by its fingerprint, never as text.
 */
export function callerOf(authorization: string | undefined): Caller {
  const token = (authorization ?? "").replace(/^Bearer\s+/i, "").trim();
  const tokenHash = sha256(token);
  const claims = jwtClaims(token);
  const claim = (name: string) => {
    const value = claims ? stringAt(claims, name) : undefined;
    return value !== undefined && CLAIM.test(value) ? value : undefined;
  };
  const oid = claim("oid");
  const appId = claim("appid") ?? claim("azp");
  const userName = claim("upn") ?? claim("unique_name");
  const issuer = claim("iss");
  const objectId = oid ?? `sha256:${tokenHash.slice(0, 16)}`;
  return {
    objectId,
    ...(appId ? { appId } : {}),
    ...(userName ? { userName } : {}),
    ...(issuer ? { issuer } : {}),
    is: (principalId) => {
      const id = principalId.trim();
      if (oid !== undefined) return id.toLowerCase() === oid.toLowerCase();
      return id === objectId || sha256(id) === tokenHash;
    },
  };
}

function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
    return isObject(payload) ? payload : undefined;
  } catch {
    return undefined;
  }
}

// ---- the mode ---------------------------------------------------------------------------------

/**
 * A role assignment: a role given to a principal (an object id, or any other token's text) at a scope
 * and every scope below it. The role is a built-in one (`role`: its display name, GUID or role
 * definition id) or a custom one (`roleName` and its `permissions` blocks), never both.
 */
export interface RbacAssignment {
  readonly principalId: string;
  readonly scope: string;
  readonly role?: string | undefined;
  readonly roleName?: string | undefined;
  readonly permissions?: readonly Partial<RolePermission>[] | undefined;
}

export interface RbacSettings {
  readonly enabled: boolean;
  readonly assignments?: readonly RbacAssignment[];
}

/** What `GET /_estate/rbac` shows. */
export interface RbacReport {
  readonly enabled: boolean;
  /** `roleDefinitionId` for a built-in role; `custom` and `permissions` for a custom one. */
  readonly assignments: readonly { principalId: string; role: string; scope: string; roleDefinitionId?: string; custom?: true; permissions?: readonly RolePermission[] }[];
}

export class RbacSettingsError extends Error {}

/** A role as assigned: a built-in one, or a custom one (no role definition id). */
export interface AssignedRole {
  readonly roleName: string;
  readonly roleDefinitionId?: string;
  readonly permissions: readonly RolePermission[];
}

interface HeldAssignment {
  readonly principalId: string;
  readonly role: AssignedRole;
  readonly custom: boolean;
  readonly scope: string;
}

/** Key Vault's 403 for a caller no role grants the data action: `Forbidden`, with `innererror.code` `ForbiddenByRbac`. */
class KeyVaultForbidden extends EstateHttpError {
  override body(): ArmErrorBody & { error: { innererror: { code: string } } } {
    return { error: { code: this.code, message: this.message, innererror: { code: "ForbiddenByRbac" } } };
  }
}

/**
 * The estate's RBAC mode: off (every caller may do everything, the estate's default) or on with a set
 * of role assignments. Off by default; `reset` goes back to the setting the estate started with.
 */
export class Rbac {
  private on = false;
  private held: HeldAssignment[] = [];

  constructor(private readonly initial: RbacSettings = { enabled: false }) {
    this.configure(initial);
  }

  get enabled(): boolean {
    return this.on;
  }

  /**
   * Replaces the mode and every assignment. Throws RbacSettingsError (changing nothing) for an unknown
   * built-in role, an assignment with both or neither of a built-in and a custom role, or a scope that
   * is not one.
   */
  configure(settings: RbacSettings): void {
    const held = (settings.assignments ?? []).map((a, i): HeldAssignment => {
      const at = `assignments[${i}]`;
      if (!a.scope.startsWith("/")) throw new RbacSettingsError(`${at}.scope: a scope is an ARM resource id, or / for the root`);
      if ((a.role === undefined) === (a.permissions === undefined)) {
        throw new RbacSettingsError(`${at}: give either role (a built-in role's name or GUID) or roleName and permissions (a custom role)`);
      }
      if (a.role !== undefined) {
        const role: BuiltInRole | undefined = findBuiltInRole(a.role);
        if (!role) throw new RbacSettingsError(`${at}.role: '${a.role}' is not a built-in role the estate knows`);
        return { principalId: a.principalId, role, custom: false, scope: a.scope };
      }
      if (!a.roleName) throw new RbacSettingsError(`${at}.roleName: a custom role needs a name`);
      const permissions = (a.permissions ?? []).map((p) => ({ actions: [...(p.actions ?? [])], notActions: [...(p.notActions ?? [])], dataActions: [...(p.dataActions ?? [])], notDataActions: [...(p.notDataActions ?? [])] }));
      return { principalId: a.principalId, role: { roleName: a.roleName, permissions }, custom: true, scope: a.scope };
    });
    this.on = settings.enabled;
    this.held = held;
  }

  reset(): void {
    this.configure(this.initial);
  }

  report(): RbacReport {
    return {
      enabled: this.on,
      assignments: this.held.map((a) => ({
        principalId: a.principalId,
        role: a.role.roleName,
        scope: a.scope,
        ...(a.custom ? { custom: true as const, permissions: a.role.permissions } : { roleDefinitionId: a.role.roleDefinitionId! }),
      })),
    };
  }

  /** The roles assigned to the caller that apply at a scope (assigned there or above it), in the order given. */
  rolesAt(caller: Caller, scope: string): AssignedRole[] {
    return this.held.filter((a) => caller.is(a.principalId) && scopeCovers(a.scope, scope)).map((a) => a.role);
  }

  /** The permission blocks of every role assignment that applies to the caller at a scope, one per assignment. */
  permissionsAt(caller: Caller, scope: string): RolePermission[] {
    return this.rolesAt(caller, scope).flatMap((r) => r.permissions);
  }

  /**
   * Refuses a request, as Azure would, when the mode is on, the operation is checked, and no role
   * assigned to the caller at the request's scope or above grants its action: Resource Manager's
   * `403 AuthorizationFailed`, or Key Vault's `403 Forbidden` (`ForbiddenByRbac`).
   */
  authorize(caller: Caller, request: RequestAuthorization): void {
    if (!this.on || !request.enforced) return;
    if (grants(this.permissionsAt(caller, request.scope), request.action, request.kind)) return;
    if (request.vault) throw keyVaultRefusal(caller, request, request.vault);
    throw new EstateHttpError(
      403,
      "AuthorizationFailed",
      `The client '${caller.userName ?? caller.objectId}' with object id '${caller.objectId}' does not have authorization to perform action '${request.action}' over scope '${request.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }
}

/**
 * Key Vault's refusal, in the layout its 403s show (lines separated by CRLF): the caller's appid, oid
 * and issuer, the data action, the resource (lower-case, as Key Vault reports it), no assignment found,
 * the decision reason and the vault with its location.
 */
function keyVaultRefusal(caller: Caller, request: RequestAuthorization, vault: { name: string; location?: string }): EstateHttpError {
  const who = [caller.appId ? `appid=${caller.appId}` : undefined, `oid=${caller.objectId}`, caller.issuer ? `iss=${caller.issuer}` : undefined].filter((p) => p !== undefined).join(";");
  const lines = [
    "Caller is not authorized to perform action on resource.",
    "If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.",
    `Caller: ${who}`,
    `Action: '${request.action}'`,
    `Resource: '${request.scope.toLowerCase()}'`,
    "Assignment: (not found)",
    "DenyAssignmentId: null",
    "DecisionReason: 'DeniedWithNoValidRBAC' ",
    `Vault: ${vault.name}${vault.location ? `;location=${vault.location}` : ""}`,
    "",
  ];
  return new KeyVaultForbidden(403, "Forbidden", lines.join("\r\n"));
}
