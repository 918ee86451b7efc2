import { badRequest, notFound } from "../errors.ts";
import { isObject } from "../json.ts";
import type { EstateContext } from "../context.ts";
import type { EstateRequest, Route } from "../router.ts";
import type { LiveOrigin } from "../edge.ts";
import { z } from "zod";
import { completionKind } from "../lro.ts";
import { key, type AfdEndpoint, type AfdOrigin, type AfdOriginGroup } from "../state.ts";
import { ok, resourceId } from "./common.ts";

/*
 * Azure Front Door Standard/Premium (Microsoft.Cdn profiles): origin groups, origins, endpoints and
 * their routes, as @azure/arm-cdn calls them (afdx.json). Profiles exist here only as the parents of
 * seeded origin groups. Origins are data in the global profile: a region outage does not stop these calls.
 *
 * An origin update is an ARM operation; once it has committed, the change propagates to the edge
 * (estate/edge.ts) for the profile's `frontDoorPropagation` time, queued behind the profile's earlier
 * changes. From the PATCH until the change is live, the origin, its origin group and the profile's
 * endpoints and routes show `deploymentStatus: InProgress`; then `Succeeded`. Seeded resources show
 * `NotStarted`, as the public examples of resources that exist do.
 */

const NS = "Microsoft.Cdn";
const PROFILE = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Cdn/profiles/{profileName}";
const GROUP = `${PROFILE}/originGroups/{originGroupName}`;
const ORIGIN = `${GROUP}/origins/{originName}`;
const ENDPOINT = `${PROFILE}/afdEndpoints/{endpointName}`;
const ROUTE = `${ENDPOINT}/routes/{routeName}`;

type ProvisioningState = "Succeeded" | "Updating" | "Failed";

function profileId(req: EstateRequest, ctx: EstateContext): string {
  const id = resourceId(req, NS, ["profiles", "profileName"]);
  const known = [...ctx.state.afdOriginGroups.values()].some((g) => key(g.profileId) === key(id));
  if (!known) throw notFound("Microsoft.Cdn/profiles", req.params.profileName!, req.params.resourceGroupName);
  return id;
}

function group(req: EstateRequest, ctx: EstateContext): AfdOriginGroup {
  const profile = profileId(req, ctx);
  const found = ctx.state.afdOriginGroups.get(key(`${profile}/originGroups/${req.params.originGroupName}`));
  if (!found) throw notFound("Microsoft.Cdn/profiles/originGroups", `${req.params.profileName}/${req.params.originGroupName}`, req.params.resourceGroupName);
  return found;
}

function origin(req: EstateRequest, ctx: EstateContext, g: AfdOriginGroup): AfdOrigin {
  const found = ctx.state.afdOrigins.get(key(`${g.id}/origins/${req.params.originName}`));
  if (!found) {
    throw notFound("Microsoft.Cdn/profiles/originGroups/origins", `${req.params.profileName}/${g.name}/${req.params.originName}`, req.params.resourceGroupName);
  }
  return found;
}

/** Is a long-running operation on this resource still running? (Then Azure shows it as Updating.) */
function updating(ctx: EstateContext, id: string): boolean {
  return ctx.operations.list().some((op) => op.status === "InProgress" && key(op.resourceId) === key(id));
}

/** Updating while an operation on it runs; Failed when its last operation failed (ARM's terminal state); else Succeeded. */
function provisioning(ctx: EstateContext, id: string): ProvisioningState {
  const last = ctx.operations.list().filter((op) => key(op.resourceId) === key(id)).at(-1);
  if (last?.status === "InProgress") return "Updating";
  return last?.status === "Failed" || last?.status === "Canceled" ? "Failed" : "Succeeded";
}

const originsOf = (ctx: EstateContext, g: AfdOriginGroup) => [...ctx.state.afdOrigins.values()].filter((o) => key(o.originGroupId) === key(g.id));
const endpointsOf = (ctx: EstateContext, profile: string) => [...ctx.state.afdEndpoints.values()].filter((e) => key(e.profileId) === key(profile));

