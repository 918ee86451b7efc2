import { beforeEach, describe, expect, it } from "vitest";
import { measureReplication } from "../../src/activities/replication.ts";
import { failoverSqlGroup } from "../../src/activities/sql.ts";
import { failoverStorageAccount, reprotectStorageAccount } from "../../src/activities/storage.ts";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../../src/core/errors.ts";
import type { DataTierInput } from "../../src/core/run/model.ts";
import { MemoryJournal, type JournalEntry } from "../../src/journal/journal.ts";
import { activityDeps, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

const RUN = "run-data-1";

/** A journal that runs `hook` right after each operation is journaled as accepted (running). */
class HookedJournal extends MemoryJournal {
  constructor(private readonly hook: (entry: JournalEntry) => Promise<void>) {
    super();
  }
  override async append(entry: JournalEntry): Promise<void> {
    await super.append(entry);
    if (entry.kind === "operation" && entry.data?.status === "running") await this.hook(entry);
  }
}

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

const writeEntries = (journal: MemoryJournal) => journal.read(RUN).then((entries) => entries.filter((e) => e.kind === "write"));
const operationStatuses = (journal: MemoryJournal) =>
  journal.read(RUN).then((entries) => entries.filter((e) => e.kind === "operation").map((e) => `${String(e.data?.operation)} ${String(e.data?.status)}`));

/** The request id the estate logged for each write since `mark`. */
const loggedWriteIds = (fx: EstateFixture, mark: number) => fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.requestId);

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

  it("fails the group over planned to the partner server, journals the write with its request id, and a second run writes nothing", async () => {
    const deps = depsWith(fx);
    const mark = requestMark(fx);

    const first = await failoverSqlGroup(dataInput(fx), deps);
    const afterFirst = requestMark(fx);
    const second = await failoverSqlGroup(dataInput(fx), deps);

    expect(first).toMatchObject({ resourceId: fx.plan.sql[0]!.failoverGroup.id, changed: true, method: "planned" });
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(fx.estate.requests({ since: mark, writesOnly: true })[0]!.path).toContain(`/servers/${fx.plan.sql[0]!.partnerServer.name}/`);
    expect(partnerIsPrimary(fx)).toBe(true);
    const [write, ...more] = await writeEntries(deps.journal);
    expect(more).toEqual([]);
    expect(write!.data).toMatchObject({ operation: "FailoverGroups_Failover", result: "succeeded" });
    expect(write!.data!.requestIds).toContain(loggedWriteIds(fx, mark)[0]);
    expect(first.requestIds).toContain(loggedWriteIds(fx, mark)[0]);
    expect(second).toEqual({ resourceId: fx.plan.sql[0]!.failoverGroup.id, changed: false, method: "none", requestIds: [] });
    expect(writesSince(fx, afterFirst)).toEqual([]);
  });

  it("fails back by posting to the plan's primary server", async () => {
    const deps = depsWith(fx);
    await failoverSqlGroup(dataInput(fx), deps);
    const mark = requestMark(fx);

    const back = await failoverSqlGroup(dataInput(fx, { to: regions(fx).primary }), deps);

    expect(back).toMatchObject({ changed: true, method: "planned" });
    expect(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.path)).toEqual([
      expect.stringContaining(`/servers/${fx.plan.sql[0]!.failoverGroup.names[0]}/failoverGroups/`),
    ]);
    expect(partnerIsPrimary(fx)).toBe(false);
  });

  it("stays planned when data loss is allowed but the primary is reachable", async () => {
    const mark = requestMark(fx);

    const result = await failoverSqlGroup(dataInput(fx, { allowDataLoss: true }), depsWith(fx));

    expect(result.method).toBe("planned");
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(storedGroup(fx).dataLossSeconds).toBe(0);
  });

  it("refuses with PlannedFailoverImpossible, and never forces, when the primary region is down and data loss is not allowed", async () => {
    const deps = depsWith(fx);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx), deps));

    expect(error).toBeInstanceOf(PreconditionError);
    expect(error).toMatchObject({ code: "PlannedFailoverImpossible", retryable: false });
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(partnerIsPrimary(fx)).toBe(false);
    const writes = await writeEntries(deps.journal);
    expect(writes.map((w) => [w.data?.operation, String(w.data?.result).startsWith("failed")])).toEqual([["FailoverGroups_Failover", true]]);
  });

  it("tries planned, then forces when data loss is allowed and the primary region is down; a second run writes nothing", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(fx.plan.sql[0]!.failoverGroup.id, 42);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    const first = await failoverSqlGroup(dataInput(fx, { allowDataLoss: true }), deps);
    const afterFirst = requestMark(fx);
    const second = await failoverSqlGroup(dataInput(fx, { allowDataLoss: true }), deps);

    expect(first).toMatchObject({ changed: true, method: "forced" });
    expect(first.requestIds).toEqual(expect.arrayContaining(loggedWriteIds(fx, mark)));
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover", "POST FailoverGroups_ForceFailoverAllowDataLoss"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(storedGroup(fx).dataLossSeconds).toBe(42);
    const writes = await writeEntries(deps.journal);
    expect(writes.map((w) => w.data?.operation)).toEqual(["FailoverGroups_Failover", "FailoverGroups_ForceFailoverAllowDataLoss"]);
    expect(writes[1]!.data).toMatchObject({ result: "succeeded", requestIds: expect.arrayContaining([loggedWriteIds(fx, mark)[1]]) });
    expect(second).toMatchObject({ changed: false, method: "none" });
    expect(writesSince(fx, afterFirst)).toEqual([]);
  });

  it("resumes the operation a crashed attempt started instead of posting a second failover", async () => {
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: 100 } });
    const journal = new CrashingJournal();
    const mark = requestMark(fx);

    await expect(failoverSqlGroup(dataInput(fx), depsWith(fx, journal))).rejects.toThrow("process killed");
    const resumed = await failoverSqlGroup(dataInput(fx), depsWith(fx, journal.restart()));
    const again = await failoverSqlGroup(dataInput(fx), depsWith(fx, journal));

    expect(resumed).toMatchObject({ changed: true, method: "planned" });
    expect(again).toMatchObject({ changed: false, method: "none" });
    expect(writesSince(fx, mark)).toEqual(["POST FailoverGroups_Failover"]);
    expect(partnerIsPrimary(fx)).toBe(true);
    expect(await operationStatuses(journal)).toEqual(["FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
    const writes = await writeEntries(journal);
    expect(writes).toHaveLength(1);
    expect(writes[0]!.data).toMatchObject({ resumed: true, result: expect.stringContaining("succeeded") });
  });

  it("surfaces a throttled failover request as a retryable error with Retry-After, and journals the refused write", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "FailoverGroups_Failover", count: 1, retryAfterSeconds: 7 });
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx), deps));
    const retried = await failoverSqlGroup(dataInput(fx), deps);

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 7, details: { status: 429 } });
    expect(retried.method).toBe("planned");
    const writes = await writeEntries(deps.journal);
    expect(writes.map((w) => String(w.data?.result).split(":")[0])).toEqual(["failed", "succeeded"]);
    expect(writes[0]!.data!.requestIds).toEqual([loggedWriteIds(fx, mark)[0]]);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover running", "FailoverGroups_Failover succeeded"]);
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

  it.each([
    ["at once", 0],
    ["after a while", 30],
  ])("reports an operation that ends Failed (%s) as non-retryable, and the journal shows it failed", async (_, ms) => {
    const deps = depsWith(fx);
    fx.estate.setTiming({ durations: { FailoverGroups_Failover: ms } });
    fx.estate.addFault({ kind: "lroFailure", operationId: "FailoverGroups_Failover", count: 1 });

    const error = await rejection(failoverSqlGroup(dataInput(fx), deps));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error.retryable).toBe(false);
    expect(partnerIsPrimary(fx)).toBe(false);
    expect(await operationStatuses(deps.journal)).toEqual(["FailoverGroups_Failover running", "FailoverGroups_Failover failed"]);
    const [write] = await writeEntries(deps.journal);
    expect(write!.data).toMatchObject({ operation: "FailoverGroups_Failover", result: expect.stringMatching(/^failed/) });
    expect((write!.data!.requestIds as string[]).length).toBeGreaterThan(0);
  });

  it("refuses a region the plan does not name, without reading or writing", async () => {
    const mark = requestMark(fx);

    const error = await rejection(failoverSqlGroup(dataInput(fx, { to: "westeurope" }), depsWith(fx)));

    expect(error).toMatchObject({ code: "UnknownRegion" });
    expect(fx.estate.requests({ since: mark })).toEqual([]);
  });
});

