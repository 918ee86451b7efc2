import { badRequest, EstateHttpError, invalidContent, notFound } from "../errors.ts";
import { ArmIdError, parseArmId } from "../armId.ts";
import { absent, isObject, stringAt } from "../json.ts";
import type { EstateContext } from "../context.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, type FailoverGroup, type SqlServer } from "../state.ts";
import { z } from "zod";
import { completionKind, type OperationOutcome } from "../lro.ts";
import { iso, ok, resourceId } from "./common.ts";

const NS = "Microsoft.Sql";
const SERVER = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Sql/servers/{serverName}";
const FOG = `${SERVER}/failoverGroups/{failoverGroupName}`;

function server(req: EstateRequest, ctx: EstateContext): SqlServer {
  const id = resourceId(req, NS, ["servers", "serverName"]);
  const found = ctx.state.sqlServer(id);
  if (!found) throw notFound("Microsoft.Sql/servers", req.params.serverName!, req.params.resourceGroupName);
  return found;
}

function groupOn(ctx: EstateContext, srv: SqlServer, name: string): FailoverGroup | undefined {
  return ctx.state.failoverGroups.find(
    (g) => g.name.toLowerCase() === name.toLowerCase() && (key(g.primaryServerId) === key(srv.id) || key(g.secondaryServerId) === key(srv.id)),
  );
}

function group(req: EstateRequest, ctx: EstateContext, srv: SqlServer): FailoverGroup {
  const found = groupOn(ctx, srv, req.params.failoverGroupName!);
  if (!found) throw notFound("Microsoft.Sql/servers/failoverGroups", `${srv.name}/${req.params.failoverGroupName}`, req.params.resourceGroupName);
  return found;
}

function role(g: FailoverGroup, srv: SqlServer): "Primary" | "Secondary" {
  return key(g.primaryServerId) === key(srv.id) ? "Primary" : "Secondary";
}

function partnerOf(ctx: EstateContext, g: FailoverGroup, srv: SqlServer): SqlServer {
  const partnerId = role(g, srv) === "Primary" ? g.secondaryServerId : g.primaryServerId;
  return ctx.state.sqlServer(partnerId)!;
}

/** The failover group as seen from one of its two servers. */
function view(ctx: EstateContext, g: FailoverGroup, srv: SqlServer) {
  const partner = partnerOf(ctx, g, srv);
  const partnerDown = ctx.state.isDown(partner.location) || ctx.state.isDown(srv.location);
  return {
    id: `${srv.id}/failoverGroups/${g.name}`,
    name: g.name,
    type: "Microsoft.Sql/servers/failoverGroups",
    location: srv.location,
    tags: {},
    properties: {
      readWriteEndpoint: { ...g.readWriteEndpoint },
      readOnlyEndpoint: { ...g.readOnlyEndpoint },
      replicationRole: role(g, srv),
      replicationState: partnerDown ? "SUSPENDED" : "CATCH_UP",
      partnerServers: [{ id: partner.id, location: partner.location, replicationRole: role(g, partner) }],
      databases: g.databases.map((db) => `${srv.id}/databases/${db}`),
    },
  };
}

type FailoverKind = "planned" | "forced" | "tryPlanned";

/** Azure refuses a failover sent to the server that is already primary (FailoverGroupFailoverRequestOnPrimary). */
function onPrimary(g: FailoverGroup, srv: SqlServer) {
  return {
    code: "FailoverGroupFailoverRequestOnPrimary",
    message: `The failover request should be initiated on the secondary server of failover group '${g.name}'; '${srv.name}' is its primary.`,
    status: 400,
  };
}

/** Makes `srv` the primary of `g`. Checks the regions when the operation completes, not when it starts. */
function failover(ctx: EstateContext, g: FailoverGroup, srv: SqlServer, kind: FailoverKind): OperationOutcome {
  if (role(g, srv) === "Primary") return { ok: false, ...onPrimary(g, srv) };
  const partner = partnerOf(ctx, g, srv);
  if (ctx.state.isDown(srv.location)) {
    return { ok: false, code: "ServiceUnavailable", message: `Server '${srv.name}' in region '${srv.location}' is unavailable.`, status: 503 };
  }
  const partnerReachable = !ctx.state.isDown(partner.location);
  if (kind === "planned" && !partnerReachable) {
    // Azure publishes no code for this failure: a generic one (Switchyard must not depend on it).
    return {
      ok: false,
      code: "Conflict",
      message: `Planned failover of failover group '${g.name}' needs the primary server '${partner.name}' in '${partner.location}', which is unavailable. A forced failover (forceFailoverAllowDataLoss) can proceed with possible data loss.`,
      status: 409,
    };
  }
  const forced = kind === "forced" || (kind === "tryPlanned" && !partnerReachable);
  if (forced) g.dataLossSeconds += g.lagSeconds;
  g.lagSeconds = 0;
  [g.primaryServerId, g.secondaryServerId] = [g.secondaryServerId, g.primaryServerId];
  return { ok: true, result: view(ctx, g, srv) };
}

