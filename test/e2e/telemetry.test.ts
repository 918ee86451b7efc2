/**
 * Telemetry on a drill: the local outage drill runs with in-memory exporters set up through the same
 * function the Function App's worker uses (setupTelemetry), and what was exported is checked against
 * what the drill recorded: each run's journal and output, the lag store, the detection journal, the
 * estate's request ids. Then every exported string (span names, attributes, events, status messages,
 * metric attributes) is scanned for the drill's secret values and for anything the secret rules match.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpRequest } from "@azure/functions";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { AggregationTemporality, InMemoryMetricExporter, type DataPoint, type Histogram, type MetricData } from "@opentelemetry/sdk-metrics";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { findSecrets } from "../../src/core/secrets.ts";
import type { JournalEntry } from "../../src/core/journal.ts";
import { detectionJournalId, evaluatePlan } from "../../src/detection/evaluate.ts";
import { formatDrillSummary, runDrill, type DrillResult } from "../../src/local/drill.ts";
import type { LocalApp } from "../../src/local/app.ts";
import { localChannelSettings } from "../../src/local/channelSettings.ts";
import { Attr } from "../../src/telemetry/attributes.ts";
import { runTraceIds } from "../../src/telemetry/ids.ts";
import { flushTelemetry, Metrics, setupTelemetry, shutdownTelemetry, Spans } from "../../src/telemetry/telemetry.ts";
import { alertIdOf, metricAlert } from "../helpers/alertBodies.ts";

const spans = new InMemorySpanExporter();
const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);

beforeAll(() => {
  // Metrics are exported when the test flushes, not on a timer.
  setupTelemetry({ spanExporter: spans, metricExporter: metrics, simpleSpans: true, metricIntervalMs: 3_600_000 });
});
afterAll(async () => {
  await shutdownTelemetry();
});

/** What a drill leaves to check telemetry against, read from its app before it stops. */
interface Observed {
  journals: Record<string, JournalEntry[]>;
  lag: Record<string, number | null>;
  detection: JournalEntry[];
  webhook: { status: number | undefined };
  secrets: string[];
}

const ms = (t: readonly [number, number]) => t[0] * 1000 + t[1] / 1e6;

/** A resource of the plan that an alert may target: the primary server of its first failover group, else its first storage account. */
function alertTarget(plan: Plan): string {
  const group = plan.sql[0]?.failoverGroup.id;
  if (group) return group.split("/").slice(0, 9).join("/");
  const account = plan.storage[0]?.account.id;
  if (!account) throw new Error(`plan ${plan.name} has neither SQL nor storage to target`);
  return account;
}

/** Every value the drill holds that must never reach telemetry: channel credentials (and the secret parts of their URLs), storage keys, Azurite's key, a token. */
async function secretValues(app: LocalApp, plan: Plan, channelSettings: Record<string, string>): Promise<string[]> {
  const values = new Set<string>();
  for (const value of Object.values(channelSettings)) {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      values.add(value); // a routing key or a signing secret
      continue;
    }
    // A URL carries its credential in its path (Slack, a webhook's token) or its query (Teams' sig); an
    // endpoint with neither (ACS email, sent with the identity) is no secret.
    const parts = [...url.pathname.split("/").filter((p) => p.length >= 16), ...[...url.searchParams.values()].filter((v) => v.length >= 16)];
    for (const part of parts) values.add(part);
    if (parts.length > 0) values.add(value);
  }
  for (const s of plan.storage) {
    const [, , sub, , group] = s.account.id.split("/");
    const keys = await app.clients.storage(sub!).storageAccounts.listKeys(group!, s.account.name);
    for (const k of keys.keys ?? []) if (k.value) values.add(k.value);
  }
  const azuriteKey = /AccountKey=([^;]+)/.exec(app.azurite.connectionString)?.[1];
  if (azuriteKey) values.add(azuriteKey);
  values.add((await app.clients.credential.getToken("https://management.azure.com/.default"))!.token);
  return [...values].filter((v) => v.length >= 8);
}

