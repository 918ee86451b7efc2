/**
 * A planned drill on the local estate (`switchyard drill --mode planned`): the estate seeded from the
 * plan with every region up, and the plan's planned drill run by the same orchestration and activities
 * the scheduledDrill timer starts in Azure (plannedDrillV1 on the local durable host): a planned
 * failover, then a failback, each run's steps shown as they change and its summary as it ends, then
 * the plan's RTO trend.
 *
 * The drill's Azurite lives in memory and goes with the command, so the drill history is kept in
 * `<out>/drills/{plan}.json` (the document Azure keeps as the blob `drills/{plan}.json`) and the reports
 * in `<out>/reports/`: drills run with the same `--out` share their history.
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { drillsView, type DrillRecord, type DrillsView } from "../core/drill/history.ts";
import { drillRunId, type DrillOutcome } from "../core/drill/model.ts";
import type { Plan } from "../core/plan/index.ts";
import { instanceIdFor, runIdOfInput, runStatusOf, Steps, type RunOutput } from "../core/run/model.ts";
import type { InstanceStatus } from "../durable/durableHost.ts";
import type { LocalApp } from "./app.ts";
import { DEFAULT_DRILL_TIME_SCALE, lastDeliveries, startDrillApp, type DrillRun } from "./drill.ts";
import { FileDrillHistoryStore, FileDrillReportStore } from "./drillFiles.ts";
import { formatReceived, receivedByChannel, type EstateDelivery, type ReceivedByChannel } from "./received.ts";

export interface PlannedDrillOptions {
  readonly plan: Plan;
  /** Where the history (`drills/`), the reports (`reports/`), the runs' journals (`journal/`) and the log go. */
  readonly outputDir: string;
  /** Azure time ÷ this (default DEFAULT_DRILL_TIME_SCALE). */
  readonly timeScale?: number;
  /** Progress lines (the drill, each run's steps); nothing when undefined. */
  readonly progress?: (line: string) => void;
  /** Called as each of the drill's runs ends, with what the outage drill's summary shows. */
  readonly onRunEnd?: (label: "failover" | "failback", run: DrillRun) => void;
  /** Long-running operation durations on the estate (ms), overriding the scaled profile. */
  readonly durations?: Record<string, number>;
  readonly pollIntervalMs?: number;
  /** App settings of the plan's channels to use instead of made-up ones. */
  readonly channelSettings?: Readonly<Record<string, string>>;
  /** Who started it (recorded in the history). */
  readonly by?: string;
  /** Called with the local app once the drill has ended, before it stops (tests). */
  readonly inspect?: (app: LocalApp) => Promise<void> | void;
}

export interface PlannedDrillResult {
  readonly plan: string;
  readonly drillId: string;
  readonly outcome: DrillOutcome;
  readonly reason: string;
  /** True when the drill passed. */
  readonly ok: boolean;
  readonly timeScale: number;
  readonly record?: DrillRecord;
  readonly failover?: DrillRun;
  readonly failback?: DrillRun;
  /** The plan's history after this drill: its last drills and the RTO trend. */
  readonly drills: DrillsView;
  /** How many drills the history holds (at most DRILL_HISTORY_LIMIT). */
  readonly drillsKept: number;
  /** The history's file, and the drill's own report. */
  readonly historyFile: string;
  readonly reportPath?: string;
  readonly wallSeconds: number;
  readonly notifications?: readonly ReceivedByChannel[];
}

