/**
 * Reads a journal entry from JSON it was stored as (or a draft an orchestration sent through durable
 * history) into the typed union of src/core/journal.ts: every field of its kind is checked, and the
 * first bad one is named by path (`data.requestIds[1]`). Entries written by earlier versions are read
 * into today's shape: a run-started entry naming its plan by object or `planName`, a step-finished
 * entry with `{ durationMs, error }`, a write with one `requestId`.
 */
import { isObject } from "./guards.ts";
import type { Facts, JournalEntry, JournalEntryKind, NotificationData, OperationData, RunStartedData, StepFinishedData, WriteData } from "./journal.ts";
import { checkRunOutput, type Checked } from "./run/parse.ts";
import type { FailoverMode, RunKind, RunTrigger } from "./run/model.ts";

const KINDS: readonly JournalEntryKind[] = ["run-started", "run-finished", "step-started", "step-finished", "decision", "observation", "write", "wait", "notification", "operation"];
const RUN_KINDS: readonly RunKind[] = ["failover", "failback"];
const MODES: readonly FailoverMode[] = ["planned", "auto", "forced"];
const SOURCES: readonly RunTrigger["source"][] = ["alert", "manual", "drill", "timer"];
const STEP_OUTCOMES: readonly StepFinishedData["outcome"][] = ["ok", "failed", "skipped"];
const OPERATION_STATUSES: readonly OperationData["status"][] = ["sending", "running", "succeeded", "failed"];
const SEVERITIES: readonly NonNullable<NotificationData["severity"]>[] = ["info", "warning", "critical"];

class Bad extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** The entry `value` holds, or the path and problem of its first bad field. */
export function parseJournalEntry(value: unknown): Checked<JournalEntry> {
  try {
    return { ok: true, value: readEntry(value) };
  } catch (error) {
    if (error instanceof Bad) return { ok: false, path: error.path, problem: error.problem };
    throw error;
  }
}

function readEntry(value: unknown): JournalEntry {
  const o = object(value, "entry");
  const kind = oneOf(o.kind, KINDS, "entry.kind");
  const base = {
    runId: string(o.runId, "entry.runId"),
    at: isoTime(o.at, "entry.at"),
    message: string(o.message, "entry.message"),
    ...(o.step !== undefined ? { step: string(o.step, "entry.step") } : {}),
    ...(o.activity !== undefined ? { activity: string(o.activity, "entry.activity") } : {}),
  };
  const data = o.data;
  switch (kind) {
    case "run-started":
      return { ...base, kind, data: runStarted(object(data, "entry.data")) };
    case "run-finished": {
      const d = object(data, "entry.data");
      const output = checkRunOutput(d.output);
      if (!output.ok) throw new Bad(`entry.data.output${output.path === "" ? "" : `.${output.path}`}`, output.problem);
      return { ...base, kind, data: { ...d, outcome: output.value.outcome, output: output.value } };
    }
    case "step-started":
      return { ...base, kind, step: string(o.step, "entry.step") };
    case "step-finished":
      return { ...base, kind, step: string(o.step, "entry.step"), data: stepFinished(object(data, "entry.data")) };
    case "decision":
    case "wait":
      return { ...base, kind, ...(data !== undefined ? { data: facts(data, "entry.data") } : {}) };
    case "observation":
      return { ...base, kind, data: facts(data, "entry.data") };
    case "write":
      return { ...base, kind, data: write(object(data, "entry.data")) };
    case "notification":
      return { ...base, kind, data: notification(object(data, "entry.data")) };
    case "operation":
      return { ...base, kind, data: operation(object(data, "entry.data")) };
  }
}