async function drillWithTelemetry(planFile: string, failback: boolean): Promise<{ plan: Plan; result: DrillResult; observed: Observed }> {
  const plan = await loadPlanFile(new URL(planFile, import.meta.url).pathname);
  const channelSettings = localChannelSettings(plan).settings;
  const runIds: string[] = [];
  let observed: Observed | undefined;
  const result = await runDrill({
    plan,
    failback,
    approve: true,
    outputDir: mkdtempSync(join(tmpdir(), "switchyard-telemetry-")),
    durations: { default: 20 },
    // Operations take 20 ms. The scale sets the activities' timeout (functionTimeout ÷ 1800: 1 s, which a
    // loaded machine stays under) and the storage re-protection a failback waits for (a day ÷ 1800: 48 s).
    timeScale: 1800,
    channelSettings,
    onRunEnd: (_label, run) => runIds.push(run.output.runId),
    inspect: async (app) => {
      // The health timer once, and an alert for the primary region through the webhook (every region is up again).
      await app.checkHealth();
      // Detection on the app's state, its clock played: the standby region's probes down for the plan's
      // downForSeconds, so that it is declared down (a region change, journaled with its decision).
      const t0 = Date.now();
      const t1 = t0 + (plan.autoFailover.downForSeconds + 1) * 1000;
      const standby = plan.regions.secondary;
      for (const t of [t0, t1]) {
        const at = new Date(t).toISOString();
        const signals = standby.healthEndpoints.map((e) => ({ plan: plan.name, region: standby.name, source: "probe" as const, name: e.url, status: "down" as const, at, detail: "telemetry drill" }));
        await evaluatePlan(plan, signals, { store: app.store, journal: app.journal, runs: app.runs, clock: () => new Date(t) }, { failuresBeforeDown: 1 });
      }
      const detectionDays = [...new Set([t0, t1, Date.now()].map((t) => detectionJournalId(plan.name, new Date(t))))];
      const alerts = app.routes.find((r) => r.name === "alerts")!.handler;
      const body = metricAlert({ alertId: alertIdOf(`telemetry-${plan.name}`), rule: "telemetry-drill", targets: [alertTarget(plan)] });
      const answer = await alerts(new HttpRequest({ method: "POST", url: "http://localhost/api/alerts", body: { string: JSON.stringify(body) }, headers: { "content-type": "application/json" } }));
      const doc = await app.lag.get(plan.name);
      observed = {
        journals: Object.fromEntries(await Promise.all(runIds.map(async (id) => [id, await app.journal.read(id)] as const))),
        lag: Object.fromEntries(Object.entries(doc.resources).map(([id, r]) => [id, r.latest.lagSeconds])),
        detection: (await Promise.all(detectionDays.map((id) => app.journal.read(id)))).flat(),
        webhook: { status: answer.status },
        secrets: await secretValues(app, plan, channelSettings),
      };
    },
  });
  await flushTelemetry();
  return { plan, result, observed: observed! };
}

function lastMetrics(): MetricData[] {
  const all = metrics.getMetrics();
  return all.at(-1)?.scopeMetrics.flatMap((s) => s.metrics) ?? [];
}

function points<T>(name: string, where: Record<string, unknown> = {}): DataPoint<T>[] {
  const metric = lastMetrics().find((m) => m.descriptor.name === name);
  return ((metric?.dataPoints ?? []) as DataPoint<T>[]).filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v));
}

/** Every string telemetry exported: span names, attribute values, events, status messages; metric attribute values. */
function exportedStrings(): string[] {
  const out: string[] = [];
  for (const s of spans.getFinishedSpans()) {
    out.push(s.name, s.status.message ?? "");
    for (const v of Object.values(s.attributes)) out.push(String(v));
    for (const e of s.events) {
      out.push(e.name);
      for (const v of Object.values(e.attributes ?? {})) out.push(String(v));
    }
  }
  for (const m of lastMetrics()) for (const p of m.dataPoints) for (const v of Object.values(p.attributes)) out.push(String(v));
  return out;
}