/** `deploymentStatus` of an origin: InProgress from its PATCH until the change is live at the edge. */
function originDeployment(ctx: EstateContext, o: AfdOrigin): string {
  ctx.state.edge.settle(ctx.now);
  return updating(ctx, o.id) ? "InProgress" : ctx.state.edge.status(o.id);
}

function groupDeployment(ctx: EstateContext, g: AfdOriginGroup): string {
  if (originsOf(ctx, g).some((o) => originDeployment(ctx, o) === "InProgress")) return "InProgress";
  return ctx.state.edge.status(g.id);
}

/** An endpoint (and its routes) deploys every change of its profile: each is a global operation. */
function endpointDeployment(ctx: EstateContext, e: AfdEndpoint): string {
  ctx.state.edge.settle(ctx.now);
  const groups = [...ctx.state.afdOriginGroups.values()].filter((g) => key(g.profileId) === key(e.profileId));
  const running = groups.some((g) => originsOf(ctx, g).some((o) => updating(ctx, o.id)));
  return running || ctx.state.edge.scopePropagating(e.profileId) ? "InProgress" : ctx.state.edge.status(e.id);
}

function groupView(ctx: EstateContext, g: AfdOriginGroup) {
  // The estate does not model origin group settings: these are fixed, Azure-like values.
  return {
    id: g.id,
    type: "Microsoft.Cdn/profiles/origingroups",
    name: g.name,
    properties: {
      loadBalancingSettings: { sampleSize: 4, successfulSamplesRequired: 3, additionalLatencyInMilliseconds: 50 },
      healthProbeSettings: { probePath: "/", probeRequestType: "HEAD", probeProtocol: "Https", probeIntervalInSeconds: 100 },
      trafficRestorationTimeToHealedOrNewEndpointsInMinutes: 10,
      provisioningState: "Succeeded",
      deploymentStatus: groupDeployment(ctx, g),
    },
  };
}

function originView(o: AfdOrigin, g: AfdOriginGroup, provisioningState: ProvisioningState, deploymentStatus: string) {
  return {
    id: o.id,
    type: "Microsoft.Cdn/profiles/origingroups/origins",
    name: o.name,
    properties: {
      hostName: o.hostName,
      httpPort: o.httpPort,
      httpsPort: o.httpsPort,
      originHostHeader: o.originHostHeader,
      priority: o.priority,
      weight: o.weight,
      enabledState: o.enabledState,
      provisioningState,
      deploymentStatus,
      originGroupName: g.name,
      sharedPrivateLinkResource: null,
      enforceCertificateNameCheck: o.enforceCertificateNameCheck ?? true,
    },
  };
}

/** What an AFDOrigins_Update may change here. */
type OriginPatch = Partial<
  Pick<AfdOrigin, "hostName" | "httpPort" | "httpsPort" | "originHostHeader" | "priority" | "weight" | "enabledState" | "enforceCertificateNameCheck">
>;

const READ_ONLY = new Set(["originGroupName", "provisioningState", "deploymentStatus"]);

const invalid = (message: string) => badRequest("BadRequest", message);

function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`The value '${String(value)}' of properties.${name} is not valid: it must be an integer from ${min} to ${max}.`);
  }
  return value;
}

function text(name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw invalid(`properties.${name} must be a non-empty string.`);
  return value;
}

/** Validates an AFDOriginUpdateParameters body (ranges as afdx.json documents them). */
function parsePatch(body: unknown): OriginPatch {
  if (!isObject(body)) throw invalid("The request body must be a JSON object.");
  const props = body.properties;
  if (props === undefined || props === null) return {};
  if (typeof props !== "object" || Array.isArray(props)) throw invalid("properties must be a JSON object.");
  const patch: OriginPatch = {};
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || READ_ONLY.has(name)) continue;
    switch (name) {
      case "priority":
        patch.priority = integer(name, value, 1, 5);
        break;
      case "weight":
        patch.weight = integer(name, value, 1, 1000);
        break;
      case "httpPort":
      case "httpsPort":
        patch[name] = integer(name, value, 1, 65535);
        break;
      case "hostName":
      case "originHostHeader":
        patch[name] = text(name, value);
        break;
      case "enabledState":
        if (value !== "Enabled" && value !== "Disabled") throw invalid(`The value '${String(value)}' of properties.enabledState is not valid: it must be 'Enabled' or 'Disabled'.`);
        patch.enabledState = value;
        break;
      case "enforceCertificateNameCheck":
        if (typeof value !== "boolean") throw invalid("properties.enforceCertificateNameCheck must be true or false.");
        patch.enforceCertificateNameCheck = value;
        break;
      default:
        throw invalid(`The local estate does not support changing properties.${name} of an origin.`);
    }
  }
  return patch;
}

