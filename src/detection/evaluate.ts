import { newRunId } from "../core/run/model.ts";
import type { Logger } from "../core/logger.ts";
import type { DecidingSignal, PlanState, PolicyState, RegionChange, RegionVerdictState, Signal } from "../core/detection/model.ts";
import {
  currentPrimary,
  decideAutoFailover,
  isRunActive,
  MAX_QUOTED_SIGNALS,
  observeRun,
  quoteSignals,
  recordAutoFailover,
  runHolding,
  unrecordAutoFailover,
  type PolicyDecision,
} from "../core/detection/policy.ts";
import { releaseRun, reserveRun } from "../core/run/reservation.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";
import { evaluateRegions, quorumThresholds, recordSignal } from "../core/detection/quorum.ts";
import type { Plan } from "../core/plan/index.ts";
import type { RunInput, RunOptions, RunTrigger } from "../core/run/model.ts";
import { RunInProgressError, type RunPort, type RunView } from "../core/run/port.ts";
import type { DecisionEntry, Journal, JournalEntry } from "../core/journal.ts";
import type { Notifier } from "../notify/notifier.ts";
import { seeAlert, type PlanStateStore } from "./stateStore.ts";
import { recordDetectionDecision } from "../telemetry/telemetry.ts";

/*
 * One evaluation of a plan: record the signals, apply the quorum, ask the policy, and start an
 * automatic failover when it says so. The health timer calls it with the signals it collected; the
 * alert webhook with the alert's signal (after `markAlertSeen` said the alert is new).
 *
 * Everything that decides happens inside one optimistic-concurrency update of the plan's state, and a
 * start is reserved there before the run port is called: recordAutoFailover (cooldown and daily cap)
 * and the run reservation (`activeRun`, src/core/run/reservation.ts). The decision reads the run that
 * holds the plan from that same state (runHolding: the run port's view, or a live reservation), so
 * concurrent evaluations (an alert storm, the timer) start at most one run even with no cooldown.
 * When the port refuses the start (RunInProgressError, or any error), both are undone (the cooldown
 * stays when a run is in progress). The run port (ReservingRuns) renews the same reservation.
 *
 * Going home (to the plan's primary) starts a failback, never a failover. An automatic run that ended
 * without writing to Azure is journaled and logged at error level, does not count toward maxPerDay,
 * and is retried after a backoff (policy.ts `retryBackoffMs`).
 *
 * Untrusted text (alert rule names, ids, details) is redacted wherever it is recorded: every journal
 * entry's message and data go through redactText / redactSecrets, and so does the run's trigger
 * reason. A journal entry that cannot be written is logged and never changes the decision. An entry's
 * size does not grow with the number of signals: counts by status and source, plus at most
 * MAX_QUOTED_SIGNALS signals (those that decided first).
 *
 * Journal: run id `detection-<plan>-<yyyymmdd>` (UTC), entries of kind "decision" (step "detection"):
 * every region change (with its signals and thresholds) and every policy decision that is not the quiet
 * "primary not down" of a normal minute; then the start, "run already in progress", or the failure.
 */

export interface EvaluateDeps {
  readonly store: PlanStateStore;
  /** Tells people when an automatic run ended without writing to Azure and will be retried (optional). */
  readonly notifier?: Notifier;
  readonly journal: Journal;
  readonly runs: RunPort;
  readonly clock: () => Date;
  readonly log?: Logger;
  /**
   * What started a run in progress; by default the run's own trigger.
   */
  readonly runSource?: (view: RunView) => RunTrigger["source"] | undefined;
  /**
   * Stops a running drill so an incident failover can start (preemptWith: terminate its orchestration and
   * wait, bounded, until it has ended); throws when it could not, and nothing starts until the next
   * evaluation. Absent: drills are waited for.
   */
  readonly preemptDrill?: (view: RunView, reason: string) => Promise<void>;
}

export interface EvaluatePlanOptions {
  /** What made this evaluation happen: the trigger source of a run it starts. Default "timer". */
  readonly trigger?: "timer" | "alert";
  /** Consecutive probe failures before a probe signal turns down. Default 2. */
  readonly failuresBeforeDown?: number;
  readonly staleAfterSeconds?: number;
  /** Options of the run it starts. */
  readonly runOptions?: RunOptions;
  /**
   * An alert's dedupe key (`alertId:monitorCondition`): checked and recorded in the same atomic update
   * as the signals. A key seen in the last 24 h records no signal (`duplicate` in the summary); the
   * evaluation still runs (it is idempotent), so a retried delivery never loses the first one's effect.
   */
  readonly dedupeKey?: string;
}