function runStarted(d: Record<string, unknown>): RunStartedData {
  // Earlier versions kept the whole plan (or `planName`); today the name alone.
  const plan = typeof d.plan === "string" ? d.plan : isObject(d.plan) ? string(d.plan.name, "entry.data.plan.name") : string(d.planName, "entry.data.plan");
  const trigger = object(d.trigger, "entry.data.trigger");
  return {
    ...d,
    kind: oneOf(d.kind, RUN_KINDS, "entry.data.kind"),
    mode: oneOf(d.mode, MODES, "entry.data.mode"),
    plan,
    from: string(d.from, "entry.data.from"),
    to: string(d.to, "entry.data.to"),
    trigger: {
      source: oneOf(trigger.source, SOURCES, "entry.data.trigger.source"),
      by: string(trigger.by, "entry.data.trigger.by"),
      reason: string(trigger.reason, "entry.data.trigger.reason"),
      detectedAt: isoTime(trigger.detectedAt, "entry.data.trigger.detectedAt"),
    },
    rtoTargetSeconds: number(d.rtoTargetSeconds, "entry.data.rtoTargetSeconds"),
    rpoBudgetSeconds: number(d.rpoBudgetSeconds, "entry.data.rpoBudgetSeconds"),
  };
}

function stepFinished(d: Record<string, unknown>): StepFinishedData {
  // Runs of version 1 wrote { durationMs, error } for a failure and { durationMs } for success.
  const error = d.error === undefined ? undefined : string(d.error, "entry.data.error");
  const outcome = d.outcome === undefined ? (error !== undefined ? "failed" : "ok") : oneOf(d.outcome, STEP_OUTCOMES, "entry.data.outcome");
  const detail = d.detail === undefined ? error : string(d.detail, "entry.data.detail");
  return {
    ...d,
    outcome,
    ...(d.durationMs !== undefined ? { durationMs: number(d.durationMs, "entry.data.durationMs") } : {}),
    ...(detail !== undefined ? { detail } : {}),
  };
}

function write(d: Record<string, unknown>): WriteData {
  const resourceId = string(d.resourceId, "entry.data.resourceId");
  const operation = string(d.operation, "entry.data.operation");
  // Early entries named one request id.
  const requestIds = d.requestIds === undefined && d.requestId !== undefined ? [string(d.requestId, "entry.data.requestId")] : strings(d.requestIds, "entry.data.requestIds");
  return { ...d, resourceId, operation, requestIds, result: string(d.result, "entry.data.result") };
}

function notification(d: Record<string, unknown>): NotificationData {
  return { ...d, event: string(d.event, "entry.data.event"), ...(d.severity !== undefined ? { severity: oneOf(d.severity, SEVERITIES, "entry.data.severity") } : {}) };
}

function operation(d: Record<string, unknown>): OperationData {
  return {
    ...d,
    resourceId: string(d.resourceId, "entry.data.resourceId"),
    operation: string(d.operation, "entry.data.operation"),
    status: oneOf(d.status, OPERATION_STATUSES, "entry.data.status"),
    ...(d.resumeToken !== undefined ? { resumeToken: string(d.resumeToken, "entry.data.resumeToken") } : {}),
    ...(d.requestIds !== undefined ? { requestIds: strings(d.requestIds, "entry.data.requestIds") } : {}),
    ...(d.error !== undefined ? { error: string(d.error, "entry.data.error") } : {}),
  };
}

// ---- field readers ---------------------------------------------------------------------------------

function object(value: unknown, path: string): Record<string, unknown> {
  if (!isObject(value)) throw new Bad(path, "an object is required");
  return value;
}

function facts(value: unknown, path: string): Facts {
  return object(value, path);
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string") throw new Bad(path, "a string is required");
  return value;
}

function strings(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) throw new Bad(path, "an array of strings is required");
  return value.map((item, i) => string(item, `${path}[${i}]`));
}

function number(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Bad(path, "a finite number is required");
  return value;
}

function isoTime(value: unknown, path: string): string {
  const text = string(value, path);
  if (Number.isNaN(Date.parse(text))) throw new Bad(path, "an ISO date-time is required");
  return text;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Bad(path, `one of ${allowed.join(", ")} is required${typeof value === "string" ? ` (not '${value.slice(0, 60)}')` : ""}`);
  return found;
}