const liveOf = (o: AfdOrigin): LiveOrigin => ({ enabledState: o.enabledState, priority: o.priority, weight: o.weight });

const originPatchSchema = z.strictObject({
  hostName: z.string().optional(),
  httpPort: z.number().optional(),
  httpsPort: z.number().optional(),
  originHostHeader: z.string().optional(),
  priority: z.number().optional(),
  weight: z.number().optional(),
  enabledState: z.enum(["Enabled", "Disabled"]).optional(),
  enforceCertificateNameCheck: z.boolean().optional(),
});

/** An origin update commits: ARM has the change, and it starts its way to the edge. */
export const originUpdated = completionKind(
  "Microsoft.Cdn/originUpdate",
  z.strictObject({ originId: z.string(), patch: originPatchSchema, propagationMs: z.number() }),
  (ctx, { originId, patch, propagationMs }, op) => {
    const o = ctx.state.afdOrigins.get(key(originId));
    const g = o && ctx.state.afdOriginGroups.get(key(o.originGroupId));
    if (!o || !g) return { ok: false, code: "NotFound", message: `The origin '${originId}' no longer exists.`, status: 404 };
    const edge = ctx.state.edge;
    // The edge keeps serving what it had until this change has propagated.
    if (!edge.origins.has(key(o.id))) edge.origins.set(key(o.id), liveOf(o));
    Object.assign(o, patch);
    const endpoints = endpointsOf(ctx, g.profileId);
    edge.propagate({
      scope: g.profileId,
      resources: [o.id, g.id, ...endpoints.map((e) => e.id), ...endpoints.flatMap((e) => e.routes.map((r) => `${e.id}/routes/${r.name}`))],
      // The operation's due time is when the change committed.
      committedAt: op.dueAt,
      durationMs: propagationMs,
      change: { kind: "afdOrigin", id: o.id, live: liveOf(o) },
    });
    return { ok: true, result: originView(o, g, "Succeeded", "InProgress") };
  },
);

function updateOrigin(req: EstateRequest, ctx: EstateContext) {
  const g = group(req, ctx);
  const o = origin(req, ctx, g);
  const patch = parsePatch(req.body);
  return ctx.operations.begin({
    req,
    namespace: NS,
    location: "global",
    resourceId: o.id,
    asyncSegment: "operationresults",
    locationSegment: "operationresultlocations",
    lowerCaseHeaders: true,
    // The 202 echoes the origin as it will be, still Updating (AFDOrigins_Update example).
    acceptedBody: originView({ ...o, ...patch }, g, "Updating", "InProgress"),
    completion: originUpdated.of({ originId: o.id, patch, propagationMs: ctx.effectMs("frontDoorPropagation") }),
  });
}

// ---- endpoints and routes --------------------------------------------------------------------------

function endpoint(req: EstateRequest, ctx: EstateContext): AfdEndpoint {
  const profile = profileId(req, ctx);
  const found = ctx.state.afdEndpoints.get(key(`${profile}/afdEndpoints/${req.params.endpointName}`));
  if (!found) throw notFound("Microsoft.Cdn/profiles/afdEndpoints", `${req.params.profileName}/${req.params.endpointName}`, req.params.resourceGroupName);
  return found;
}

/** AFDEndpoints_Get's body, shaped as the public example (2025-12-01). */
function endpointView(ctx: EstateContext, e: AfdEndpoint) {
  return {
    name: e.name,
    type: "Microsoft.Cdn/profiles/afdendpoints",
    id: e.id,
    location: "global",
    properties: {
      autoGeneratedDomainNameLabelScope: "TenantReuse",
      deploymentStatus: endpointDeployment(ctx, e),
      enabledState: "Enabled",
      hostName: e.hostName,
      provisioningState: "Succeeded",
    },
    tags: {},
  };
}