/** A failover of a group, posted to `serverId` (the server to become primary), completes. */
export const groupFailedOver = completionKind(
  "Microsoft.Sql/failoverGroupFailover",
  z.strictObject({ serverId: z.string(), group: z.string(), kind: z.enum(["planned", "forced", "tryPlanned"]) }),
  (ctx, { serverId, group: name, kind }) => {
    const srv = ctx.state.sqlServer(serverId);
    const g = srv && groupOn(ctx, srv, name);
    if (!srv || !g) return { ok: false, code: "ResourceNotFound", message: `The failover group '${name}' on '${serverId}' no longer exists.`, status: 404 };
    return failover(ctx, g, srv, kind);
  },
);

function failoverRoute(path: string, operationId: string, kind: FailoverKind): Route {
  return {
    method: "POST",
    path: `${FOG}/${path}`,
    operationId,
    api: "arm",
    write: true,
    handler: (req, ctx) => {
      const srv = server(req, ctx);
      const g = group(req, ctx, srv);
      if (role(g, srv) === "Primary") {
        const refusal = onPrimary(g, srv);
        throw new EstateHttpError(refusal.status, refusal.code, refusal.message);
      }
      return ctx.operations.begin({
        req,
        namespace: NS,
        location: srv.location,
        resourceId: `${srv.id}/failoverGroups/${g.name}`,
        // Azure SQL answers with both headers; tryPlannedBeforeForcedFailover documents Location only.
        asyncSegment: kind === "tryPlanned" ? undefined : "failoverGroupAzureAsyncOperation",
        locationSegment: "failoverGroupOperationResults",
        completion: groupFailedOver.of({ serverId: srv.id, group: g.name, kind }),
      });
    },
  };
}

/** A FailoverGroups_CreateOrUpdate body, read and checked. */
interface FailoverGroupPut {
  readonly partnerId: string;
  readonly databases: string[];
  readonly readWriteEndpoint: FailoverGroup["readWriteEndpoint"];
  readonly readOnlyEndpoint: FailoverGroup["readOnlyEndpoint"];
}

/** Whether a string is the ARM id of a SQL server. */
function isServerId(id: string): boolean {
  try {
    return parseArmId(id).type.toLowerCase() === "microsoft.sql/servers";
  } catch (error) {
    if (error instanceof ArmIdError) return false;
    throw error;
  }
}

/** A database resource id as the failover group's `databases` lists them: `…/Microsoft.Sql/servers/{server}/databases/{name}`. */
const DATABASE_ID = /\/providers\/Microsoft\.Sql\/servers\/[^/]+\/databases\/([^/]+)\/?$/i;

/**
 * Reads a PUT body the way the SQL resource provider checks it. Each refusal carries the code the
 * FailoverGroups REST reference lists for it (FailoverGroupCreateOrUpdateRequestInvalid,
 * …InvalidReadWriteEndpoint, …InvalidReadWriteFailoverPolicy, …InvalidReadWriteEndpointFields,
 * …InvalidReadWriteEndpointFieldsForManualPolicy, …NegativeGracePeriodValues, …InvalidPartner,
 * …InvalidDatabases); a body that is not even an object is Resource Manager's InvalidRequestContent.
 */
