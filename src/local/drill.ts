/**
 * A DR drill on the local estate: seed the estate from a plan, take the primary region down, run the
 * failover through the local durable host, verify, bring the region back, fail back, and report.
 * Nothing in it is tied to a particular plan's names.
 */
import { createWriteStream } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jsonLogger } from "../app/logging.ts";
import type { Plan } from "../core/plan/index.ts";
import type { RunInput, RunOutput, NotifyInput } from "../core/run/model.ts";
import { newRunId, runStatusOf, Steps, type RunStatus } from "../core/run/model.ts";
import type { PlanLagSummary } from "../lag/round.ts";
import type { RunPort } from "../core/run/port.ts";
import { isRunActive } from "../core/detection/policy.ts";
import { outcomeMessage, renderReport, stepOutcome } from "../core/run/report.ts";
import type { JournalEntry } from "../core/journal.ts";
import type { Notifier } from "../notify/notifier.ts";
import { applyScenario, type Scenario } from "../../estate/scenario.ts";
import { AZURE_PROFILE } from "../../estate/profile.ts";
import { startLocalApp, type LocalApp, type LocalAppOptions } from "./app.ts";
import { watchUsers } from "./userWatch.ts";
import type { InstanceStatus } from "../durable/durableHost.ts";
import { localChannelSettings } from "./channelSettings.ts";
import { formatReceived, receivedByChannel, type EstateDelivery, type ReceivedByChannel } from "./received.ts";

/**
 * The time scale `switchyard drill` uses unless told otherwise: one hour of Azure time in one second.
 * At this scale the example plan's failover (a storage account failover takes about an hour) and its
 * failback (storage back to geo-redundancy and its initial geo sync, then planned
 * failovers back) end within a minute; every figure is also printed projected back to Azure time.
 */
export const DEFAULT_DRILL_TIME_SCALE = 3600;

export interface DrillOptions {
  readonly plan: Plan;
  /** The outage and conditions to drill; default: the primary region down (connections refused). */
  readonly scenario?: Scenario;
  readonly failback: boolean;
  /** Approve a data-loss failover when the run asks (as the operator would), or let it time out. */
  readonly approve: boolean;
  readonly approvalTimeoutSeconds?: number;
  readonly outputDir: string;
  /** Progress lines (step changes with elapsed time); nothing when undefined. */
  readonly progress?: (line: string) => void;
  /**
   * Inside a step that lasts, a progress line at most this often (ms, default 5000): per resource what
   * the run waits for and for how long, from the run's journal.
   */
  readonly progressIntervalMs?: number;
  /** Called as each run (failover, then failback) ends, before the next begins. */
  readonly onRunEnd?: (label: "failover" | "failback", run: DrillRun) => void;
  /** Long-running operation durations on the estate (ms), overriding the scaled profile. */
  readonly durations?: Record<string, number>;
  readonly pollIntervalMs?: number;
  /** Azure time ÷ this (default DEFAULT_DRILL_TIME_SCALE). */
  readonly timeScale?: number;
  /** App settings of the plan's channels to use instead of made-up ones (tests seed known credentials). */
  readonly channelSettings?: Readonly<Record<string, string>>;
  /** Called with the local app (estate, journal) once the runs have finished, before it stops (tests). */
  readonly inspect?: (app: LocalApp) => Promise<void> | void;
}

export interface DrillRun {
  readonly output: RunOutput;
  /**
   * Failover: seconds (local) from the outage until the requests a user sends (through Front Door) are
   * served by the new primary with its data tier writable, for good (an outage that comes back, such as
   * a restart, starts it over); null when that had not happened when the run ended.
   */
  readonly userFacingRtoSeconds?: number | null;
  /** The time scale the run ran at: local seconds × this = Azure seconds. */
  readonly timeScale: number;
  readonly reportPath: string;
  readonly wallSeconds: number;
  /** The data-loss gate's decision and why, as the run journaled it (absent: the run did not reach it). */
  readonly gate?: string;
}

export interface DrillResult {
  readonly plan: string;
  readonly timeScale: number;
  readonly failover: DrillRun;
  readonly failback?: DrillRun;
  readonly wallSeconds: number;
  readonly ok: boolean;
  /** What each of the plan's notification channels received on the estate (seconds from the outage). */
  readonly notifications?: readonly ReceivedByChannel[];
  /** The replicationLag timer's round just before the outage: what the RPO gate falls back on. */
  readonly lagBeforeOutage?: { readonly resources: number; readonly unknown: number; readonly largestSeconds: number | null; readonly rpoSeconds: number };
}

