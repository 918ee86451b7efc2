import { MemoryLagStore } from "../../src/lag/store.ts";
import { describe, expect, it } from "vitest";
import { measureReplication } from "../../src/activities/replication.ts";
import { failoverSqlGroup, pollSqlFailover } from "../../src/activities/sql.ts";
import { failoverStorageAccount, pollStorageFailover } from "../../src/activities/storage.ts";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../../src/core/errors.ts";
import { OPERATION_ENDED, type DataTierInput, type MeasureReplicationResult, type PendingOperation, type ReplicationObserved } from "../../src/core/run/model.ts";
import { MemoryJournal, type JournalEntry } from "../../src/journal/journal.ts";
import { activityDeps, driveOperation, pollInputOf, pollUntilDone, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

const RUN = "run-data-1";

/**
 * The process dies right after Azure accepted the operation and its resume token was journaled:
 * nothing more reaches the journal until `restart()`.
 */
class CrashingJournal extends MemoryJournal {
  private state: "armed" | "dead" | "restarted" = "armed";
  override async append(entry: JournalEntry): Promise<void> {
    if (this.state === "dead") throw new Error("process killed");
    await super.append(entry);
    if (this.state === "armed" && entry.kind === "operation" && entry.data?.status === "running") {
      this.state = "dead";
      throw new Error("process killed");
    }
  }
  restart(): this {
    this.state = "restarted";
    return this;
  }
}

/**
 * The process dies after the request went out and before Azure's answer reached the journal: the
 * "running" entry with its token is lost, and so is everything after, until `restart()`.
 */
class LosingJournal extends MemoryJournal {
  private state: "armed" | "dead" | "restarted" = "armed";
  override async append(entry: JournalEntry): Promise<void> {
    if (this.state === "dead") throw new Error("process killed");
    if (this.state === "armed" && entry.kind === "operation" && entry.data?.status === "running") {
      this.state = "dead";
      throw new Error("process killed");
    }
    await super.append(entry);
  }
  restart(): this {
    this.state = "restarted";
    return this;
  }
}

function depsWith(fx: EstateFixture, journal?: MemoryJournal): TestDeps {
  const deps = activityDeps(fx);
  return journal ? { ...deps, journal } : deps;
}

function regions(fx: EstateFixture) {
  return { primary: fx.plan.regions.primary.name, secondary: fx.plan.regions.secondary.name };
}

function dataInput(fx: EstateFixture, overrides: Partial<DataTierInput> = {}): DataTierInput {
  return { runId: RUN, plan: fx.plan, index: 0, to: regions(fx).secondary, allowDataLoss: false, ...overrides };
}

/** The failover group of plan.sql[0] in the estate's own state. */
function storedGroup(fx: EstateFixture) {
  const name = fx.plan.sql[0]!.failoverGroup.name;
  return fx.estate.snapshot().failoverGroups.find((g) => g.name === name)!;
}
const partnerIsPrimary = (fx: EstateFixture) => storedGroup(fx).primaryServerId.toLowerCase() === fx.plan.sql[0]!.partnerServer.id.toLowerCase();

function storedAccount(fx: EstateFixture, index = 0) {
  const id = fx.plan.storage[index]!.account.id;
  return fx.estate.snapshot().storageAccounts.find((a) => a.id === id)!;
}

/** Drives the SQL step as the orchestration does: start, poll until done, start again. */
const driveSql = (input: DataTierInput, deps: TestDeps) =>
  driveOperation(
    () => failoverSqlGroup(input, deps),
    (pending) => pollSqlFailover(pollInputOf(input, pending), deps),
  );
const pollSql = (input: DataTierInput, deps: TestDeps, pending: PendingOperation) => pollUntilDone((p) => pollSqlFailover(pollInputOf(input, p), deps), pending);

/** Drives the storage step as the orchestration does: start, poll until done, start again. */
const driveStorage = (input: DataTierInput, deps: TestDeps) =>
  driveOperation(
    () => failoverStorageAccount(input, deps),
    (pending) => pollStorageFailover(pollInputOf(input, pending), deps),
  );
const pollStorage = (input: DataTierInput, deps: TestDeps, pending: PendingOperation) => pollUntilDone((p) => pollStorageFailover(pollInputOf(input, p), deps), pending);


const writeEntries = (journal: MemoryJournal) => journal.read(RUN).then((entries) => entries.filter((e) => e.kind === "write"));
const operationStatuses = (journal: MemoryJournal) =>
  journal.read(RUN).then((entries) => entries.filter((e) => e.kind === "operation").map((e) => `${String(e.data?.operation)} ${String(e.data?.status)}`));

/** The operations whose last journaled status is running: what a later attempt would resume. */
async function stillRunning(journal: MemoryJournal): Promise<string[]> {
  const last = new Map<string, string>();
  for (const e of await journal.read(RUN)) if (e.kind === "operation") last.set(String(e.data?.operation), String(e.data?.status));
  return [...last].filter(([, status]) => status === "running").map(([operation]) => operation);
}

/** The requests the estate logged as writes since `mark`. */
const loggedWrites = (fx: EstateFixture, mark: number) => fx.estate.requests({ since: mark, writesOnly: true });

async function rejection(promise: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwitchyardError);
    return error as SwitchyardError;
  }
  throw new Error("expected the activity to fail");
}

