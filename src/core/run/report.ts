import { isObject } from "../guards.ts";
import { entriesOf, type Facts, type JournalEntry } from "../journal.ts";
import { secretRule } from "../secrets.ts";
import type { RunOutput, StepRecord } from "./model.ts";

/**
 * Renders a run's journal as Markdown for people: what ran, how it ended, how long each step took,
 * RTO against target, RPO exposure against budget, every decision with the inputs it used, every
 * Azure write with its request ids, every wait and every notification.
 *
 * Pure and deterministic: the same entries render to the same text (no clock, no locale). It renders
 * only journal data, and masks anything secret-looking that slipped into a journal without the guard.
 * The run's output is read from `output`, or else from the last `run-finished` entry's `data.output`.
 */
export function renderReport(entries: readonly JournalEntry[], output?: RunOutput): string {
  const sorted = entries
    .map((entry, index) => ({ entry, index, ms: Date.parse(entry.at) }))
    .sort((a, b) => (Number.isNaN(a.ms) || Number.isNaN(b.ms) ? 0 : a.ms - b.ms) || a.index - b.index)
    .map((x) => x.entry);
  const started = entriesOf(sorted, "run-started")[0];
  const finished = entriesOf(sorted, "run-finished").at(-1);
  const out = output ?? finished?.data.output;
  const sd = started?.data;
  const runId = out?.runId ?? sorted[0]?.runId ?? "(no entries)";
  const firstMs = sorted.length > 0 ? Date.parse(sorted[0]!.at) : NaN;
  const time = timeFormatter(sorted);

  const lines: string[] = [];
  const add = (...more: string[]) => lines.push(...more);

  // ---- title and summary ------------------------------------------------------------------------
  const kind = out?.kind ?? sd?.kind;
  const from = out?.from ?? sd?.from;
  const to = out?.to ?? sd?.to;
  const outcome = out?.outcome ?? (finished ? finished.data.outcome : "in progress");
  add(`# Switchyard run \`${runId}\``, "");
  add(`${capitalise(kind ?? "run")} of **${sd?.plan ?? "unknown plan"}** from **${from ?? "?"}** to **${to ?? "?"}**: **${outcome}**`, "");
  add(`- **Run:** \`${runId}\``);
  add(`- **Kind:** ${kind ?? "unknown"}${sd ? ` (mode ${sd.mode})` : ""}`);
  add(`- **Plan:** ${sd?.plan ?? "unknown"}`);
  add(`- **From → to:** ${from ?? "?"} → ${to ?? "?"}`);
  add(`- **Outcome:** ${outcome}${out?.message ? ` — ${inline(outcomeMessage(out))}` : !finished ? " (the journal has no run-finished entry)" : ""}`);
  if (sd) {
    const trigger = sd.trigger;
    add(`- **Trigger:** ${trigger.source} by ${inline(trigger.by)}${trigger.reason ? `: ${inline(trigger.reason)}` : ""} (${clockStart(trigger.source, sd.kind)} ${trigger.detectedAt})`);
  }
  if (sorted.length > 0) {
    const last = sorted[sorted.length - 1]!;
    add(`- **Journal:** ${sorted.length} entries, ${sorted[0]!.at} → ${last.at}${spanOf(sorted[0]!.at, last.at)}`);
  }
  add("");

  // ---- objectives -------------------------------------------------------------------------------
  add("## Objectives", "");
  if (out) {
    add(`- **RTO** (${sd ? clockStart(sd.trigger.source, sd.kind) : "run started"} → new primary verified): ${rtoLine(out)}`);
    add(`- **RPO exposure** (replication lag at the switch): ${rpoLine(out)}`);
  } else {
    add("- No run output in the journal (the run has not finished, or its `run-finished` entry is missing): RTO and RPO exposure are not available.");
  }
  add("");

  // ---- steps
  add("## Steps", "");
  const steps = out && out.steps.length > 0 ? out.steps.map(fromRecord) : stepsFromJournal(sorted);
  if (steps.length === 0) add("No steps recorded.");
  else {
    add("| Step | Started | Ended | Duration | Outcome | Detail |", "| --- | --- | --- | --- | --- | --- |");
    for (const s of steps) {
      add(row(code(s.step), time(s.startedAt), s.endedAt ? time(s.endedAt) : "—", s.endedAt ? duration(s.startedAt, s.endedAt) : "unfinished", stepOutcomeIn(s, sorted, out), s.detail ?? ""));
    }
  }
  add("");

  // ---- timeline ---------------------------------------------------------------------------------
  add("## Timeline", "");
  if (sorted.length === 0) add("The journal has no entries for this run.");
  else {
    add("| Time (UTC) | Elapsed | Step | Kind | Message |", "| --- | --- | --- | --- | --- |");
    for (const e of sorted) add(row(time(e.at), elapsed(firstMs, e.at), e.step ? code(e.step) : "", e.kind, e.message));
  }
  add("");

  // ---- decisions --------------------------------------------------------------------------------
  add("## Decisions and why", "");
  const decisions = entriesOf(sorted, "decision");
  if (decisions.length === 0) add("No decisions recorded.");
  decisions.forEach((d, i) => {
    add(`${i + 1}. **${inline(d.message)}**`);
    add(`   - at ${time(d.at)}${d.step ? ` in ${code(d.step)}` : ""}`);
    if (d.data && Object.keys(d.data).length > 0) add(...renderData(d.data, 3));
  });
  add("");

  // ---- observations -----------------------------------------------------------------------------
  add("## What was observed", "");
  const observations = entriesOf(sorted, "observation");
  if (observations.length === 0) add("No observations recorded.");
  observations.forEach((o, i) => {
    add(`${i + 1}. **${inline(o.message)}**`);
    add(`   - at ${time(o.at)}${o.step ? ` in ${code(o.step)}` : ""}${o.activity ? ` by ${code(o.activity)}` : ""}`);
    if (Object.keys(o.data).length > 0) add(...renderData(o.data, 3));
  });
  add("");

  // ---- Azure writes -----------------------------------------------------------------------------
  add("## Azure writes", "");
  const writes = entriesOf(sorted, "write");
  if (writes.length === 0) add("No Azure writes recorded.");
  else {
    add("| Time (UTC) | Step | Operation | Resource | Result | Request ids |", "| --- | --- | --- | --- | --- | --- |");
    for (const { at, step, data } of writes) {
      const ids = data.requestIds.map(code).join(", ");
      add(row(time(at), step ? code(step) : "", data.operation, code(data.resourceId), data.result, ids || "none recorded"));
    }
  }
  const operations = entriesOf(sorted, "operation");
  if (operations.length > 0) {
    add("", "Long-running operations:", "", "| Time (UTC) | Step | Operation | Resource | Status | Detail |", "| --- | --- | --- | --- | --- | --- |");
    for (const { at, step, message, data } of operations) {
      add(row(time(at), step ? code(step) : "", data.operation, code(data.resourceId), data.status, data.error ?? (/resumed/.test(message) ? "resumed after a restart" : "")));
    }
  }
  add("");

  // ---- waits ------------------------------------------------------------------------------------
  add("## Waits", "");
  const waits = entriesOf(sorted, "wait");
  if (waits.length === 0) add("No waits.");
  else {
    add("| Time (UTC) | Step | What | Details |", "| --- | --- | --- | --- |");
    for (const w of waits) add(row(time(w.at), w.step ? code(w.step) : "", w.message, w.data ? inlineData(w.data) : ""));
  }
  add("");

  // ---- notifications ----------------------------------------------------------------------------
  add("## Notifications", "");
  const notes = entriesOf(sorted, "notification");
  if (notes.length === 0) add("No notifications.");
  else {
    add("| Time (UTC) | Event | Severity | Message |", "| --- | --- | --- | --- |");
    for (const n of notes) add(row(time(n.at), n.data.event, n.data.severity ?? "", n.message));
  }
  add("");
  return lines.join("\n");
}

