import type { AFDOrigin } from "@azure/arm-cdn";
import type { MetricsQueryResult, TimeSeriesElement } from "@azure/monitor-query-metrics";
import type { Logger } from "../core/logger.ts";
import type { Probe } from "../core/probe.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { Signal } from "../core/detection/model.ts";
import { ancestorId, parseArmId, type ArmResourceId, type Plan } from "../core/plan/index.ts";

import { evaluatePlan, type EvaluateDeps, type EvaluatePlanOptions, type EvaluationSummary } from "./evaluate.ts";

export { evaluatePlan, type EvaluateDeps, type EvaluatePlanOptions, type EvaluationSummary } from "./evaluate.ts";

/*
 * Signal collection for one plan, as the health timer runs it every minute:
 *
 * - probes: every health endpoint of both regions, all at once; one signal per endpoint, named by its
 *   URL, down when the probe fails (wrong status, refused, timed out). The quorum turns a probe signal
 *   down only after `failuresBeforeDown` consecutive failures (see core/detection/quorum.ts).
 * - Front Door Standard/Premium: `OriginHealthPercentage` of each profile the plan's origin groups
 *   belong to, through the metrics batch API (`MetricsClient.queryResources`), averaged per minute over the last 5 minutes
 *   and split by Origin and OriginGroup. For each plan origin group, the origin the plan names for a
 *   region gives the signal `afd:<origin group>/<origin>`: down when the latest minute's average is
 *   below 50 % (`AFD_DOWN_BELOW_PERCENT`: half of Front Door's health probes failing), up otherwise.
 *   Azure Monitor's Origin dimension carries the origin's host name (so does the estate's), so the
 *   plan's origin names are mapped to host names with one AFDOrigins_ListByOriginGroup per group.
 *   An origin with no data point (disabled: Front Door does not probe it) gives no signal.
 * - Front Door classic: `BackendHealthPercentage` split by Backend and BackendPool; the backend
 *   address the plan names for a region gives `fdclassic:<front door>/<backend pool>/<address>`, same
 *   threshold.
 *
 * Metrics are read in batches the API accepts: one per subscription, endpoint region and resource type
 * (at most 50 resources), each sent to its region's endpoint (`clients.metrics(region)`). Front Door
 * profiles and classic Front Doors are global resources (location `Global`): their endpoint is `global`.
 *
 * A read that fails (the metrics batch, a metric that answers an error code, the origin list) is logged
 * and gives each signal it stood for the status `unknown`, with the error as detail: never up, never
 * down, never dropped (the quorum lets it change no verdict; the plan view counts it). Collection never
 * throws.
 */

/** A Front Door origin (or classic backend) is down when its latest health percentage is below this. */
export const AFD_DOWN_BELOW_PERCENT = 50;
/** The window of metrics read (minutes). */
export const METRICS_WINDOW_MINUTES = 5;
/** Series asked for per query (the batch API returns at most `top` series when a filter splits them). */
const METRICS_TOP = 100;
const MAX_BATCH = 50;

const CDN_PROFILES = "Microsoft.Cdn/profiles";
const CLASSIC_FRONT_DOORS = "Microsoft.Network/frontDoors";

export interface CollectDeps {
  readonly probe: Probe;
  readonly clients: ClientFactory;
  readonly clock: () => Date;
  readonly log?: Logger;
}

