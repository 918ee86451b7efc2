/**
 * The role assignments of `switchyard plan roles`, for one or more plans, as the data the deployment's
 * Bicep loads (`loadJsonContent('plan-roles.json')`): grouped by the kind of resource they are scoped
 * to (one Bicep module per kind, each naming the resource as `existing` in its own subscription and
 * resource group), with the custom role definitions they use and the subscriptions those must be
 * assignable in. Nothing here talks to Azure.
 */
import { ArmIdError, parseArmId } from "./plan/armId.ts";
import type { Plan } from "./plan/index.ts";
import { AZURE_REGIONS, isAzureRegion, suggestRegion } from "./plan/regions.ts";
import { CLASSIC_FRONT_DOOR_ROLE, OPERATION_STATUS_ROLE, planNeeds, planRoles, type CustomRole, type ResourceNeeds } from "./roles.ts";

/** The JSON key, Bicep module and resource type of each kind of scope `planRoles` emits. */
export const KIND_MODULES: Readonly<Record<ResourceNeeds["kind"], { readonly key: string; readonly module: string; readonly resourceType?: string }>> = {
  "sql-server": { key: "sqlServer", module: "roles/sql-server.bicep", resourceType: "Microsoft.Sql/servers" },
  "storage-account": { key: "storageAccount", module: "roles/storage-account.bicep", resourceType: "Microsoft.Storage/storageAccounts" },
  "front-door-profile": { key: "frontDoorProfile", module: "roles/front-door-profile.bicep", resourceType: "Microsoft.Cdn/profiles" },
  "front-door-classic": { key: "frontDoorClassic", module: "roles/front-door-classic.bicep", resourceType: "Microsoft.Network/frontDoors" },
  "app-service": { key: "appService", module: "roles/app-service.bicep", resourceType: "Microsoft.Web/sites" },
  "key-vault": { key: "keyVault", module: "roles/key-vault.bicep", resourceType: "Microsoft.KeyVault/vaults" },
  // The assignment is the module's own resource group: no resource to name.
  "resource-group": { key: "resourceGroup", module: "roles/resource-group.bicep" },
};

/** The custom roles a plan's assignments may use, by the key the generated file names them with. */
export const CUSTOM_ROLES: Readonly<Record<string, CustomRole>> = {
  frontDoorClassicOperator: CLASSIC_FRONT_DOOR_ROLE,
  operationStatusReader: OPERATION_STATUS_ROLE,
};

/** One role assignment at one resource (or resource group), as the Bicep modules take it. */
export interface GeneratedAssignment {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The resource's name ("" for a resource group assignment). */
  readonly name: string;
  /** The scope's full ARM id, as the plan spells it. */
  readonly scope: string;
  readonly role: string;
  /** A built-in role's GUID; "" for a custom role. */
  readonly roleDefinitionId: string;
  /** A custom role's key in `customRoles`; "" for a built-in role. */
  readonly customRole: string;
  /** The plans that need it. */
  readonly plans: readonly string[];
  readonly why: string;
}

export interface GeneratedCustomRole {
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly actions: readonly string[];
  /** The subscriptions holding a scope it is assigned at: its definition's assignable scopes. */
  readonly subscriptions: readonly string[];
}

export interface GeneratedRoles {
  readonly $comment: string;
  readonly location: string;
  readonly plans: readonly string[];
  readonly customRoles: readonly GeneratedCustomRole[];
  /** Per kind key (every kind present, possibly empty). */
  readonly assignments: Readonly<Record<string, readonly GeneratedAssignment[]>>;
  readonly alsoRequired: readonly string[];
}

/** A bad input to the generator (a location that is not a region, plans that do not fit together). */
export class InfraRolesError extends Error {}

/** The location Switchyard is deployed to, checked against the region names plans may use. */
export function checkLocation(location: string): string {
  const name = location.trim();
  if (isAzureRegion(name)) return name;
  const hint = suggestRegion(name);
  throw new InfraRolesError(
    `--location: '${location}' is not an Azure region name as ARM spells it (lower case, no spaces)${hint ? `; did you mean '${hint}'?` : `; e.g. ${AZURE_REGIONS.AzurePublicCloud.slice(0, 3).join(", ")}`}`,
  );
}

/**
 * Switchyard must outlive the region it fails away from: deployed in a plan's primary region it goes
 * down with it. One warning per plan whose primary region is `location`.
 */
export function regionWarnings(plans: readonly Plan[], location: string): string[] {
  return plans
    .filter((p) => p.regions.primary.name === location)
    .map((p) => `Switchyard would run in ${location}, the primary region of plan ${p.name}: an outage there stops the app that is to fail it over. Deploy it in the plan's secondary region (${p.regions.secondary.name}) or another region.`);
}