// ---- wording ------------------------------------------------------------------------------------

/**
 * The run's closing message, saying what happened: a completed failover "Switched to" the target, a
 * completed failback "Returned to" home. Runs journaled with the older wording ("Failed over to …",
 * "Failed back to …", which reads like a failure) are shown with the new one.
 */
export function outcomeMessage(out: Pick<RunOutput, "outcome" | "message">): string {
  if (out.outcome !== "completed") return out.message;
  return out.message.replace(/^Failed over to /, "Switched to ").replace(/^Failed back to /, "Returned to ");
}

/** What started the clock the RTO is measured from: an outage for alerts and timers, a request for people. */
export function clockStart(source: string, kind: string | undefined): string {
  if (kind === "failback") return "failback requested";
  if (source === "manual") return "failover requested";
  if (source === "drill") return "outage began (drill)";
  return "outage detected";
}

/**
 * A step's outcome for people: the approval step "ok" says how the wait ended (approved, aborted, timed
 * out), since a wait that ends in a timeout is not an ok.
 */
export function stepOutcome(step: { step: string; outcome: string }, out: Pick<RunOutput, "outcome" | "dataLossAllowedBy">): string {
  if (step.step !== "approval" || step.outcome !== "ok") return step.outcome;
  if (out.outcome === "stopped-approval-timeout") return TIMED_OUT;
  if (out.outcome === "stopped-aborted") return "aborted";
  return out.dataLossAllowedBy === "approval" ? "approved" : step.outcome;
}