export interface EvaluationSummary {
  readonly plan: string;
  readonly at: string;
  readonly journalRunId: string;
  /** Signals recorded (signals of other plans or regions are skipped, and a duplicate alert records none). */
  readonly recorded: number;
  /** The dedupe key was seen before: the signals were not recorded again. */
  readonly duplicate?: boolean;
  readonly changes: readonly RegionChange[];
  readonly regions: Readonly<Record<string, RegionVerdictState>>;
  readonly primary: string;
  readonly decision: PolicyDecision;
  /** The automatic failover this evaluation started. */
  readonly started?: { readonly runId: string; readonly from: string; readonly to: string };
  /** The run that was already in progress when a start was refused. */
  readonly runInProgress?: string;
  /** The drill run this evaluation pre-empted. */
  readonly preempted?: string;
  /** Why a start failed (not a refusal for a run in progress). */
  readonly error?: string;
}

export const DEFAULT_FAILURES_BEFORE_DOWN = 2;
const BY = "switchyard detection";
const STEP = "detection";

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** `detection-<plan>-<yyyymmdd>`: one detection journal per plan and UTC day. */
export function detectionJournalId(plan: string, at: Date): string {
  return `detection-${plan}-${at.toISOString().slice(0, 10).replace(/-/g, "")}`;
}

/** The run id of an automatic failover started at `at` (plan, time, kind: see newRunId). */
export function autoRunId(plan: string, at: Date): string {
  return newRunId(plan, "auto-failover", at);
}

export const defaultRunSource = (view: RunView): RunTrigger["source"] | undefined => view.trigger?.source;

/** Probe and Front Door signals before alerts, then the longest held: the ones that decided first. */
function deciding(signals: readonly DecidingSignal[]): DecidingSignal[] {
  const rank = (s: DecidingSignal) => (s.source === "alert" ? 1 : 0);
  return [...signals].sort((a, b) => rank(a) - rank(b) || Date.parse(a.since) - Date.parse(b.since) || a.name.localeCompare(b.name));
}

function quote(signals: readonly DecidingSignal[]): string {
  return quoteSignals(deciding(signals), "; ");
}

/** The signals as a journal entry records them: counts by status and source, and the first MAX_QUOTED_SIGNALS that decided. */
function signalData(signals: readonly DecidingSignal[]) {
  const count = (key: (s: DecidingSignal) => string) => signals.reduce<Record<string, number>>((acc, s) => ({ ...acc, [key(s)]: (acc[key(s)] ?? 0) + 1 }), {});
  return {
    total: signals.length,
    byStatus: count((s) => (s.stale ? "stale" : s.status)),
    bySource: count((s) => s.source),
    deciding: deciding(signals)
      .slice(0, MAX_QUOTED_SIGNALS)
      .map((s) => ({ name: s.name, source: s.source, status: s.status, since: s.since, lastSeen: s.lastSeen, stale: s.stale, ...(s.detail !== undefined ? { detail: s.detail } : {}) })),
  };
}

interface Pass {
  state: PlanState;
  decision: PolicyDecision;
  reserved?: { runId: string; at: string; previous: Pick<PolicyState, "lastRunAt" | "lastAutoFailover"> };
}

export async function evaluatePlan(plan: Plan, signals: readonly Signal[], deps: EvaluateDeps, options: EvaluatePlanOptions = {}): Promise<EvaluationSummary> {
  // Stakeholders are told once the decision is taken and any run started: a channel's first attempt
  // (up to its timeout) never delays the failover it is about.
  const tell: (() => Promise<void>)[] = [];
  try {
    return await evaluate(plan, signals, deps, options, tell);
  } finally {
    for (const notify of tell) await notify();
  }
}