function checkRun(runId: string, result: DrillResult["failover"], journal: JournalEntry[]) {
  const ids = runTraceIds(runId);
  const finished = spans.getFinishedSpans();
  const inRun = finished.filter((s) => s.spanContext().traceId === ids.traceId);

  // The root span: its derived id, the run's recorded start and end, its outcome.
  const root = inRun.filter((s) => s.spanContext().spanId === ids.spanId);
  expect(root, `one run span for ${runId}`).toHaveLength(1);
  const run = root[0]!;
  const startedAt = Date.parse(journal.find((e) => e.kind === "run-started")!.at);
  const endedAt = Date.parse(journal.find((e) => e.kind === "run-finished")!.at);
  expect(run.name).toBe(`${Spans.run} ${result.output.kind}`);
  expect(run.kind).toBe(SpanKind.SERVER);
  expect(run.parentSpanContext).toBeUndefined();
  expect(ms(run.startTime)).toBeCloseTo(startedAt, 0);
  expect(ms(run.endTime)).toBeCloseTo(endedAt, 0);
  expect(ms(run.duration)).toBeCloseTo(endedAt - startedAt, 0);
  expect(run.attributes).toMatchObject({ [Attr.runId]: runId, [Attr.outcome]: result.output.outcome, [Attr.kind]: result.output.kind, [Attr.from]: result.output.from, [Attr.to]: result.output.to });

  // A span per activity invocation, every one a child of the root, naming its step, run, plan and attempt.
  const steps = inRun.filter((s) => s.name.startsWith(`${Spans.activity} `));
  expect(steps.length).toBeGreaterThan(result.output.steps.length);
  for (const s of steps) {
    expect(s.parentSpanContext?.spanId, s.name).toBe(ids.spanId);
    expect(s.attributes[Attr.runId]).toBe(runId);
    expect(s.attributes[Attr.activity]).toBe(s.name.slice(Spans.activity.length + 1));
    expect(s.attributes[Attr.attempt]).toBeGreaterThanOrEqual(1);
    expect(["ok", "failed"]).toContain(s.attributes[Attr.outcome]);
  }
  // Every step the run recorded that calls an activity has its spans (gate and approval are the orchestration's own).
  const spanSteps = new Set(steps.map((s) => s.attributes[Attr.step]));
  for (const step of result.output.steps.map((s) => s.step).filter((s) => s !== "gate" && s !== "approval")) expect(spanSteps, `step ${step}`).toContain(step);
  // No span of the run outside its trace.
  expect(finished.filter((s) => s.attributes[Attr.runId] === runId && s.spanContext().traceId !== ids.traceId)).toEqual([]);

  // A span per Azure call, under the activity that made it, with the status and the request ids the estate returned.
  const stepIds = new Set(steps.map((s) => s.spanContext().spanId));
  const calls = inRun.filter((s) => s.kind === SpanKind.CLIENT);
  expect(calls.length).toBeGreaterThan(0);
  for (const c of calls) {
    expect(stepIds.has(c.parentSpanContext!.spanId) || calls.some((o) => o.spanContext().spanId === c.parentSpanContext!.spanId), c.name).toBe(true);
    if (c.attributes[Attr.method] !== undefined) {
      expect(typeof c.attributes[Attr.status], c.name).toBe("number");
      expect(String(c.attributes[Attr.url])).not.toContain("?");
    }
  }
  const serviceIds = new Set(calls.map((c) => c.attributes[Attr.serviceRequestId]));
  const journaled = journal.flatMap((e) => ((e.data as { requestIds?: string[] } | undefined)?.requestIds ?? []));
  expect(journaled.length).toBeGreaterThan(0);
  for (const id of journaled) expect(serviceIds, `request id ${id} journaled by the run`).toContain(id);
  return { run, steps, calls };
}

