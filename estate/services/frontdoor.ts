import { randomUUID } from "node:crypto";
import { badRequest, invalidContent, notFound } from "../errors.ts";
import { arrayAt, isObject, objectAt, stringAt, type Json } from "../json.ts";
import type { EstateContext } from "../context.ts";
import type { EstateRequest, Route } from "../router.ts";
import { z } from "zod";
import { completionKind } from "../lro.ts";
import { key, type ClassicFrontDoor } from "../state.ts";
import { ok, resourceId } from "./common.ts";

/*
 * Front Door classic (Microsoft.Network/frontDoors) as @azure/arm-frontdoor calls it. A Front Door is
 * kept as the ARM body it was PUT with, completed with what Azure adds (sub-resource ids, states, cname).
 * Backends are data in the global resource: a region outage does not stop these calls.
 *
 * An update commits when its operation ends; then it propagates to the edge (estate/edge.ts) for the
 * `frontDoorPropagation` time, queued behind the Front Door's earlier changes, while the edge keeps
 * serving the previous body. Classic has no `deploymentStatus`: the estate shows the whole time, from
 * the PUT until the change is live, as `provisioningState: Updating` (`resourceState` stays Enabled).
 */

const NS = "Microsoft.Network";
const FRONT_DOORS = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/frontDoors";
const FRONT_DOOR = `${FRONT_DOORS}/{frontDoorName}`;
const FORWARDING = "#Microsoft.Azure.FrontDoor.Models.FrontdoorForwardingConfiguration";
const REDIRECT = "#Microsoft.Azure.FrontDoor.Models.FrontdoorRedirectConfiguration";

const invalid = (message: string) => badRequest("BadRequest", message);

function frontDoorId(req: EstateRequest): string {
  return resourceId(req, NS, ["frontDoors", "frontDoorName"]);
}

function frontDoor(req: EstateRequest, ctx: EstateContext): ClassicFrontDoor {
  const found = ctx.state.frontDoors.get(key(frontDoorId(req)));
  if (!found) throw notFound("Microsoft.Network/frontDoors", req.params.frontDoorName!, req.params.resourceGroupName);
  return found;
}

function view(ctx: EstateContext, fd: ClassicFrontDoor): Json {
  const body = structuredClone(fd.body);
  let props = objectAt(body, "properties");
  if (!props) body.properties = props = {};
  props.rulesEngines ??= [];
  ctx.state.edge.settle(ctx.now);
  // Updating from the PUT until the change is live; Failed when the last update failed (ARM's terminal state).
  const last = ctx.operations.list().filter((op) => key(op.resourceId) === key(fd.id)).at(-1);
  if (last?.status === "InProgress" || ctx.state.edge.propagating(fd.id)) props.provisioningState = "Updating";
  else if (last?.status === "Failed" || last?.status === "Canceled") props.provisioningState = "Failed";
  return body;
}

// ---- validation and completion of a PUT body ------------------------------------------------

function enabledState(value: unknown, path: string): "Enabled" | "Disabled" {
  if (value === undefined || value === null) return "Enabled";
  if (value !== "Enabled" && value !== "Disabled") throw invalid(`The value '${String(value)}' of ${path} is not valid: it must be 'Enabled' or 'Disabled'.`);
  return value;
}

function integer(value: unknown, path: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`The value '${String(value)}' of ${path} is not valid: it must be an integer from ${min} to ${max}.`);
  }
  return value;
}

function required<T>(value: unknown, test: (v: unknown) => v is T, path: string, what: string): T {
  if (!test(value)) throw invalid(`${path} is required and must be ${what}.`);
  return value;
}

const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** A sub-resource of a Front Door (a routing rule, backend pool, ...) as the estate completes it. */
interface Child {
  id: string;
  name: string;
  type: string;
  properties: Json;
}

/** The last segment of a sub-resource id, URL-decoded; undefined when its escapes are malformed. */
function lastSegment(id: string): string | undefined {
  try {
    return decodeURIComponent(id.split("/").pop() ?? "");
  } catch {
    return undefined;
  }
}

/** One collection of sub-resources (routingRules, backendPools, ...), each given its id, type and state. */
function children(fdId: string, props: Json, collection: string, type: string, complete: (p: Json, path: string) => Json): Child[] {
  const items = required(props[collection], isArray, `properties.${collection}`, "a non-empty array");
  if (items.length === 0) throw invalid(`properties.${collection} must have at least one element.`);
  const seen = new Set<string>();
  return items.map((item, i) => {
    const path = `properties.${collection}[${i}]`;
    if (!isObject(item)) throw invalid(`${path} must be an object.`);
    const name = isText(item.name) ? item.name : isText(item.id) ? lastSegment(item.id) : undefined;
    if (name === undefined && isText(item.id)) throw invalid(`${path}.id '${item.id}' is not a valid resource id.`);
    if (!name) throw invalid(`${path}.name is required.`);
    if (seen.has(name.toLowerCase())) throw invalid(`${path}.name '${name}' is used twice in properties.${collection}.`);
    seen.add(name.toLowerCase());
    const childProps = required(item.properties, isObject, `${path}.properties`, "an object");
    return {
      id: `${fdId}/${collection}/${name}`,
      name,
      type: `Microsoft.Network/Frontdoors/${type}`,
      properties: { ...complete(childProps, `${path}.properties`), resourceState: "Enabled" },
    };
  });
}

