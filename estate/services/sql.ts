import { EstateHttpError, notFound } from "../errors.ts";
import type { EstateContext } from "../context.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, type FailoverGroup, type SqlServer } from "../state.ts";
import type { OperationOutcome } from "../lro.ts";
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
        complete: () => failover(ctx, g, srv, kind),
      });
    },
  };
}

interface FailoverGroupPut {
  properties?: {
    readWriteEndpoint?: { failoverPolicy?: string; failoverWithDataLossGracePeriodMinutes?: number };
    readOnlyEndpoint?: { failoverPolicy?: string };
    partnerServers?: { id?: string }[];
    databases?: string[];
  };
}

function createOrUpdate(req: EstateRequest, ctx: EstateContext) {
  const srv = server(req, ctx);
  const body = (req.body ?? {}) as FailoverGroupPut;
  const props = body.properties;
  const policy = props?.readWriteEndpoint?.failoverPolicy;
  if (!props || (policy !== "Automatic" && policy !== "Manual")) {
    throw new EstateHttpError(400, "InvalidParameterValue", "properties.readWriteEndpoint.failoverPolicy must be 'Automatic' or 'Manual'.");
  }
  if (policy === "Automatic" && props.readWriteEndpoint?.failoverWithDataLossGracePeriodMinutes === undefined) {
    throw new EstateHttpError(400, "InvalidParameterValue", "failoverWithDataLossGracePeriodMinutes is required when failoverPolicy is 'Automatic'.");
  }
  const partnerId = props.partnerServers?.[0]?.id;
  if (!partnerId) throw new EstateHttpError(400, "InvalidParameterValue", "properties.partnerServers must name one partner server.");
  const partner = ctx.state.sqlServer(partnerId);
  if (!partner) throw new EstateHttpError(400, "FailoverGroupPartnerServerNotFound", `The partner server '${partnerId}' was not found.`);
  const databases = (props.databases ?? []).map((id) => id.split("/").pop()!);
  const existing = groupOn(ctx, srv, req.params.failoverGroupName!);
  const rw = {
    failoverPolicy: policy,
    ...(policy === "Automatic" ? { failoverWithDataLossGracePeriodMinutes: props.readWriteEndpoint!.failoverWithDataLossGracePeriodMinutes } : {}),
  } as FailoverGroup["readWriteEndpoint"];
  const ro = { failoverPolicy: props.readOnlyEndpoint?.failoverPolicy === "Enabled" ? "Enabled" : "Disabled" } as const;
  return ctx.operations.begin({
    req,
    namespace: NS,
    location: srv.location,
    resourceId: `${srv.id}/failoverGroups/${req.params.failoverGroupName}`,
    asyncSegment: "failoverGroupAzureAsyncOperation",
    locationSegment: "failoverGroupOperationResults",
    complete: () => {
      let g = existing;
      if (!g) {
        g = {
          name: req.params.failoverGroupName!,
          primaryServerId: srv.id,
          secondaryServerId: partner.id,
          databases,
          readWriteEndpoint: rw,
          readOnlyEndpoint: ro,
          lagSeconds: 0,
          linkIds: {},
          dataLossSeconds: 0,
        };
        ctx.state.failoverGroups.push(g);
      } else {
        g.readWriteEndpoint = rw;
        g.readOnlyEndpoint = ro;
        g.databases = databases;
      }
      for (const db of g.databases) g.linkIds[db.toLowerCase()] ??= crypto.randomUUID();
      return { ok: true, result: view(ctx, g, srv) };
    },
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
