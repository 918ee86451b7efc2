import type { AFDOrigin } from "@azure/arm-cdn";
import type { MetricsQueryResult, TimeSeriesElement } from "@azure/monitor-query-metrics";
import type { Logger, Probe } from "../activities/deps.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { Signal } from "../core/detection/model.ts";
import { ancestorId, type ArmResourceId, type Plan } from "../core/plan/index.ts";

import { evaluatePlan, type EvaluateDeps, type EvaluatePlanOptions, type EvaluationSummary } from "./evaluate.ts";

export { evaluatePlan, type EvaluateDeps, type EvaluatePlanOptions, type EvaluationSummary } from "./evaluate.ts";

/*
 * Signal collection for one plan, as the health timer runs it every minute:
 *
 * - probes: every health endpoint of both regions, all at once; one signal per endpoint, named by its
 *   URL, down when the probe fails (wrong status, refused, timed out). The quorum turns a probe signal
 *   down only after `failuresBeforeDown` consecutive failures (see core/detection/quorum.ts).
 * - Front Door Standard/Premium: `OriginHealthPercentage` of each profile the plan's origin groups
 *   belong to, through the metrics batch API (`MetricsClient.queryResources`, the `global` metrics
 *   endpoint: Front Door profiles are global resources), averaged per minute over the last 5 minutes
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
 * Failures to read metrics or origins are logged and give no signal: collection never throws.
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
      return [];
    }),
    frontDoorClassicSignals(plan, deps, now, options).catch((error) => {
      log.warn("Front Door (classic) backend health could not be read", { plan: plan.name, error: message(error) });
      return [];
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

/** Queries one metric of resources of one type, batched by subscription; result per resource id (lower-case). */
async function queryMetric(deps: CollectDeps, ids: readonly ArmResourceId[], metric: string, namespace: string, filter: string, now: Date): Promise<Map<string, TimeSeriesElement[]>> {
  const bySubscription = new Map<string, string[]>();
  for (const id of ids) {
    const list = bySubscription.get(id.subscriptionId.toLowerCase()) ?? [];
    if (!list.some((x) => x.toLowerCase() === id.id.toLowerCase())) list.push(id.id);
    bySubscription.set(id.subscriptionId.toLowerCase(), list);
  }
  const batches = [...bySubscription.values()].flatMap((list) => Array.from({ length: Math.ceil(list.length / MAX_BATCH) }, (_, i) => list.slice(i * MAX_BATCH, (i + 1) * MAX_BATCH)));
  const out = new Map<string, TimeSeriesElement[]>();
  const log = deps.log ?? silent;
  await Promise.all(
    batches.map(async (batch) => {
      let results: MetricsQueryResult[];
      try {
        results = await deps.clients.metrics("global").queryResources(batch, [metric], namespace, {
          startTime: new Date(now.getTime() - METRICS_WINDOW_MINUTES * 60_000),
          endTime: now,
          interval: "PT1M",
          aggregation: "Average",
          filter,
          top: METRICS_TOP,
        });
      } catch (error) {
        log.warn(`metrics ${metric} could not be read`, { resources: batch, error: message(error) });
        return;
      }
      results.forEach((result, index) => {
        const id = (result.resourceId ?? batch[index] ?? "").toLowerCase();
        const found = result.metrics.find((m) => metricKey(m.name) === metricKey(metric) || metricKey(m.id ?? "").endsWith(`/${metricKey(metric)}`));
        if (!found) return;
        if (found.errorCode && found.errorCode !== "Success") {
          log.warn(`metric ${metric} of ${id} answered ${found.errorCode}`, { error: found.errorMessage });
          return;
        }
        out.set(id, found.timeseries);
      });
    }),
  );
  return out;
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

async function frontDoorStandardSignals(plan: Plan, deps: CollectDeps, now: Date, options: CollectOptions): Promise<Signal[]> {
  const groups = plan.frontDoor.standard;
  if (groups.length === 0) return [];
  const log = deps.log ?? silent;
  // Origin names → host names, one list per origin group.
  const hosts = await Promise.all(
    groups.map(async (spec) => {
      const g = spec.originGroup;
      try {
        const origins: AFDOrigin[] = [];
        for await (const o of deps.clients.cdn(g.subscriptionId).afdOrigins.listByOriginGroup(g.resourceGroup, g.names[0]!, g.name)) origins.push(o);
        return new Map(origins.filter((o) => o.name && o.hostName).map((o) => [o.name!.toLowerCase(), o.hostName!.toLowerCase()]));
      } catch (error) {
        log.warn("Front Door origins could not be listed", { originGroup: g.id, error: message(error) });
        return undefined;
      }
    }),
  );
  const profiles = groups.map((spec) => spec.originGroup).map((g) => ({ ...g, id: ancestorId(g, 1) }));
  const series = await queryMetric(deps, profiles, "OriginHealthPercentage", CDN_PROFILES, "Origin eq '*' and OriginGroup eq '*'", now);

  const signals: Signal[] = [];
  groups.forEach((spec, i) => {
    const byName = hosts[i];
    const all = series.get(profiles[i]!.id.toLowerCase());
    if (!byName || !all) return;
    for (const [region, origin] of Object.entries(spec.origins)) {
      const host = byName.get(origin.toLowerCase());
      if (!host) {
        log.warn("a plan origin is not in its Front Door origin group", { originGroup: spec.originGroup.id, origin });
        continue;
      }
      const match = all.find((s) => dimension(s, "origin")?.toLowerCase() === host && (dimension(s, "origingroup") ?? spec.originGroup.name).toLowerCase() === spec.originGroup.name.toLowerCase());
      const signal = healthSignal(plan, region, `afd:${spec.originGroup.name}/${origin}`, match, `origin ${host} health`, now, options);
      if (signal) signals.push(signal);
    }
  });
  return signals;
}

async function frontDoorClassicSignals(plan: Plan, deps: CollectDeps, now: Date, options: CollectOptions): Promise<Signal[]> {
  const specs = plan.frontDoor.classic;
  if (specs.length === 0) return [];
  const series = await queryMetric(deps, specs.map((s) => s.frontDoor), "BackendHealthPercentage", CLASSIC_FRONT_DOORS, "Backend eq '*' and BackendPool eq '*'", now);
  const signals: Signal[] = [];
  for (const spec of specs) {
    const all = series.get(spec.frontDoor.id.toLowerCase());
    if (!all) continue;
    for (const [region, address] of Object.entries(spec.backends)) {
      const match = all.find(
        (s) => dimension(s, "backend")?.toLowerCase() === address.toLowerCase() && (dimension(s, "backendpool") ?? spec.backendPool).toLowerCase() === spec.backendPool.toLowerCase(),
      );
      const signal = healthSignal(plan, region, `fdclassic:${spec.frontDoor.name}/${spec.backendPool}/${address}`, match, `backend ${address} health`, now, options);
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