/** Collects notifications; the drill shows the critical ones as they come. */
export class DrillNotifier implements Notifier {
  readonly name = "drill";
  constructor(private readonly show?: (line: string) => void) {}
  async notify(n: NotifyInput): Promise<void> {
    if (n.severity === "critical") this.show?.(`  ! ${n.message}`);
  }
}

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const started = Date.now();
  const plan = options.plan;
  const timeScale = options.timeScale ?? DEFAULT_DRILL_TIME_SCALE;
  const primary = plan.regions.primary.name;
  const secondary = plan.regions.secondary.name;
  await mkdir(join(options.outputDir, "reports"), { recursive: true });
  const logFile = createWriteStream(join(options.outputDir, "drill.log"), { flags: "a" });
  let app: LocalApp | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    let lastStep = "";
    let runStarted = Date.now();
    let lastLineAt = Date.now();
    let stepBegan = new Date();
    let current: RunStatus | undefined;
    const stamp = () => `  [${((Date.now() - runStarted) / 1000).toFixed(1).padStart(5)} s]`;
    const onStatus = (status: InstanceStatus) => {
      // Only a run shows a run's status (its sub-orchestrations show none): it names the step and the kind of run.
      const progress = runStatusOf(status.customStatus);
      if (!progress) return;
      current = progress;
      if (progress.step === lastStep) return;
      lastStep = progress.step;
      stepBegan = new Date();
      lastLineAt = stepBegan.getTime();
      options.progress?.(`${stamp()} ${progress.kind} · ${progress.step}`);
    };
    // A step that lasts (a storage account's initial geo sync, a Front Door propagation) says what it waits for.
    const everyMs = options.progressIntervalMs ?? 5_000;
    let ticking = false;
    ticker = setInterval(() => {
      const status = current;
      if (!options.progress || ticking || !status || Date.now() - lastLineAt < everyMs) return;
      ticking = true;
      app!.journal
        .read(status.runId)
        .then((entries) => {
          lastLineAt = Date.now();
          for (const line of waitingLines(entries, status, stepBegan, new Date(), timeScale)) options.progress!(`${stamp()} ${status.kind} · ${status.step}: ${line}`);
        })
        .catch(() => undefined)
        .finally(() => (ticking = false));
    }, Math.min(everyMs, 1_000));
    const drillApp = await startDrillApp({ ...options, timeScale, logFile, onStatus });
    app = drillApp.app;
    const channels = drillApp.channels;
    const { estate, journal, runs } = app;

    const execute = async (kind: RunInput["kind"], from: string, to: string, reason: string, detectedAt: string): Promise<DrillRun> => {
      // A synthetic user, for the failover: how long the outage lasts as users see it.
      const users = kind === "failover" ? watchUsers({ estate, clients: app!.clients, plan, region: to, intervalMs: 10 }) : undefined;
      const runId = newRunId(plan.name, `drill-${kind}`, new Date());
      const input: RunInput = {
        runId,
        kind,
        mode: kind === "failover" ? "auto" : "planned",
        plan,
        from,
        to,
        trigger: { source: "drill", by: "switchyard drill", reason, detectedAt },
        options: {
          retry: { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 4_000 },
          approvalTimeoutSeconds: options.approvalTimeoutSeconds ?? 120,
          timeScale,
        },
      };
      lastStep = "";
      runStarted = Date.now();
      options.progress?.(`${kind} ${plan.name}: ${from} → ${to} (${runId})`);
      await runs.start(input);
      const approver = options.approve ? approveWhenAsked(runs, plan.name, options.progress) : undefined;
      const finished = await runs.waitFor(plan.name);
      approver?.stop();
      const output = finished.output ?? failedOutput(input, finished.error ?? "the run ended without an output");
      const recoveredAt = await users?.stop();
      const userFacingRtoSeconds = users ? (recoveredAt === undefined ? null : Math.round((recoveredAt - Date.parse(detectedAt)) / 100) / 10) : undefined;
      const entries = await journal.read(runId);
      const report = renderReport(entries, output) + (userFacingRtoSeconds !== undefined ? userFacingSection(output, userFacingRtoSeconds, timeScale) : "");
      const reportPath = join(options.outputDir, "reports", `${runId}.md`);
      await writeFile(reportPath, report);
      const gate = entries.findLast((e) => e.kind === "decision" && e.step === Steps.gate)?.message;
      return { output, timeScale, reportPath, wallSeconds: (Date.now() - runStarted) / 1000, ...(userFacingRtoSeconds !== undefined ? { userFacingRtoSeconds } : {}), ...(gate ? { gate } : {}) };
    };

    // The replicationLag timer's last round before the outage (with the scenario's lag in place): the
    // samples the RPO gate falls back on when the primary can no longer be asked.
    if (options.scenario?.lag) await applyScenario(estate, { lag: options.scenario.lag });
    const lagBeforeOutage = lagSummary(await app.measureLag(), plan.objectives.rpoSeconds);
    options.progress?.(
      `replication lag before the outage: ${lagBeforeOutage.largestSeconds === null ? `unknown for ${lagBeforeOutage.unknown} of ${lagBeforeOutage.resources} resource(s)` : `largest ${lagBeforeOutage.largestSeconds} s over ${lagBeforeOutage.resources} resource(s)`} (RPO ${lagBeforeOutage.rpoSeconds} s)`,
    );
    if (options.scenario) await applyScenario(estate, options.scenario);
    else await estate.setRegion(primary, { down: true, healthWhenDown: "refused", controlPlane: "down" });
    const outageAt = new Date().toISOString();
    options.progress?.(`outage: ${Object.entries(estate.snapshot().regions).filter(([, r]) => r.down).map(([name]) => name).join(", ") || "none"} down`);
    const failover = await execute("failover", primary, secondary, `DR drill: ${primary} taken down`, outageAt);
    options.onRunEnd?.("failover", failover);

    let failback: DrillRun | undefined;
    if (options.failback && failover.output.outcome === "completed") {
      for (const region of estate.state.regions.keys()) await estate.setRegion(region, { down: false, controlPlane: "up" });
      options.progress?.(`recovery: every region back up`);
      failback = await execute("failback", secondary, primary, "DR drill: fail back after recovery", new Date().toISOString());
      options.onRunEnd?.("failback", failback);
    }
    const ok = failover.output.outcome === "completed" && (!options.failback || failback?.output.outcome === "completed");
    await lastDeliveries(app, timeScale);
    const notifications = receivedByChannel(plan, estate.notifications() as readonly EstateDelivery[], channels.identify, Date.parse(outageAt));
    if (plan.notifications.length > 0) options.progress?.(formatReceived(notifications));
    await options.inspect?.(app);
    return { plan: plan.name, timeScale, failover, ...(failback ? { failback } : {}), wallSeconds: (Date.now() - started) / 1000, ok, lagBeforeOutage, notifications };
  } finally {
    clearInterval(ticker);
    await app?.stop();
    await new Promise<void>((resolve) => logFile.end(() => resolve()));
  }
}

