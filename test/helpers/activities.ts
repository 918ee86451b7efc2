import { setTimeout as delay } from "node:timers/promises";
import type { ActivityDeps, Logger } from "../../src/activities/deps.ts";
import { expect } from "vitest";
import { assessRegions } from "../../src/activities/health.ts";
import type { ActivityInput, AssessRegionsInput, Check, CheckResult, OperationPollInput, OperationPollResult, PendingOperation, RegionHealth, RegionVerdict } from "../../src/core/run/model.ts";
import { createProbe } from "../../src/activities/probe.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import type { EstateFixture } from "./estate.ts";

export interface TestDeps extends ActivityDeps {
  readonly journal: MemoryJournal;
  readonly logged: { level: string; message: string; fields?: Record<string, unknown> }[];
}

/** Activity dependencies aimed at the fixture's estate, with an in-memory journal and a captured log. */
export function activityDeps(fx: EstateFixture): TestDeps {
  const logged: TestDeps["logged"] = [];
  const log: Logger = {
    info: (message, fields) => logged.push({ level: "info", message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => logged.push({ level: "warn", message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => logged.push({ level: "error", message, ...(fields ? { fields } : {}) }),
  };
  return { clients: fx.clients, journal: new MemoryJournal(), probe: createProbe(fx.clients), log, logged, clock: () => new Date(), pollIntervalMs: 1 };
}

/** Writes the estate received since `since` (by its request log), as "METHOD operationId" lines. */
export function writesSince(fx: EstateFixture, since: number): string[] {
  return fx.estate.requests({ since, writesOnly: true }).map((r) => `${r.method} ${r.operationId}`);
}

/** The estate's current request sequence number (take before acting, pass to writesSince after). */
export function requestMark(fx: EstateFixture): number {
  return fx.estate.requests().at(-1)?.seq ?? 0;
}

/** What driving a long-running step the way the orchestration does produced. */
export interface DrivenOperation<R> {
  /** The first start call's result: what the step did. */
  readonly first: R;
  /** Every poll's result, in order, across all rounds. */
  readonly polls: readonly OperationPollResult[];
  /** The last start call's result: the one with nothing pending. */
  readonly final: R;
  /** How many times the start activity was called (first and final included). */
  readonly starts: number;
}

/**
 * Drives a step the way the orchestration's `converge`/`awaitOperations` do (the Durable monitor
 * pattern): call `start`; while its result has a pending operation, `poll` it until it says succeeded
 * (a poll that throws ends the drive with that error), then call `start` again. The estate's operations
 * last a few ms, so polls are only `pollDelayMs` apart (real time); `maxPolls` and `maxRounds` bound a
 * drive that would never end.
 */
export async function driveOperation<R extends { readonly pending?: PendingOperation }>(
  start: () => Promise<R>,
  poll: (pending: PendingOperation) => Promise<OperationPollResult>,
  options: { pollDelayMs?: number; maxPolls?: number; maxRounds?: number } = {},
): Promise<DrivenOperation<R>> {
  const { pollDelayMs = 5, maxPolls = 400, maxRounds = 4 } = options;
  const first = await start();
  const polls: OperationPollResult[] = [];
  let latest = first;
  let starts = 1;
  while (latest.pending) {
    if (starts > maxRounds) throw new Error(`driveOperation: still pending after ${maxRounds} start calls`);
    polls.push(...(await pollUntilDone(poll, latest.pending, { pollDelayMs, maxPolls: maxPolls - polls.length })));
    latest = await start();
    starts++;
  }
  return { first, polls, final: latest, starts };
}

/**
 * Polls one pending operation until a poll says succeeded, `pollDelayMs` apart (real time), and returns
 * every poll's result; a poll that throws ends it with that error.
 */
export async function pollUntilDone(
  poll: (pending: PendingOperation) => Promise<OperationPollResult>,
  pending: PendingOperation,
  options: { pollDelayMs?: number; maxPolls?: number } = {},
): Promise<OperationPollResult[]> {
  const { pollDelayMs = 5, maxPolls = 400 } = options;
  const polls: OperationPollResult[] = [];
  for (;;) {
    if (polls.length >= maxPolls) throw new Error(`pollUntilDone: ${pending.operation} still running after ${maxPolls} polls`);
    await delay(pollDelayMs);
    const result = await poll(pending);
    polls.push(result);
    if (result.status === "succeeded") return polls;
  }
}

/** The poll input the orchestration builds for a pending operation of a step's input. */
export function pollInputOf(input: ActivityInput, pending: PendingOperation): OperationPollInput {
  return { runId: input.runId, plan: input.plan, pending };
}

/**
 * Calls a checking activity (verifyPrimary, checkReprotection) and returns its result with every check
 * it journaled as its observation; the result itself carries only the failed ones (asserted here).
 */
export async function withAllChecks<I extends { runId: string }>(activity: (input: I, deps: TestDeps) => Promise<CheckResult>, input: I, deps: TestDeps): Promise<CheckResult> {
  const result = await activity(input, deps);
  const observed = (await deps.journal.read(input.runId)).filter((e) => e.kind === "observation").at(-1);
  const checks = (observed?.data?.checks ?? []) as Check[];
  expect(result.checks).toEqual(checks.filter((c) => !c.ok));
  expect(result.passed).toBe(checks.length - result.checks.length);
  return { ...result, checks };
}

/** Calls assessRegions and returns each region's verdict with the probes it journaled as its observation. */
export async function withProbes(input: AssessRegionsInput, deps: TestDeps): Promise<{ at: string; regions: Record<string, RegionVerdict & RegionHealth> }> {
  const result = await assessRegions(input, deps);
  const observed = (await deps.journal.read(input.runId)).filter((e) => e.kind === "observation").at(-1);
  const probes = (observed?.data?.regions ?? {}) as Record<string, RegionHealth>;
  expect(Object.keys(probes)).toEqual(Object.keys(result.regions));
  return { at: result.at, regions: Object.fromEntries(Object.entries(result.regions).map(([region, verdict]) => [region, { ...verdict, probes: probes[region]!.probes }])) };
}