/** The approval step's outcome from the run's own approval decision (journal), else from its output. */
function stepOutcomeIn(step: { step: string; outcome: string }, sorted: readonly JournalEntry[], out: RunOutput | undefined): string {
  if (step.step === "approval" && step.outcome === "ok") {
    const decision = entriesOf(sorted, "decision").filter((d) => d.step === "approval").at(-1)?.message ?? "";
    if (/^approved\b/.test(decision)) return "approved";
    if (/^aborted\b/.test(decision)) return "aborted";
    if (/timed out/.test(decision)) return TIMED_OUT;
  }
  return out ? stepOutcome(step, out) : step.outcome;
}

const TIMED_OUT = "timed out (no approval)";

// ---- objectives ---------------------------------------------------------------------------------

function rtoLine(out: RunOutput): string {
  const target = `a target of ${seconds(out.rtoTargetSeconds)}`;
  if (out.rtoSeconds === null) return `not achieved: the run did not reach a verified new primary (${target}).`;
  const verdict = out.rtoSeconds <= out.rtoTargetSeconds ? `**met** (${seconds(out.rtoTargetSeconds - out.rtoSeconds)} to spare)` : `**missed** by ${seconds(out.rtoSeconds - out.rtoTargetSeconds)}`;
  return `${exact(out.rtoSeconds)} against ${target}: ${verdict}.`;
}

function rpoLine(out: RunOutput): string {
  const budget = `a budget of ${seconds(out.rpoBudgetSeconds)}`;
  const allowed = out.dataLossAllowedBy === "none" ? "no data-loss failover was allowed" : `data-loss failover allowed by ${out.dataLossAllowedBy === "rpo-gate" ? "the RPO gate" : "a human approval"}`;
  if (out.rpoExposureSeconds === null) return `unknown: replication lag could not be measured (${budget}; ${allowed}).`;
  const verdict = out.rpoExposureSeconds <= out.rpoBudgetSeconds ? "**within budget**" : `**over budget** by ${seconds(out.rpoExposureSeconds - out.rpoBudgetSeconds)}`;
  return `${exact(out.rpoExposureSeconds)} against ${budget}: ${verdict}; ${allowed}.`;
}

/** `5 min 30 s (330 s)`: readable, and exact for comparison with the plan's numbers. */
function exact(s: number): string {
  return Math.abs(s) >= 60 ? `${seconds(s)} (${round(s, 2)} s)` : seconds(s);
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---- steps --------------------------------------------------------------------------------------

interface StepRow {
  readonly step: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly outcome: string;
  readonly detail?: string;
}

function fromRecord(r: StepRecord): StepRow {
  return { step: r.step, startedAt: r.startedAt, endedAt: r.endedAt, outcome: r.outcome, ...(r.detail !== undefined ? { detail: r.detail } : {}) };
}

/** Pairs each step-started with the next step-finished of the same step, in journal (time) order. */
function stepsFromJournal(sorted: readonly JournalEntry[]): StepRow[] {
  const rows: { step: string; startedAt: string; endedAt?: string; outcome: string; detail?: string }[] = [];
  for (const e of sorted) {
    if (e.kind === "step-started") rows.push({ step: e.step, startedAt: e.at, outcome: "unfinished" });
    else if (e.kind === "step-finished") {
      const open = rows.find((r) => r.step === e.step && r.endedAt === undefined);
      const { detail, outcome } = e.data;
      if (open) {
        open.endedAt = e.at;
        open.outcome = outcome;
        if (detail !== undefined) open.detail = detail;
      } else rows.push({ step: e.step, startedAt: e.at, endedAt: e.at, outcome, detail: `${detail ? `${detail}; ` : ""}no step-started entry` });
    }
  }
  return rows;
}

// ---- data rendering -----------------------------------------------------------------------------

/** Nested bullets for a decision's data, keys in the order they were written. */
function renderData(data: Facts, indent: number): string[] {
  const pad = " ".repeat(indent);
  const lines: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined) continue;
    if (isScalar(value)) lines.push(`${pad}- ${key}: ${scalar(key, value)}`);
    else if (Array.isArray(value)) {
      if (value.length === 0) lines.push(`${pad}- ${key}: (none)`);
      else if (value.every(isScalar)) lines.push(`${pad}- ${key}: ${value.map((v) => scalar(key, v)).join(", ")}`);
      else {
        lines.push(`${pad}- ${key}:`);
        value.forEach((item, i) => {
          if (isScalar(item)) lines.push(`${pad}  - [${i + 1}] ${scalar(key, item)}`);
          else if (isFlat(item)) lines.push(`${pad}  - [${i + 1}] ${inlineData(item)}`);
          else {
            lines.push(`${pad}  - [${i + 1}]`);
            lines.push(...renderData(asRecord(item), indent + 4));
          }
        });
      }
    } else if (isFlat(value)) lines.push(`${pad}- ${key}: ${inlineData(value)}`);
    else if (isObject(value)) {
      lines.push(`${pad}- ${key}:`);
      lines.push(...renderData(value, indent + 2));
    }
  }
  return lines;
}

