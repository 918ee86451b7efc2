/**
 * Checks of run values that come back from outside the process: a run's input and output as the
 * Durable runtime hands them back, a run output kept in a journal entry. A cast would let a malformed
 * value through to fail later as a TypeError far from its cause; these check every field against its
 * type and say which field was wrong, by path (`steps[2].outcome`).
 *
 * Each `check…` returns the checked value, rebuilt with only the fields its type has, or the path of
 * the first bad field; each `parse…` returns the value or undefined; `requireValid` turns a failed
 * check into a MalformedValueError for callers that must not go on without the value.
 */
import type { Plan } from "../plan/schema.ts";
import { formatPath, parsePlan, PlanValidationError } from "../plan/load.ts";
import { isObject } from "../guards.ts";
import {
  runIdOfInput,
  type FailoverMode,
  type PlanOutline,
  type RunInput,
  type RunKind,
  type RunOptions,
  type RunOrchestrationInput,
  type RunOutcome,
  type RunOutput,
  type RunTrigger,
  type StepRecord,
} from "./model.ts";

/** A checked value, or where it first went wrong: `path` to the bad field ("" for the value itself). */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly path: string; readonly problem: string };

/** A value read back from durable state or a stored document does not have the shape its type promises. */
export class MalformedValueError extends Error {
  constructor(
    /** What was read, e.g. `the output of instance switchyard-contoso`. */
    readonly what: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${what} is malformed at ${path === "" ? "its root" : path}: ${problem}`);
    this.name = "MalformedValueError";
  }
}

/** The checked value; throws MalformedValueError naming `what` and the bad field's path. */
export function requireValid<T>(checked: Checked<T>, what: string): T {
  if (!checked.ok) throw new MalformedValueError(what, checked.path, checked.problem);
  return checked.value;
}

// ---- run output ------------------------------------------------------------------------------------

const KINDS: readonly RunKind[] = ["failover", "failback"];
const OUTCOMES: readonly RunOutcome[] = ["completed", "refused-target-unhealthy", "refused-not-reprotected", "stopped-approval-timeout", "stopped-aborted", "failed"];
const STEP_OUTCOMES: readonly StepRecord["outcome"][] = ["ok", "failed", "skipped"];
const DATA_LOSS_ALLOWED_BY: readonly RunOutput["dataLossAllowedBy"][] = ["none", "rpo-gate", "approval", "operator"];

export function checkRunOutput(value: unknown): Checked<RunOutput> {
  return checked(() => readRunOutput(value, ""));
}

/** The run output `value` is, checked field by field (see RunOutput), or undefined. */
export function parseRunOutput(value: unknown): RunOutput | undefined {
  const result = checkRunOutput(value);
  return result.ok ? result.value : undefined;
}

function readRunOutput(value: unknown, path: string): RunOutput {
  const o = object(value, path);
  return {
    runId: string(o.runId, at(path, "runId")),
    kind: oneOf(o.kind, at(path, "kind"), KINDS),
    outcome: oneOf(o.outcome, at(path, "outcome"), OUTCOMES),
    from: string(o.from, at(path, "from")),
    to: string(o.to, at(path, "to")),
    steps: array(o.steps, at(path, "steps")).map((step, i) => readStep(step, at(at(path, "steps"), i))),
    rtoSeconds: numberOrNull(o.rtoSeconds, at(path, "rtoSeconds")),
    rtoTargetSeconds: number(o.rtoTargetSeconds, at(path, "rtoTargetSeconds")),
    rpoExposureSeconds: numberOrNull(o.rpoExposureSeconds, at(path, "rpoExposureSeconds")),
    rpoBudgetSeconds: number(o.rpoBudgetSeconds, at(path, "rpoBudgetSeconds")),
    dataLossAllowedBy: oneOf(o.dataLossAllowedBy, at(path, "dataLossAllowedBy"), DATA_LOSS_ALLOWED_BY),
    message: string(o.message, at(path, "message")),
  };
}

function readStep(value: unknown, path: string): StepRecord {
  const o = object(value, path);
  const detail = optional(o.detail, at(path, "detail"), string);
  return {
    step: string(o.step, at(path, "step")),
    startedAt: string(o.startedAt, at(path, "startedAt")),
    endedAt: string(o.endedAt, at(path, "endedAt")),
    outcome: oneOf(o.outcome, at(path, "outcome"), STEP_OUTCOMES),
    ...(detail !== undefined ? { detail } : {}),
  };
}

// ---- run input -------------------------------------------------------------------------------------

const MODES: readonly FailoverMode[] = ["planned", "auto", "forced"];
const SOURCES: readonly RunTrigger["source"][] = ["alert", "manual", "drill", "timer"];

export function checkRunInput(value: unknown): Checked<RunInput> {
  return checked(() => {
    const o = object(value, "");
    return { ...readRunFields(o), plan: readPlan(o.plan, "plan") };
  });
}

/**
 * The run input `value` is, its plan included (checked by the plan's own rules), or undefined. The
 * Durable runtime hands back a run's orchestration input, which carries an outline of the plan
 * instead: read that with parseRunOrchestrationInput.
 */
export function parseRunInput(value: unknown): RunInput | undefined {
  const result = checkRunInput(value);
  return result.ok ? result.value : undefined;
}

export function checkRunOrchestrationInput(value: unknown): Checked<RunOrchestrationInput> {
  return checked(() => {
    const o = object(value, "");
    const plan = o.plan;
    assertPlanOutline(plan, "plan");
    return { ...readRunFields(o), plan };
  });
}

/**
 * A run's orchestration input as the Durable runtime hands it back, or undefined. Its plan is checked
 * as an outline and kept as it is: the runs of version 1 carry the whole plan there, which their
 * activities still need (see isWholePlan).
 */
export function parseRunOrchestrationInput(value: unknown): RunOrchestrationInput | undefined {
  const result = checkRunOrchestrationInput(value);
  return result.ok ? result.value : undefined;
}

/** Every field of a run input but its plan. */
function readRunFields(o: Record<string, unknown>): Omit<RunInput, "plan"> {
  const runId = runIdOfInput(o);
  if (runId === undefined) bad("runId", "a string", o.runId);
  const options = optional(o.options, "options", readOptions);
  return {
    runId,
    kind: oneOf(o.kind, "kind", KINDS),
    mode: oneOf(o.mode, "mode", MODES),
    from: string(o.from, "from"),
    to: string(o.to, "to"),
    trigger: readTrigger(o.trigger, "trigger"),
    ...(options !== undefined ? { options } : {}),
  };
}

function readTrigger(value: unknown, path: string): RunTrigger {
  const o = object(value, path);
  return {
    source: oneOf(o.source, at(path, "source"), SOURCES),
    by: string(o.by, at(path, "by")),
    reason: string(o.reason, at(path, "reason")),
    detectedAt: string(o.detectedAt, at(path, "detectedAt")),
  };
}

function readOptions(value: unknown, path: string): RunOptions {
  const o = object(value, path);
  const retry = optional(o.retry, at(path, "retry"), (v, p) => {
    const r = object(v, p);
    return { maxAttempts: number(r.maxAttempts, at(p, "maxAttempts")), baseDelayMs: number(r.baseDelayMs, at(p, "baseDelayMs")), maxDelayMs: number(r.maxDelayMs, at(p, "maxDelayMs")) };
  });
  const numbers = ["approvalTimeoutSeconds", "reprotectionChecks", "reprotectionIntervalSeconds", "reprotectionHorizonSeconds", "timeScale"] as const;
  const present: Partial<Record<(typeof numbers)[number], number>> = {};
  for (const key of numbers) {
    const n = optional(o[key], at(path, key), number);
    if (n !== undefined) present[key] = n;
  }
  return { ...(retry !== undefined ? { retry } : {}), ...present };
}

/**
 * A whole plan, as Switchyard keeps it (its ARM ids parsed into their parts): checked by the plan's
 * own schema, after turning each parsed id back into the id text a plan file has. What comes back is
 * the plan as the schema makes it, so its parsed ids always agree with their text.
 */
function readPlan(value: unknown, path: string): Plan {
  object(value, path);
  try {
    return parsePlan(armIdsAsText(value));
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    const first = error.issues[0];
    const where = !first?.path ? path : first.path.startsWith("[") ? `${path}${first.path}` : `${path}.${first.path}`;
    return bad(where, "a plan", value, first?.message);
  }
}

const ARM_ID_FIELDS = ["id", "subscriptionId", "resourceGroup", "namespace", "type", "names", "name"];

/** `value` with every parsed ARM id (an object of exactly ArmResourceId's fields) replaced by its id text. */
function armIdsAsText(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(armIdsAsText);
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === ARM_ID_FIELDS.length && ARM_ID_FIELDS.every((k) => keys.includes(k)) && typeof value.id === "string") return value.id;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, armIdsAsText(v)]));
}

/** What the run orchestration needs of its plan (PlanOutline), every field checked. */
function assertPlanOutline(value: unknown, path: string): asserts value is PlanOutline {
  const o = object(value, path);
  string(o.name, at(path, "name"));
  const objectives = object(o.objectives, at(path, "objectives"));
  number(objectives.rpoSeconds, at(at(path, "objectives"), "rpoSeconds"));
  number(objectives.rtoMinutes, at(at(path, "objectives"), "rtoMinutes"));
  number(object(o.autoFailover, at(path, "autoFailover")).approvalTimeoutMinutes, at(at(path, "autoFailover"), "approvalTimeoutMinutes"));
  for (const key of ["sql", "storage"]) array(o[key], at(path, key)).forEach((item, i) => object(item, at(at(path, key), i)));
  const frontDoor = object(o.frontDoor, at(path, "frontDoor"));
  const fd = at(path, "frontDoor");
  array(frontDoor.standard, at(fd, "standard")).forEach((item, i) => object(item, at(at(fd, "standard"), i)));
  array(frontDoor.classic, at(fd, "classic")).forEach((item, i) => {
    const entry = at(at(fd, "classic"), i);
    string(object(object(item, entry).frontDoor, at(entry, "frontDoor")).id, at(at(entry, "frontDoor"), "id"));
  });
  array(o.appService, at(path, "appService")).forEach((item, i) => {
    const entry = at(at(path, "appService"), i);
    optional(object(item, entry).region, at(entry, "region"), string);
  });
}

// ---- field readers ---------------------------------------------------------------------------------

/** Thrown by the readers below and caught by `checked`: never leaves this module. */
class Bad {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {}
}

function checked<T>(read: () => T): Checked<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    if (error instanceof Bad) return { ok: false, path: error.path, problem: error.problem };
    throw error;
  }
}

function bad(path: string, expected: string, found: unknown, why?: string): never {
  throw new Bad(path, why ?? `expected ${expected}, found ${describe(found)}`);
}

/** What a bad value was, without quoting long text (a value read back may be anything). */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value.length <= 40 ? JSON.stringify(value) : `a string of ${value.length} characters`;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** `path` extended by a field name or an index, written as formatPath writes paths. */
function at(path: string, key: string | number): string {
  const tail = formatPath([key]);
  return path === "" || tail.startsWith("[") ? `${path}${tail}` : `${path}.${tail}`;
}

function object(value: unknown, path: string): Record<string, unknown> {
  return isObject(value) ? value : bad(path, "an object", value);
}

function array(value: unknown, path: string): unknown[] {
  return Array.isArray(value) ? value : bad(path, "an array", value);
}

function string(value: unknown, path: string): string {
  return typeof value === "string" ? value : bad(path, "a string", value);
}

/** A finite number: JSON has no other kind, and NaN or Infinity in a run's figures is a bug upstream. */
function number(value: unknown, path: string): number {
  return typeof value === "number" && Number.isFinite(value) ? value : bad(path, "a number", value);
}

function numberOrNull(value: unknown, path: string): number | null {
  return value === null ? null : typeof value === "number" && Number.isFinite(value) ? value : bad(path, "a number or null", value);
}

function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  const found = options.find((option) => option === value);
  return found ?? bad(path, `one of ${options.map((o) => JSON.stringify(o)).join(", ")}`, value);
}

/** An optional field: absent (or undefined in memory) stays absent; anything else must read. */
function optional<T>(value: unknown, path: string, read: (value: unknown, path: string) => T): T | undefined {
  return value === undefined ? undefined : read(value, path);
}