// ---- SQL failover groups -----------------------------------------------------------------------

describe("failoverSqlGroup", () => {
  const fx = useEstate();
  const groupId = () => fx.plan.sql[0]!.failoverGroup.id;

  it("starts a planned failover and returns it pending, for pollSqlFailover to watch", async () => {
    const started = await failoverSqlGroup(dataInput(fx), depsWith(fx));

    expect(started).toMatchObject({
      resourceId: groupId(),
      changed: true,
      method: "planned",
      pending: { poll: "pollSqlFailover", resourceId: groupId(), operation: "FailoverGroups_Failover", context: { index: 0, to: regions(fx).secondary } },
    });
  });

  it("posts exactly one FailoverGroups_Failover, to the partner server, from start to finish", async () => {
    const mark = requestMark(fx);

    const { polls } = await driveSql(dataInput(fx), depsWith(fx));

    const writes = loggedWrites(fx, mark);
    expect(writes.map((w) => `${w.method} ${w.operationId}`)).toEqual(["POST FailoverGroups_Failover"]);
    expect(writes[0]!.path).toContain(`/servers/${fx.plan.sql[0]!.partnerServer.name}/failoverGroups/${fx.plan.sql[0]!.failoverGroup.name}/failover`);
    expect(polls.at(-1)).toMatchObject({ status: "succeeded", method: "planned" });
    expect(partnerIsPrimary(fx)).toBe(true);
  });

  it("journals the write as accepted with the request id the estate logged, and the operation running then succeeded", async () => {
    const deps = depsWith(fx);
    const mark = requestMark(fx);

    const { first } = await driveSql(dataInput(fx), deps);

    const [post] = loggedWrites(fx, mark);
    const [write, ...more] = await writeEntries(deps.journal);
    expect(more).toEqual([]);
    expect(write!.data).toMatchObject({ resourceId: groupId(), operation: "FailoverGroups_Failover", result: "accepted", requestIds: expect.arrayContaining([post!.requestId]) });
    expect(first.requestIds).toContain(post!.requestId);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
  });

  it("polls running while the failover lasts, then succeeded", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 200 } });

    const { polls } = await driveSql(dataInput(fx), depsWith(fx));

    expect(polls.length).toBeGreaterThan(1);
    expect(polls.slice(0, -1).map((p) => p.status)).toEqual(polls.slice(0, -1).map(() => "running"));
    expect(polls.at(-1)).toMatchObject({ status: "succeeded", method: "planned" });
  });

  it("returns the same pending operation, and writes nothing, when started again while it is in flight", async () => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 100 } });
    const first = await failoverSqlGroup(dataInput(fx), deps);
    const mark = requestMark(fx);

    const again = await failoverSqlGroup(dataInput(fx), deps);

    expect(writesSince(fx, mark)).toEqual([]);
    expect(again).toEqual({ resourceId: groupId(), changed: true, method: "planned", requestIds: [], pending: first.pending });
    expect(await writeEntries(deps.journal)).toHaveLength(1);
  });

  it("finds the group primary in the target after the operation succeeded: method none, nothing written", async () => {
    const mark = requestMark(fx);

    const { final, starts } = await driveSql(dataInput(fx), depsWith(fx));

    expect(starts).toBe(2);
    expect(final).toEqual({ resourceId: groupId(), changed: false, method: "none", requestIds: [] });
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
  });

  it("fails back by posting to the plan's primary server", async () => {
    const deps = depsWith(fx);
    await driveSql(dataInput(fx), deps);
    const mark = requestMark(fx);

    const back = await driveSql(dataInput(fx, { to: regions(fx).primary }), deps);

    expect(back.first).toMatchObject({ changed: true, method: "planned" });
    expect(loggedWrites(fx, mark).map((r) => `${r.method} ${r.path}`)).toEqual([
      expect.stringMatching(new RegExp(`^POST .*/servers/${fx.plan.sql[0]!.failoverGroup.names[0]}/failoverGroups/${fx.plan.sql[0]!.failoverGroup.name}/failover$`)),
    ]);
    expect(partnerIsPrimary(fx)).toBe(false);
  });

  it("posts tryPlannedBeforeForcedFailover (api-version 2023-08-01), never a forced failover, when data loss is allowed", async () => {
    const mark = requestMark(fx);

    await driveSql(dataInput(fx, { allowDataLoss: true }), depsWith(fx));

    const writes = loggedWrites(fx, mark);
    expect(writes.map((w) => `${w.method} ${w.operationId}`)).toEqual(["POST FailoverGroups_TryPlannedBeforeForcedFailover"]);
    expect(writes[0]!.path).toMatch(/\/tryPlannedBeforeForcedFailover$/);
    expect(new URLSearchParams(writes[0]!.query).get("api-version")).toBe("2023-08-01");
    expect(partnerIsPrimary(fx)).toBe(true);
  });

  it("ends with the partner primary and the lag lost when data loss is allowed and the primary region is down", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(groupId(), 42);
    await fx.estate.setRegion(regions(fx).primary, { down: true, controlPlane: "down" });
    const mark = requestMark(fx);

    const { first, polls, final } = await driveSql(dataInput(fx, { allowDataLoss: true }), deps);

    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_TryPlannedBeforeForcedFailover"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(storedGroup(fx).dataLossSeconds).toBe(42);
    expect(first).toMatchObject({ changed: true, method: "forced" });
    expect(polls.at(-1)).toMatchObject({ status: "succeeded", method: "forced" });
    expect(final).toMatchObject({ changed: false, method: "none" });
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_TryPlannedBeforeForcedFailover sending", "FailoverGroups_TryPlannedBeforeForcedFailover running", "FailoverGroups_TryPlannedBeforeForcedFailover succeeded"]);
  });

  it("fails without retry, and never forces, when the primary region is down and data loss is not allowed", async () => {
    const deps = depsWith(fx);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    // Azure may refuse the planned failover at once or accept it and end it Failed: either way it fails here.
    const error = await rejection(driveSql(dataInput(fx), deps));

    expect(error.retryable).toBe(false);
    const writes = writesSince(fx, mark);
    expect(writes.length).toBeLessThanOrEqual(1);
    expect(writes.filter((w) => w !== "POST FailoverGroups_Failover")).toEqual([]);
    expect(partnerIsPrimary(fx)).toBe(false);
    expect(await stillRunning(deps.journal)).toEqual([]);
  });

  it("polls with the resume token the journal holds; a pending recorded with its own token (an older run) polls with that; none anywhere fails for good", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    const deps = depsWith(fx);
    const started = await failoverSqlGroup(dataInput(fx), deps);
    const [accepted] = (await deps.journal.read(RUN)).filter((e) => e.kind === "operation" && e.data?.status === "running");
    const pending = started.pending!;
    expect(pending.resumeToken).toBeUndefined();

    // From the journal.
    await expect(pollSqlFailover(pollInputOf(dataInput(fx), pending), deps)).resolves.toMatchObject({ status: "running" });
    // An older run's pending, token included, with an empty journal: its own token is enough.
    const legacy = { ...pending, resumeToken: String(accepted!.data!.resumeToken) };
    await expect(pollSqlFailover(pollInputOf(dataInput(fx), legacy), depsWith(fx, new MemoryJournal()))).resolves.toMatchObject({ status: "running" });
    // Neither: a clear, final error (a retry would not find a token either).
    const missing = await rejection(pollSqlFailover(pollInputOf(dataInput(fx), pending), depsWith(fx, new MemoryJournal())));
    expect(missing).toMatchObject({ code: "ResumeTokenMissing", retryable: false });
    expect(missing.message).toContain(pending.resourceId);
  });

  it("answers a poll run again after it journaled the end (the run never recorded its answer) with that end, asking Azure nothing", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    const deps = depsWith(fx);
    const { pending } = await failoverSqlGroup(dataInput(fx), deps);
    const answered = (await pollSql(dataInput(fx), deps, pending!)).at(-1)!;
    const mark = requestMark(fx);

    const again = await pollSqlFailover(pollInputOf(dataInput(fx), pending!), deps);

    expect(answered).toMatchObject({ status: "succeeded", method: "planned" });
    expect(again).toEqual({ status: "succeeded", requestIds: [], method: answered.method });
    expect(fx.estate.requests({ since: mark })).toEqual([]);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
  });

  it("answers a poll run again after it journaled a Failed end with the same non-retryable end, asking Azure nothing", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    fx.estate.addFault({ kind: "lroFailure", operationId: "FailoverGroups_Failover", count: 1 });
    const deps = depsWith(fx);
    const { pending } = await failoverSqlGroup(dataInput(fx), deps);
    const first = await rejection(pollSql(dataInput(fx), deps, pending!));
    const mark = requestMark(fx);

    const again = await rejection(pollSqlFailover(pollInputOf(dataInput(fx), pending!), deps));

    expect(again).toMatchObject({ code: first.code, retryable: false });
    expect(first.code).toBe(OPERATION_ENDED);
    expect(again.message).toContain(String((await deps.journal.read(RUN)).filter((e) => e.kind === "operation").at(-1)!.data!.error));
    expect(fx.estate.requests({ since: mark })).toEqual([]);
    expect(partnerIsPrimary(fx)).toBe(false);
  });

  it("resumes the operation a crashed attempt started, without a second POST, and polling completes it", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    const journal = new CrashingJournal();
    const mark = requestMark(fx);
    await expect(failoverSqlGroup(dataInput(fx), depsWith(fx, journal))).rejects.toThrow("process killed");
    const [accepted] = (await journal.read(RUN)).filter((e) => e.kind === "operation" && e.data?.status === "running");

    const { first, final } = await driveSql(dataInput(fx), depsWith(fx, journal.restart()));

    expect(first).toMatchObject({ changed: true, method: "planned", requestIds: [], pending: { operation: "FailoverGroups_Failover" } });
    // The token stays in the journal, where the poll reads it: the run's history never carries it.
    expect(first.pending?.resumeToken).toBeUndefined();
    expect(accepted!.data!.resumeToken).toEqual(expect.any(String));
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(final).toMatchObject({ changed: false, method: "none" });
    expect(await operationStatuses(journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
  });

  it("after an attempt died between sending a failover and journaling Azure's answer, watches the group instead of sending a second one", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    const journal = new LosingJournal();
    const mark = requestMark(fx);
    await expect(failoverSqlGroup(dataInput(fx), depsWith(fx, journal))).rejects.toThrow("process killed");

    const { first, final } = await driveSql(dataInput(fx), depsWith(fx, journal.restart()));

    expect(first).toMatchObject({ changed: true, method: "planned", pending: { operation: "FailoverGroups_Failover (unconfirmed)" } });
    expect(first.pending?.resumeToken).toBeUndefined();
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(final).toMatchObject({ changed: false, method: "none" });
    expect(await operationStatuses(journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover succeeded"]);
  });

  it("surfaces a throttled failover request as a retryable error with Retry-After, and journals the refused write with its request id", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "FailoverGroups_Failover", count: 1, retryAfterSeconds: 7 });
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx), deps));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 7, details: { status: 429 } });
    const [write, ...more] = await writeEntries(deps.journal);
    expect(more).toEqual([]);
    expect(write!.data).toMatchObject({ operation: "FailoverGroups_Failover", result: expect.stringMatching(/^refused/), requestIds: [loggedWrites(fx, mark)[0]!.requestId] });
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover failed"]);
  });

  it("fails over on a later start after a throttled one", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "FailoverGroups_Failover", count: 1, retryAfterSeconds: 7 });
    const mark = requestMark(fx);
    await rejection(failoverSqlGroup(dataInput(fx), deps));

    const { first } = await driveSql(dataInput(fx), deps);

    expect(first).toMatchObject({ changed: true, method: "planned" });
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover", "POST FailoverGroups_Failover"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover failed", "FailoverGroups_Failover sending", "FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
  });

  it("throws a non-retryable error from the poll when the operation ends Failed, and the journal shows it failed", async () => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 50 } });
    fx.estate.addFault({ kind: "lroFailure", operationId: "FailoverGroups_Failover", count: 1 });
    const started = await failoverSqlGroup(dataInput(fx), deps);

    const error = await rejection(pollSql(dataInput(fx), deps, started.pending!));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error.retryable).toBe(false);
    expect(partnerIsPrimary(fx)).toBe(false);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover sending", "FailoverGroups_Failover running", "FailoverGroups_Failover failed"]);
  });

  it("surfaces a throttled read as a retryable error without writing", async () => {
    fx.estate.addFault({ kind: "throttle", operationId: "FailoverGroups_Get", count: 1, retryAfterSeconds: 3 });
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 3, details: { status: 429, operation: "FailoverGroups_Get" } });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("surfaces a 500 on the failover request as a retryable error", async () => {
    fx.estate.addFault({ kind: "serverError", operationId: "FailoverGroups_Failover", count: 1, status: 500 });

    const error = await rejection(failoverSqlGroup(dataInput(fx), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, details: { status: 500 } });
    expect(partnerIsPrimary(fx)).toBe(false);
  });

  it("refuses a region the plan does not name, without any request", async () => {
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx, { to: "westeurope" }), depsWith(fx)));

    expect(error).toMatchObject({ code: "UnknownRegion" });
    expect(fx.estate.requests({ since: mark })).toEqual([]);
  });
});