describe("telemetry on the local outage drill (in-memory exporters)", () => {
  it("contoso: a trace per run under a derived root, spans per step and Azure call, run, lag, detection and webhook metrics, and no secret", async () => {
    const { plan, result, observed } = await drillWithTelemetry("../../examples/contoso.plan.yaml", true);
    expect(result.ok, formatDrillSummary(result)).toBe(true);

    const failover = checkRun(result.failover.output.runId, result.failover, observed.journals[result.failover.output.runId]!);
    checkRun(result.failback!.output.runId, result.failback!, observed.journals[result.failback!.output.runId]!);
    // Long-running writes name their operation (the Azure-AsyncOperation / Location path), never with a query.
    const operations = failover.calls.map((c) => c.attributes[Attr.asyncOperation]).filter((v): v is string => typeof v === "string");
    expect(operations.length).toBeGreaterThan(0);
    for (const op of operations) expect(op).toMatch(/^\/[^?]*$/);

    // Run metrics: RTO as the run recorded it, duration as the journal has it, RPO exposure against the plan's RPO.
    for (const run of [result.failover, result.failback!]) {
      const o = run.output;
      const journal = observed.journals[o.runId]!;
      const dims = { [Attr.plan]: plan.name, [Attr.kind]: o.kind, [Attr.outcome]: o.outcome };
      const [rto] = points<Histogram>(Metrics.rto, dims);
      expect(rto?.value.count).toBe(1);
      expect(rto?.value.sum).toBe(o.rtoSeconds);
      const [duration] = points<Histogram>(Metrics.duration, dims);
      expect(duration?.value.sum).toBeCloseTo((Date.parse(journal.find((e) => e.kind === "run-finished")!.at) - Date.parse(journal.find((e) => e.kind === "run-started")!.at)) / 1000, 3);
      const [exposure] = points<Histogram>(Metrics.rpoExposure, dims);
      expect(exposure?.value.sum).toBe(o.rpoExposureSeconds);
      expect(exposure?.attributes).toMatchObject({ [Attr.rpoBudgetSeconds]: plan.objectives.rpoSeconds, [Attr.withinBudget]: o.rpoExposureSeconds! <= plan.objectives.rpoSeconds, [Attr.dataLossAllowedBy]: o.dataLossAllowedBy });
    }

    // Lag: each resource's gauge is the lag the store recorded for it.
    const measured = Object.entries(observed.lag).filter(([, lag]) => lag !== null);
    expect(measured.length).toBeGreaterThan(0);
    for (const [resourceId, lag] of measured) {
      const [p] = points<number>(Metrics.lag, { resourceId, plan: plan.name });
      expect(p?.value, resourceId).toBe(lag);
    }

    // Detection: the journaled decisions, counted by decision, are the detection journal's.
    const counted = points<number>(Metrics.detectionDecisions, { [Attr.plan]: plan.name });
    expect(counted.reduce((n, p) => n + p.value, 0)).toBeGreaterThanOrEqual(2);
    const journaledCounts: Record<string, number> = {};
    for (const e of observed.detection) {
      const decision = (e.data as { decision?: unknown } | undefined)?.decision;
      if (typeof decision === "string" && decision !== "retry") journaledCounts[decision] = (journaledCounts[decision] ?? 0) + 1;
    }
    const metricCounts = Object.fromEntries(counted.filter((p) => p.attributes[Attr.journaled] === true).map((p) => [String(p.attributes[Attr.decision]), p.value]));
    expect(Object.keys(journaledCounts).length).toBeGreaterThan(0);
    expect(metricCounts).toEqual(journaledCounts);
    // The quiet decisions (nothing changed, nothing to journal) are counted apart.
    expect(counted.filter((p) => p.attributes[Attr.journaled] === false).reduce((n, p) => n + p.value, 0)).toBeGreaterThanOrEqual(2);

    // The alert post's handling time, by its outcome.
    expect(observed.webhook.status).toBe(202);
    const [webhook] = points<Histogram>(Metrics.webhookDuration, { [Attr.outcome]: "recorded" });
    expect(webhook?.value.count).toBe(1);
    expect(webhook?.value.sum).toBeGreaterThan(0);
    const webhookSpan = spans.getFinishedSpans().find((s) => s.name === Spans.webhook);
    expect(webhookSpan?.kind).toBe(SpanKind.SERVER);
    expect(webhookSpan?.attributes[Attr.outcome]).toBe("ok");

    // No secret anywhere in what was exported.
    const exported = exportedStrings();
    expect(exported.length).toBeGreaterThan(100);
    expect(observed.secrets.length).toBeGreaterThan(3);
    for (const secret of observed.secrets) expect(exported.filter((s) => s.includes(secret))).toEqual([]);
    expect(findSecrets(exported, "telemetry")).toEqual([]);
  }, 240_000);

  it("meridian (another plan, one failover group, no channels): the failover's trace, steps, Azure calls and metrics", async () => {
    spans.reset();
    const { plan, result, observed } = await drillWithTelemetry("../fixtures/meridian.plan.yaml", false);
    expect(result.failover.output.outcome, formatDrillSummary(result)).toBe("completed");
    const { calls } = checkRun(result.failover.output.runId, result.failover, observed.journals[result.failover.output.runId]!);
    // Its SQL lag is asked over TDS: a client span per database login, named for the database, never the statement.
    const sql = spans.getFinishedSpans().filter((s: ReadableSpan) => s.attributes[Attr.dbSystem] === "microsoft.sql_server");
    expect(sql.length).toBeGreaterThan(0);
    for (const s of sql) expect(s.name).toBe(`${Spans.sql} ${s.attributes[Attr.dbNamespace]}`);
    // The lag round before the outage is one trace under its timer span; the run measures in the run's trace.
    const timers = spans.getFinishedSpans().filter((s) => s.name === `${Spans.timer} replicationLag`);
    expect(timers).toHaveLength(1);
    expect(timers[0]!.parentSpanContext).toBeUndefined();
    const traces = new Set([timers[0]!.spanContext().traceId, runTraceIds(result.failover.output.runId).traceId]);
    for (const s of sql) expect(traces.has(s.spanContext().traceId), s.name).toBe(true);
    expect(sql.some((s) => s.spanContext().traceId === timers[0]!.spanContext().traceId)).toBe(true);
    expect(calls.length).toBeGreaterThan(0);
    const [rto] = points<Histogram>(Metrics.rto, { [Attr.plan]: plan.name, [Attr.kind]: "failover", [Attr.outcome]: "completed" });
    expect(rto?.value.sum).toBe(result.failover.output.rtoSeconds);
    for (const [resourceId, lag] of Object.entries(observed.lag)) if (lag !== null) expect(points<number>(Metrics.lag, { resourceId })[0]?.value).toBe(lag);
    const exported = exportedStrings();
    for (const secret of observed.secrets) expect(exported.filter((s) => s.includes(secret))).toEqual([]);
    expect(findSecrets(exported, "telemetry")).toEqual([]);
  }, 120_000);
});
