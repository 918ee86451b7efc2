/**
 * ARM resource ids as the estate reads them: `/subscriptions/{guid}/resourceGroups/{rg}/providers/
 * {Namespace}/{type}/{name}[/{type}/{name}...]`. The estate's own parser (it imports nothing from
 * Switchyard); ids compare case-insensitively, as ARM does (`key` in state.ts).
 */
export interface ArmId {
  /** The id as given. */
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** Provider namespace, e.g. `Microsoft.Sql`. */
  readonly namespace: string;
  /** Full type, e.g. `Microsoft.Sql/servers/failoverGroups`. */
  readonly type: string;
  /** Names from the top-level resource down. */
  readonly names: readonly string[];
  /** The last name. */
  readonly name: string;
}

export class ArmIdError extends Error {}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESOURCE_GROUP = /^[-\w._()]{1,90}$/u;

export function parseArmId(id: string): ArmId {
  if (!id.startsWith("/")) throw new ArmIdError("an ARM resource id starts with /subscriptions/");
  const segments = id.replace(/\/+$/, "").split("/").slice(1);
  if (segments.includes("")) throw new ArmIdError("an ARM resource id has no empty segments");
  const [subs, subscriptionId, groups, resourceGroup, providers, namespace, ...pairs] = segments;
  if (subs?.toLowerCase() !== "subscriptions" || !subscriptionId) throw new ArmIdError("an ARM resource id starts with /subscriptions/{subscriptionId}");
  if (!GUID.test(subscriptionId)) throw new ArmIdError(`subscription id "${subscriptionId}" is not a GUID`);
  if (groups?.toLowerCase() !== "resourcegroups" || !resourceGroup) throw new ArmIdError("expected /resourceGroups/{name} after the subscription");
  if (!RESOURCE_GROUP.test(resourceGroup) || resourceGroup.endsWith(".")) throw new ArmIdError(`resource group name "${resourceGroup}" is not valid`);
  if (providers?.toLowerCase() !== "providers" || !namespace) throw new ArmIdError("expected /providers/{Namespace} after the resource group");
  if (pairs.length === 0 || pairs.length % 2 !== 0) throw new ArmIdError("expected {type}/{name} pairs after the provider namespace");
  const types = pairs.filter((_, i) => i % 2 === 0);
  const names = pairs.filter((_, i) => i % 2 === 1).map(decodeName);
  return { id, subscriptionId, resourceGroup, namespace, type: [namespace, ...types].join("/"), names, name: names.at(-1)! };
}

/** A name segment, URL-decoded; a malformed escape (`%ZZ`) makes the id invalid rather than failing the caller. */
function decodeName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ArmIdError(`"${segment}" is not a validly percent-encoded name`);
  }
}

/** Whether a subscription id is a GUID, as ARM requires. */
export const isSubscriptionId = (value: string) => GUID.test(value);

/** The id of the resource's ancestor with `depth` type/name pairs (1: the top-level resource). */
export function ancestorId(parsed: ArmId, depth: number): string {
  const types = parsed.type.split("/").slice(1, depth + 1);
  const path = types.flatMap((type, i) => [type, encodeURIComponent(parsed.names[i]!)]).join("/");
  return `/subscriptions/${parsed.subscriptionId}/resourceGroups/${parsed.resourceGroup}/providers/${parsed.namespace}/${path}`;
}
