/**
 * One round of the `replicationLag` timer: every plan's lag measured, stored as samples, published as
 * a metric per resource, and each RPO breach notified when it begins and when it ends (hysteresis:
 * core/lag.ts), not once per sample.
 */
import type { MetricPoint, MetricSink } from "../azure/appInsights.ts";
import { settleEach } from "../core/concurrency.ts";
import type { Logger } from "../core/logger.ts";
import type { Plan } from "../core/plan/index.ts";
import { redactText } from "../core/secrets.ts";
import type { Notifier } from "../notify/notifier.ts";
import { measureLag, type LagRound, type MeasureDeps, type MeasureOptions } from "./measure.ts";
import type { BreachChange, LagStore } from "./store.ts";
import { recordLag } from "../telemetry/telemetry.ts";

/** The metric each sample is published as (seconds; one series per resource by its dimensions). */
export const LAG_METRIC = "ReplicationLagSeconds";
/** The run id lag notifications carry: they belong to no run. */
export const LAG_NOTIFICATION_ID = "replication-lag";
/** Plans measured at once. */
const PLAN_CONCURRENCY = 4;

export interface LagRoundDeps extends MeasureDeps {
  readonly store: LagStore;
  readonly notifier: Notifier;
  readonly metrics: MetricSink;
  readonly log: Logger;
}

export interface PlanLagSummary {
  readonly plan: string;
  readonly round?: LagRound;
  readonly changes: readonly BreachChange[];
  readonly error?: string;
}

/** Measures, stores, publishes and notifies for every plan; one plan's failure stops no other. */
export async function replicationLagRound(plans: readonly Plan[], deps: LagRoundDeps, options: MeasureOptions = {}): Promise<PlanLagSummary[]> {
  const results = await settleEach(plans, PLAN_CONCURRENCY, (plan) => planRound(plan, deps, options));
  return results.map((r, i) => (r.status === "fulfilled" ? r.value : { plan: plans[i]!.name, changes: [], error: redactText(r.reason instanceof Error ? r.reason.message : String(r.reason)) }));
}

async function planRound(plan: Plan, deps: LagRoundDeps, options: MeasureOptions): Promise<PlanLagSummary> {
  const round = await measureLag(plan, deps, options);
  const rpo = plan.objectives.rpoSeconds;
  const changes = await deps.store.record(plan.name, round.samples, rpo, deps.clock());
  const points: MetricPoint[] = round.samples
    .filter((s) => s.lagSeconds !== null)
    .map((s) => ({ name: LAG_METRIC, value: s.lagSeconds!, at: new Date(s.measuredAt), properties: { plan: plan.name, resourceId: s.resourceId, kind: s.kind, name: s.name, state: s.state } }));
  // Each sample is also an OpenTelemetry gauge point (when telemetry is on: src/telemetry), with the same dimensions.
  for (const s of round.samples) if (s.lagSeconds !== null) recordLag({ plan: plan.name, resourceId: s.resourceId, kind: s.kind, name: s.name, state: s.state, lagSeconds: s.lagSeconds });
  // A metric or a notification that fails is logged: the samples are stored, and the next round goes on.
  await deps.metrics.publish(points).catch((error) => deps.log.warn(`lag metrics of plan ${plan.name} not published`, { error: errorText(error) }));
  // One message per kind of change and round: a whole failover group going over together is one breach to read.
  const stillOver = await deps.store
    .get(plan.name)
    .then((doc) => Object.values(doc?.resources ?? {}).some((r) => r.breached))
    .catch(() => true);
  for (const event of ["breach", "recovery"] as const) {
    const these = changes.filter((c) => c.event === event);
    if (these.length === 0) continue;
    await deps.notifier.notify(notification(plan, event, these, stillOver)).catch((error) => deps.log.error(`lag ${event} of ${these.length} resource(s) not notified`, { plan: plan.name, error: errorText(error) }));
  }
  const unknown = round.samples.filter((s) => s.lagSeconds === null).length;
  deps.log.info(`lag of plan ${plan.name} measured`, { resources: round.samples.length, unknown, breaches: changes.filter((c) => c.event === "breach").length, recoveries: changes.filter((c) => c.event === "recovery").length, armReads: round.armReads, tdsLogins: round.tdsLogins, failures: round.failures.length });
  return { plan: plan.name, round, changes };
}

/** Resources named in one notification; the rest are counted. */
const NAMED = 10;

function notification(plan: Plan, event: "breach" | "recovery", changes: readonly BreachChange[], stillOver: boolean) {
  const rpo = changes[0]!.rpoSeconds;
  // A recovery measured on another primary follows a failover: the lag it had then was lost or replicated, not caught up.
  const moved = (c: BreachChange) => (c.formerPrimary ? `; now on ${c.sample.primary} after a failover from ${c.formerPrimary}: what was not replicated then is in that failover's data loss, if it was forced` : "");
  const what = (c: BreachChange) => `${c.sample.kind === "sqlDatabase" ? "database" : "storage account"} ${c.sample.name} ${c.sample.lagSeconds} s${event === "recovery" ? ` (over since ${c.breachSince ?? "unknown"}${moved(c)})` : ""}`;
  const named = changes.slice(0, NAMED).map(what).join(", ") + (changes.length > NAMED ? `, and ${changes.length - NAMED} more` : "");
  const message =
    event === "breach"
      ? `Switchyard ${plan.name}: replication lag over the RPO budget of ${rpo} s for ${changes.length} resource(s): ${named} (measured ${changes[0]!.sample.measuredAt}). A forced failover now could lose more than the plan allows.`
      : `Switchyard ${plan.name}: replication lag back within the RPO budget of ${rpo} s for ${changes.length} resource(s): ${named}.`;
  const kind = event === "breach" ? ("lag-breach" as const) : ("lag-recovered" as const);
  const at = changes[0]!.sample.measuredAt;
  return {
    runId: LAG_NOTIFICATION_ID,
    plan,
    id: `${plan.name}.${kind}.${Date.parse(at)}.${changes.length}`,
    kind,
    title: `${plan.name}: replication lag ${event === "breach" ? "over" : "back within"} the RPO budget (${rpo} s) for ${changes.length} resource(s)`,
    facts: changes.slice(0, NAMED).map((c) => ({ name: c.sample.name, value: `${c.sample.lagSeconds} s (${c.sample.kind === "sqlDatabase" ? "database" : "storage account"})` })),
    // One incident per plan's breach: opened by a breach, closed when no resource is over any more.
    ...(event === "breach" ? { incident: { key: `switchyard/${plan.name}/lag`, action: "trigger" as const } } : stillOver ? {} : { incident: { key: `switchyard/${plan.name}/lag`, action: "resolve" as const } }),
    event: kind,
    severity: event === "breach" ? ("warning" as const) : ("info" as const),
    message,
    details: { rpoSeconds: rpo, count: changes.length, resources: changes.slice(0, 50).map((c) => ({ resourceId: c.sample.resourceId, lagSeconds: c.sample.lagSeconds, measuredAt: c.sample.measuredAt, source: c.sample.source })) },
  };
}

const errorText = (error: unknown) => redactText(error instanceof Error ? error.message : String(error));

/** Metrics as log lines (locally, and where no Application Insights is configured). */
export class LogMetricSink implements MetricSink {
  constructor(private readonly log: Logger) {}
  async publish(points: readonly MetricPoint[]): Promise<void> {
    for (const p of points) this.log.info(`metric ${p.name}`, { value: p.value, at: p.at.toISOString(), ...p.properties });
  }
}