function parseFailoverGroupPut(body: unknown): FailoverGroupPut {
  const invalid = (suffix: string, message: string) => badRequest(`FailoverGroupCreateOrUpdateRequest${suffix}`, message);
  if (absent(body)) throw invalid("Invalid", "The create or update failover group request body is empty or invalid.");
  if (!isObject(body)) throw invalidContent("The body must be a JSON object (a failover group resource).");
  const props = body.properties;
  if (!isObject(props)) throw invalid("Invalid", "The create or update failover group request body is empty or invalid: 'properties' must be an object.");

  const rwRaw = props.readWriteEndpoint;
  if (!isObject(rwRaw)) throw invalid("InvalidReadWriteEndpoint", "The readWriteEndpoint field is required for create or update requests.");
  const policy = rwRaw.failoverPolicy;
  if (policy !== "Automatic" && policy !== "Manual") {
    throw invalid("InvalidReadWriteFailoverPolicy", "The failoverPolicy field for the read-write endpoint is required for create or update requests, and must be 'Automatic' or 'Manual'.");
  }
  const grace = rwRaw.failoverWithDataLossGracePeriodMinutes;
  let readWriteEndpoint: FailoverGroup["readWriteEndpoint"];
  if (policy === "Automatic") {
    if (absent(grace)) {
      throw invalid("InvalidReadWriteEndpointFields", "The property failoverWithDataLossGracePeriodMinutes must be provided when failover policy Automatic is selected for the read-write endpoint.");
    }
    if (typeof grace !== "number" || !Number.isInteger(grace)) {
      throw invalidContent("properties.readWriteEndpoint.failoverWithDataLossGracePeriodMinutes must be an integer number of minutes.");
    }
    if (grace < 0) throw invalid("NegativeGracePeriodValues", "Grace period value for the read-write endpoint must be non-negative.");
    readWriteEndpoint = { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: grace };
  } else {
    if (!absent(grace)) {
      throw invalid("InvalidReadWriteEndpointFieldsForManualPolicy", "Grace period value should not be provided when failover policy Manual is selected for the read-write endpoint.");
    }
    readWriteEndpoint = { failoverPolicy: "Manual" };
  }

  const partners = props.partnerServers;
  const partnerId = Array.isArray(partners) ? stringAt(partners[0], "id") : undefined;
  if (!partnerId || !isServerId(partnerId)) {
    throw invalid("InvalidPartner", "The given partners field in create or update failover group request body is empty or invalid: properties.partnerServers must name one partner server by id.");
  }

  const databaseIds = absent(props.databases) ? [] : props.databases;
  if (!Array.isArray(databaseIds)) throw invalid("InvalidDatabases", "The provided databases in the request are not valid database resource IDs: properties.databases must be an array.");
  const databases = databaseIds.map((id) => {
    const name = typeof id === "string" ? DATABASE_ID.exec(id)?.[1] : undefined;
    if (name === undefined) throw invalid("InvalidDatabases", `The provided databases in the request are not valid database resource IDs: ${JSON.stringify(id)}.`);
    return name;
  });

  // Anything but "Enabled" leaves read-only failover off, as before (the endpoint is optional).
  const readOnlyEndpoint: FailoverGroup["readOnlyEndpoint"] = {
    failoverPolicy: stringAt(props.readOnlyEndpoint, "failoverPolicy") === "Enabled" ? "Enabled" : "Disabled",
  };
  return { partnerId, databases, readWriteEndpoint, readOnlyEndpoint };
}

/** A failover group PUT commits: the group is created on `serverId` with its partner, or updated. */
export const groupPut = completionKind(
  "Microsoft.Sql/failoverGroupPut",
  z.strictObject({
    serverId: z.string(),
    group: z.string(),
    partnerId: z.string(),
    databases: z.array(z.string()),
    readWriteEndpoint: z.strictObject({ failoverPolicy: z.enum(["Automatic", "Manual"]), failoverWithDataLossGracePeriodMinutes: z.number().optional() }),
    readOnlyEndpoint: z.strictObject({ failoverPolicy: z.enum(["Enabled", "Disabled"]) }),
  }),
  (ctx, { serverId, group: name, partnerId, databases, readWriteEndpoint: rw, readOnlyEndpoint: ro }) => {
    const srv = ctx.state.sqlServer(serverId);
    const partner = ctx.state.sqlServer(partnerId);
    if (!srv || !partner) return { ok: false, code: "ResourceNotFound", message: `The server '${srv ? partnerId : serverId}' no longer exists.`, status: 404 };
    let g = groupOn(ctx, srv, name);
    if (!g) {
      g = {
        name,
        primaryServerId: srv.id,
        secondaryServerId: partner.id,
        databases,
        readWriteEndpoint: endpointOf(rw),
        readOnlyEndpoint: ro,
        lagSeconds: 0,
        linkIds: {},
        dataLossSeconds: 0,
      };
      ctx.state.failoverGroups.push(g);
    } else {
      g.readWriteEndpoint = endpointOf(rw);
      g.readOnlyEndpoint = ro;
      g.databases = databases;
    }
    for (const db of g.databases) g.linkIds[db.toLowerCase()] ??= crypto.randomUUID();
    return { ok: true, result: view(ctx, g, srv) };
  },
);

const endpointOf = (rw: { failoverPolicy: "Automatic" | "Manual"; failoverWithDataLossGracePeriodMinutes?: number | undefined }): FailoverGroup["readWriteEndpoint"] => ({
  failoverPolicy: rw.failoverPolicy,
  ...(rw.failoverWithDataLossGracePeriodMinutes !== undefined ? { failoverWithDataLossGracePeriodMinutes: rw.failoverWithDataLossGracePeriodMinutes } : {}),
});

