/**
 * ARM resource ids parsed into typed parts:
 * /subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}]...
 */
export interface ArmResourceId {
  /** The id as given (ARM ids are case-insensitive; compare with `sameArmId`). */
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** Provider namespace, e.g. `Microsoft.Sql`. */
  readonly namespace: string;
  /** Full type, e.g. `Microsoft.Sql/servers/failoverGroups`. */
  readonly type: string;
  /** Names from the top-level resource down, e.g. `["contoso-sql", "orders-fog"]`. */
  readonly names: readonly string[];
  /** The last name. */
  readonly name: string;
}

export class ArmIdError extends Error {}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESOURCE_GROUP = /^[-\w._()]{1,90}$/u;

export function parseArmId(id: string): ArmResourceId {
  if (!id.startsWith("/")) throw new ArmIdError("an ARM resource id starts with /subscriptions/");
  const parts = id.replace(/\/+$/, "").split("/").slice(1);
  if (parts.some((p) => p === "")) throw new ArmIdError("an ARM resource id has no empty segments");
  if (parts[0]?.toLowerCase() !== "subscriptions" || !parts[1]) {
    throw new ArmIdError("an ARM resource id starts with /subscriptions/{subscriptionId}");
  }
  const subscriptionId = parts[1];
  if (!GUID.test(subscriptionId)) throw new ArmIdError(`subscription id "${subscriptionId}" is not a GUID`);
  if (parts[2]?.toLowerCase() !== "resourcegroups" || !parts[3]) {
    throw new ArmIdError("expected /resourceGroups/{name} after the subscription");
  }
  const resourceGroup = parts[3];
  if (!RESOURCE_GROUP.test(resourceGroup) || resourceGroup.endsWith(".")) {
    throw new ArmIdError(`resource group name "${resourceGroup}" is not valid`);
  }
  if (parts[4]?.toLowerCase() !== "providers" || !parts[5]) {
    throw new ArmIdError("expected /providers/{Namespace} after the resource group");
  }
  const namespace = parts[5];
  const rest = parts.slice(6);
  if (rest.length === 0 || rest.length % 2 !== 0) {
    throw new ArmIdError("expected {type}/{name} pairs after the provider namespace");
  }
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < rest.length; i += 2) {
    types.push(rest[i]!);
    names.push(decodeURIComponent(rest[i + 1]!));
  }
  return {
    id,
    subscriptionId,
    resourceGroup,
    namespace,
    type: [namespace, ...types].join("/"),
    names,
    name: names[names.length - 1]!,
  };
}

/** Parses `id` and checks that it names a resource of `expectedType` (case-insensitive). */
/**
 * A resource's name path for people and the journal: `server/failover-group`, `profile/group/origin`,
 * `account`. The id itself when it does not parse (never throws: journal text must not fail a run).
 */
export function armName(id: string): string {
  try {
    return parseArmId(id).names.join("/");
  } catch {
    return id;
  }
}

export function parseArmIdOfType(id: string, expectedType: string): ArmResourceId {
  const parsed = parseArmId(id);
  if (parsed.type.toLowerCase() !== expectedType.toLowerCase()) {
    throw new ArmIdError(`expected a ${expectedType} resource id, got a ${parsed.type} id`);
  }
  return parsed;
}

export function sameArmId(a: string, b: string): boolean {
  return a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
}

/** Builds the id of the resource's ancestor that has `depth` type/name pairs (1 = the top-level resource). */
export function ancestorId(parsed: ArmResourceId, depth: number): string {
  const typeParts = parsed.type.split("/").slice(1, depth + 1);
  const segments = typeParts.flatMap((type, i) => [type, encodeURIComponent(parsed.names[i]!)]);
  return `/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}/providers/${parsed.namespace}/${segments.join("/")}`;
}