// ---- storage accounts ---------------------------------------------------------------------------

describe("failoverStorageAccount", () => {
  const fx = useEstate();

  it("fails over planned while both regions are up, and a second run writes nothing", async () => {
    const deps = depsWith(fx);
    const mark = requestMark(fx);

    const first = await failoverStorageAccount(dataInput(fx), deps);
    const afterFirst = requestMark(fx);
    const second = await failoverStorageAccount(dataInput(fx), deps);

    expect(first).toMatchObject({ resourceId: fx.plan.storage[0]!.account.id, changed: true, method: "planned" });
    const [post] = fx.estate.requests({ since: mark, writesOnly: true });
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
    expect(post!.query).toContain("failoverType=Planned");
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, secondaryLocation: regions(fx).primary, sku: "Standard_RAGRS" });
    const [write, ...more] = await writeEntries(deps.journal);
    expect(more).toEqual([]);
    expect(write!.data).toMatchObject({ failoverType: "Planned", result: "succeeded", requestIds: [post!.requestId] });
    expect(second).toEqual({ resourceId: fx.plan.storage[0]!.account.id, changed: false, method: "none", requestIds: [] });
    expect(writesSince(fx, afterFirst)).toEqual([]);
  });

  it("fails over unplanned when the primary region is down and data loss is allowed; a second run writes nothing", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(fx.plan.storage[0]!.account.id, 42);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    const mark = requestMark(fx);

    const first = await failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), deps);
    const afterFirst = requestMark(fx);
    const second = await failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), deps);

    expect(first).toMatchObject({ changed: true, method: "forced" });
    const [post] = fx.estate.requests({ since: mark, writesOnly: true });
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
    expect(post!.query).not.toContain("failoverType");
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, secondaryLocation: null, sku: "Standard_LRS", dataLossSeconds: 42 });
    expect((await writeEntries(deps.journal))[0]!.data).toMatchObject({ failoverType: "Unplanned", requestIds: [post!.requestId] });
    expect(second).toMatchObject({ changed: false, method: "none" });
    expect(writesSince(fx, afterFirst)).toEqual([]);
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

    expect(error).toMatchObject({ code: "FailoverImpossible" });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("waits for a failover already in progress instead of sending another", async () => {
    const deps = depsWith(fx);
    const a = fx.plan.storage[0]!.account;
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 100 } });
    await fx.clients.storage(a.subscriptionId).storageAccounts.failover(a.resourceGroup, a.name, { ...FAST_POLL, failoverType: "Planned" }).submitted();
    const mark = requestMark(fx);

    const result = await failoverStorageAccount(dataInput(fx), deps);

    expect(result).toMatchObject({ changed: false, method: "none" });
    expect(writesSince(fx, mark)).toEqual([]);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, failoverInProgress: false });
    const entries = await deps.journal.read(RUN);
    expect(entries.map((e) => e.kind)).toEqual(["wait"]);
  });

  it("gives up waiting for someone else's failover after its limit, with a retryable error", async () => {
    const a = fx.plan.storage[0]!.account;
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 3_600_000 } });
    await fx.clients.storage(a.subscriptionId).storageAccounts.failover(a.resourceGroup, a.name, { ...FAST_POLL, failoverType: "Planned" }).submitted();
    let hours = 0;
    const deps = { ...depsWith(fx), clock: () => new Date(Date.now() + hours++ * 3_600_000) };
    const mark = requestMark(fx);

    const error = await rejection(failoverStorageAccount(dataInput(fx), deps));

    expect(error).toMatchObject({ code: "FailoverStillInProgress", retryable: true });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("surfaces a throttled failover request as a retryable error with Retry-After, and journals the refused write", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_Failover", count: 1, retryAfterSeconds: 5 });
    const mark = requestMark(fx);

    const error = await rejection(failoverStorageAccount(dataInput(fx), deps));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 5, details: { status: 429 } });
    expect(await operationStatuses(deps.journal)).toEqual([]);
    expect((await writeEntries(deps.journal))[0]!.data).toMatchObject({ result: expect.stringMatching(/^failed/), requestIds: [loggedWriteIds(fx, mark)[0]] });
    expect(storedAccount(fx).primaryLocation).toBe(regions(fx).primary);
  });

  it("surfaces a 500 on the failover request as a retryable error", async () => {
    fx.estate.addFault({ kind: "serverError", operationId: "StorageAccounts_Failover", count: 1, status: 500 });

    const error = await rejection(failoverStorageAccount(dataInput(fx), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, details: { status: 500 } });
  });

  it("reports an operation that ends Failed as non-retryable, and the journal shows it failed", async () => {
    const deps = depsWith(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 1 });

    const error = await rejection(failoverStorageAccount(dataInput(fx), deps));

    expect(error).toBeInstanceOf(AzureRequestError);
    expect(error.retryable).toBe(false);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).primary, failoverInProgress: false });
    expect(await operationStatuses(deps.journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) failed"]);
    expect((await writeEntries(deps.journal))[0]!.data).toMatchObject({ result: expect.stringMatching(/^failed/) });
  });
});

