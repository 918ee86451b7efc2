import { ancestorId, parseArmId, type ArmId } from "../armId.ts";
import type { EstateContext } from "../context.ts";
import { EstateHttpError } from "../errors.ts";
import { arrayAt, isString, objectAt, objectsIn, stringAt } from "../json.ts";
import type { EstateRequest, EstateResponse, Route } from "../router.ts";
import { key, type AfdOrigin } from "../state.ts";
import { ok } from "./common.ts";

/**
 * The Azure Monitor metrics batch API (`POST /subscriptions/{sub}/metrics:getBatch`, api-version
 * 2024-02-01), as `MetricsClient.queryResources` from @azure/monitor-query-metrics calls it.
 *
 * Azure serves it per region, at `https://{region}.metrics.monitor.azure.com`, and `global` for global
 * resources such as Front Door profiles (the `endpoint` parameter of the REST spec, metricBatch.json).
 * The estate serves each regional endpoint under `/metrics/{region}`: a batch posted to
 * `/metrics/westeurope/subscriptions/{sub}/metrics:getBatch` is one sent to westeurope. Its batching
 * rules are those of "Migrate from the metrics API to the getBatch API": up to 50 unique resource ids,
 * all in the subscription the path names, all of the metric namespace's resource type, all in one
 * region; the estate also refuses resources that are not in the endpoint's region (the spec says the
 * region should match theirs; what Azure answers when it does not is not public).
 *
 * Values are computed from the estate's region state, not recorded: a resource in a region that is
 * down is unhealthy for the whole queried window, otherwise healthy. Metric names, units, default
 * aggregations and dimensions are those of the Azure Monitor "supported metrics" reference
 * (MicrosoftDocs/azure-reference-other, azure-monitor-ref/supported-metrics/includes/*.md).
 * Errors are wrapped in a top-level `error` property, as the batch API does (the per-resource metrics
 * API answers without the wrapper): see the "Error response changes" section of the Azure Monitor doc
 * "Migrate from the metrics API to the getBatch API".
 */

const AGGREGATIONS = ["average", "minimum", "maximum", "total", "count"] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

/** An aggregation named in a query (`sum` is Azure's other name for `total`), or undefined for anything else. */
function aggregationNamed(raw: string): Aggregation | undefined {
  const name = raw.toLowerCase();
  const wanted = name === "sum" ? "total" : name;
  return AGGREGATIONS.find((a) => a === wanted);
}