/** The role assignments every plan needs, merged (one per scope and role) and grouped by kind of scope. */
export function generateRoles(plans: readonly Plan[], location: string): GeneratedRoles {
  const at = checkLocation(location);
  const names = plans.map((p) => p.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new InfraRolesError(`--plan: plan ${[...new Set(twice)].map((n) => `'${n}'`).join(", ")} is given more than once`);
  const assignments: Record<string, GeneratedAssignment[]> = Object.fromEntries(Object.values(KIND_MODULES).map((m) => [m.key, []]));
  const custom = new Map<string, Set<string>>();
  const alsoRequired: string[] = [];
  for (const plan of plans) {
    const roles = planRoles(plan);
    const kinds = new Map<string, ResourceNeeds["kind"]>();
    for (const need of planNeeds(plan)) kinds.set(need.scope.toLowerCase(), need.kind);
    for (const a of roles.assignments) {
      const kind = kinds.get(a.scope.toLowerCase());
      if (!kind) throw new InfraRolesError(`plan ${plan.name}: no resource kind for scope ${a.scope}`);
      const { key } = KIND_MODULES[kind];
      const where = scopeParts(a.scope, kind);
      const customKey = a.custom ? Object.entries(CUSTOM_ROLES).find(([, r]) => r.name === a.custom!.name)?.[0] : "";
      if (customKey === undefined) throw new InfraRolesError(`plan ${plan.name}: custom role '${a.role}' has no definition here`);
      if (customKey) {
        const subscriptions = custom.get(customKey) ?? new Set<string>();
        subscriptions.add(where.subscriptionId.toLowerCase());
        custom.set(customKey, subscriptions);
      }
      const list = assignments[key]!;
      const same = list.findIndex((x) => x.scope.toLowerCase() === a.scope.toLowerCase() && x.role === a.role);
      if (same >= 0) {
        const existing = list[same]!;
        list[same] = { ...existing, plans: [...existing.plans, plan.name] };
        continue;
      }
      list.push({ ...where, scope: a.scope, role: a.role, roleDefinitionId: a.roleDefinitionId ?? "", customRole: customKey, plans: [plan.name], why: a.why });
    }
    for (const item of roles.alsoRequired) alsoRequired.push(`${plan.name}: ${item}`);
  }
  return {
    $comment: "Generated by `switchyard infra roles` (the azd preprovision hook) from the plans named in `plans`; infra/main.bicep assigns these roles to Switchyard's managed identity. Do not edit: run the command again.",
    location: at,
    plans: names,
    customRoles: [...custom.entries()].map(([key, subscriptions]) => ({
      key,
      name: CUSTOM_ROLES[key]!.name,
      description: CUSTOM_ROLES[key]!.description,
      actions: [...CUSTOM_ROLES[key]!.actions],
      subscriptions: [...subscriptions].sort(),
    })),
    assignments,
    alsoRequired,
  };
}

/** The file the deployment loads when no plan is known yet: no assignment, every kind present. */
export function emptyRoles(location = ""): GeneratedRoles {
  return {
    $comment: "Generated by `switchyard infra roles` (the azd preprovision hook); empty until plans are given. Do not edit: run the command again.",
    location,
    plans: [],
    customRoles: [],
    assignments: Object.fromEntries(Object.values(KIND_MODULES).map((m) => [m.key, []])),
    alsoRequired: [],
  };
}

/** Every generated assignment, whatever its kind. */
export function allAssignments(roles: GeneratedRoles): GeneratedAssignment[] {
  return Object.values(roles.assignments).flat();
}

function scopeParts(scope: string, kind: ResourceNeeds["kind"]): { subscriptionId: string; resourceGroup: string; name: string } {
  if (kind === "resource-group") {
    const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)$/i.exec(scope);
    if (!match) throw new InfraRolesError(`not a resource group id: ${scope}`);
    return { subscriptionId: match[1]!, resourceGroup: match[2]!, name: "" };
  }
  const expected = KIND_MODULES[kind].resourceType!;
  let parsed;
  try {
    parsed = parseArmId(scope);
  } catch (error) {
    if (error instanceof ArmIdError) throw new InfraRolesError(`scope ${scope}: ${error.message}`);
    throw error;
  }
  if (parsed.type.toLowerCase() !== expected.toLowerCase()) throw new InfraRolesError(`scope ${scope} is not a ${expected}`);
  return { subscriptionId: parsed.subscriptionId, resourceGroup: parsed.resourceGroup, name: parsed.names[0]! };
}