describe("failoverStorageAccount on the estate's clock", () => {
  const T0 = Date.parse("2025-03-01T12:00:00Z");
  let now = T0;
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ estate: { clock: () => now } });

  it("resumes the failover a crashed attempt started instead of sending a second one", async () => {
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 60_000 } });
    const journal = new CrashingJournal();
    const mark = requestMark(fx);

    await expect(failoverStorageAccount(dataInput(fx), depsWith(fx, journal))).rejects.toThrow("process killed");
    now += 60_000;
    const resumed = await failoverStorageAccount(dataInput(fx), depsWith(fx, journal.restart()));

    expect(resumed).toMatchObject({ changed: true, method: "planned" });
    expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
    expect(storedAccount(fx).primaryLocation).toBe(regions(fx).secondary);
    expect(await operationStatuses(journal)).toEqual(["StorageAccounts_Failover (Planned) running", "StorageAccounts_Failover (Planned) succeeded"]);
  });

  it.each([
    [false, "PlannedFailoverImpossible"],
    [true, undefined],
  ])("when the primary region goes down during a planned failover (data loss allowed: %s)", async (allowDataLoss, code) => {
    fx.estate.setTiming({ durations: { StorageAccounts_Failover: 60_000 } });
    // Each failover the activity sends completes one estate minute later; the first finds the primary down.
    const journal = new HookedJournal(async () => {
      await fx.estate.setRegion(regions(fx).primary, { down: true });
      now += 60_000;
    });
    const mark = requestMark(fx);

    const outcome = failoverStorageAccount(dataInput(fx, { allowDataLoss }), depsWith(fx, journal));

    if (code) {
      expect(await rejection(outcome)).toMatchObject({ code });
      expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover"]);
      expect(storedAccount(fx).primaryLocation).toBe(regions(fx).primary);
    } else {
      expect(await outcome).toMatchObject({ changed: true, method: "forced" });
      expect(writesSince(fx, mark)).toEqual(["POST StorageAccounts_Failover", "POST StorageAccounts_Failover"]);
      expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, sku: "Standard_LRS" });
    }
  });
});