/** Checks that a `{ id }` reference names one of this Front Door's sub-resources. */
function reference(value: unknown, path: string, targets: readonly Child[], collection: string): Json {
  const ref = required(value, isObject, path, "an object with an id");
  const id = required(ref.id, isText, `${path}.id`, "a resource id");
  if (!targets.some((t) => key(t.id) === key(id))) {
    throw invalid(`${path}.id '${id}' does not name one of this Front Door's ${collection}.`);
  }
  return { id };
}

function backend(value: unknown, path: string): Json {
  if (!isObject(value)) throw invalid(`${path} must be an object.`);
  const address = required(value.address, isText, `${path}.address`, "a host name or IP address");
  const result: Json = {
    ...value,
    address,
    httpPort: integer(value.httpPort, `${path}.httpPort`, 1, 65535, 80),
    httpsPort: integer(value.httpsPort, `${path}.httpsPort`, 1, 65535, 443),
    enabledState: enabledState(value.enabledState, `${path}.enabledState`),
    weight: integer(value.weight, `${path}.weight`, 1, 1000, 50),
    priority: integer(value.priority, `${path}.priority`, 1, 5, 1),
  };
  // The estate has no private link approval workflow: private link backends are approved at once.
  if (isText(value.privateLinkAlias) || isText(value.privateLinkResourceId)) result.privateEndpointStatus ??= "Approved";
  return result;
}

function routeConfiguration(value: unknown, path: string, pools: readonly Child[]): Json {
  const config = required(value, isObject, path, "an object");
  const kind = config["@odata.type"];
  if (kind === FORWARDING) {
    return {
      ...config,
      customForwardingPath: config.customForwardingPath ?? "",
      forwardingProtocol: config.forwardingProtocol ?? "MatchRequest",
      backendPool: reference(config.backendPool, `${path}.backendPool`, pools, "backendPools"),
    };
  }
  if (kind === REDIRECT) return { ...config };
  throw invalid(`${path}["@odata.type"] must be '${FORWARDING}' or '${REDIRECT}'.`);
}

/** The body Azure keeps for a Front Door: the resource envelope around its properties. */
type FrontDoorBody = {
  id: string;
  name: string;
  type: string;
  location: string;
  tags: Json;
  properties: Json;
};

/** The body Azure would store for a PUT: validated, with ids, states and defaults filled in. */
function completeBody(input: unknown, fdId: string, name: string, existing: ClassicFrontDoor | undefined): FrontDoorBody {
  // Resource Manager reads the envelope before Front Door sees it: anything but an object does not deserialize.
  if (!isObject(input)) throw invalidContent("The body must be a JSON object (a Front Door resource).");
  const props = required(input.properties, isObject, "properties", "an object");

  const healthProbeSettings = children(fdId, props, "healthProbeSettings", "HealthProbeSettings", (p, path) => ({
    ...p,
    enabledState: enabledState(p.enabledState, `${path}.enabledState`),
  }));
  const loadBalancingSettings = children(fdId, props, "loadBalancingSettings", "LoadBalancingSettings", (p) => ({ ...p }));
  const frontendEndpoints = children(fdId, props, "frontendEndpoints", "FrontendEndpoints", (p, path) => ({
    ...p,
    hostName: required(p.hostName, isText, `${path}.hostName`, "a host name"),
  }));
  const backendPools = children(fdId, props, "backendPools", "BackendPools", (p, path) => ({
    ...p,
    backends: required(p.backends, isArray, `${path}.backends`, "an array").map((b, j) => backend(b, `${path}.backends[${j}]`)),
    loadBalancingSettings: reference(p.loadBalancingSettings, `${path}.loadBalancingSettings`, loadBalancingSettings, "loadBalancingSettings"),
    healthProbeSettings: reference(p.healthProbeSettings, `${path}.healthProbeSettings`, healthProbeSettings, "healthProbeSettings"),
  }));
  const routingRules = children(fdId, props, "routingRules", "RoutingRules", (p, path) => {
    const endpoints = required(p.frontendEndpoints, isArray, `${path}.frontendEndpoints`, "an array");
    if (endpoints.length === 0) throw invalid(`${path}.frontendEndpoints must name at least one frontend endpoint.`);
    return {
      ...p,
      frontendEndpoints: endpoints.map((e, j) => reference(e, `${path}.frontendEndpoints[${j}]`, frontendEndpoints, "frontendEndpoints")),
      enabledState: enabledState(p.enabledState, `${path}.enabledState`),
      routeConfiguration: routeConfiguration(p.routeConfiguration, `${path}.routeConfiguration`, backendPools),
    };
  });

  const state = enabledState(props.enabledState, "properties.enabledState");
  const previous = objectAt(existing?.body, "properties");
  return {
    id: fdId,
    name,
    type: "Microsoft.Network/frontdoors",
    location: isText(input.location) ? input.location : (stringAt(existing?.body, "location") ?? "global"),
    tags: isObject(input.tags) ? { ...input.tags } : {},
    properties: {
      ...(props.friendlyName !== undefined ? { friendlyName: props.friendlyName } : {}),
      enabledState: state,
      routingRules,
      healthProbeSettings,
      loadBalancingSettings,
      backendPools,
      frontendEndpoints,
      backendPoolsSettings: isObject(props.backendPoolsSettings) ? { ...props.backendPoolsSettings } : { enforceCertificateNameCheck: "Enabled", sendRecvTimeoutSeconds: 30 },
      // Rules engines are child resources with their own API: a PUT of the Front Door keeps them.
      rulesEngines: arrayAt(previous, "rulesEngines") ?? [],
      resourceState: state,
      provisioningState: "Succeeded",
      cname: `${name}.azurefd.net`,
      frontdoorId: stringAt(previous, "frontdoorId") ?? randomUUID(),
    },
  };
}