/** Statistics of one series over one minute: the sum, number, least and greatest of its samples. */
interface MinuteStats {
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** An elementary series: one combination of dimension values (lower-case names) and its per-minute stats (undefined: no data). */
interface Sample {
  readonly dims: Record<string, string>;
  readonly perMinute: MinuteStats | undefined;
}

interface MetricDef {
  readonly name: string;
  readonly displayName: string;
  readonly description: string;
  readonly unit: "Percent" | "Count";
  readonly defaultAggregation: Aggregation;
  /** Dimension names as Azure spells them. */
  readonly dimensions: readonly string[];
  readonly samples: (resource: Resolved, ctx: EstateContext) => Sample[];
}

interface Resolved {
  readonly id: string;
  readonly parsed: ArmId;
  readonly region: string;
}

interface NamespaceDef {
  readonly namespace: string;
  readonly resolve: (parsed: ArmId, ctx: EstateContext) => Resolved | undefined;
  readonly metrics: readonly MetricDef[];
}

/** Requests per minute the estate attributes to each Front Door origin group / backend pool. */
const REQUESTS_PER_MINUTE = 120;
/** The value of a dimension the estate does not model, when a query splits by it with '*'. */
const UNMODELLED = "Unknown";
const MAX_RESOURCES = 50;
const MAX_POINTS = 100_000;
const MINUTE = 60_000;

// ---- values -----------------------------------------------------------------------------------

const constant = (value: number): MinuteStats => ({ sum: value, count: 1, min: value, max: value });
const health = (ctx: EstateContext, region: string | undefined) => constant(ctx.state.isDown(region) ? 0 : 100);

/** Client traffic split into 2XX (served by a healthy origin) and 5XX (no healthy origin to route to). */
function trafficSamples(groups: { healthy: boolean }[]): Sample[] {
  const served = groups.filter((g) => g.healthy).length * REQUESTS_PER_MINUTE;
  const failed = groups.filter((g) => !g.healthy).length * REQUESTS_PER_MINUTE;
  const out: Sample[] = [];
  if (served > 0) out.push({ dims: { httpstatusgroup: "2XX", httpstatus: "200" }, perMinute: constant(served) });
  if (failed > 0) out.push({ dims: { httpstatusgroup: "5XX", httpstatus: "503" }, perMinute: constant(failed) });
  return out;
}

function percentage5xx(groups: { healthy: boolean }[]): Sample[] {
  if (groups.length === 0) return [];
  const failed = groups.filter((g) => !g.healthy).length;
  return [{ dims: {}, perMinute: constant((100 * failed) / groups.length) }];
}

// ---- Microsoft.Cdn/profiles (Front Door Standard/Premium) ---------------------------------------

function afdGroups(profile: Resolved, ctx: EstateContext) {
  return [...ctx.state.afdOriginGroups.values()]
    .filter((g) => key(g.profileId) === key(profile.id))
    .map((g) => {
      const origins = [...ctx.state.afdOrigins.values()].filter((o) => key(o.originGroupId) === key(g.id));
      // Front Door routes to the enabled origins whose probes succeed; with none, clients get 5XX.
      const healthy = origins.some((o) => originUp(ctx, o));
      return { group: g, origins, healthy };
    });
}

const originUp = (ctx: EstateContext, o: AfdOrigin) => o.enabledState === "Enabled" && !ctx.state.isDown(o.region);

const cdnProfiles: NamespaceDef = {
  namespace: "Microsoft.Cdn/profiles",
  resolve: (parsed, ctx) => {
    const id = ancestorId(parsed, 1);
    const known = [...ctx.state.afdOriginGroups.values()].some((g) => key(g.profileId) === key(id));
    return known ? { id: parsed.id, parsed, region: "global" } : undefined;
  },
  metrics: [
    {
      name: "OriginHealthPercentage",
      displayName: "Origin Health Percentage",
      description: "The percentage of successful health probes from AFDX to backends.",
      unit: "Percent",
      defaultAggregation: "average",
      dimensions: ["Origin", "OriginGroup"],
      samples: (profile, ctx) =>
        afdGroups(profile, ctx).flatMap(({ group, origins }) =>
          origins.map((o) => ({
            dims: { origin: o.hostName, origingroup: group.name },
            // Front Door does not probe a disabled origin: no samples.
            perMinute: o.enabledState === "Enabled" ? health(ctx, o.region) : undefined,
          })),
        ),
    },
    {
      name: "RequestCount",
      displayName: "Request Count",
      description: "The number of client requests served by the HTTP/S proxy",
      unit: "Count",
      defaultAggregation: "total",
      dimensions: ["HttpStatus", "HttpStatusGroup", "ClientRegion", "ClientCountry", "Endpoint"],
      samples: (profile, ctx) => trafficSamples(afdGroups(profile, ctx)),
    },
    {
      name: "Percentage5XX",
      displayName: "Percentage of 5XX",
      description: "The percentage of all the client requests for which the response status code is 5XX",
      unit: "Percent",
      defaultAggregation: "average",
      dimensions: ["Endpoint", "ClientRegion", "ClientCountry"],
      samples: (profile, ctx) => percentage5xx(afdGroups(profile, ctx)),
    },
  ],
};

// ---- Microsoft.Network/frontDoors (classic) -----------------------------------------------------

function classicPools(fd: Resolved, ctx: EstateContext) {
  const frontDoor = ctx.state.frontDoors.get(key(fd.id));
  if (!frontDoor) return [];
  // The body is the one last PUT (or seeded): read it as JSON, not as the shape a valid PUT would have.
  const pools = objectsIn(objectAt(frontDoor.body, "properties")?.backendPools);
  return pools.map((pool) => {
    const backends = objectsIn(objectAt(pool, "properties")?.backends).map((b) => {
      const address = stringAt(b, "address") ?? "";
      const region = frontDoor.backendRegions[address.toLowerCase()];
      const enabled = (stringAt(b, "enabledState") ?? "Enabled") === "Enabled";
      return { address, region, enabled, up: enabled && !ctx.state.isDown(region) };
    });
    return { name: stringAt(pool, "name") ?? "", backends, healthy: backends.some((b) => b.up) };
  });
}

const frontDoors: NamespaceDef = {
  namespace: "Microsoft.Network/frontDoors",
  resolve: (parsed, ctx) => (ctx.state.frontDoors.has(key(ancestorId(parsed, 1))) ? { id: parsed.id, parsed, region: "global" } : undefined),
  metrics: [
    {
      name: "BackendHealthPercentage",
      displayName: "Backend Health Percentage",
      description: "The percentage of successful health probes from the HTTP/S proxy to backends",
      unit: "Percent",
      defaultAggregation: "average",
      dimensions: ["Backend", "BackendPool"],
      samples: (fd, ctx) =>
        classicPools(fd, ctx).flatMap((pool) =>
          pool.backends.map((b) => ({
            dims: { backend: b.address, backendpool: pool.name },
            perMinute: b.enabled ? health(ctx, b.region) : undefined,
          })),
        ),
    },
    {
      name: "RequestCount",
      displayName: "Request Count",
      description: "The number of client requests served by the HTTP/S proxy",
      unit: "Count",
      defaultAggregation: "total",
      dimensions: ["HttpStatus", "HttpStatusGroup", "ClientRegion", "ClientCountry"],
      samples: (fd, ctx) => trafficSamples(classicPools(fd, ctx)),
    },
  ],
};

// ---- Microsoft.Sql/servers/databases ------------------------------------------------------------

const sqlDatabases: NamespaceDef = {
  namespace: "Microsoft.Sql/servers/databases",
  resolve: (parsed, ctx) => {
    const server = ctx.state.sqlServer(ancestorId(parsed, 1));
    if (!server) return undefined;
    const database = parsed.name.toLowerCase();
    const known = ctx.state.failoverGroups.some(
      (g) => [g.primaryServerId, g.secondaryServerId].some((s) => key(s) === key(server.id)) && g.databases.some((d) => d.toLowerCase() === database),
    );
    return known ? { id: parsed.id, parsed, region: server.location } : undefined;
  },
  metrics: [
    {
      name: "availability",
      displayName: "Availability",
      description:
        "Availability of the database, computed from connections: each one-minute data point is 100% when the database was available and 0% when it was not.",
      unit: "Percent",
      defaultAggregation: "average",
      dimensions: [],
      samples: (db, ctx) => [{ dims: {}, perMinute: health(ctx, db.region) }],
    },
  ],
};

// ---- Microsoft.Storage/storageAccounts ----------------------------------------------------------

const storageAccounts: NamespaceDef = {
  namespace: "Microsoft.Storage/storageAccounts",
  resolve: (parsed, ctx) => {
    const account = ctx.state.storageAccount(ancestorId(parsed, 1));
    return account ? { id: parsed.id, parsed, region: account.primaryLocation } : undefined;
  },
  metrics: [
    {
      name: "Availability",
      displayName: "Availability",
      description:
        "The percentage of availability for the storage service or the specified API operation. Availability is calculated by taking the TotalBillableRequests value and dividing it by the number of applicable requests, including those that produced unexpected errors. All unexpected errors result in reduced availability for the storage service or the specified API operation.",
      unit: "Percent",
      defaultAggregation: "average",
      dimensions: ["GeoType", "ApiName", "Authentication"],
      // Only traffic to the primary endpoint is modelled (GeoType Primary).
      samples: (account, ctx) => [{ dims: { geotype: "Primary" }, perMinute: health(ctx, account.region) }],
    },
  ],
};

const NAMESPACES: readonly NamespaceDef[] = [cdnProfiles, frontDoors, sqlDatabases, storageAccounts];

// ---- errors -----------------------------------------------------------------------------------

const badRequest = (message: string) => new EstateHttpError(400, "BadRequest", message);

// ---- query parsing ----------------------------------------------------------------------------

/** Query parameter names are case-insensitive (`metricNamespace` and `metricnamespace` both work). */
function query(req: EstateRequest, name: string): string | undefined {
  for (const [k, v] of req.url.searchParams) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** `PT1M`, `PT1H`, `P1D`, ... (whole minutes) in ms; `FULL` as undefined. */
function parseInterval(raw: string | undefined): number | "FULL" {
  if (raw === undefined || raw === "") return MINUTE;
  if (raw.toUpperCase() === "FULL") return "FULL";
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/i.exec(raw);
  const ms = m ? (Number(m[1] ?? 0) * 24 * 60 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * MINUTE : 0;
  if (!m || ms <= 0) throw badRequest(`Invalid interval '${raw}': give an ISO 8601 duration of whole minutes (PT1M, PT5M, PT15M, PT30M, PT1H, PT6H, PT12H, P1D) or FULL.`);
  return ms;
}

function parseTime(raw: string, name: string): number {
  const ms = Date.parse(raw);
  if (!Number.isFinite(ms)) throw badRequest(`Invalid ${name} '${raw}': expected a time like 2024-02-01T20:00:00.000Z.`);
  return ms;
}

function parseAggregations(raw: string | undefined): Aggregation[] | undefined {
  if (!raw) return undefined;
  const out: Aggregation[] = [];
  for (const part of raw.split(",").map((p) => p.trim().toLowerCase()).filter(Boolean)) {
    if (part === "none") continue;
    const agg = aggregationNamed(part);
    if (agg === undefined) throw badRequest(`Invalid aggregation '${part}': use average, minimum, maximum, total or count.`);
    if (!out.includes(agg)) out.push(agg);
  }
  return out;
}

const OPERATORS = ["eq", "ne", "sw"] as const;

interface Clause {
  /** The dimension name as written in the filter. */
  readonly dimension: string;
  readonly op: (typeof OPERATORS)[number];
  readonly values: string[];
}

/**
 * `A eq 'a1' and B eq 'b1' or B eq 'b2' and C eq '*'`: `and` separates dimensions, `or` lists values
 * of one dimension (it may not join two different dimensions).
 */
function parseFilter(raw: string | undefined): Clause[] {
  if (!raw || raw.trim() === "") return [];
  const clauses: Clause[] = [];
  for (const part of raw.split(/\s+and\s+/i)) {
    let dimension: string | undefined;
    let op: Clause["op"] | undefined;
    const values: string[] = [];
    for (const term of part.replace(/^\s*\(|\)\s*$/g, "").split(/\s+or\s+/i)) {
      const m = /^\s*([^\s']+)\s+(eq|ne|sw)\s+'((?:[^']|'')*)'\s*$/i.exec(term);
      const termOp = OPERATORS.find((o) => o === m?.[2]?.toLowerCase());
      if (!m || termOp === undefined) throw badRequest(`Invalid filter '${raw}': expected terms like Dimension eq 'value', joined by 'and' / 'or'.`);
      const dim = m[1]!;
      if (dimension !== undefined && (dim.toLowerCase() !== dimension.toLowerCase() || termOp !== op)) {
        throw badRequest(`Invalid filter '${raw}': 'or' can only join values of the same dimension.`);
      }
      dimension = dim;
      op = termOp;
      values.push(m[3]!.replace(/''/g, "'"));
    }
    if (clauses.some((c) => c.dimension.toLowerCase() === dimension!.toLowerCase())) {
      throw badRequest(`Invalid filter '${raw}': dimension '${dimension}' appears in more than one 'and' clause.`);
    }
    clauses.push({ dimension: dimension!, op: op!, values });
  }
  return clauses;
}

function matches(clause: Clause, value: string): boolean {
  const v = value.toLowerCase();
  const wanted = clause.values.map((x) => x.toLowerCase());
  if (clause.op === "eq") return wanted.includes("*") || wanted.includes(v);
  if (clause.op === "ne") return !wanted.includes(v);
  return wanted.some((w) => v.startsWith(w));
}

interface Query {
  readonly start: number;
  readonly end: number;
  readonly startText: string;
  readonly endText: string;
  readonly interval: number | "FULL";
  readonly intervalText: string;
  readonly aggregations: Aggregation[] | undefined;
  readonly filter: Clause[];
  readonly filtered: boolean;
  readonly rollup: string[];
  readonly top: number;
  readonly orderBy: { agg: Aggregation; desc: boolean } | undefined;
}

function parseQuery(req: EstateRequest, now: number): Query {
  const startRaw = query(req, "starttime");
  const endRaw = query(req, "endtime");
  if (endRaw && !startRaw) throw badRequest("starttime is required when endtime is given.");
  const end = endRaw ? parseTime(endRaw, "endtime") : now;
  const start = startRaw ? parseTime(startRaw, "starttime") : end - 60 * MINUTE;
  if (start >= end) throw badRequest(`starttime (${new Date(start).toISOString()}) must be earlier than endtime (${new Date(end).toISOString()}).`);
  const intervalRaw = query(req, "interval");
  const interval = parseInterval(intervalRaw);
  if (interval !== "FULL" && (end - start) / interval > MAX_POINTS) {
    throw badRequest(`The time range and interval would return more than ${MAX_POINTS} data points; use a larger interval or a shorter range.`);
  }
  const topRaw = query(req, "top");
  const top = topRaw === undefined || topRaw === "" ? 10 : Number(topRaw);
  if (!Number.isInteger(top) || top < 1) throw badRequest(`Invalid top '${topRaw}': expected a positive integer.`);
  const orderRaw = query(req, "orderby");
  let orderBy: Query["orderBy"];
  if (orderRaw) {
    const m = /^\s*(\w+)\s*(asc|desc)?\s*$/i.exec(orderRaw);
    const agg = m ? aggregationNamed(m[1]!) : undefined;
    if (!m || agg === undefined) throw badRequest(`Invalid orderby '${orderRaw}': expected an aggregation and asc or desc, e.g. 'average desc'.`);
    orderBy = { agg, desc: (m[2] ?? "asc").toLowerCase() === "desc" };
  }
  const filter = parseFilter(query(req, "filter"));
  const rollup = (query(req, "rollupby") ?? "").split(",").map((d) => d.trim()).filter(Boolean);
  return {
    start,
    end,
    startText: startRaw ?? new Date(start).toISOString(),
    endText: endRaw ?? new Date(end).toISOString(),
    interval,
    intervalText: interval === "FULL" ? "FULL" : (intervalRaw ?? "PT1M"),
    aggregations: parseAggregations(query(req, "aggregation")),
    filter,
    filtered: filter.length > 0,
    rollup,
    top,
    orderBy,
  };
}

// ---- evaluation -------------------------------------------------------------------------------

/** `2024-02-01T20:00:00Z`: Azure Monitor's timestamps carry no fraction of a second. */
const stamp = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

interface Bucket {
  readonly time: number;
  /** Minutes in the bucket with data (inside the window, not in the future). */
  readonly minutes: number;
}

function buckets(q: Query, now: number): Bucket[] {
  const firstMinute = Math.ceil(q.start / MINUTE) * MINUTE;
  const lastMinute = Math.min(q.end, now + 1);
  const minutesIn = (from: number, to: number) => {
    const lo = Math.max(from, firstMinute);
    const hi = Math.min(to, lastMinute);
    return hi <= lo ? 0 : Math.ceil((hi - lo) / MINUTE);
  };
  if (q.interval === "FULL") return [{ time: q.start, minutes: minutesIn(q.start, q.end) }];
  const out: Bucket[] = [];
  for (let t = Math.floor(q.start / q.interval) * q.interval; t < q.end; t += q.interval) out.push({ time: t, minutes: minutesIn(t, t + q.interval) });
  return out;
}

function combine(stats: (MinuteStats | undefined)[]): MinuteStats | undefined {
  const present = stats.filter((s): s is MinuteStats => s !== undefined && s.count > 0);
  if (present.length === 0) return undefined;
  return {
    sum: present.reduce((a, s) => a + s.sum, 0),
    count: present.reduce((a, s) => a + s.count, 0),
    min: Math.min(...present.map((s) => s.min)),
    max: Math.max(...present.map((s) => s.max)),
  };
}

/** Every aggregation of per-minute stats over `minutes` minutes. */
function aggregate(stats: MinuteStats, minutes: number): Record<Aggregation, number> {
  return {
    average: stats.sum / stats.count,
    minimum: stats.min,
    maximum: stats.max,
    total: stats.sum * minutes,
    count: stats.count * minutes,
  };
}

function point(stats: MinuteStats | undefined, minutes: number, aggs: readonly Aggregation[], time: number) {
  const out: Record<string, string | number> = { timeStamp: stamp(time) };
  if (!stats || minutes === 0) return out;
  const values = aggregate(stats, minutes);
  for (const agg of aggs) out[agg] = values[agg];
  return out;
}

function evaluate(def: MetricDef, resource: Resolved, q: Query, ctx: EstateContext) {
  const known = new Set(def.dimensions.map((d) => d.toLowerCase()));
  const unsupported = [...q.filter.map((c) => c.dimension), ...q.rollup].filter((d) => !known.has(d.toLowerCase()));
  if (unsupported.length > 0) {
    throw badRequest(
      `Metric: ${def.name} does not support requested dimension combination: ${unsupported.join(",")}, supported ones are: ${def.dimensions.join(",") || "(none)"}`,
    );
  }
  const samples = def.samples(resource, ctx).map((s) => {
    // A dimension the estate does not model takes the value the filter names (all traffic is
    // attributed to it), or 'Unknown' for '*' / ne / sw.
    const dims = { ...s.dims };
    for (const c of q.filter) {
      const d = c.dimension.toLowerCase();
      if (dims[d] === undefined) dims[d] = c.op === "eq" && c.values[0] !== undefined && c.values[0] !== "*" ? c.values[0] : UNMODELLED;
    }
    return { dims, perMinute: s.perMinute };
  });
  const kept = samples.filter((s) => q.filter.every((c) => matches(c, s.dims[c.dimension.toLowerCase()]!)));
  const rolled = new Set(q.rollup.map((d) => d.toLowerCase()));
  const split = q.filter.map((c) => c.dimension.toLowerCase()).filter((d) => !rolled.has(d));

  const groups = new Map<string, { dims: Record<string, string>; stats: (MinuteStats | undefined)[] }>();
  for (const s of kept) {
    const k = JSON.stringify(split.map((d) => s.dims[d]!.toLowerCase()));
    const g = groups.get(k) ?? { dims: Object.fromEntries(split.map((d) => [d, s.dims[d]!])), stats: [] };
    g.stats.push(s.perMinute);
    groups.set(k, g);
  }
  // Without a filter there is always exactly one series (value-less points when there is no data).
  if (!q.filtered && groups.size === 0) groups.set("[]", { dims: {}, stats: [] });

  const aggs = q.aggregations && q.aggregations.length > 0 ? q.aggregations : [def.defaultAggregation];
  const bs = buckets(q, ctx.now);
  const windowMinutes = bs.reduce((a, b) => a + b.minutes, 0);
  let series = [...groups.values()].map((g) => {
    const stats = combine(g.stats);
    return {
      metadatavalues: Object.entries(g.dims).map(([name, value]) => ({ name: { value: name, localizedValue: name }, value })),
      data: bs.map((b) => point(stats, b.minutes, aggs, b.time)),
      // What `orderby` sorts on: the series over the whole window (none when it has no data there).
      rank: stats && windowMinutes > 0 ? aggregate(stats, windowMinutes) : undefined,
    };
  });
  if (q.orderBy) {
    const { agg, desc } = q.orderBy;
    const value = (s: (typeof series)[number]) => s.rank?.[agg] ?? Number.NEGATIVE_INFINITY;
    series = series.sort((a, b) => (desc ? value(b) - value(a) : value(a) - value(b)));
  }
  if (q.filtered) series = series.slice(0, q.top);

  return {
    id: `${resource.id}/providers/Microsoft.Insights/metrics/${def.name}`,
    type: "Microsoft.Insights/metrics",
    name: { value: def.name, localizedValue: def.displayName },
    displayDescription: def.description,
    unit: def.unit,
    timeseries: series.map(({ metadatavalues, data }) => ({ metadatavalues, data })),
    errorCode: "Success",
  };
}

// ---- the operation ----------------------------------------------------------------------------

function resourceIds(req: EstateRequest): string[] {
  // Empty unless the body is an object with a `resourceids` array; every element must be a string.
  const ids = arrayAt(req.body, "resourceids") ?? [];
  const strings = ids.filter(isString);
  if (strings.length === 0 || strings.length !== ids.length) {
    throw badRequest("The request body must list the resources to query: { \"resourceids\": [\"/subscriptions/.../providers/...\"] }.");
  }
  const unique = [...new Map(strings.map((id) => [key(id), id])).values()];
  if (unique.length > MAX_RESOURCES) throw badRequest(`At most ${MAX_RESOURCES} resource ids can be queried in one batch; got ${unique.length}.`);
  return unique;
}

/** A region name as the host of a regional metrics endpoint spells it (`westeurope`, `global`). */
const ENDPOINT_REGION = /^[a-z0-9]{2,40}$/;

function batch(req: EstateRequest, ctx: EstateContext): EstateResponse {
  const endpointRegion = req.params.region!.toLowerCase();
  if (!ENDPOINT_REGION.test(endpointRegion)) throw new EstateHttpError(404, "NotFound", `There is no metrics endpoint for region '${req.params.region}'.`);
  if (!query(req, "api-version")) throw badRequest("The api-version query parameter is required, for example api-version=2024-02-01.");
  const namespaceRaw = query(req, "metricnamespace");
  if (!namespaceRaw) throw badRequest("The metricnamespace query parameter is required.");
  const ns = NAMESPACES.find((n) => n.namespace.toLowerCase() === namespaceRaw.toLowerCase());
  if (!ns) {
    throw badRequest(`${namespaceRaw.toLowerCase()} is not a supported platform metric namespace, supported ones are ${NAMESPACES.map((n) => n.namespace).join(",")}`);
  }
  const namesRaw = query(req, "metricnames");
  const names = (namesRaw ?? "").split(",").map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) throw badRequest("The metricnames query parameter is required.");
  const [provider, ...types] = ns.namespace.split("/");
  const defs = names.map((name) => {
    const def = ns.metrics.find((m) => m.name.toLowerCase() === name.toLowerCase());
    if (!def) {
      throw badRequest(
        `Failed to find metric configuration for provider: ${provider!.toLowerCase()}, resource Type: ${types.join("/").toLowerCase()}, metric: ${name}, Valid metrics: ${ns.metrics.map((m) => m.name).join(",")}`,
      );
    }
    return def;
  });
  const q = parseQuery(req, ctx.now);

  const subscriptionId = req.params.subscriptionId!;
  const resources = resourceIds(req).map((id) => {
    let parsed: ArmId;
    try {
      parsed = parseArmId(id);
    } catch (error) {
      throw badRequest(`'${id}' is not a valid resource id: ${error instanceof Error ? error.message : String(error)}.`);
    }
    if (parsed.subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
      throw badRequest(`Resource '${id}' is not in subscription '${subscriptionId}': all resources in a batch must be in the subscription the request names.`);
    }
    if (parsed.type.toLowerCase() !== ns.namespace.toLowerCase()) {
      throw badRequest(`Resource '${id}' is of type '${parsed.type}', not '${ns.namespace}': all resources in a batch must be of the metric namespace's type.`);
    }
    const resolved = ns.resolve(parsed, ctx);
    if (!resolved) throw new EstateHttpError(404, "NotFound", `Resource: ${id} is not found`);
    return resolved;
  });
  const regions = [...new Set(resources.map((r) => r.region.toLowerCase()))];
  if (regions.length > 1) {
    throw badRequest(`All resources in a batch must be in the same region; this batch spans ${regions.join(", ")}.`);
  }
  const elsewhere = resources.find((r) => r.region.toLowerCase() !== endpointRegion);
  if (elsewhere) {
    throw badRequest(
      `Resource '${elsewhere.id}' is in region '${elsewhere.region}', but this is the metrics endpoint of '${endpointRegion}': query it at its own region's endpoint (https://${elsewhere.region.toLowerCase()}.metrics.monitor.azure.com).`,
    );
  }

  return ok({
    values: resources.map((r) => ({
      starttime: q.startText,
      endtime: q.endText,
      interval: q.intervalText,
      value: defs.map((def) => evaluate(def, r, q, ctx)),
      namespace: ns.namespace.toLowerCase(),
      resourceregion: r.region,
      resourceid: r.id,
    })),
  });
}

/** The batch API has no endpoint outside a region: Resource Manager's host does not serve it. */
function notRegional(): EstateResponse {
  throw new EstateHttpError(
    404,
    "NotFound",
    "metrics:getBatch is served by the regional metrics endpoints (https://{region}.metrics.monitor.azure.com, 'global' for global resources); on the estate, POST /metrics/{region}/subscriptions/{subscriptionId}/metrics:getBatch.",
  );
}

export function metricsRoutes(): Route[] {
  return [
    {
      method: "POST",
      path: "/metrics/{region}/subscriptions/{subscriptionId}/metrics:getBatch",
      operationId: "MetricsBatch_Batch",
      api: "metrics",
      handler: batch,
    },
    {
      method: "POST",
      path: "/subscriptions/{subscriptionId}/metrics:getBatch",
      operationId: "MetricsBatch_NotRegional",
      api: "metrics",
      handler: notRegional,
    },
  ];
}
