/**
 * The operator API's answers as a person reads them in a terminal. Each formatter takes the JSON the
 * API answered (untrusted shapes: a field that is missing or of another type is shown as "-") and
 * returns lines. A run waiting for a decision shows its deadline, what is at stake and the commands
 * that answer it; a run that stopped halfway shows the command that resumes it.
 */

type Json = Record<string, unknown>;

/** What a formatter needs besides the answer: the app (for the commands it suggests) and now (for deadlines). */
export interface FormatContext {
  /** The app's URL as the operator gave it, repeated in suggested commands. */
  readonly app: string;
  readonly now: Date;
}

const obj = (v: unknown): Json | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A value shown in one line: text without control characters (a terminal escape in a field cannot act). */
const str = (v: unknown): string => (typeof v === "string" ? oneLine(v) : typeof v === "number" || typeof v === "boolean" ? String(v) : "-");

export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ");
}

/** A command line the operator can paste: `switchyard <verb> ... --app <url>`. */
export function command(ctx: FormatContext, ...words: string[]): string {
  return ["switchyard", ...words, "--app", ctx.app].join(" ");
}

/** "in 12 min" / "3 min ago" for an ISO time; "" when it is not a time. */
export function relative(iso: unknown, now: Date): string {
  const at = typeof iso === "string" ? Date.parse(iso) : NaN;
  if (Number.isNaN(at)) return "";
  const seconds = Math.round((at - now.getTime()) / 1000);
  const span = (s: number) => (s < 90 ? `${s} s` : s < 90 * 60 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
  return seconds >= 0 ? `in ${span(seconds)}` : `${span(-seconds)} ago`;
}

const seconds = (v: unknown): string => (typeof v === "number" ? `${v} s` : "-");

/** A run ended without completing its switch: failed, stopped (refused, aborted, approval timed out) or terminated. */
export function isFailedRun(run: unknown): boolean {
  const r = obj(run);
  if (!r) return false;
  if (r.status === "failed" || r.status === "stopped" || r.status === "terminated") return true;
  const outcome = obj(r.output)?.outcome ?? r.outcome;
  return typeof outcome === "string" && outcome !== "completed";
}

/** GET /api/plans: one block per plan. */
export function formatPlans(body: unknown, ctx: FormatContext): string[] {
  const plans = arr(obj(body)?.plans).map(obj).filter((p): p is Json => p !== undefined);
  if (plans.length === 0) return ["no plans"];
  return plans.flatMap((p, i) => [
    ...(i > 0 ? [""] : []),
    `${str(p.plan)}: ${str(p.currentPrimary)} serving (primary ${str(p.primary)}, secondary ${str(p.secondary)}), auto-failover ${str(p.autoFailover)}`,
    ...Object.entries(obj(p.regions) ?? {}).map(([region, v]) => `  ${oneLine(region)}: ${str(obj(v)?.state)}${obj(v)?.since !== undefined ? ` since ${str(obj(v)?.since)}` : ""}`),
    `  run: ${currentRunLine(p.currentRun, ctx)}`,
  ]);
}

function currentRunLine(run: unknown, ctx: FormatContext): string {
  const r = obj(run);
  if (!r) return "none";
  const waiting = r.waitingFor !== undefined ? `, waiting for ${str(r.waitingFor)}` : "";
  return `${str(r.runId)} (${str(r.kind)}, ${str(r.status)}${waiting}) — ${command(ctx, "run", str(r.runId))}`;
}

/** GET /api/plans/{plan}: the plan's regions, detection and auto-failover policy, and its current run. */
export function formatPlan(body: unknown, ctx: FormatContext): string[] {
  const b = obj(body) ?? {};
  const regions = obj(b.regions) ?? {};
  const detection = obj(b.detection);
  const policy = obj(detection?.policy);
  const paused = obj(policy?.paused);
  const lines = [`${str(b.plan)}: ${str(regions.currentPrimary)} serving (primary ${str(regions.primary)}, secondary ${str(regions.secondary)})`];
  for (const [region, v] of Object.entries(obj(detection?.regions) ?? {})) {
    const r = obj(v) ?? {};
    lines.push(`  ${oneLine(region)} (${str(r.role)}): ${str(r.state)}${r.since !== undefined ? ` since ${str(r.since)}` : ""}, ${str(r.signalsDown)} signal(s) down`);
  }
  const auto = b.autoFailoverConfigured === false ? "disabled in the plan" : paused ? `paused by ${str(paused.by)} at ${str(paused.at)}: ${str(paused.reason)}` : detection ? "enabled" : "-";
  lines.push(`  auto-failover: ${auto}${policy?.cooldownUntil !== undefined ? ` (cooling down until ${str(policy.cooldownUntil)})` : ""}`);
  const run = obj(b.currentRun);
  lines.push(`  run: ${run ? `${str(run.runId)} (${str(run.kind)} ${str(run.from)} → ${str(run.to)}, ${str(run.status)}${obj(run.progress)?.waitingFor !== undefined ? `, waiting for ${str(obj(run.progress)?.waitingFor)}` : ""}) — ${command(ctx, "run", str(run.runId))}` : "none"}`);
  return lines;
}

/** GET /api/plans/{plan}/runs: one line per run, newest first. */
export function formatRuns(body: unknown): string[] {
  const b = obj(body) ?? {};
  const runs = arr(b.runs).map(obj).filter((r): r is Json => r !== undefined);
  if (runs.length === 0) return [`${str(b.plan)}: no runs`];
  return [
    `${str(b.plan)}: ${runs.length} run(s), newest first`,
    ...runs.map((r) => {
      const facts = [`${str(r.kind)} ${str(r.from)} → ${str(r.to)}`, `${str(r.status)}${r.outcome !== undefined ? `/${str(r.outcome)}` : ""}`];
      if (r.startedAt !== undefined) facts.push(`started ${str(r.startedAt)}`);
      if (r.rtoSeconds !== undefined) facts.push(`RTO ${seconds(r.rtoSeconds)}`);
      if (r.rpoExposureSeconds !== undefined) facts.push(`RPO exposure ${seconds(r.rpoExposureSeconds)}`);
      const trigger = obj(r.trigger);
      if (trigger) facts.push(`by ${str(trigger.source)} ${str(trigger.by)}`);
      return `  ${str(r.runId)}  ${facts.join(", ")}`;
    }),
  ];
}

/** GET /api/runs/{id}: the run, what it waits for, how it ended, and the commands that act on it. */
export function formatRun(body: unknown, ctx: FormatContext): string[] {
  const r = obj(body) ?? {};
  const id = str(r.runId);
  const output = obj(r.output);
  const progress = obj(r.progress);
  const kind = r.kind ?? output?.kind;
  const lines = [`run ${id}: ${kind !== undefined ? `${str(kind)} ${str(r.from ?? output?.from)} → ${str(r.to ?? output?.to)}, ` : ""}${str(r.status)}`];
  const trigger = obj(r.trigger);
  if (trigger) lines.push(`  started by ${str(trigger.source)} ${str(trigger.by)}: ${str(trigger.reason)}`);
  if (progress) lines.push(`  step: ${str(progress.step)} since ${str(progress.stepStartedAt)}${progress.waitingFor !== undefined ? `, waiting for ${str(progress.waitingFor)}` : ""}`);
  if (output) {
    lines.push(`  outcome: ${str(output.outcome)}${output.message !== undefined ? ` — ${str(output.message)}` : ""}`);
    lines.push(`  RTO ${seconds(output.rtoSeconds)} (target ${seconds(output.rtoTargetSeconds)}), RPO exposure ${seconds(output.rpoExposureSeconds)} (budget ${seconds(output.rpoBudgetSeconds)})`);
  }
  if (r.error !== undefined) lines.push(`  error: ${str(r.error)}`);
  if (r.outputError !== undefined) lines.push(`  the recorded output does not read as one: ${str(r.outputError)}`);
  const approval = obj(r.approval);
  if (approval) {
    const when = relative(approval.deadline, ctx.now);
    lines.push(
      "",
      `WAITING FOR YOUR DECISION — deadline ${str(approval.deadline)}${when ? ` (${when})` : ""}`,
      `  why: ${str(approval.why)}`,
      `  at stake: ${str(approval.atStake)}`,
      `  approve: ${command(ctx, "approve", id, "--reason", '"<why>"')}`,
      `  abort:   ${command(ctx, "abort", id, "--reason", '"<why>"')}`,
    );
  } else if (progress?.waitingFor === "reprotection") {
    lines.push(`  to stop waiting for re-protection: ${command(ctx, "abort", id, "--reason", '"<why>"')}`);
  }
  if (r.resume !== undefined) lines.push("", `STOPPED HALFWAY — resume it: ${command(ctx, "resume-run", id, "--reason", '"<why>"')}`);
  return lines;
}

/** 202 of a failover or failback: the run started and how to follow it. */
export function formatStarted(body: unknown, ctx: FormatContext): string[] {
  const b = obj(body) ?? {};
  return [`started ${str(b.kind)} run ${str(b.runId)}: ${str(b.from)} → ${str(b.to)}${b.mode !== undefined ? ` (${str(b.mode)})` : ""}`, `  follow it: ${command(ctx, "run", str(b.runId))}`];
}

/** A state as one short text: `key=value` pairs of a flat object (nested values as JSON). */
function stateText(v: unknown): string {
  const o = obj(v);
  if (!o) return str(v);
  return Object.entries(o).map(([k, x]) => `${oneLine(k)}=${typeof x === "object" && x !== null ? oneLine(JSON.stringify(x)) : str(x)}`).join(", ") || "-";
}

const nameOf = (id: unknown): string => (typeof id === "string" ? oneLine(id.split("/").filter(Boolean).at(-1) ?? id) : "-");

/** 200 of a failover or failback with ?dryRun=true: what the run would write, in its order, and what it would not. */
export function formatDryRun(body: unknown, ctx: FormatContext): string[] {
  const b = obj(body) ?? {};
  const lines = [`dry run of a ${str(b.kind)} of ${str(b.plan)}: ${str(b.from)} → ${str(b.to)} (${str(b.mode)}); nothing was written`];
  const dataLoss = obj(b.dataLoss);
  if (b.dataLoss !== undefined) lines.push(`  data tier: ${dataLoss ? stateText(dataLoss) : str(b.dataLoss)}`);
  if (b.refused !== undefined) lines.push(`  the run would stop: ${typeof b.refused === "string" ? oneLine(b.refused) : stateText(b.refused)}`);
  const writes = arr(b.writes).map(obj).filter((w): w is Json => w !== undefined);
  lines.push(writes.length > 0 ? `  writes (${writes.length}, in the run's order):` : "  writes: none");
  for (const w of writes) {
    lines.push(`    ${w.phase !== undefined ? `[${str(w.phase)}] ` : ""}${str(w.operation)} on ${nameOf(w.resourceId)}: ${stateText(w.current)} → ${stateText(w.target)}${w.condition !== undefined ? ` (${str(w.condition)})` : ""}`);
  }
  for (const [label, key, field] of [["unchanged", "unchanged", "why"], ["blocked", "blocked", "why"], ["unknown", "unknown", "reason"]] as const) {
    for (const item of arr(b[key]).map(obj)) if (item) lines.push(`  ${label}: ${nameOf(item.resourceId)}: ${str(item[field] ?? item.reason ?? item.why)}`);
  }
  lines.push(`  to run it: ${command(ctx, str(b.kind), "--plan", str(b.plan), "--reason", '"<why>"')}`);
  return lines;
}

/** 202 of POST /api/runs/{id}/resume: the new run and the one it resumes. */
export function formatResumed(body: unknown, ctx: FormatContext): string[] {
  const b = obj(body) ?? {};
  return [`run ${str(b.resumes)} resumed as ${str(b.kind)} run ${str(b.runId)}: ${str(b.from)} → ${str(b.to)}`, `  follow it: ${command(ctx, "run", str(b.runId))}`];
}

/** 202 of approve or abort. */
export function formatDecision(body: unknown, ctx: FormatContext): string[] {
  const b = obj(body) ?? {};
  return [`${str(b.decision)} ${str(b.status)} for run ${str(b.runId)}`, `  follow it: ${command(ctx, "run", str(b.runId))}`];
}

/** 200 of pause or resume. */
/** The answer to POST /api/plans/{plan}/secrets/{name}/rotate. */
export function formatRotation(body: unknown): string[] {
  const b = obj(body) ?? {};
  return [
    `rotation ${str(b.rotationId)} of ${str(b.secret)} (${str(b.plan)}) started`,
    ...(typeof b.deferredBy === "string" ? [`  waits for run ${b.deferredBy} to end: a rotation never changes Azure during a failover or failback`] : []),
    `  status: GET ${str(b.statusUrl)}`,
  ];
}

export function formatAutoFailover(body: unknown): string[] {
  const b = obj(body) ?? {};
  return [`auto-failover of ${str(b.plan)}: ${str(b.autoFailover)}`];
}
