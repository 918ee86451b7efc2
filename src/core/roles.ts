/**
 * The Azure RBAC a plan needs: for every resource the plan names, the actions Switchyard performs on
 * it (failover, failback, re-protection, detection, lag, rotation, readiness), and the least-privilege
 * role assignment that grants them, scoped to that resource. `switchyard plan roles` prints it for the
 * deployment to apply; readiness asks Azure (Microsoft.Authorization/permissions) whether the
 * identity holds every action, rather than assuming it.
 *
 * Role ids and names are Azure's built-in roles (their definitions are public); classic Front Door gets
 * a custom role with its two actions, narrower than Network Contributor.
 */
import type { ArmResourceId } from "./plan/armId.ts";
import type { Plan } from "./plan/index.ts";

export interface BuiltInRole {
  readonly name: string;
  /** The role definition's GUID (the same in every tenant). */
  readonly id: string;
}

/** The built-in roles Switchyard asks for. */
export const ROLES = {
  sqlServerContributor: { name: "SQL Server Contributor", id: "6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437" },
  storageAccountContributor: { name: "Storage Account Contributor", id: "17d1049b-9a84-46fb-8f53-869881c3d3ab" },
  cdnProfileContributor: { name: "CDN Profile Contributor", id: "ec156ff8-a8d1-4d15-830c-5b80698ca432" },
  websiteContributor: { name: "Website Contributor", id: "de139f84-1756-47ae-9be6-808fbbe84772" },
  /**
   * Metrics (`Microsoft.Insights/metrics/read`) come with Reader's read-everything action: Reader
   * grants them and nothing Monitoring Reader adds (Log Analytics search, support tickets), so Reader
   * is the narrower choice.
   */
  reader: { name: "Reader", id: "acdd72a7-3385-48ef-bd42-f606fba81ae7" },
  keyVaultSecretsOfficer: { name: "Key Vault Secrets Officer", id: "b86a8fe4-44ce-4948-aee5-eccb2c155cd7" },
  storageBlobDataContributor: { name: "Storage Blob Data Contributor", id: "ba92f5b4-2d11-453d-a403-e96b0029c9fe" },
} as const satisfies Record<string, BuiltInRole>;

/** A role the deployment defines itself: only the actions listed. */
export interface CustomRole {
  readonly name: string;
  readonly description: string;
  readonly actions: readonly string[];
}

/** Classic Front Door's switch reads and PUTs the whole Front Door: those two actions (and readiness's question of which it holds), nothing else of Microsoft.Network. */
export const CLASSIC_FRONT_DOOR_ROLE: CustomRole = {
  name: "Switchyard Front Door (classic) Operator",
  description: "Read a classic Front Door and write its configuration (backend priorities and enabled states during a failover).",
  actions: ["Microsoft.Network/frontDoors/read", "Microsoft.Network/frontDoors/write", "Microsoft.Authorization/permissions/read"],
};

/**
 * Following a long-running operation: Azure answers its status URL (under the subscription, not the
 * resource) only to a caller with permission at the resource group of the resource it acts on — with
 * a role on the resource alone, an operation can be started but not tracked. These are the providers'
 * status reads, for the operations Switchyard starts (failover groups, storage failover, update and zone
 * conversion, Front Door origin updates, classic Front Door PUTs).
 */
export const OPERATION_STATUS_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  "Microsoft.Sql": ["Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read", "Microsoft.Sql/locations/failoverGroupOperationResults/read"],
  "Microsoft.Storage": ["Microsoft.Storage/operations/read"],
  "Microsoft.Cdn": ["Microsoft.Cdn/operationresults/read"],
  "Microsoft.Network": ["Microsoft.Network/frontdooroperationresults/read"],
};

/** The custom role each resource group holding plan resources gets: the providers' status reads, nothing else (one definition for every group). */
export const OPERATION_STATUS_ROLE: CustomRole = {
  name: "Switchyard Operation Status Reader",
  description: "Follow the long-running operations Switchyard starts on the resource group's resources (their status reads only).",
  // SQL's failover group status reads are not in Azure's published operation list: the role takes every
  // SQL location-level read (as SQL Server Contributor does), whatever their exact names.
  actions: ["Microsoft.Sql/locations/*/read", ...Object.entries(OPERATION_STATUS_ACTIONS).flatMap(([ns, actions]) => (ns === "Microsoft.Sql" ? [] : actions)), "Microsoft.Authorization/permissions/read"],
};

/** One action Switchyard performs on a resource, and what for. */
export interface NeededAction {
  readonly action: string;
  /** A data action (Key Vault's data plane), not a control-plane one. */
  readonly data?: boolean;
  readonly why: string;
}