/**
 * The local app a drill runs on: made-up credentials for every channel the plan names (the estate plays
 * each service, verifying webhook signatures), the delivery timer, the drill's log, and each run's
 * journal where `switchyard report` finds it (<out>/journal). `extra` adds to the app's options.
 */
export async function startDrillApp(options: {
  readonly plan: Plan;
  readonly channelSettings?: Readonly<Record<string, string>>;
  readonly timeScale: number;
  readonly durations?: Record<string, number>;
  readonly outputDir: string;
  readonly progress?: (line: string) => void;
  readonly pollIntervalMs?: number;
  readonly onStatus: (status: InstanceStatus) => void;
  readonly logFile: NodeJS.WritableStream;
  readonly extra?: Partial<LocalAppOptions>;
}): Promise<{ app: LocalApp; channels: ReturnType<typeof localChannelSettings> }> {
  const channels = localChannelSettings(options.plan, options.channelSettings);
  const app = await startLocalApp({
    plans: [options.plan],
    channelSettings: channels.settings,
    deliveryTimer: true,
    timeScale: options.timeScale,
    ...(options.durations ? { durations: options.durations } : {}),
    log: jsonLogger((line) => options.logFile.write(`${line}\n`)),
    journalDir: join(options.outputDir, "journal"),
    notifier: new DrillNotifier(options.progress),
    onStatus: options.onStatus,
    pollIntervalMs: options.pollIntervalMs ?? 25,
    ...options.extra,
  });
  for (const { host, secret } of channels.webhookSecrets) app.estate.setWebhookSecret(host, secret);
  return { app, channels };
}

/** The delivery timer's last passes after a drill: retries due and email sends still running (a few seconds at most). */
export async function lastDeliveries(app: LocalApp, timeScale: number): Promise<void> {
  for (let pass = 0; pass < 50; pass++) {
    const open = (await app.deliverNotifications()).flatMap((r) => r.channels.filter((c) => c.state === "pending" || c.state === "accepted"));
    if (open.length === 0) return;
    await new Promise((r) => setTimeout(r, Math.max(20, 5_000 / timeScale)));
  }
}

