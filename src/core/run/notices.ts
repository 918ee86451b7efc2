/**
 * What a run tells stakeholders, built in the orchestration (pure and deterministic: the same history
 * builds the same notices). Each notice names its kind, a title, the facts a person needs, the requests
 * that act on it, and the run's incident (PagerDuty `dedup_key`): opened by what needs a person (an
 * approval, a failure, a stop), closed when the run ends well or when a person aborted it (the page
 * that asked for them was answered).
 */
import { redactChannelCredentials, type NotificationAction, type NotificationFact, type NotificationKind, type Severity } from "../notification.ts";
import { redactText } from "../secrets.ts";
import type { DataLossDecision } from "./gates.ts";
import type { MeasureReplicationResult, NotifyInput, RunOrchestrationInput, RunOutput } from "./model.ts";

/** A notification a run makes, without the run and plan (the run adds them) or its id (numbered in order). */
export interface Notice {
  readonly event: string;
  readonly kind: NotificationKind;
  readonly severity: Severity;
  readonly title: string;
  readonly message: string;
  readonly facts: readonly NotificationFact[];
  readonly actions: readonly NotificationAction[];
  readonly incident?: { readonly key: string; readonly action: "trigger" | "resolve" };
  readonly details?: Record<string, unknown>;
}

/** The notify activity's input for a notice of run `runId`: the run names it (`id`) and dates it (`at`). */
export function noticeInput(n: Notice, run: { readonly runId: string; readonly plan: NotifyInput["plan"]; readonly id: string; readonly at: string }): NotifyInput {
  return {
    runId: run.runId,
    plan: run.plan,
    id: run.id,
    at: run.at,
    event: n.event,
    kind: n.kind,
    severity: n.severity,
    title: n.title,
    message: n.message,
    facts: n.facts,
    actions: n.actions,
    ...(n.incident ? { incident: n.incident } : {}),
    ...(n.details ? { details: n.details } : {}),
  };
}

type Input = Pick<RunOrchestrationInput, "runId" | "kind" | "mode" | "from" | "to" | "trigger"> & { readonly plan: { readonly name: string; readonly objectives: RunOrchestrationInput["plan"]["objectives"] } };

/**
 * The incident of a plan's runs: one PagerDuty alert per plan that a run needs a person for (an
 * approval, a failed step, a stop), closed by the next run of the plan that ends well. A run is one
 * at a time per plan, and a failed run is finished by a resumed run (a new run id): a key per run
 * would leave the failed run's page open after its resume completed.
 */
export function runIncidentKey(plan: string): string {
  return `switchyard/${plan}/runs`;
}

const fact = (name: string, value: string | number): NotificationFact => ({ name, value: String(value) });

/**
 * Words a notice quotes from people and Azure (a caller, a reason, an error), with anything that looks
 * like a secret or a channel credential redacted here: a notice is the notify activity's input, kept in
 * the orchestration's history before the activity redacts it again.
 */
const quoted = (text: string): string => redactText(redactChannelCredentials(text));

/** The approve and abort requests of a run waiting for a decision. */
export function decisionActions(runId: string): NotificationAction[] {
  const id = encodeURIComponent(runId);
  return [
    { label: "Approve the data-loss failover", method: "POST", path: `/api/runs/${id}/approve`, body: { reason: "why data loss is acceptable now" } },
    { label: "Abort the run", method: "POST", path: `/api/runs/${id}/abort`, body: { reason: "why not" } },
  ];
}

export function runStartedNotice(input: Input): Notice {
  const p = input.plan;
  return {
    event: `${input.kind}-started`,
    kind: "run-started",
    severity: "warning",
    title: `${p.name}: ${input.kind} ${input.from} → ${input.to} started`,
    message: `Switchyard ${input.kind} of ${p.name}: ${input.from} → ${input.to} started (${quoted(input.trigger.reason)})`,
    facts: [fact("Run", input.runId), fact("From", input.from), fact("To", input.to), fact("Mode", input.mode), fact("Started by", `${input.trigger.source}: ${quoted(input.trigger.by)}`), fact("Detected at", input.trigger.detectedAt), fact("RTO target", `${p.objectives.rtoMinutes * 60} s`)],
    actions: [],
  };
}

/** What is at stake in a data-loss failover: the largest lag against the budget, and how it is known. */
export function atStake(replication: Pick<MeasureReplicationResult, "maxLagSeconds" | "basis" | "largest">, rpoSeconds: number): NotificationFact[] {
  const basis = replication.basis;
  const how = basis ? `${basis.live} measured now, ${basis.lastKnown} by their last sample, ${basis.unknown} unknown` : undefined;
  return [
    fact("At stake", replication.maxLagSeconds === null ? `unknown: the replication lag could not be measured (RPO budget ${rpoSeconds} s)` : `up to ${replication.maxLagSeconds} s of writes not yet replicated (RPO budget ${rpoSeconds} s)`),
    ...(how ? [fact("Lag known by", how)] : []),
    ...(replication.largest ?? []).slice(0, 5).map((r) => fact(armName(r.resourceId), r.lagSeconds === null ? `lag unknown (${r.basis})` : `${r.lagSeconds} s (${r.basis})`)),
  ];
}