async function evaluate(plan: Plan, signals: readonly Signal[], deps: EvaluateDeps, options: EvaluatePlanOptions, tell: (() => Promise<void>)[]): Promise<EvaluationSummary> {
  const now = deps.clock();
  const at = now.toISOString();
  const log = deps.log ?? silent;
  const journalRunId = detectionJournalId(plan.name, now);
  const regions = new Set([plan.regions.primary.name, plan.regions.secondary.name]);
  const relevant = signals.filter((s) => s.plan === plan.name && regions.has(s.region));
  if (relevant.length < signals.length) log.warn("signals for other plans or regions skipped", { plan: plan.name, skipped: signals.length - relevant.length });
  const failuresBeforeDown = options.failuresBeforeDown ?? DEFAULT_FAILURES_BEFORE_DOWN;
  const staleOption = options.staleAfterSeconds !== undefined ? { staleAfterSeconds: options.staleAfterSeconds } : {};
  const thresholds = { ...quorumThresholds(plan, staleOption), failuresBeforeDown };

  const journal = async (entry: Pick<DecisionEntry, "message" | "data">) => {
    try {
      const data = entry.data !== undefined ? { data: redactSecrets(entry.data, "data").value } : {};
      await deps.journal.append({ runId: journalRunId, at, kind: "decision", step: STEP, message: redactText(entry.message), ...data });
    } catch (error) {
      log.error("detection journal entry could not be written", { plan: plan.name, journalRunId, error: message(error) });
    }
  };

  let view: RunView | undefined;
  try {
    view = await deps.runs.get(plan.name);
  } catch (error) {
    log.warn("the plan's run could not be read; the run port's singleton still refuses a second run", { plan: plan.name, error: message(error) });
  }
  let running = isRunActive(view) ? view : undefined;
  const runSource = deps.runSource ?? defaultRunSource;
  const viewSource = view ? runSource(view) : undefined;
  // The plan's probes are never evicted from the state by the cap on signals per source.
  const keep = new Set([...plan.regions.primary.healthEndpoints, ...plan.regions.secondary.healthEndpoints].map((e) => e.url));

  /** The policy decision on `s`, with the start reserved in the state when it says start. */
  const decide = (s: PlanState, change: RegionChange | undefined): Pass => {
    // The run that holds the plan, from this very state: a run in progress, or a start reserved by a
    // concurrent evaluation (or trigger) whose run is not visible yet.
    const holder = runHolding(s, view, now);
    const source = running && holder === running.runId ? runSource(running) : undefined;
    const decision = decideAutoFailover({
      plan,
      state: s,
      change,
      runInProgress: holder,
      ...(source ? { runInProgressSource: source } : {}),
      now,
      ...staleOption,
    });
    if (!decision.start) return { state: s, decision };
    const runId = decision.kind === "failback" ? newRunId(plan.name, "auto-failback", now) : autoRunId(plan.name, now);
    const reservation = reserveRun(s, { runId, kind: decision.kind, view, now });
    if (!reservation.reserved) {
      return { state: s, decision: { start: false, code: "run-in-progress", reason: `${decision.reason}; but run ${reservation.holder} holds the plan` } };
    }
    const previous = { lastRunAt: s.policy.lastRunAt, lastAutoFailover: s.policy.lastAutoFailover };
    return { state: recordAutoFailover(reservation.state, now, { runId, from: decision.from, to: decision.to }), decision, reserved: { runId, at, previous } };
  };

  let changes: RegionChange[] = [];
  let pass!: Pass;
  let duplicate = false;
  /** The retry this evaluation's observation of the run recorded (an automatic run that wrote nothing). */
  let retried: PolicyState["retry"];
  let state = await deps.store.update(plan.name, (stored) => {
    let s = observeRun(stored, plan, view, now, viewSource);
    retried = s.policy.retry !== undefined && s.policy.retry.runId !== stored.policy.retry?.runId ? s.policy.retry : undefined;
    duplicate = false;
    if (options.dedupeKey !== undefined) {
      const seen = seeAlert(s, options.dedupeKey, now);
      duplicate = !seen.isNew;
      s = seen.state;
    }
    if (!duplicate) for (const signal of relevant) s = recordSignal(s, signal, { failuresBeforeDown, keep });
    const evaluated = evaluateRegions(s, plan, now, staleOption);
    changes = evaluated.changes;
    const primary = currentPrimary(plan, evaluated.state);
    const change = changes.find((c) => c.region === primary && c.to === "down") ?? changes.find((c) => c.to === "down") ?? changes[0];
    pass = decide(evaluated.state, change);
    return pass.state;
  });

  if (retried) {
    const retry = retried;
    const text = `automatic run ${retry.runId} ended without writing to Azure (${retry.reason}): it does not count toward maxPerDay; attempt ${retry.failures + 1} no earlier than ${retry.notBefore}`;
    log.error("an automatic run ended without writing to Azure; it will be retried", { plan: plan.name, runId: retry.runId, failures: retry.failures, notBefore: retry.notBefore, reason: retry.reason });
    await journal({ message: text, data: { plan: plan.name, decision: "retry", runId: retry.runId, failures: retry.failures, notBefore: retry.notBefore, reason: retry.reason } });
    const notifier = deps.notifier;
    if (notifier) {
      tell.push(async () => {
        try {
          await notifier.notify({ runId: retry.runId, plan, event: "auto-failover-retry", severity: "critical", message: redactText(`Switchyard ${plan.name}: ${text}`) });
        } catch (error) {
          log.error("the retry notification could not be delivered", { plan: plan.name, runId: retry.runId, error: message(error) });
        }
      });
    }
  }

  for (const change of changes) {
    await journal({
      message:
        change.to === "down"
          ? `region ${change.region} declared down: ${change.signals.length} signal(s) down for at least ${change.thresholds.downForSeconds} s (quorum ${change.thresholds.quorum}): ${quote(change.signals)}`
          : `region ${change.region} declared healthy again: fewer than ${change.thresholds.quorum} signal(s) down for ${change.thresholds.healthyForSeconds} s`,
      data: { plan: plan.name, region: change.region, from: change.from, to: change.to, changedAt: change.at, signals: signalData(change.signals), thresholds },
    });
    const notifier = deps.notifier;
    if (notifier && (change.to === "down" || change.from === "down")) tell.push(() => notifyChange(plan, change, notifier, log));
  }

  const journalDecision = async (p: Pass) => {
    const d = p.decision;
    const quiet = !d.start && (d.code === "not-down" || d.code === "not-primary") && changes.length === 0;
    // Every decision is counted (switchyard.detection.decisions), the quiet ones apart: they are not journaled.
    recordDetectionDecision(plan.name, d.start ? "start" : d.code, !quiet, options.trigger ?? "timer");
    if (quiet) return;
    await journal({
      message: d.start ? `automatic failover from ${d.from} to ${d.to}: ${d.reason}` : `no automatic failover (${d.code}): ${d.reason}`,
      data: {
        plan: plan.name,
        decision: d.start ? "start" : d.code,
        primary: currentPrimary(plan, p.state),
        ...(d.start ? { kind: d.kind, from: d.from, to: d.to, detectedAt: d.detectedAt, signals: signalData(d.signals), runId: p.reserved?.runId } : {}),
        ...(!d.start && d.preemptDrill ? { preemptDrill: true } : {}),
        ...(running ? { runInProgress: running.runId } : {}),
        thresholds,
        policy: {
          enabled: plan.autoFailover.enabled,
          cooldownMinutes: plan.autoFailover.cooldownMinutes,
          maxPerDay: plan.autoFailover.maxPerDay,
          ...(p.state.policy.lastRunAt ? { lastRunAt: p.state.policy.lastRunAt } : {}),
          autoFailoversLast24h: p.state.policy.autoFailovers.length,
          ...(p.state.policy.paused ? { paused: p.state.policy.paused } : {}),
        },
      },
    });
  };
  await journalDecision(pass);

  // An incident pre-empts a drill: stop it, then decide again without it.
  let preempted: string | undefined;
  if (!pass.decision.start && pass.decision.preemptDrill && running && deps.preemptDrill) {
    const drill = running;
    try {
      await deps.preemptDrill(drill, `pre-empted by an incident: ${pass.decision.reason}`);
      preempted = drill.runId;
      running = undefined;
      await journal({ message: `drill ${drill.runId} pre-empted: the primary is down`, data: { plan: plan.name, preempted: drill.runId } });
      // The drill has ended (preemptDrill waited for it): its reservation no longer holds the plan.
      view = await deps.runs.get(plan.name).catch(() => ({ ...drill, status: "terminated" as const }));
      running = isRunActive(view) ? view : undefined;
      state = await deps.store.update(plan.name, (stored) => {
        pass = decide(stored, undefined);
        return pass.state;
      });
      await journalDecision(pass);
    } catch (error) {
      log.error("the drill could not be pre-empted", { plan: plan.name, runId: drill.runId, error: message(error) });
      await journal({ message: `drill ${drill.runId} could not be pre-empted: ${message(error)}`, data: { plan: plan.name, runInProgress: drill.runId, error: message(error) } });
    }
  }

  const base = {
    plan: plan.name,
    at,
    journalRunId,
    recorded: duplicate ? 0 : relevant.length,
    ...(options.dedupeKey !== undefined ? { duplicate } : {}),
    changes,
    decision: pass.decision,
    ...(preempted ? { preempted } : {}),
  };
  const summary = (s: PlanState, extra: Partial<EvaluationSummary> = {}): EvaluationSummary => ({ ...base, regions: s.regions, primary: currentPrimary(plan, s), ...extra });

  const decision = pass.decision;
  const reserved = pass.reserved;
  if (!decision.start || !reserved) return summary(state);

  const trigger: RunTrigger = {
    source: options.trigger ?? "timer",
    by: BY,
    reason: redactText(`primary ${decision.from} down (quorum ${plan.autoFailover.quorum} for ${plan.autoFailover.downForSeconds} s): ${quote(decision.signals) || "signals held down"}`),
    detectedAt: decision.detectedAt,
  };
  const input: RunInput = {
    runId: reserved.runId,
    kind: decision.kind,
    mode: "auto",
    plan,
    from: decision.from,
    to: decision.to,
    trigger,
    ...(options.runOptions ? { options: options.runOptions } : {}),
  };
  try {
    await deps.runs.start(input);
    log.info(`automatic ${input.kind} started`, { plan: plan.name, runId: input.runId, kind: input.kind, from: input.from, to: input.to });
    await journal({ message: `automatic ${input.kind} ${input.runId} started: ${input.from} → ${input.to}`, data: { plan: plan.name, runId: input.runId, kind: input.kind, from: input.from, to: input.to, trigger: { ...trigger } } });
    return summary(state, { started: { runId: input.runId, from: input.from, to: input.to } });
  } catch (error) {
    const inProgress = error instanceof RunInProgressError;
    state = await deps.store.update(plan.name, (s) => releaseRun(unrecordAutoFailover(s, reserved.at, reserved.previous, inProgress), reserved.runId));
    if (inProgress) {
      log.info("run already in progress", { plan: plan.name, runInProgress: error.runningRunId });
      await journal({ message: `run already in progress (${error.runningRunId}): no second run started`, data: { plan: plan.name, runInProgress: error.runningRunId } });
      return summary(state, { runInProgress: error.runningRunId });
    }
    const why = redactText(message(error));
    log.error(`the automatic ${input.kind} could not be started`, { plan: plan.name, runId: input.runId, error: why });
    await journal({ message: `automatic ${input.kind} ${input.runId} could not be started: ${why}`, data: { plan: plan.name, runId: input.runId, error: why } });
    return summary(state, { error: why });
  }
}