/** Everything Switchyard does on one resource of the plan, and the role that grants it there. */
export interface ResourceNeeds {
  /** The scope: the resource's ARM id, as the plan spells it. */
  readonly scope: string;
  readonly kind: "sql-server" | "storage-account" | "front-door-profile" | "front-door-classic" | "app-service" | "key-vault" | "resource-group";
  readonly actions: readonly NeededAction[];
}

/** A role assignment the plan needs: which role, at which scope, and why. */
export interface RoleAssignmentNeed {
  readonly role: string;
  /** The built-in role definition's GUID; absent for a custom role (see `custom`). */
  readonly roleDefinitionId?: string;
  readonly custom?: CustomRole;
  readonly scope: string;
  readonly why: string;
  /** The actions of the plan's needs at this scope that the role is there for. */
  readonly actions: readonly NeededAction[];
}

export interface PlanRoles {
  readonly plan: string;
  readonly assignments: readonly RoleAssignmentNeed[];
  /** Roles on Switchyard's own storage account (plans, journals, state), which no plan names. */
  readonly own: readonly { readonly role: string; readonly roleDefinitionId: string; readonly scope: string; readonly why: string }[];
  /** What the plan also needs that is not an Azure role assignment (database permissions, vault settings, channels). */
  readonly alsoRequired: readonly string[];
}

const SQL = "Microsoft.Sql/servers";
const STORAGE = "Microsoft.Storage/storageAccounts";
const CDN = "Microsoft.Cdn/profiles";
const WEB = "Microsoft.Web/sites";
const SECRETS = "Microsoft.KeyVault/vaults/secrets";
const METRICS = "Microsoft.Insights/metrics/read";
const PERMISSIONS_READ = "Microsoft.Authorization/permissions/read";

/** The resource an id names at its top level (a failover group's server, an origin group's profile). */
function topLevel(parsed: ArmResourceId): string {
  const [namespace, type] = parsed.type.split("/");
  return `/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}/providers/${namespace}/${type}/${parsed.names[0]}`;
}

const sameScope = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The provider whose operations Switchyard starts on a kind of resource (none: its writes are synchronous). */
const LRO_NAMESPACES: Partial<Record<ResourceNeeds["kind"], string>> = {
  "sql-server": "Microsoft.Sql",
  "storage-account": "Microsoft.Storage",
  "front-door-profile": "Microsoft.Cdn",
  "front-door-classic": "Microsoft.Network",
};