export function approvalNeededNotice(input: Input, o: { readonly to: string; readonly timeoutSeconds: number; readonly deadline: string; readonly decision: DataLossDecision; readonly replication: Pick<MeasureReplicationResult, "maxLagSeconds" | "basis" | "largest">; readonly reminder?: { readonly secondsLeft: number } }): Notice {
  const p = input.plan;
  const why = "why" in o.decision ? o.decision.why : "";
  const reminder = o.reminder;
  return {
    event: reminder ? "approval-reminder" : "approval-needed",
    kind: reminder ? "approval-reminder" : "approval-needed",
    severity: "critical",
    title: reminder ? `${p.name}: approval still needed — ${reminder.secondsLeft} s left` : `${p.name}: a data-loss failover to ${o.to} needs approval`,
    message: reminder
      ? `Reminder: run ${input.runId} still waits for approval of a data-loss failover to ${o.to}; ${reminder.secondsLeft} s left (until ${o.deadline}), then it stops without failing over. ${why}`
      : `Switchyard ${p.name}: a data-loss failover to ${o.to} needs approval within ${o.timeoutSeconds} s — ${why}. Approve or abort run ${input.runId}.`,
    facts: [fact("Run", input.runId), fact("Failover", `${input.from} → ${o.to}`), ...atStake(o.replication, p.objectives.rpoSeconds), fact("Deadline", `${o.deadline} (then the run stops; nothing is failed over with data loss)`), fact("From a terminal", `switchyard approve ${input.runId} --reason "<why>" --app <Switchyard URL> (or switchyard abort)`)],
    actions: decisionActions(input.runId),
    incident: { key: runIncidentKey(p.name), action: "trigger" },
  };
}

export function approvalAnsweredNotice(input: Input, given: { readonly approve: boolean; readonly by: string; readonly reason: string }): Notice {
  const p = input.plan;
  const answer = { approve: given.approve, by: quoted(given.by), reason: quoted(given.reason) };
  return {
    event: "approval-answered",
    kind: "approval-answered",
    severity: "warning",
    title: `${p.name}: data-loss failover ${answer.approve ? "approved" : "aborted"} by ${answer.by}`,
    message: `Switchyard ${p.name}: ${answer.by} ${answer.approve ? "approved" : "aborted"} the data-loss failover of run ${input.runId} (${answer.reason}).`,
    facts: [fact("Run", input.runId), fact("Decision", answer.approve ? "approve" : "abort"), fact("By", answer.by), fact("Reason", answer.reason)],
    actions: [],
  };
}

export function stepFailedNotice(input: Input, step: string, azureError: string): Notice {
  const p = input.plan;
  const error = quoted(azureError);
  return {
    event: "step-failed",
    kind: "step-failed",
    severity: "critical",
    title: `${p.name}: ${input.kind} step ${step} failed`,
    message: `Switchyard ${p.name}: step ${step} of run ${input.runId} failed: ${error}`,
    facts: [fact("Run", input.runId), fact("Step", step), fact("Error", error)],
    actions: [{ label: "Resume the run", method: "POST", path: `/api/runs/${encodeURIComponent(input.runId)}/resume`, body: { reason: "why it is safe to go on" } }],
    incident: { key: runIncidentKey(p.name), action: "trigger" },
  };
}

export function runFinishedNotice(input: Input, out: Pick<RunOutput, "outcome" | "message" | "rtoSeconds" | "rtoTargetSeconds" | "rpoExposureSeconds" | "rpoBudgetSeconds" | "dataLossAllowedBy">): Notice {
  const p = input.plan;
  const ok = out.outcome === "completed";
  // An operator's abort is the answer to the page that asked for it: nobody is paged again for it.
  const aborted = out.outcome === "stopped-aborted";
  return {
    event: `${input.kind}-${ok ? "completed" : "stopped"}`,
    kind: "run-finished",
    severity: ok ? "info" : aborted ? "warning" : "critical",
    title: `${p.name}: ${input.kind} ${ok ? "completed" : out.outcome}`,
    message: `Switchyard ${p.name}: ${quoted(out.message)}`,
    facts: [
      fact("Run", input.runId),
      fact("Outcome", out.outcome),
      fact("RTO", out.rtoSeconds === null ? `not reached (target ${out.rtoTargetSeconds} s)` : `${out.rtoSeconds} s (target ${out.rtoTargetSeconds} s)`),
      fact("RPO exposure", out.rpoExposureSeconds === null ? `unknown (budget ${out.rpoBudgetSeconds} s)` : `${out.rpoExposureSeconds} s (budget ${out.rpoBudgetSeconds} s)`),
      fact("Data loss allowed by", out.dataLossAllowedBy),
      fact("Report", `switchyard report --run ${input.runId}`),
    ],
    actions: [],
    // Ends well, or aborted by a person: the run's incident (if one was opened) closes. Otherwise
    // (failed, refused, nobody answered in time) it opens, or stays open. An outage keeps its own
    // region incident whatever the run did.
    incident: { key: runIncidentKey(p.name), action: ok || aborted ? "resolve" : "trigger" },
  };
}

function armName(resourceId: string): string {
  return resourceId.split("/").filter(Boolean).at(-1) ?? resourceId;
}