export interface CollectOptions {
  readonly downBelowPercent?: number;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Observes both regions of the plan now: probe signals first, then Front Door signals. Never throws. */
export async function collectSignals(plan: Plan, deps: CollectDeps, options: CollectOptions = {}): Promise<Signal[]> {
  const now = deps.clock();
  const log = deps.log ?? silent;
  const [probes, standard, classic] = await Promise.all([
    probeSignals(plan, deps, now),
    frontDoorStandardSignals(plan, deps, now, options).catch((error) => {
      log.warn("Front Door origin health could not be read", { plan: plan.name, error: message(error) });
      return standardNames(plan).map(({ region, name }) => unknownSignal(plan, region, name, `origin health could not be read: ${message(error)}`, now));
    }),
    frontDoorClassicSignals(plan, deps, now, options).catch((error) => {
      log.warn("Front Door (classic) backend health could not be read", { plan: plan.name, error: message(error) });
      return classicNames(plan).map(({ region, name }) => unknownSignal(plan, region, name, `backend health could not be read: ${message(error)}`, now));
    }),
  ]);
  return [...probes, ...standard, ...classic];
}

async function probeSignals(plan: Plan, deps: CollectDeps, now: Date): Promise<Signal[]> {
  const at = now.toISOString();
  const endpoints = [plan.regions.primary, plan.regions.secondary].flatMap((region) => region.healthEndpoints.map((endpoint) => ({ region: region.name, endpoint })));
  return Promise.all(
    endpoints.map(async ({ region, endpoint }): Promise<Signal> => {
      let ok: boolean;
      let detail: string;
      try {
        const result = await deps.probe(endpoint.url, { expectStatus: endpoint.expectStatus, timeoutMs: endpoint.timeoutMs });
        ok = result.ok;
        detail = result.ok ? `HTTP ${result.status} in ${result.ms} ms` : (result.error ?? `HTTP ${result.status}`);
      } catch (error) {
        ok = false;
        detail = message(error);
      }
      return { plan: plan.name, region, source: "probe", name: endpoint.url, status: ok ? "up" : "down", at, detail };
    }),
  );
}

// ---- metrics ------------------------------------------------------------------------------------

/** Resource types Azure keeps in no region (location `Global`): their metrics are served at the `global` endpoint. */
const GLOBAL_TYPES = new Set([CDN_PROFILES, CLASSIC_FRONT_DOORS].map((t) => t.toLowerCase()));

/** A resource whose metrics are read, and the region it is in (from the plan; ignored for global types). */
export interface MetricsTarget {
  readonly id: ArmResourceId;
  readonly region?: string;
}

/** One request the batch API accepts: one subscription, one endpoint region, one resource type, ≤ 50 ids. */
export interface MetricsBatch {
  readonly subscriptionId: string;
  /** The endpoint's region (`global` for global resources), lower-case. */
  readonly region: string;
  /** The resource type, which is also the platform metrics namespace. */
  readonly type: string;
  readonly ids: readonly string[];
}

/** The region whose metrics endpoint serves a resource: `global` for global resource types, else its own. */
export function metricsRegion(target: MetricsTarget): string {
  if (GLOBAL_TYPES.has(target.id.type.toLowerCase())) return "global";
  if (!target.region) throw new Error(`the region of ${target.id.id} is not known: its metrics endpoint cannot be chosen`);
  return target.region.toLowerCase();
}

/**
 * Groups metric reads into the batches the API accepts: the same subscription, region and resource
 * type, at most MAX_BATCH unique ids each (ids compare case-insensitively, as ARM's do).
 */
export function metricsBatches(targets: readonly MetricsTarget[]): MetricsBatch[] {
  const groups = new Map<string, { subscriptionId: string; region: string; type: string; ids: Map<string, string> }>();
  for (const target of targets) {
    const region = metricsRegion(target);
    const k = [target.id.subscriptionId, region, target.id.type].map((p) => p.toLowerCase()).join("|");
    const group = groups.get(k) ?? { subscriptionId: target.id.subscriptionId, region, type: target.id.type, ids: new Map<string, string>() };
    if (!group.ids.has(target.id.id.toLowerCase())) group.ids.set(target.id.id.toLowerCase(), target.id.id);
    groups.set(k, group);
  }
  return [...groups.values()].flatMap(({ ids, ...group }) => {
    const list = [...ids.values()];
    return Array.from({ length: Math.ceil(list.length / MAX_BATCH) }, (_, i) => ({ ...group, ids: list.slice(i * MAX_BATCH, (i + 1) * MAX_BATCH) }));
  });
}

/** What one metric read gave for one resource: its time series, or why there are none. */
type Reading = { readonly series: TimeSeriesElement[] } | { readonly error: string };

/** `Origin Health Percentage` / `OriginHealthPercentage` → `originhealthpercentage`. */
const metricKey = (name: string) => name.replace(/\s+/g, "").toLowerCase();

function dimension(series: TimeSeriesElement, name: string): string | undefined {
  return series.metadatavalues?.find((m) => m.name?.toLowerCase() === name.toLowerCase())?.value;
}

/** The average of the latest data point that has one. */
export function latestAverage(series: TimeSeriesElement): { average: number; at: string } | undefined {
  const points = (series.data ?? []).filter((p) => typeof p.average === "number" && Number.isFinite(p.average));
  points.sort((a, b) => new Date(a.timeStamp).getTime() - new Date(b.timeStamp).getTime());
  const last = points.at(-1);
  return last ? { average: last.average!, at: new Date(last.timeStamp).toISOString() } : undefined;
}

/**
 * Reads one metric of the targets, one batch per subscription, region and resource type, each at its
 * region's endpoint; a reading per resource id (lower-case). A failed batch gives each of its
 * resources the error instead of series.
 */
async function queryMetric(deps: CollectDeps, targets: readonly MetricsTarget[], metric: string, filter: string, now: Date): Promise<Map<string, Reading>> {
  const out = new Map<string, Reading>();
  const log = deps.log ?? silent;
  await Promise.all(
    metricsBatches(targets).map(async (batch) => {
      let results: MetricsQueryResult[];
      try {
        results = await deps.clients.metrics(batch.region).queryResources([...batch.ids], [metric], batch.type, {
          startTime: new Date(now.getTime() - METRICS_WINDOW_MINUTES * 60_000),
          endTime: now,
          interval: "PT1M",
          aggregation: "Average",
          filter,
          top: METRICS_TOP,
        });
      } catch (error) {
        log.warn(`metrics ${metric} could not be read`, { region: batch.region, resources: batch.ids, error: message(error) });
        for (const id of batch.ids) out.set(id.toLowerCase(), { error: message(error) });
        return;
      }
      results.forEach((result, index) => {
        const id = (result.resourceId ?? batch.ids[index] ?? "").toLowerCase();
        const found = result.metrics.find((m) => metricKey(m.name) === metricKey(metric) || metricKey(m.id ?? "").endsWith(`/${metricKey(metric)}`));
        if (!found) {
          out.set(id, { error: `the response has no ${metric} for the resource` });
          return;
        }
        if (found.errorCode && found.errorCode !== "Success") {
          log.warn(`metric ${metric} of ${id} answered ${found.errorCode}`, { error: found.errorMessage });
          out.set(id, { error: `${found.errorCode}${found.errorMessage ? `: ${found.errorMessage}` : ""}` });
          return;
        }
        out.set(id, { series: found.timeseries });
      });
      for (const id of batch.ids) {
        if (!out.has(id.toLowerCase())) out.set(id.toLowerCase(), { error: "the response has no result for the resource" });
      }
    }),
  );
  return out;
}

/** At most this many characters of an error go into a signal's detail. */
const MAX_DETAIL = 300;

/** A signal whose observation failed: it says neither up nor down (see core/detection/quorum.ts). */
function unknownSignal(plan: Plan, region: string, name: string, why: string, now: Date): Signal {
  const detail = why.length > MAX_DETAIL ? `${why.slice(0, MAX_DETAIL - 1)}…` : why;
  return { plan: plan.name, region, source: "frontdoor", name, status: "unknown", at: now.toISOString(), detail };
}

function healthSignal(plan: Plan, region: string, name: string, series: TimeSeriesElement | undefined, what: string, now: Date, options: CollectOptions): Signal | undefined {
  const latest = series ? latestAverage(series) : undefined;
  if (!latest) return undefined;
  const threshold = options.downBelowPercent ?? AFD_DOWN_BELOW_PERCENT;
  const down = latest.average < threshold;
  return {
    plan: plan.name,
    region,
    source: "frontdoor",
    name,
    status: down ? "down" : "up",
    at: now.toISOString(),
    detail: `${what} ${round(latest.average)}% at ${latest.at} (down below ${threshold}%)`,
  };
}

const round = (n: number) => Math.round(n * 10) / 10;

/** The signal names of the plan's Front Door origins and classic backends, by region (for a failure of the whole family). */
const standardNames = (plan: Plan) =>
  plan.frontDoor.standard.flatMap((spec) => Object.entries(spec.origins).map(([region, origin]) => ({ region, name: `afd:${spec.originGroup.name}/${origin}` })));
const classicNames = (plan: Plan) =>
  plan.frontDoor.classic.flatMap((spec) =>
    Object.entries(spec.backends).map(([region, address]) => ({ region, name: `fdclassic:${spec.frontDoor.name}/${spec.backendPool}/${address}` })),
  );

async function frontDoorStandardSignals(plan: Plan, deps: CollectDeps, now: Date, options: CollectOptions): Promise<Signal[]> {
  const groups = plan.frontDoor.standard;
  if (groups.length === 0) return [];
  const log = deps.log ?? silent;
  // Origin names → host names, one list per origin group.
  const hosts = await Promise.all(
    groups.map(async (spec): Promise<Map<string, string> | { error: string }> => {
      const g = spec.originGroup;
      try {
        const origins: AFDOrigin[] = [];
        for await (const o of deps.clients.cdn(g.subscriptionId).afdOrigins.listByOriginGroup(g.resourceGroup, g.names[0]!, g.name)) origins.push(o);
        return new Map(origins.filter((o) => o.name && o.hostName).map((o) => [o.name!.toLowerCase(), o.hostName!.toLowerCase()]));
      } catch (error) {
        log.warn("Front Door origins could not be listed", { originGroup: g.id, error: message(error) });
        return { error: message(error) };
      }
    }),
  );
  const profiles = groups.map((spec) => parseArmId(ancestorId(spec.originGroup, 1)));
  const readings = await queryMetric(deps, profiles.map((id) => ({ id })), "OriginHealthPercentage", "Origin eq '*' and OriginGroup eq '*'", now);

  const signals: Signal[] = [];
  groups.forEach((spec, i) => {
    const byName = hosts[i]!;
    const reading = readings.get(profiles[i]!.id.toLowerCase()) ?? { error: "not read" };
    for (const [region, origin] of Object.entries(spec.origins)) {
      const name = `afd:${spec.originGroup.name}/${origin}`;
      if (!(byName instanceof Map)) {
        signals.push(unknownSignal(plan, region, name, `the origins of ${spec.originGroup.name} could not be listed: ${byName.error}`, now));
        continue;
      }
      const host = byName.get(origin.toLowerCase());
      if (!host) {
        log.warn("a plan origin is not in its Front Door origin group", { originGroup: spec.originGroup.id, origin });
        continue;
      }
      if ("error" in reading) {
        signals.push(unknownSignal(plan, region, name, `OriginHealthPercentage could not be read: ${reading.error}`, now));
        continue;
      }
      const match = reading.series.find(
        (s) => dimension(s, "origin")?.toLowerCase() === host && (dimension(s, "origingroup") ?? spec.originGroup.name).toLowerCase() === spec.originGroup.name.toLowerCase(),
      );
      const signal = healthSignal(plan, region, name, match, `origin ${host} health`, now, options);
      if (signal) signals.push(signal);
    }
  });
  return signals;
}

async function frontDoorClassicSignals(plan: Plan, deps: CollectDeps, now: Date, options: CollectOptions): Promise<Signal[]> {
  const specs = plan.frontDoor.classic;
  if (specs.length === 0) return [];
  const readings = await queryMetric(deps, specs.map((s) => ({ id: s.frontDoor })), "BackendHealthPercentage", "Backend eq '*' and BackendPool eq '*'", now);
  const signals: Signal[] = [];
  for (const spec of specs) {
    const reading = readings.get(spec.frontDoor.id.toLowerCase()) ?? { error: "not read" };
    for (const [region, address] of Object.entries(spec.backends)) {
      const name = `fdclassic:${spec.frontDoor.name}/${spec.backendPool}/${address}`;
      if ("error" in reading) {
        signals.push(unknownSignal(plan, region, name, `BackendHealthPercentage could not be read: ${reading.error}`, now));
        continue;
      }
      const match = reading.series.find(
        (s) => dimension(s, "backend")?.toLowerCase() === address.toLowerCase() && (dimension(s, "backendpool") ?? spec.backendPool).toLowerCase() === spec.backendPool.toLowerCase(),
      );
      const signal = healthSignal(plan, region, name, match, `backend ${address} health`, now, options);
      if (signal) signals.push(signal);
    }
  }
  return signals;
}

/** What the health timer does for one plan every minute: collect the signals, then evaluate them. */
export async function checkPlanHealth(
  plan: Plan,
  deps: CollectDeps & EvaluateDeps,
  options: CollectOptions & Omit<EvaluatePlanOptions, "trigger" | "dedupeKey"> = {},
): Promise<EvaluationSummary> {
  const signals = await collectSignals(plan, deps, options);
  return evaluatePlan(plan, signals, deps, { ...options, trigger: "timer" });
}