/** Every resource the plan makes Switchyard act on, with the actions, merged per resource. */
export function planNeeds(plan: Plan): ResourceNeeds[] {
  const needs: { scope: string; kind: ResourceNeeds["kind"]; actions: NeededAction[] }[] = [];
  const add = (scope: string, kind: ResourceNeeds["kind"], actions: readonly NeededAction[]) => {
    let entry = needs.find((n) => sameScope(n.scope, scope));
    if (!entry) needs.push((entry = { scope, kind, actions: [] }));
    for (const a of actions) if (!entry.actions.some((e) => e.action.toLowerCase() === a.action.toLowerCase())) entry.actions.push(a);
  };

  const rotatedAccounts = new Set(plan.secrets.flatMap((s) => (s.source.kind === "storageAccountKey" ? [s.source.account.id.toLowerCase()] : [])));
  for (const group of plan.sql) {
    // The run reads and fails the group over on the server that is to become primary: either server.
    for (const server of [topLevel(group.failoverGroup), group.partnerServer.id]) {
      add(server, "sql-server", [
        { action: `${SQL}/failoverGroups/read`, why: "read the failover group's roles and state (run, readiness, lag)" },
        { action: `${SQL}/failoverGroups/failover/action`, why: "planned failover and failback of the failover group" },
        { action: `${SQL}/failoverGroups/tryPlannedBeforeForcedFailover/action`, why: "automatic failover: planned when the primary answers, forced only as the RPO gate allows" },
        { action: `${SQL}/failoverGroups/forceFailoverAllowDataLoss/action`, why: "forced failover, only within the RPO budget or after an approval" },
      ]);
    }
  }
  for (const account of plan.storage) {
    const rotated = rotatedAccounts.has(account.account.id.toLowerCase());
    add(account.account.id, "storage-account", [
      { action: `${STORAGE}/read`, why: "the account's primary region, SKU and geo-replication status (run, lag, readiness)" },
      { action: `${STORAGE}/failover/action`, why: "planned or unplanned account failover" },
      { action: `${STORAGE}/write`, why: "re-protection: geo-redundancy back on after an unplanned failover" },
      ...(/ZRS$/i.test(account.sku)
        ? [
            { action: `${STORAGE}/accountMigrations/read`, why: "re-protection: the zone conversion's progress" },
            { action: `${STORAGE}/accountMigrations/write`, why: "re-protection: zone redundancy back after a failback (a customer-initiated migration)" },
          ]
        : []),
      ...(rotated
        ? [
            { action: `${STORAGE}/listkeys/action`, why: "secret rotation: which key the vaults hold" },
            { action: `${STORAGE}/regeneratekey/action`, why: "secret rotation: regenerate the key no one uses" },
          ]
        : []),
    ]);
  }
  // A storage account rotated as a secret but not failed over by the plan.
  for (const secret of plan.secrets) {
    if (secret.source.kind !== "storageAccountKey") continue;
    add(secret.source.account.id, "storage-account", [
      { action: `${STORAGE}/read`, why: "secret rotation: the account's keys' metadata" },
      { action: `${STORAGE}/listkeys/action`, why: "secret rotation: which key the vaults hold" },
      { action: `${STORAGE}/regeneratekey/action`, why: "secret rotation: regenerate the key no one uses" },
    ]);
  }
  for (const group of plan.frontDoor.standard) {
    add(topLevel(group.originGroup), "front-door-profile", [
      { action: `${CDN}/originGroups/read`, why: "the origin group (readiness)" },
      { action: `${CDN}/originGroups/origins/read`, why: "the origins' priorities, states and host names (run, detection, readiness)" },
      { action: `${CDN}/originGroups/origins/write`, why: "traffic switch: origin priority and enabled state" },
      { action: `${CDN}/afdEndpoints/read`, why: "the endpoints users reach (verification)" },
      { action: `${CDN}/afdEndpoints/routes/read`, why: "which routes use the origin group (verification)" },
      { action: METRICS, why: "detection: origin health percentage" },
    ]);
  }
  for (const entry of plan.frontDoor.classic) {
    add(entry.frontDoor.id, "front-door-classic", [
      { action: "Microsoft.Network/frontDoors/read", why: "the backend pool's backends (run, readiness)" },
      { action: "Microsoft.Network/frontDoors/write", why: "traffic switch: backend priority and enabled state (a full PUT)" },
      { action: METRICS, why: "detection: backend health percentage" },
    ]);
  }
  const referenced = new Set(plan.secrets.length > 0 ? plan.appService.map((s) => s.site.id.toLowerCase()) : []);
  for (const site of plan.appService) {
    add(site.site.id, "app-service", [
      { action: `${WEB}/config/list/action`, why: "the site's app settings and connection strings (run, readiness; values never kept)" },
      { action: `${WEB}/config/write`, why: `configuration switch: the settings the plan names${referenced.has(site.site.id.toLowerCase()) ? "; secret rotation: the Key Vault reference refresh" : ""}` },
      ...(referenced.has(site.site.id.toLowerCase())
        ? [
            { action: `${WEB}/config/read`, why: "secret rotation: the site's Key Vault references" },
          ]
        : []),
    ]);
  }
  for (const secret of plan.secrets) {
    for (const vault of secret.vaults) {
      add(vault.id, "key-vault", [
        { action: `${SECRETS}/readMetadata/action`, data: true, why: "the secret's versions, expiry and tags (rotation, readiness)" },
        { action: `${SECRETS}/getSecret/action`, data: true, why: "secret rotation: the current value, to compare and replicate" },
        { action: `${SECRETS}/setSecret/action`, data: true, why: "secret rotation: the new version" },
        { action: `${SECRETS}/update/action`, data: true, why: "secret rotation: retire earlier versions" },
      ]);
    }
  }
  // Readiness asks Azure what the identity may do on each resource.
  for (const entry of needs) entry.actions.push({ action: PERMISSIONS_READ, why: "readiness: which of these actions Azure grants the identity here" });
  // The resource groups of the resources whose operations Switchyard starts and follows.
  const groups: { scope: string; kind: ResourceNeeds["kind"]; actions: NeededAction[] }[] = [];
  for (const entry of needs) {
    const namespace = LRO_NAMESPACES[entry.kind];
    if (!namespace) continue;
    const scope = entry.scope.split("/providers/")[0]!;
    let group = groups.find((g) => sameScope(g.scope, scope));
    if (!group) groups.push((group = { scope, kind: "resource-group", actions: [] }));
    for (const action of OPERATION_STATUS_ACTIONS[namespace]!) {
      if (!group.actions.some((a) => a.action === action)) group.actions.push({ action, why: `follow the ${namespace} operations Switchyard starts (their status is answered at the resource group)` });
    }
  }
  for (const group of groups) group.actions.push({ action: PERMISSIONS_READ, why: "readiness: which of these actions Azure grants the identity here" });
  return [...needs, ...groups];
}