// ---- storage accounts ---------------------------------------------------------------------------

describe("failoverStorageAccount", () => {
  const fx = useEstate();
  const accountId = () => fx.plan.storage[0]!.account.id;

  it("starts a planned failover (failoverType=Planned) while both regions are up, and returns it pending", async () => {
    const deps = depsWith(fx);
    const mark = requestMark(fx);

    const started = await failoverStorageAccount(dataInput(fx), deps);

    const writes = loggedWrites(fx, mark);
    expect(writes.map((w) => `${w.method} ${w.operationId}`)).toEqual(["POST StorageAccounts_Failover"]);
    expect(new URLSearchParams(writes[0]!.query).get("failoverType")).toBe("Planned");
    expect(started).toMatchObject({
      resourceId: accountId(),
      changed: true,
      method: "planned",
      requestIds: [writes[0]!.requestId],
      pending: { poll: "pollStorageFailover", resourceId: accountId(), context: { index: 0, to: regions(fx).secondary } },
    });
    expect((await writeEntries(deps.journal)).map((w) => w.data)).toEqual([
      expect.objectContaining({ failoverType: "Planned", result: "accepted", requestIds: [writes[0]!.requestId] }),
    ]);
  });

  it("polls the planned failover to its end: the account is primary in the target and still geo-redundant", async () => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 200 } });

    const { polls } = await driveStorage(dataInput(fx), deps);

    expect(polls[0]).toMatchObject({ status: "running" });
    expect(polls.at(-1)).toMatchObject({ status: "succeeded", method: "planned" });
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, secondaryLocation: regions(fx).primary, sku: "Standard_RAGRS", failoverInProgress: false });
    expect(await operationStatuses(deps.journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) succeeded"]);
  });

  it("returns the same pending operation, and writes nothing, when started again while it is in flight", async () => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 100 } });
    const first = await failoverStorageAccount(dataInput(fx), deps);
    const mark = requestMark(fx);

    const again = await failoverStorageAccount(dataInput(fx), deps);

    expect(writesSince(fx, mark)).toEqual([]);
    expect(again).toEqual({ resourceId: accountId(), changed: true, method: "planned", requestIds: [], pending: first.pending });
    expect(await writeEntries(deps.journal)).toHaveLength(1);
  });

  it("finds the account primary in the target after the failover succeeded: method none, nothing written", async () => {
    const mark = requestMark(fx);

    const { final, starts } = await driveStorage(dataInput(fx), depsWith(fx));

    expect(starts).toBe(2);
    expect(final).toEqual({ resourceId: accountId(), changed: false, method: "none", requestIds: [] });
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
  });

  it("fails over unplanned when the primary region is down and data loss is allowed: the account ends LRS with the lag lost", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(accountId(), 42);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    const { first, polls, final } = await driveStorage(dataInput(fx, { allowDataLoss: true }), deps);

    const writes = loggedWrites(fx, mark);
    expect(writes.map((w) => `${w.method} ${w.operationId}`)).toEqual(["POST StorageAccounts_Failover"]);
    expect(new URLSearchParams(writes[0]!.query).has("failoverType")).toBe(false);
    expect(first).toMatchObject({ changed: true, method: "forced" });
    expect(polls.at(-1)).toMatchObject({ status: "succeeded", method: "forced" });
    expect(final).toMatchObject({ changed: false, method: "none" });
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, secondaryLocation: null, sku: "Standard_LRS", dataLossSeconds: 42 });
    expect((await writeEntries(deps.journal)).map((w) => w.data)).toEqual([expect.objectContaining({ failoverType: "Unplanned", result: "accepted", requestIds: [writes[0]!.requestId] })]);
  });

  it("refuses an unplanned failover without data loss allowed, before sending anything", async () => {
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    const error = await rejection(failoverStorageAccount(dataInput(fx), depsWith(fx)));

    expect(error).toBeInstanceOf(PreconditionError);
    expect(error).toMatchObject({ code: "PlannedFailoverImpossible", retryable: false });
    expect(writesSince(fx, mark)).toEqual([]);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).primary, sku: "Standard_RAGRS" });
  });

  it("refuses with FailoverImpossible when the secondary region is down, even with data loss allowed", async () => {
    await fx.estate.setRegion(regions(fx).secondary, { down: true });
    const mark = requestMark(fx);

    const error = await rejection(failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), depsWith(fx)));

    expect(error).toMatchObject({ code: "FailoverImpossible", retryable: false });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("watches a failover someone else started instead of sending another, and decides anew once it ended", async () => {
    const deps = depsWith(fx);
    const a = fx.plan.storage[0]!.account;
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 200 } });
    await fx.clients.storage(a.subscriptionId).storageAccounts.failover(a.resourceGroup, a.name, { ...FAST_POLL, failoverType: "Planned" }).submitted();
    const mark = requestMark(fx);

    const { first, polls, final } = await driveStorage(dataInput(fx), deps);

    expect(writesSince(fx, mark)).toEqual([]);
    expect(first).toMatchObject({ changed: false, method: "none", requestIds: [], pending: { poll: "pollStorageFailover", resourceId: accountId() } });
    expect(polls[0]).toMatchObject({ status: "running" });
    expect(polls.at(-1)).toMatchObject({ status: "succeeded" });
    expect(final).toEqual({ resourceId: accountId(), changed: false, method: "none", requestIds: [] });
    expect(storedAccount(fx).primaryLocation).toBe(regions(fx).secondary);
    expect((await deps.journal.read(RUN)).map((e) => e.kind)).toEqual(["wait"]);
  });

  it("surfaces a throttled failover request as a retryable error with Retry-After, and journals the refused write with its request id", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_Failover", count: 1, retryAfterSeconds: 5 });
    const mark = requestMark(fx);

    const error = await rejection(failoverStorageAccount(dataInput(fx), deps));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 5, details: { status: 429 } });
    expect(await operationStatuses(deps.journal)).toEqual([]);
    expect((await writeEntries(deps.journal)).map((w) => w.data)).toEqual([
      expect.objectContaining({ result: expect.stringMatching(/^refused/), requestIds: [loggedWrites(fx, mark)[0]!.requestId] }),
    ]);
    expect(storedAccount(fx).primaryLocation).toBe(regions(fx).primary);
  });

  it("surfaces a 500 on the failover request as a retryable error", async () => {
    fx.estate.addFault({ kind: "serverError", operationId: "StorageAccounts_Failover", count: 1, status: 500 });

    const error = await rejection(failoverStorageAccount(dataInput(fx), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, details: { status: 500 } });
  });

  it("throws a non-retryable error from the poll when the operation ends Failed, and the journal shows it failed", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 1 });
    const started = await failoverStorageAccount(dataInput(fx), deps);

    const error = await rejection(pollStorage(dataInput(fx), deps, started.pending!));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error.retryable).toBe(false);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).primary, failoverInProgress: false });
    expect(await operationStatuses(deps.journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) failed"]);
  });

  it("answers a poll run again after it journaled the end (the run never recorded its answer) with that end, asking Azure nothing", async () => {
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 50 } });
    const deps = depsWith(fx);
    const { pending } = await failoverStorageAccount(dataInput(fx), deps);
    const answered = (await pollStorage(dataInput(fx), deps, pending!)).at(-1)!;
    const mark = requestMark(fx);

    const again = await pollStorageFailover(pollInputOf(dataInput(fx), pending!), deps);

    expect(answered).toMatchObject({ status: "succeeded", method: "planned" });
    expect(again).toEqual({ status: "succeeded", requestIds: [], method: answered.method });
    expect(fx.estate.requests({ since: mark })).toEqual([]);
    expect(await operationStatuses(deps.journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) succeeded"]);
  });

  it("answers a poll run again after it journaled a Failed end with the same non-retryable end", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 1 });
    const { pending } = await failoverStorageAccount(dataInput(fx), deps);
    const first = await rejection(pollStorage(dataInput(fx), deps, pending!));
    const mark = requestMark(fx);

    const again = await rejection(pollStorageFailover(pollInputOf(dataInput(fx), pending!), deps));

    expect(again).toMatchObject({ code: first.code, retryable: false });
    expect(first.code).toBe(OPERATION_ENDED);
    expect(fx.estate.requests({ since: mark })).toEqual([]);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).primary, failoverInProgress: false });
  });

  it("resumes the failover a crashed attempt started, without a second POST, and polling completes it", async () => {
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 50 } });
    const journal = new CrashingJournal();
    const mark = requestMark(fx);
    await expect(failoverStorageAccount(dataInput(fx), depsWith(fx, journal))).rejects.toThrow("process killed");
    const [accepted] = (await journal.read(RUN)).filter((e) => e.kind === "operation" && e.data?.status === "running");

    const { first, final } = await driveStorage(dataInput(fx), depsWith(fx, journal.restart()));

    expect(first).toMatchObject({ changed: true, method: "planned", requestIds: [], pending: { operation: "StorageAccounts_Failover (Planned)" } });
    expect(first.pending?.resumeToken).toBeUndefined();
    expect(accepted!.data!.resumeToken).toEqual(expect.any(String));
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
    expect(storedAccount(fx).primaryLocation).toBe(regions(fx).secondary);
    expect(final).toMatchObject({ changed: false, method: "none" });
    expect(await operationStatuses(journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) succeeded"]);
  });

  it.each([false, true])("ends the poll with a non-retryable error when the primary region goes down during a planned failover (data loss allowed: %s)", async (allowDataLoss) => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 100 } });
    const mark = requestMark(fx);
    const started = await failoverStorageAccount(dataInput(fx, { allowDataLoss }), deps);
    await fx.estate.setRegion(regions(fx).primary, { down: true });

    const error = await rejection(pollStorage(dataInput(fx, { allowDataLoss }), deps, started.pending!));

    expect(started.method).toBe("planned");
    expect(error.retryable).toBe(false);
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).primary, failoverInProgress: false });
    expect(await stillRunning(deps.journal)).toEqual([]);
  });
});