function routeView(ctx: EstateContext, e: AfdEndpoint, r: AfdEndpoint["routes"][number]) {
  return {
    id: `${e.id}/routes/${r.name}`,
    type: "Microsoft.Cdn/profiles/afdendpoints/routes",
    name: r.name,
    properties: {
      endpointName: e.name,
      customDomains: [],
      originGroup: { id: r.originGroupId },
      originPath: null,
      ruleSets: [],
      supportedProtocols: ["Http", "Https"],
      patternsToMatch: [...r.patternsToMatch],
      cacheConfiguration: null,
      forwardingProtocol: "MatchRequest",
      linkToDefaultDomain: "Enabled",
      httpsRedirect: "Enabled",
      enabledState: "Enabled",
      provisioningState: "Succeeded",
      deploymentStatus: endpointDeployment(ctx, e),
    },
  };
}

export function cdnRoutes(): Route[] {
  return [
    {
      method: "GET",
      path: `${PROFILE}/originGroups`,
      operationId: "AFDOriginGroups_ListByProfile",
      api: "arm",
      handler: (req, ctx) => {
        const profile = profileId(req, ctx);
        const groups = [...ctx.state.afdOriginGroups.values()].filter((g) => key(g.profileId) === key(profile));
        return ok({ value: groups.map((g) => groupView(ctx, g)) });
      },
    },
    {
      method: "GET",
      path: GROUP,
      operationId: "AFDOriginGroups_Get",
      api: "arm",
      handler: (req, ctx) => ok(groupView(ctx, group(req, ctx))),
    },
    {
      method: "GET",
      path: `${GROUP}/origins`,
      operationId: "AFDOrigins_ListByOriginGroup",
      api: "arm",
      handler: (req, ctx) => {
        const g = group(req, ctx);
        return ok({ value: originsOf(ctx, g).map((o) => originView(o, g, provisioning(ctx, o.id), originDeployment(ctx, o))) });
      },
    },
    {
      method: "GET",
      path: ORIGIN,
      operationId: "AFDOrigins_Get",
      api: "arm",
      handler: (req, ctx) => {
        const g = group(req, ctx);
        const o = origin(req, ctx, g);
        return ok(originView(o, g, provisioning(ctx, o.id), originDeployment(ctx, o)));
      },
    },
    { method: "PATCH", path: ORIGIN, operationId: "AFDOrigins_Update", api: "arm", write: true, handler: updateOrigin },
    {
      method: "GET",
      path: `${PROFILE}/afdEndpoints`,
      operationId: "AFDEndpoints_ListByProfile",
      api: "arm",
      handler: (req, ctx) => ok({ value: endpointsOf(ctx, profileId(req, ctx)).map((e) => endpointView(ctx, e)) }),
    },
    {
      method: "GET",
      path: ENDPOINT,
      operationId: "AFDEndpoints_Get",
      api: "arm",
      handler: (req, ctx) => ok(endpointView(ctx, endpoint(req, ctx))),
    },
    {
      method: "GET",
      path: `${ENDPOINT}/routes`,
      operationId: "Routes_ListByEndpoint",
      api: "arm",
      handler: (req, ctx) => {
        const e = endpoint(req, ctx);
        return ok({ value: e.routes.map((r) => routeView(ctx, e, r)) });
      },
    },
    {
      method: "GET",
      path: ROUTE,
      operationId: "Routes_Get",
      api: "arm",
      handler: (req, ctx) => {
        const e = endpoint(req, ctx);
        const r = e.routes.find((x) => x.name.toLowerCase() === req.params.routeName!.toLowerCase());
        if (!r) throw notFound("Microsoft.Cdn/profiles/afdEndpoints/routes", `${req.params.profileName}/${e.name}/${req.params.routeName}`, req.params.resourceGroupName);
        return ok(routeView(ctx, e, r));
      },
    },
  ];
}