function lagSummary(summaries: readonly PlanLagSummary[], rpoSeconds: number): NonNullable<DrillResult["lagBeforeOutage"]> {
  const samples = summaries.flatMap((s) => s.round?.samples ?? []);
  const unknown = samples.filter((s) => s.lagSeconds === null).length;
  const largestSeconds = unknown > 0 || samples.length === 0 ? (samples.length === 0 ? 0 : null) : Math.max(...samples.map((s) => s.lagSeconds!));
  return { resources: samples.length, unknown, largestSeconds, rpoSeconds };
}

/** Approves a data-loss failover as soon as the run waits for it (the drill plays the operator). */
function approveWhenAsked(runs: RunPort, planName: string, progress?: (line: string) => void) {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 20));
      const run = await runs.get(planName);
      if (!run || !isRunActive(run)) return;
      if (run.progress?.waitingFor === "approval") {
        progress?.(`  approval requested: the drill approves as the operator`);
        await runs.approve(planName, { approve: true, by: "switchyard drill", reason: "drill: approving the data-loss failover as the on-call operator would" });
        return;
      }
    }
  };
  loop().catch((error) => progress?.(`  approval could not be sent: ${error instanceof Error ? error.message : String(error)}`));
  return { stop: () => (stopped = true) };
}

function failedOutput(input: RunInput, error: string): RunOutput {
  return {
    runId: input.runId,
    kind: input.kind,
    outcome: "failed",
    from: input.from,
    to: input.to,
    steps: [],
    rtoSeconds: null,
    rtoTargetSeconds: input.plan.objectives.rtoMinutes * 60,
    rpoExposureSeconds: null,
    rpoBudgetSeconds: input.plan.objectives.rpoSeconds,
    dataLossAllowedBy: "none",
    message: error,
  };
}

/**
 * What a run in a lasting step waits for, per resource, from its journal: the latest wait the step
 * journaled for each resource (an Azure operation being watched, a copy still being made), with how long
 * the resource has been waited for (since its first wait in the step, by the journal's times). One line
 * per resource; else what the run's status says it waits for, with the time since `stepBegan`.
 */