// ---- replication measurement ---------------------------------------------------------------------

describe("measureReplication", () => {
  const fx = useEstate();
  /** The activity's result with the per-replica figures it journaled (the result carries the largest lag alone). */
  const measured = async (input: ReturnType<typeof measureInput>, deps: TestDeps): Promise<MeasureReplicationResult & ReplicationObserved> => {
    const result = await measureReplication(input, deps);
    const observed = (await deps.journal.read(RUN)).filter((e) => e.kind === "observation").at(-1)?.data as unknown as ReplicationObserved;
    expect(observed.maxLagSeconds).toBe(result.maxLagSeconds);
    expect(Object.keys(result).sort()).toEqual(["at", "basis", "largest", "maxLagSeconds", "note"]);
    // The largest few, the largest first (unknown before any figure), for the approval's "at stake".
    expect(result.largest!.length).toBeLessThanOrEqual(5);
    const figures = result.largest!.map((l) => l.lagSeconds ?? Infinity);
    expect(figures).toEqual([...figures].sort((a, b) => b - a));
    if (result.maxLagSeconds !== null && result.largest!.length > 0) expect(result.largest![0]!.lagSeconds).toBe(result.maxLagSeconds);
    return { ...result, ...observed };
  };
  const measureInput = (overrides: Partial<{ to: string; plan: EstateFixture["plan"] }> = {}) => ({ runId: RUN, plan: fx.plan, to: regions(fx).secondary, ...overrides });

  it("reports storage lag from lastSyncTime and each database's lag from its primary over TDS; it writes nothing and journals its figures as one observation", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(fx.plan.storage[0]!.account.id, 120);
    fx.estate.setLag(fx.plan.sql[0]!.failoverGroup.id, 45);
    const mark = requestMark(fx);

    const result = await measured(measureInput(), deps);

    const [data, media] = result.storage;
    expect(data!.lagSeconds).toBeGreaterThanOrEqual(120);
    expect(data!.lagSeconds).toBeLessThanOrEqual(121);
    expect(media!.lagSeconds).toBeLessThanOrEqual(1);
    expect(data).toMatchObject({ account: fx.plan.storage[0]!.account.id, status: "Live", canPlannedFailover: true, canFailover: true, primaryLocation: regions(fx).primary });
    expect(Date.parse(data!.lastSyncTime!)).toBeLessThanOrEqual(Date.parse(result.at) - 119_000);
    expect(result.sql).toEqual(
      fx.plan.sql.map((g, i) => ({ failoverGroup: g.failoverGroup.id, lagSeconds: i === 0 ? 45 : 0, replicationState: "CATCH_UP", roleInTarget: "Secondary" })),
    );
    expect(result.maxLagSeconds).toBe(data!.lagSeconds);
    const databases = fx.plan.sql.reduce((n, g) => n + (g.databases?.length ?? 1), 0);
    expect(result.basis).toEqual({ live: databases + fx.plan.storage.length, lastKnown: 0, unknown: 0 });
    expect(writesSince(fx, mark)).toEqual([]);
    expect((await deps.journal.read(RUN)).map((e) => [e.kind, e.step])).toEqual([["observation", "measure"]]);
  });

  it("with the primary down and no sample stored, the databases' lag is unknown, and so is the maximum", async () => {
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const result = await measured(measureInput(), depsWith(fx));
    const databases = fx.plan.sql.reduce((n, g) => n + (g.databases?.length ?? 1), 0);
    expect(result.sql.map((g) => g.lagSeconds)).toEqual(fx.plan.sql.map(() => null));
    expect(result.maxLagSeconds).toBeNull();
    expect(result.basis).toEqual({ live: fx.plan.storage.length, lastKnown: 0, unknown: databases });
    expect(result.note).toMatch(/^largest lag unknown; /);
  });

  it("needs evidence for every database Azure lists in a group, not only those the plan names", async () => {
    const group = fx.plan.sql.find((g) => (g.databases?.length ?? 0) > 1)!;
    const [named, other] = group.databases!;
    const server = `${group.failoverGroup.id.split("/failoverGroups/")[0]}`;
    const lag = new MemoryLagStore();
    const taken = new Date(Date.now() - 30_000).toISOString();
    const stored = (db: string, seconds: number) => ({ resourceId: `${server}/databases/${db}`, kind: "sqlDatabase" as const, name: db, group: group.failoverGroup.id, lagSeconds: seconds, state: "CATCH_UP", measuredAt: taken, source: "tds:sys.dm_geo_replication_link_status" as const, primary: group.failoverGroup.names[0]!, reach: "answered" as const });
    await lag.record(fx.plan.name, [stored(named!, 2), stored(other!, 900)], fx.plan.objectives.rpoSeconds, new Date());
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    // The plan names one database of the group; Azure's group holds both.
    const plan = { ...fx.plan, sql: [{ ...group, databases: [named!] }], storage: [] };
    const result = await measured(measureInput({ plan }), { ...depsWith(fx), lag });
    expect(result.maxLagSeconds).toBeGreaterThanOrEqual(930);
    expect(result.basis).toEqual({ live: 0, lastKnown: 2, unknown: 0 });
  });

  it("measures nothing, and answers no lag at all, for a plan with neither SQL nor storage", async () => {
    const result = await measured(measureInput({ plan: { ...fx.plan, sql: [], storage: [] } }), depsWith(fx));
    expect(result).toMatchObject({ maxLagSeconds: 0, basis: { live: 0, lastKnown: 0, unknown: 0 }, sql: [], storage: [] });
    expect(result.note).toBe("the plan has no geo-replicated SQL database or storage account: nothing can be lost");
  });

  it("gives the largest storage lag as the maximum when the plan has no SQL groups", async () => {
    fx.estate.setLag(fx.plan.storage[0]!.account.id, 30);
    fx.estate.setLag(fx.plan.storage[1]!.account.id, 240);

    const result = await measured(measureInput({ plan: { ...fx.plan, sql: [] } }), depsWith(fx));

    expect(result.sql).toEqual([]);
    expect(result.maxLagSeconds).toBeGreaterThanOrEqual(240);
    expect(result.maxLagSeconds).toBeLessThanOrEqual(241);
  });

  it("shows roles and state as seen from the target region, and an account with no secondary as unmeasurable", async () => {
    const deps = depsWith(fx);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    await failoverSqlGroup(dataInput(fx, { allowDataLoss: true }), deps);
    await failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), deps);

    const result = await measured(measureInput({ plan: { ...fx.plan, sql: fx.plan.sql.slice(0, 1) } }), deps);

    // The group and the first account are already primary in the target region (an earlier run switched
    // them, as a resumed run finds them): nothing of theirs is at stake in this run.
    expect(result.sql).toEqual([{ failoverGroup: fx.plan.sql[0]!.failoverGroup.id, lagSeconds: 0, replicationState: "SUSPENDED", roleInTarget: "Primary" }]);
    expect(result.storage[0]).toMatchObject({ lagSeconds: 0, lastSyncTime: null, status: "NoSecondary", canFailover: false, primaryLocation: regions(fx).secondary });
    expect(result.storage[1]).toMatchObject({ status: "Live", canPlannedFailover: false, canFailover: true });
  });

  it("surfaces a throttled read as a retryable error", async () => {
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_GetProperties", count: 1, retryAfterSeconds: 4 });

    const error = await rejection(measureReplication(measureInput(), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 4 });
  });
});