/** `a: 1, b: x` for an object of scalars (or a compact JSON of anything deeper). */
function inlineData(data: Facts): string {
  return Object.entries(data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${isScalar(v) ? scalar(k, v) : Array.isArray(v) && v.every(isScalar) ? v.map((x) => scalar(k, x)).join(", ") : inline(JSON.stringify(masked(v, k)))}`)
    .join("; ");
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function isFlat(v: unknown): v is Facts {
  return isObject(v) && Object.values(v).every((x) => x === undefined || isScalar(x) || (Array.isArray(x) && x.every(isScalar)));
}

/** An array's items as `[1]`, `[2]`… keys; an object as itself; anything else as no facts. */
function asRecord(v: unknown): Facts {
  return Array.isArray(v) ? Object.fromEntries(v.map((x, i) => [`[${i + 1}]`, x])) : isObject(v) ? v : {};
}

function scalar(key: string, v: string | number | boolean | null): string {
  if (typeof v === "string") return secretRule(key, v) ? "[redacted]" : inline(v);
  return String(v);
}

function masked(v: unknown, key: string | undefined): unknown {
  if (typeof v === "string") return secretRule(key, v) ? "[redacted]" : v;
  if (Array.isArray(v)) return v.map((x) => masked(x, key));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, masked(x, k)]));
  return v;
}

// ---- formatting ---------------------------------------------------------------------------------

function row(...cells: string[]): string {
  return `| ${cells.map(cell).join(" | ")} |`;
}

function cell(text: string): string {
  return inline(text).replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

/** One line; messages never break the surrounding Markdown structure; secret-looking text masked. */
function inline(text: string): string {
  return secretRule(undefined, text) ? "[redacted]" : text.replace(/\r?\n/g, " ");
}

function code(text: string): string {
  return "`" + text.replace(/`/g, "'") + "`";
}

/** Times of day when the whole run is on one UTC date (the date is in the summary), full ISO otherwise. */
function timeFormatter(sorted: readonly JournalEntry[]): (iso: string) => string {
  const dates = new Set(sorted.map((e) => e.at.slice(0, 10)));
  const oneDay = dates.size <= 1;
  return (iso: string) => {
    const ms = Date.parse(iso);
    if (Number.isNaN(ms)) return iso;
    const full = new Date(ms).toISOString();
    return oneDay && dates.has(full.slice(0, 10)) ? full.slice(11, 23) : full;
  };
}

function elapsed(firstMs: number, iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms) || Number.isNaN(firstMs)) return "";
  return `+${seconds((ms - firstMs) / 1000)}`;
}

function duration(fromIso: string, toIso: string): string {
  const a = Date.parse(fromIso);
  const b = Date.parse(toIso);
  return Number.isNaN(a) || Number.isNaN(b) ? "?" : seconds((b - a) / 1000);
}

function spanOf(fromIso: string, toIso: string): string {
  const d = duration(fromIso, toIso);
  return d === "?" ? "" : ` (${d})`;
}

/**
 * Seconds for people: `0.25 s`, `12.5 s`, `2 min 5 s`, `1 h 2 min 5 s`. Exact enough to compare with
 * the targets and stable (no locale).
 */
export function seconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  const sign = s < 0 ? "-" : "";
  const v = Math.abs(s);
  if (v < 10) return `${sign}${round(v, 2)} s`;
  if (v < 60) return `${sign}${round(v, 1)} s`;
  const total = Math.round(v);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  return `${sign}${h > 0 ? `${h} h ` : ""}${m > 0 || h > 0 ? `${m} min` : ""}${sec > 0 ? ` ${sec} s` : ""}`.replace(/ +$/, "").replace(/^(-?) /, "$1");
}

function round(v: number, digits: number): string {
  const f = 10 ** digits;
  return String(Math.round(v * f) / f);
}