/** Tells the plan's stakeholders that a region was declared down, or healthy again (one event per change, its id from the change). */
async function notifyChange(plan: Plan, change: RegionChange, notifier: Notifier, log: Logger): Promise<void> {
  const down = change.to === "down";
  const kind = down ? "region-down" : "region-healthy";
  const signals = change.signals.filter((s) => !down || s.status !== "up");
  try {
    await notifier.notify({
      runId: "",
      plan,
      id: `${plan.name}.${kind}.${change.region}.${Date.parse(change.at)}`,
      at: change.at,
      event: kind,
      kind,
      severity: down ? "critical" : "info",
      title: `${plan.name}: region ${change.region} declared ${down ? "down" : "healthy again"}`,
      message: redactText(
        down
          ? `Switchyard ${plan.name}: region ${change.region} declared down — ${change.signals.length} signal(s) down for at least ${change.thresholds.downForSeconds} s (quorum ${change.thresholds.quorum}).`
          : `Switchyard ${plan.name}: region ${change.region} declared healthy again — fewer than ${change.thresholds.quorum} signal(s) down for ${change.thresholds.healthyForSeconds} s.`,
      ),
      facts: [
        { name: "Region", value: change.region },
        { name: "Since", value: change.at },
        ...signals.slice(0, 10).map((s) => ({ name: redactText(s.name), value: `${s.status}${s.detail ? `: ${redactText(s.detail)}` : ""}` })),
      ],
      incident: { key: `switchyard/${plan.name}/region/${change.region}`, action: down ? "trigger" : "resolve" },
    });
  } catch (error) {
    log.error(`the ${kind} notification could not be delivered`, { plan: plan.name, region: change.region, error: message(error) });
  }
}