/** A Front Door PUT commits: ARM has the body, and (for an update) it starts its way to the edge. */
export const frontDoorPut = completionKind(
  "Microsoft.Network/frontDoorPut",
  z.strictObject({ id: z.string(), name: z.string(), subscriptionId: z.string(), resourceGroup: z.string(), body: z.record(z.string(), z.unknown()), propagationMs: z.number() }),
  (ctx, { id, name, subscriptionId, resourceGroup, body, propagationMs }, op) => {
    const edge = ctx.state.edge;
    const current = ctx.state.frontDoors.get(key(id));
    if (current) {
      // The edge keeps serving the body it has until this one has propagated.
      if (!edge.frontDoors.has(key(id))) edge.frontDoors.set(key(id), structuredClone(current.body));
      current.body = structuredClone(body);
      // The operation's due time is when the change committed.
      edge.propagate({ scope: id, resources: [id], committedAt: op.dueAt, durationMs: propagationMs, change: { kind: "classicFrontDoor", id, body: structuredClone(body) } });
    } else {
      ctx.state.frontDoors.set(key(id), { id, subscriptionId, resourceGroup, name, body: structuredClone(body), backendRegions: {} });
    }
    return { ok: true, result: structuredClone(body) };
  },
);

function createOrUpdate(req: EstateRequest, ctx: EstateContext) {
  const requestedId = frontDoorId(req);
  const existing = ctx.state.frontDoors.get(key(requestedId));
  const id = existing?.id ?? requestedId;
  const name = existing?.name ?? req.params.frontDoorName!;
  const body = completeBody(req.body, id, name, existing);
  const accepted = structuredClone(body);
  const acceptedProps = accepted.properties;
  // FrontdoorCreate example: a new Front Door is Creating/Provisioning; an update is Updating.
  if (existing) acceptedProps.provisioningState = "Updating";
  else Object.assign(acceptedProps, { resourceState: "Creating", provisioningState: "Provisioning" });
  const response = ctx.operations.begin({
    req,
    namespace: NS,
    location: "global",
    resourceId: id,
    asyncSegment: "frontdoorOperationResults",
    acceptedBody: accepted,
    completion: frontDoorPut.of({
      id,
      name,
      subscriptionId: req.params.subscriptionId!,
      resourceGroup: req.params.resourceGroupName!,
      body,
      propagationMs: ctx.effectMs("frontDoorPropagation"),
    }),
  });
  return existing ? response : { ...response, status: 201 };
}

export function frontDoorRoutes(): Route[] {
  return [
    {
      method: "GET",
      path: FRONT_DOORS,
      operationId: "FrontDoors_ListByResourceGroup",
      api: "arm",
      handler: (req, ctx) => {
        const { subscriptionId, resourceGroupName } = req.params;
        const found = [...ctx.state.frontDoors.values()].filter(
          (fd) => key(fd.subscriptionId) === key(subscriptionId!) && key(fd.resourceGroup) === key(resourceGroupName!),
        );
        return ok({ value: found.map((fd) => view(ctx, fd)) });
      },
    },
    {
      method: "GET",
      path: FRONT_DOOR,
      operationId: "FrontDoors_Get",
      api: "arm",
      handler: (req, ctx) => ok(view(ctx, frontDoor(req, ctx))),
    },
    { method: "PUT", path: FRONT_DOOR, operationId: "FrontDoors_CreateOrUpdate", api: "arm", write: true, handler: createOrUpdate },
  ];
}