export function waitingLines(entries: readonly JournalEntry[], status: RunStatus, stepBegan: Date, now: Date, timeScale?: number): string[] {
  const waits = new Map<string, { firstAt: number; what: string; expectedMs?: number }>();
  const note = (key: string, at: number, what: string, expected?: number) =>
    waits.set(key, { firstAt: waits.get(key)?.firstAt ?? at, what, ...(expected !== undefined ? { expectedMs: expected } : {}) });
  for (const e of entries) {
    const at = Date.parse(e.at);
    if (e.kind !== "wait" || e.step !== status.step) continue;
    const data = (e.data ?? {}) as { resourceId?: unknown; operations?: unknown };
    if (Array.isArray(data.operations)) {
      for (const op of data.operations as { resource?: unknown; operation?: unknown; status?: unknown }[]) {
        const key = String(op.resource ?? "");
        if (op.status !== undefined) waits.delete(key);
        else note(key, at, `${key}: ${String(op.operation ?? "an Azure operation")} in progress`, expectedMs(String(op.operation ?? ""), timeScale));
      }
    } else if (typeof data.resourceId === "string") note(data.resourceId.split("/").at(-1)!, at, e.message);
    else note("", at, e.message);
  }
  const lines = [...waits.values()].map((w) => `${w.what} (waiting ${seconds((now.getTime() - w.firstAt) / 1000)}${w.expectedMs !== undefined ? ` of about ${seconds(w.expectedMs / 1000)}, as Azure's profile has it` : ""})`);
  if (lines.length > 0) return lines;
  return [`${status.waitingFor ? `waiting for ${status.waitingFor}` : "in progress"} (step running ${seconds((now.getTime() - stepBegan.getTime()) / 1000)})`];
}

const seconds = (s: number) => `${Math.max(0, s).toFixed(1)} s`;

/** How long Azure takes for an operation (`StorageAccounts_Failover (Planned)`), by the estate's profile, at this time scale. */
function expectedMs(operation: string, timeScale: number | undefined): number | undefined {
  const timed = AZURE_PROFILE.operations[operation.split(" ")[0] ?? ""];
  return timed && timeScale !== undefined && timeScale > 0 ? timed.ms / timeScale : undefined;
}

/** Colour and symbols, at a terminal (src/cli/style.ts); plain text otherwise. */
export interface SummaryStyle {
  good(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
}

const PLAIN: SummaryStyle = { good: (t) => t, bad: (t) => t, warn: (t) => t };

/** The summary a person reads at the end of a drill. */
export function formatDrillSummary(result: DrillResult, style: SummaryStyle = PLAIN): string {
  const lines = [formatDrillRun("failover", result.failover, style)];
  if (result.failback) lines.push(formatDrillRun("failback", result.failback, style));
  lines.push(formatDrillVerdict(result, style));
  return lines.join("\n");
}

/** The drill's last line: passed or failed, and its wall time. */
export function formatDrillVerdict(result: DrillResult, style: SummaryStyle = PLAIN): string {
  const verdict = `drill ${result.ok ? "passed" : "FAILED"} in ${result.wallSeconds.toFixed(1)} s`;
  return result.ok ? style.good(verdict) : style.bad(verdict);
}

/** One run's summary (printed as it ends): outcome, steps with their local and Azure durations, RTO, RPO, report. */
export function formatDrillRun(label: string, run: DrillRun, style: SummaryStyle = PLAIN): string {
  const lines: string[] = [];
  const o = run.output;
  const scale = run.timeScale;
  const head = `${label}: ${o.outcome} (${o.from} → ${o.to}) in ${run.wallSeconds.toFixed(1)} s (time scale ${scale}: ${azureDuration(run.wallSeconds * scale)} of Azure time)`;
  lines.push(o.outcome === "completed" ? style.good(head) : style.bad(head));
  lines.push(`  ${"step".padEnd(22)} ${"local".padStart(9)}  ${"at Azure durations".padStart(18)}`);
  for (const s of o.steps) {
    const seconds = (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000;
    const outcome = stepOutcome(s, o);
    lines.push(`  ${s.step.padEnd(22)} ${`${seconds.toFixed(2)} s`.padStart(9)}  ${azureDuration(seconds * scale).padStart(18)}  ${outcome === "ok" || outcome === "approved" ? outcome : style.warn(outcome)}`);
  }
  const projected = o.rtoSeconds === null ? null : o.rtoSeconds * scale;
  lines.push(`  RTO: ${o.rtoSeconds === null ? "not reached" : `${o.rtoSeconds} s local, projected ${azureDuration(projected!)} at Azure durations`} (target ${azureDuration(o.rtoTargetSeconds)})${projected !== null ? (projected <= o.rtoTargetSeconds ? " — met" : " — missed") : ""}`);
  if (run.userFacingRtoSeconds !== undefined) {
    lines.push(
      `  user-facing RTO: ${run.userFacingRtoSeconds === null ? "not reached while the run lasted" : `${run.userFacingRtoSeconds} s local, projected ${azureDuration(run.userFacingRtoSeconds * scale)}`} (outage → requests served by ${o.to} with its data tier writable, for good)`,
    );
  }
  if (run.gate) lines.push(`  ${run.gate}`);
  lines.push(`  RPO exposure: ${o.rpoExposureSeconds === null ? "unknown (lag not measurable)" : `${o.rpoExposureSeconds} s`} (budget ${o.rpoBudgetSeconds} s; data loss allowed by: ${o.dataLossAllowedBy})`);
  lines.push(`  ${outcomeMessage(o)}`);
  lines.push(`  report: ${run.reportPath}`);
  return lines.join("\n");
}

/** A duration of Azure time for people: `42 s`, `12 min 5 s`, `3 h 20 min`. */
export function azureDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The drill report's note on the user-facing RTO and why it differs from the run's. */
function userFacingSection(output: RunOutput, seconds: number | null, scale: number): string {
  const lines = [
    "",
    "## User-facing RTO (drill)",
    "",
    seconds === null
      ? `No request a user sent through the plan's entry points was served by ${output.to} with its data tier writable before the run ended.`
      : `Requests a user sent through the plan's entry points (Front Door endpoints and frontends, else the region's health endpoints) were served by ${output.to} with its data tier writable, without a break until the run ended, from ${seconds} s after the outage began (projected ${azureDuration(seconds * scale)} at Azure durations).`,
    `The run's RTO (${output.rtoSeconds === null ? "not reached" : `${output.rtoSeconds} s`}) ends when Switchyard has verified the new primary. The two differ: Front Door's own health probes stop sending users to a dead region's origin before any configuration change has propagated, so users may be served by ${output.to} before the traffic step ends — but only once its data tier is writable does that count as recovered, and a site restart after a settings change interrupts it again; verification may still wait for Front Door propagation after users are already served.`,
    "",
  ];
  return lines.join("\n");
}