function createOrUpdate(req: EstateRequest, ctx: EstateContext) {
  const srv = server(req, ctx);
  const { partnerId, databases, readWriteEndpoint: rw, readOnlyEndpoint: ro } = parseFailoverGroupPut(req.body);
  const partner = ctx.state.sqlServer(partnerId);
  if (!partner) throw new EstateHttpError(400, "FailoverGroupPartnerServerNotFound", `The partner server '${partnerId}' was not found.`);
  return ctx.operations.begin({
    req,
    namespace: NS,
    location: srv.location,
    resourceId: `${srv.id}/failoverGroups/${req.params.failoverGroupName}`,
    asyncSegment: "failoverGroupAzureAsyncOperation",
    locationSegment: "failoverGroupOperationResults",
    completion: groupPut.of({ serverId: srv.id, group: req.params.failoverGroupName!, partnerId: partner.id, databases, readWriteEndpoint: rw, readOnlyEndpoint: ro }),
  });
}

function links(ctx: EstateContext, srv: SqlServer, database: string) {
  const result = [];
  for (const g of ctx.state.failoverGroups) {
    if (key(g.primaryServerId) !== key(srv.id) && key(g.secondaryServerId) !== key(srv.id)) continue;
    const db = g.databases.find((d) => d.toLowerCase() === database.toLowerCase());
    if (!db) continue;
    const partner = partnerOf(ctx, g, srv);
    const linkId = g.linkIds[db.toLowerCase()]!;
    const suspended = ctx.state.isDown(partner.location) || ctx.state.isDown(srv.location);
    result.push({
      id: `${srv.id}/databases/${db}/replicationLinks/${linkId}`,
      name: linkId,
      type: "Microsoft.Sql/servers/databases/replicationLinks",
      properties: {
        partnerServer: partner.name,
        partnerDatabase: db,
        partnerDatabaseId: `${partner.id}/databases/${db}`,
        partnerLocation: partner.location,
        role: role(g, srv),
        partnerRole: role(g, partner),
        replicationMode: "ASYNC",
        startTime: iso(ctx.now - 30 * 86_400_000),
        percentComplete: 100,
        replicationState: suspended ? "SUSPENDED" : "CATCH_UP",
        isTerminationAllowed: true,
        linkType: "GEO",
      },
    });
  }
  return result;
}

function database(req: EstateRequest, ctx: EstateContext, srv: SqlServer): string {
  const name = req.params.databaseName!;
  const known = ctx.state.failoverGroups.some(
    (g) => (key(g.primaryServerId) === key(srv.id) || key(g.secondaryServerId) === key(srv.id)) && g.databases.some((d) => d.toLowerCase() === name.toLowerCase()),
  );
  if (!known) throw notFound("Microsoft.Sql/servers/databases", `${srv.name}/${name}`, req.params.resourceGroupName);
  return name;
}

export function sqlRoutes(): Route[] {
  return [
    {
      method: "GET",
      path: FOG,
      operationId: "FailoverGroups_Get",
      api: "arm",
      handler: (req, ctx) => {
        const srv = server(req, ctx);
        return ok(view(ctx, group(req, ctx, srv), srv));
      },
    },
    {
      method: "GET",
      path: `${SERVER}/failoverGroups`,
      operationId: "FailoverGroups_ListByServer",
      api: "arm",
      handler: (req, ctx) => {
        const srv = server(req, ctx);
        const groups = ctx.state.failoverGroups.filter((g) => key(g.primaryServerId) === key(srv.id) || key(g.secondaryServerId) === key(srv.id));
        return ok({ value: groups.map((g) => view(ctx, g, srv)) });
      },
    },
    { method: "PUT", path: FOG, operationId: "FailoverGroups_CreateOrUpdate", api: "arm", write: true, handler: createOrUpdate },
    failoverRoute("failover", "FailoverGroups_Failover", "planned"),
    failoverRoute("forceFailoverAllowDataLoss", "FailoverGroups_ForceFailoverAllowDataLoss", "forced"),
    failoverRoute("tryPlannedBeforeForcedFailover", "FailoverGroups_TryPlannedBeforeForcedFailover", "tryPlanned"),
    {
      method: "GET",
      path: `${SERVER}/databases/{databaseName}/replicationLinks`,
      operationId: "ReplicationLinks_ListByDatabase",
      api: "arm",
      handler: (req, ctx) => {
        const srv = server(req, ctx);
        return ok({ value: links(ctx, srv, database(req, ctx, srv)) });
      },
    },
    {
      method: "GET",
      path: `${SERVER}/databases/{databaseName}/replicationLinks/{linkId}`,
      operationId: "ReplicationLinks_Get",
      api: "arm",
      handler: (req, ctx) => {
        const srv = server(req, ctx);
        const link = links(ctx, srv, database(req, ctx, srv)).find((l) => l.name.toLowerCase() === req.params.linkId!.toLowerCase());
        if (!link) throw notFound("Microsoft.Sql/servers/databases/replicationLinks", `${srv.name}/${req.params.databaseName}/${req.params.linkId}`, req.params.resourceGroupName);
        return ok(link);
      },
    },
  ];
}