describe("reprotectStorageAccount", () => {
  const fx = useEstate();

  it("sets the plan's geo-redundant SKU back after an unplanned failover; a second run writes nothing", async () => {
    const deps = depsWith(fx);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    await failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), deps);
    await fx.estate.setRegion(regions(fx).primary, { down: false });
    const mark = requestMark(fx);

    const first = await reprotectStorageAccount(dataInput(fx), deps);
    const second = await reprotectStorageAccount(dataInput(fx), deps);

    expect(first).toMatchObject({ changed: true, method: "none" });
    expect(second).toMatchObject({ changed: false, method: "none", requestIds: [] });
    expect(writesSince(fx, mark)).toEqual(["PATCH StorageAccounts_Update"]);
    expect(storedAccount(fx)).toMatchObject({ primaryLocation: regions(fx).secondary, secondaryLocation: regions(fx).primary, sku: "Standard_RAGRS" });
    const writes = (await writeEntries(deps.journal)).filter((w) => w.data?.operation === "StorageAccounts_Update");
    expect(writes).toHaveLength(1);
    expect(writes[0]!.data).toMatchObject({ result: "succeeded", sku: "Standard_RAGRS", from: "Standard_LRS", requestIds: loggedWriteIds(fx, mark) });
    expect(first.requestIds).toEqual(loggedWriteIds(fx, mark));
  });

  it("writes nothing for an account that is still geo-redundant", async () => {
    const mark = requestMark(fx);

    const result = await reprotectStorageAccount(dataInput(fx, { index: 1 }), depsWith(fx));

    expect(result).toMatchObject({ changed: false, resourceId: fx.plan.storage[1]!.account.id });
    expect(writesSince(fx, mark)).toEqual([]);
  });

  it("surfaces a throttled update as a retryable error and journals the refused write", async () => {
    const deps = depsWith(fx);
    const media = fx.plan.storage[1]!.account;
    await fx.clients.storage(media.subscriptionId).storageAccounts.failover(media.resourceGroup, media.name, FAST_POLL);
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_Update", count: 1, retryAfterSeconds: 2 });

    const error = await rejection(reprotectStorageAccount(dataInput(fx, { index: 1 }), deps));

    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 2, details: { status: 429 } });
    expect((await writeEntries(deps.journal))[0]!.data).toMatchObject({ operation: "StorageAccounts_Update", result: expect.stringMatching(/^failed/) });
    expect(storedAccount(fx, 1).sku).toBe("Standard_LRS");
  });
});

