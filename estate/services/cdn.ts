import { badRequest, notFound } from "../errors.ts";
import type { EstateContext } from "../context.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, type AfdOrigin, type AfdOriginGroup } from "../state.ts";
import { ok, resourceId } from "./common.ts";

/*
 * Azure Front Door Standard/Premium (Microsoft.Cdn profiles): origin groups and origins, as
 * @azure/arm-cdn calls them (afdx.json). Profiles exist here only as the parents of seeded origin
 * groups. Origins are data in the global profile: a region outage does not stop these calls.
 */

const NS = "Microsoft.Cdn";
const PROFILE = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Cdn/profiles/{profileName}";
const GROUP = `${PROFILE}/originGroups/{originGroupName}`;
const ORIGIN = `${GROUP}/origins/{originName}`;

type ProvisioningState = "Succeeded" | "Updating";

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

function groupView(g: AfdOriginGroup) {
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
      deploymentStatus: "NotStarted",
    },
  };
}

function originView(o: AfdOrigin, g: AfdOriginGroup, provisioningState: ProvisioningState) {
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
      deploymentStatus: "NotStarted",
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
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("The request body must be a JSON object.");
  const props = (body as { properties?: unknown }).properties;
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
    acceptedBody: originView({ ...o, ...patch }, g, "Updating"),
    complete: () => {
      Object.assign(o, patch);
      return { ok: true, result: originView(o, g, "Succeeded") };
    },
  });
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
        return ok({ value: groups.map(groupView) });
      },
    },
    {
      method: "GET",
      path: GROUP,
      operationId: "AFDOriginGroups_Get",
      api: "arm",
      handler: (req, ctx) => ok(groupView(group(req, ctx))),
    },
    {
      method: "GET",
      path: `${GROUP}/origins`,
      operationId: "AFDOrigins_ListByOriginGroup",
      api: "arm",
      handler: (req, ctx) => {
        const g = group(req, ctx);
        const origins = [...ctx.state.afdOrigins.values()].filter((o) => key(o.originGroupId) === key(g.id));
        return ok({ value: origins.map((o) => originView(o, g, updating(ctx, o.id) ? "Updating" : "Succeeded")) });
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
        return ok(originView(o, g, updating(ctx, o.id) ? "Updating" : "Succeeded"));
      },
    },
    { method: "PATCH", path: ORIGIN, operationId: "AFDOrigins_Update", api: "arm", write: true, handler: updateOrigin },
  ];
}