export async function runPlannedDrill(options: PlannedDrillOptions): Promise<PlannedDrillResult> {
  const started = Date.now();
  const plan = options.plan;
  const timeScale = options.timeScale ?? DEFAULT_DRILL_TIME_SCALE;
  const show = options.progress ?? (() => undefined);
  await mkdir(join(options.outputDir, "reports"), { recursive: true });
  const logFile = createWriteStream(join(options.outputDir, "drill.log"), { flags: "a" });
  const history = new FileDrillHistoryStore(join(options.outputDir, "drills"));
  let app: LocalApp | undefined;
  try {
    // Each run of the drill: its first status (for its wall time), its last step, and its end.
    const seen = new Map<string, { kind: "failover" | "failback"; began: number; step: string; ended: boolean }>();
    let runEnds = Promise.resolve();
    const runs: { failover?: DrillRun; failback?: DrillRun } = {};
    const onStatus = (status: InstanceStatus) => {
      if (status.instanceId !== instanceIdFor(plan.name)) return;
      const runId = runIdOfInput(status.input);
      const input = status.input as { kind?: string; from?: string; to?: string } | undefined;
      if (!runId || (input?.kind !== "failover" && input?.kind !== "failback")) return;
      let run = seen.get(runId);
      if (!run) {
        run = { kind: input.kind, began: Date.now(), step: "", ended: false };
        seen.set(runId, run);
        show(`${input.kind} ${plan.name}: ${input.from} → ${input.to} (${runId})`);
      }
      const progress = runStatusOf(status.customStatus);
      if (progress && progress.runId === runId && progress.step !== run.step) {
        run.step = progress.step;
        show(`  [${((Date.now() - run.began) / 1000).toFixed(1).padStart(5)} s] ${progress.kind} · ${progress.step}`);
      }
      const final = status.runtimeStatus === "Completed" || status.runtimeStatus === "Failed" || status.runtimeStatus === "Terminated";
      if (!final || run.ended) return;
      run.ended = true;
      const wallSeconds = (Date.now() - run.began) / 1000;
      const kind = run.kind;
      if (status.runtimeStatus !== "Completed" || !status.output) {
        show(`${kind}: ${status.runtimeStatus.toLowerCase()}${status.error ? ` (${status.error})` : ""}`);
        return;
      }
      const output = status.output as RunOutput;
      runEnds = runEnds.then(async () => {
        const entries = await app!.journal.read(runId).catch(() => []);
        const gate = entries.findLast((e) => e.kind === "decision" && e.step === Steps.gate)?.message;
        const drillRun: DrillRun = { output, timeScale, reportPath: join(options.outputDir, "reports", `${runId}.md`), wallSeconds, ...(gate ? { gate } : {}) };
        runs[kind] = drillRun;
        options.onRunEnd?.(kind, drillRun);
      });
    };
    const drillApp = await startDrillApp({
      ...options,
      timeScale,
      logFile,
      onStatus,
      extra: { drillHistory: history, drillReports: new FileDrillReportStore(join(options.outputDir, "reports")) },
    });
    app = drillApp.app;
    const channels = drillApp.channels;

    const since = Date.now();
    const start = await app.startDrill(plan.name, { kind: "cli", by: options.by ?? "switchyard drill --mode planned" });
    const drillId = start.drill.drillId;
    show(`planned drill ${plan.name}: ${drillId} — a planned failover ${plan.regions.primary.name} → ${plan.regions.secondary.name}, then a failback; every region up`);
    const output = await app.waitForDrill(plan.name);
    await runEnds;
    // A run the drill started that ended without a summary (terminated) is named by the drill's outcome.
    for (const kind of ["failover", "failback"] as const) {
      if (!runs[kind] && output.record?.runs.some((r) => r.kind === kind)) show(`${kind}: ${output.record.runs.find((r) => r.kind === kind)!.outcome} (${drillRunId(drillId, kind)})`);
    }
    await lastDeliveries(app, timeScale);
    const notifications = receivedByChannel(plan, app.estate.notifications() as readonly EstateDelivery[], channels.identify, since);
    if (plan.notifications.length > 0) show(formatReceived(notifications));
    await options.inspect?.(app);
    const kept = await history.read(plan.name);
    const drills = drillsView(kept);
    return {
      plan: plan.name,
      drillId,
      outcome: output.outcome,
      reason: output.reason,
      ok: output.outcome === "passed",
      timeScale,
      ...(output.record ? { record: output.record } : {}),
      ...runs,
      drills,
      drillsKept: kept.drills.length,
      historyFile: history.fileOf(plan.name),
      ...(output.record?.report ? { reportPath: output.record.report } : {}),
      wallSeconds: (Date.now() - started) / 1000,
      notifications,
    };
  } finally {
    await app?.stop();
    await new Promise<void>((resolve) => logFile.end(() => resolve()));
  }
}

/** The planned drill's last lines: the trend over the plan's drills, where they are kept, and the verdict. */
export function formatPlannedDrillEnd(result: PlannedDrillResult, style: { good(t: string): string; bad(t: string): string } = { good: (t) => t, bad: (t) => t }): string {
  const lines = [
    `drill history of ${result.plan}: ${result.drillsKept} drill(s) in ${result.historyFile}`,
    `  ${result.drills.trend.line}`,
    ...(result.reportPath ? [`  drill report: ${result.reportPath}`] : []),
  ];
  const verdict = result.ok ? `planned drill passed in ${result.wallSeconds.toFixed(1)} s` : `planned drill ${result.outcome.toUpperCase()} in ${result.wallSeconds.toFixed(1)} s: ${result.reason}`;
  lines.push(result.ok ? style.good(verdict) : style.bad(verdict));
  return lines.join("\n");
}