// ---- replication measurement ---------------------------------------------------------------------

describe("measureReplication", () => {
  const fx = useEstate();
  const measureInput = (overrides: Partial<{ to: string; plan: EstateFixture["plan"] }> = {}) => ({ runId: RUN, plan: fx.plan, to: regions(fx).secondary, ...overrides });

  it("reports storage lag from lastSyncTime, SQL lag as unknown, and so no maximum; it writes and journals nothing", async () => {
    const deps = depsWith(fx);
    fx.estate.setLag(fx.plan.storage[0]!.account.id, 120);
    const mark = requestMark(fx);

    const result = await measureReplication(measureInput(), deps);

    const [data, media] = result.storage;
    expect(data!.lagSeconds).toBeGreaterThanOrEqual(120);
    expect(data!.lagSeconds).toBeLessThanOrEqual(121);
    expect(media!.lagSeconds).toBeLessThanOrEqual(1);
    expect(data).toMatchObject({ account: fx.plan.storage[0]!.account.id, status: "Live", canPlannedFailover: true, canFailover: true, primaryLocation: regions(fx).primary });
    expect(Date.parse(data!.lastSyncTime!)).toBeLessThanOrEqual(Date.parse(result.at) - 119_000);
    expect(result.sql).toEqual(
      fx.plan.sql.map((g) => ({ failoverGroup: g.failoverGroup.id, lagSeconds: null, replicationState: "CATCH_UP", roleInTarget: "Secondary" })),
    );
    expect(result.maxLagSeconds).toBeNull();
    expect(writesSince(fx, mark)).toEqual([]);
    expect(await deps.journal.read(RUN)).toEqual([]);
  });

  it("gives the largest storage lag as the maximum when the plan has no SQL groups", async () => {
    fx.estate.setLag(fx.plan.storage[0]!.account.id, 30);
    fx.estate.setLag(fx.plan.storage[1]!.account.id, 240);

    const result = await measureReplication(measureInput({ plan: { ...fx.plan, sql: [] } }), depsWith(fx));

    expect(result.sql).toEqual([]);
    expect(result.maxLagSeconds).toBeGreaterThanOrEqual(240);
    expect(result.maxLagSeconds).toBeLessThanOrEqual(241);
  });

  it("shows roles and state as seen from the target region, and an account with no secondary as unmeasurable", async () => {
    const deps = depsWith(fx);
    await fx.estate.setRegion(regions(fx).primary, { down: true });
    await failoverSqlGroup(dataInput(fx, { allowDataLoss: true }), deps);
    await failoverStorageAccount(dataInput(fx, { allowDataLoss: true }), deps);

    const result = await measureReplication(measureInput({ plan: { ...fx.plan, sql: fx.plan.sql.slice(0, 1) } }), deps);

    expect(result.sql).toEqual([{ failoverGroup: fx.plan.sql[0]!.failoverGroup.id, lagSeconds: null, replicationState: "SUSPENDED", roleInTarget: "Primary" }]);
    expect(result.storage[0]).toMatchObject({ lagSeconds: null, lastSyncTime: null, status: "NoSecondary", canFailover: false, primaryLocation: regions(fx).secondary });
    expect(result.storage[1]).toMatchObject({ status: "Live", canPlannedFailover: false, canFailover: true });
  });

  it("surfaces a throttled read as a retryable error", async () => {
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_GetProperties", count: 1, retryAfterSeconds: 4 });

    const error = await rejection(measureReplication(measureInput(), depsWith(fx)));

    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 4 });
  });
});