/** The role that grants a kind of resource's actions, narrowest first. */
function rolesFor(need: ResourceNeeds): { role: BuiltInRole | CustomRole; actions: NeededAction[] }[] {
  const metrics = need.actions.filter((a) => a.action === METRICS);
  const rest = need.actions.filter((a) => a.action !== METRICS);
  const withMetrics = (role: BuiltInRole | CustomRole) => [{ role, actions: rest }, ...(metrics.length > 0 ? [{ role: ROLES.reader, actions: metrics }] : [])];
  switch (need.kind) {
    case "sql-server":
      return [{ role: ROLES.sqlServerContributor, actions: rest }];
    case "storage-account":
      return [{ role: ROLES.storageAccountContributor, actions: rest }];
    case "front-door-profile":
      return withMetrics(ROLES.cdnProfileContributor);
    case "front-door-classic":
      return withMetrics(CLASSIC_FRONT_DOOR_ROLE);
    case "app-service":
      return [{ role: ROLES.websiteContributor, actions: rest }];
    case "key-vault":
      return [{ role: ROLES.keyVaultSecretsOfficer, actions: rest }];
    case "resource-group":
      return [{ role: OPERATION_STATUS_ROLE, actions: rest }];
  }
}

const isBuiltIn = (role: BuiltInRole | CustomRole): role is BuiltInRole => "id" in role;

/** The least-privilege role assignments for a plan: each at the resource it is needed on. */
export function planRoles(plan: Plan): PlanRoles {
  const assignments: RoleAssignmentNeed[] = [];
  for (const need of planNeeds(plan)) {
    for (const { role, actions } of rolesFor(need)) {
      if (actions.length === 0) continue;
      const why = [...new Set(actions.map((a) => a.why))].join("; ");
      assignments.push({
        role: role.name,
        ...(isBuiltIn(role) ? { roleDefinitionId: role.id } : { custom: role }),
        scope: need.scope,
        why,
        actions,
      });
    }
  }
  const alsoRequired: string[] = [];
  if (plan.secrets.length > 0) alsoRequired.push(`each vault the plan names uses the Azure RBAC permission model (enableRbacAuthorization): under access policies the Key Vault role assignments above are ignored`);
  if (plan.sql.length > 0) alsoRequired.push(`the identity is a user with VIEW DATABASE STATE in each database of the plan's failover groups (replication lag over TDS)`);
  const logins = plan.secrets.flatMap((s) => (s.source.kind === "sqlLogin" ? s.source.servers.map((x) => x.name) : []));
  if (logins.length > 0) alsoRequired.push(`the identity manages logins in master of ${[...new Set(logins)].join(", ")} (the server's Microsoft Entra admin, or a member of ##MS_LoginManager##) for SQL login rotation`);
  if (plan.notifications.some((n) => n.kind === "email")) alsoRequired.push(`a role on the Communication Services resource of each email channel that lets the identity send email (email is sent with the identity, not an access key)`);
  return {
    plan: plan.name,
    assignments,
    alsoRequired,
    own: [
      {
        role: ROLES.storageBlobDataContributor.name,
        roleDefinitionId: ROLES.storageBlobDataContributor.id,
        scope: "Switchyard's own storage account (SWITCHYARD_STORAGE_ACCOUNT_URL)",
        why: "plans, journals, run and detection state, notification outbox",
      },
    ],
  };
}

/**
 * Whether a role definition's permissions grant an action, as Azure matches them: `*` stands for any
 * run of characters, case does not matter, and `notActions` (`notDataActions`) take away what
 * `actions` (`dataActions`) grant. Several entries grant an action when any one of them does.
 */
export function permissionsGrant(
  permissions: readonly { readonly actions?: readonly string[]; readonly notActions?: readonly string[]; readonly dataActions?: readonly string[]; readonly notDataActions?: readonly string[] }[],
  action: string,
  data = false,
): boolean {
  return permissions.some((p) => {
    const allowed = (data ? p.dataActions : p.actions) ?? [];
    const denied = (data ? p.notDataActions : p.notActions) ?? [];
    return allowed.some((pattern) => wildcardMatch(pattern, action)) && !denied.some((pattern) => wildcardMatch(pattern, action));
  });
}

/**
 * `*` matches any run of characters; case is ignored. Linear in both lengths whatever the pattern
 * (runs of `*` collapse, and a mismatch after a `*` resumes from the last one): a role definition is
 * data read from Azure, never a reason to spin.
 */
function wildcardMatch(pattern: string, action: string): boolean {
  const p = pattern.toLowerCase().replace(/\*+/g, "*");
  const a = action.toLowerCase();
  let i = 0;
  let j = 0;
  let star = -1;
  let resume = 0;
  while (j < a.length) {
    if (i < p.length && p[i] !== "*" && p[i] === a[j]) {
      i++;
      j++;
    } else if (i < p.length && p[i] === "*") {
      star = i++;
      resume = j;
    } else if (star >= 0) {
      i = star + 1;
      j = ++resume;
    } else return false;
  }
  while (i < p.length && p[i] === "*") i++;
  return i === p.length;
}
