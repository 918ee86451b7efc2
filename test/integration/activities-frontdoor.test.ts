import { fileURLToPath } from "node:url";
import { AZURE_PROFILE, scaleProfile } from "../../estate/profile.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FRONT_DOOR_DEADLINE_SECONDS, FRONT_DOOR_POLL_SECONDS, pollFrontDoorClassic, pollFrontDoorStandard, switchFrontDoorClassic, switchFrontDoorStandard } from "../../src/activities/frontdoor.ts";
import { blobFrontDoorLease } from "../../src/activities/frontDoorLease.ts";
import { switchAppService } from "../../src/activities/appService.ts";
import { verifyPrimary } from "../../src/activities/verify.ts";
import type { FrontDoorLease } from "../../src/activities/deps.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import { AzureRequestError } from "../../src/core/errors.ts";
import { loadPlanFile, parsePlan, type Plan } from "../../src/core/plan/index.ts";
import { Activities, OPERATION_ENDED, type SwitchInput } from "../../src/core/run/model.ts";
import type { Journal, JournalEntry } from "../../src/journal/journal.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { withAllChecks, activityDeps, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { collect, FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { converge, pendingsOf, watch } from "../helpers/frontDoor.ts";

/*
 * The Front Door activities in the monitor pattern, with the real SDK clients against the estate at
 * time scale 1000 and a clock the tests move: an origin update or a classic PUT lasts 300 ms of the
 * estate's time, propagation 300 ms more.
 */

const PLAN = fileURLToPath(new URL("../fixtures/tailspin.plan.json", import.meta.url));
// Durations at time scale 1000, from the Azure time profile (the operation, then propagation; a restart).
const SCALED = scaleProfile(AZURE_PROFILE, 1000);
const OPERATION_MS = SCALED.durationsMs.AFDOrigins_Update!;
const PROPAGATION_MS = SCALED.effectsMs.frontDoorPropagation;
const RESTART_MS = SCALED.effectsMs.appRestart;
const RUN = "tailspin-tickets.20260302T090000Z.failover-f00d";

let now = Date.parse("2026-03-02T09:00:00Z");
const tick = () => {
  now += OPERATION_MS;
};

function input(fx: { plan: Plan }, to: string, disableOther: boolean, extra: Partial<SwitchInput> = {}): SwitchInput {
  return { runId: RUN, plan: fx.plan, index: 0, to, disableOther, ...extra };
}

function afd(fx: EstateFixture) {
  const spec = fx.plan.frontDoor.standard[0]!;
  const g = spec.originGroup;
  const client = fx.clients.cdn(g.subscriptionId);
  const [rg, profile, group] = [g.resourceGroup, g.names[0]!, g.name];
  const id = (name: string) => `${g.id}/origins/${name}`;
  return {
    client,
    weu: spec.origins.westeurope!,
    neu: spec.origins.northeurope!,
    id,
    update: (name: string, change: { priority?: number; enabledState?: "Enabled" | "Disabled" }) => client.afdOrigins.beginUpdate(rg, profile, group, name, change, FAST_POLL),
    /** [priority, enabledState] by region. */
    state: async () => {
      const origins = await collect(client.afdOrigins.listByOriginGroup(rg, profile, group));
      const of = (name: string) => origins.find((o) => o.name === name)!;
      return { westeurope: [of(spec.origins.westeurope!).priority, of(spec.origins.westeurope!).enabledState], northeurope: [of(spec.origins.northeurope!).priority, of(spec.origins.northeurope!).enabledState] };
    },
  };
}

function classic(fx: { plan: Plan; clients: ClientFactory }, index = 0) {
  const spec = fx.plan.frontDoor.classic[index]!;
  const client = fx.clients.frontDoor(spec.frontDoor.subscriptionId);
  const get = () => client.frontDoors.get(spec.frontDoor.resourceGroup, spec.frontDoor.name);
  return {
    client,
    spec,
    get,
    /** [priority, enabledState] by region, in the plan's pool. */
    state: async () => {
      const fd = await get();
      const pool = fd.backendPools!.find((p) => p.name === spec.backendPool)!;
      const of = (region: string) => pool.backends!.find((b) => b.address === spec.backends[region])!;
      return { westeurope: [of("westeurope").priority, of("westeurope").enabledState], northeurope: [of("northeurope").priority, of("northeurope").enabledState] };
    },
  };
}

const entries = async (deps: TestDeps, kind: JournalEntry["kind"]) => (await deps.journal.read(RUN)).filter((e) => e.kind === kind);

/** A journal that stores an entry and then "kills the process" right after an operation was accepted. */
class KilledAfterAccept implements Journal {
  constructor(private readonly inner: Journal) {}
  async append(entry: JournalEntry): Promise<void> {
    await this.inner.append(entry);
    if (entry.kind === "operation" && entry.data?.status === "running") throw new Error("process killed right after the write was accepted");
  }
  read(runId: string) {
    return this.inner.read(runId);
  }
  listRuns() {
    return this.inner.listRuns();
  }
}

/** A lease that records what it was asked (the blob one is tested against Azurite below). */
function recordingLease(): FrontDoorLease & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    async acquire(id) {
      log.push(`acquire ${id}`);
      return { release: async () => void log.push(`release ${id}`) };
    },
  };
}

// ---- AFD Standard/Premium ----------------------------------------------------------------------

describe("switchFrontDoorStandard and pollFrontDoorStandard", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  it("updates both origins at once when the target's is enabled, journals both tokens, and returns them as pending; a second call watches them again and writes nothing", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id, state } = afd(fx);
    const mark = requestMark(fx);

    const first = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);
    const afterFirst = requestMark(fx);
    const second = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);

    expect(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => [r.operationId, r.path.split("/").pop()]).sort()).toEqual([
      ["AFDOrigins_Update", neu],
      ["AFDOrigins_Update", weu],
    ]);
    expect(first).toMatchObject({ resourceId: fx.plan.frontDoor.standard[0]!.originGroup.id, changed: true });
    expect(pendingsOf(first).map((p) => [p.resourceId, p.operation, p.poll, p.pollSeconds, p.deadlineSeconds])).toEqual([
      [id(neu), "AFDOrigins_Update", Activities.pollFrontDoorStandard, FRONT_DOOR_POLL_SECONDS, FRONT_DOOR_DEADLINE_SECONDS],
      [id(weu), "AFDOrigins_Update", Activities.pollFrontDoorStandard, FRONT_DOOR_POLL_SECONDS, FRONT_DOOR_DEADLINE_SECONDS],
    ]);
    expect(first.requestIds).toEqual(expect.arrayContaining(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.requestId)));
    const running = await entries(deps, "operation");
    expect(running.map((e) => [e.data?.resourceId, e.data?.status, typeof e.data?.resumeToken])).toEqual(
      expect.arrayContaining([
        [id(neu), "running", "string"],
        [id(weu), "running", "string"],
      ]),
    );
    // The second call finds both in flight: the same operations, no write.
    expect(writesSince(fx, afterFirst)).toEqual([]);
    expect(pendingsOf(second).map((p) => [p.resourceId, p.operation])).toEqual(pendingsOf(first).map((p) => [p.resourceId, p.operation]));
    expect([...pendingsOf(first), ...pendingsOf(second)].map((p) => p.resumeToken)).toEqual([undefined, undefined, undefined, undefined]);
    expect(await state()).toEqual({ westeurope: [1, "Enabled"], northeurope: [2, "Enabled"] });

    const stillRunning = await pollFrontDoorStandard({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);
    now += OPERATION_MS;
    const polls = await watch(pendingsOf(first), input(fx, "northeurope", true), deps, tick);
    const third = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);

    expect(stillRunning).toMatchObject({ status: "running", retryAfterSeconds: 0 });
    expect(stillRunning.requestIds.length).toBeGreaterThan(0);
    expect(polls.map((p) => p.status)).toEqual(["succeeded", "succeeded"]);
    expect((await entries(deps, "operation")).filter((e) => e.data?.status === "succeeded").map((e) => e.data?.resourceId).sort()).toEqual([id(neu), id(weu)].sort());
    expect(third).toEqual({ resourceId: first.resourceId, changed: false, requestIds: [] });
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
    expect((await entries(deps, "write")).map((w) => [w.data?.origin, w.data?.result]).sort()).toEqual([
      [neu, "accepted"],
      [weu, "accepted"],
    ]);
  });

  it("answers a poll run again after it journaled the end (the run never recorded its answer) with that end, asking Azure nothing", async () => {
    const deps = activityDeps(fx);
    const first = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);
    now += OPERATION_MS;
    const polls = await watch(pendingsOf(first), input(fx, "northeurope", true), deps, tick);
    const mark = requestMark(fx);

    const again = await Promise.all(pendingsOf(first).map((pending) => pollFrontDoorStandard({ runId: RUN, plan: fx.plan, pending }, deps)));

    expect(polls.map((p) => p.status)).toEqual(["succeeded", "succeeded"]);
    expect(again).toEqual([
      { status: "succeeded", requestIds: [] },
      { status: "succeeded", requestIds: [] },
    ]);
    expect(fx.estate.requests({ since: mark })).toEqual([]);
    expect((await entries(deps, "operation")).map((e) => e.data?.status)).toEqual(["running", "running", "succeeded", "succeeded"]);
  });

  it("changes the target's origin first when it is disabled, and the other only on the call after it has been applied", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id, update, state } = afd(fx);
    const setup = await update(neu, { enabledState: "Disabled" });
    now += OPERATION_MS;
    await setup.pollUntilDone();
    const mark = requestMark(fx);

    const first = await switchFrontDoorStandard(input(fx, "northeurope", false), deps);
    const onlyTarget = writesSince(fx, mark);
    const rounds = await converge(switchFrontDoorStandard, input(fx, "northeurope", false), deps, tick);

    expect(onlyTarget).toEqual(["PATCH AFDOrigins_Update"]);
    expect(pendingsOf(first).map((p) => p.resourceId)).toEqual([id(neu)]);
    expect(first.alsoPending).toBeUndefined();
    // converge: the target's update is watched again, then the other's is started, then nothing is left.
    expect(rounds.map((r) => pendingsOf(r).map((p) => p.resourceId))).toEqual([[id(neu)], [id(weu)], []]);
    expect(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.path.split("/").pop())).toEqual([neu, weu]);
    expect(await state()).toEqual({ westeurope: [2, "Enabled"], northeurope: [1, "Enabled"] });
  });

  it("reports an update that ended Failed as a non-retryable error of the poll, journals its end, and the next call sends it again", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id, state } = afd(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "AFDOrigins_Update", count: 1, resourceId: id(neu) });

    const first = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);
    now += OPERATION_MS;
    const [target, other] = pendingsOf(first);
    const failed = await pollFrontDoorStandard({ runId: RUN, plan: fx.plan, pending: target! }, deps).catch((e: unknown) => e);
    const succeeded = await pollFrontDoorStandard({ runId: RUN, plan: fx.plan, pending: other! }, deps);
    const mark = requestMark(fx);
    const again = await converge(switchFrontDoorStandard, input(fx, "northeurope", true), deps, tick);

    expect(failed).toBeInstanceOf(AzureRequestError);
    expect(failed).toMatchObject({ retryable: false, details: { operation: "AFDOrigins_Update" } });
    expect((failed as Error).message).toMatch(/the update of origin tickets-neu ended without being applied/);
    expect(succeeded.status).toBe("succeeded");
    expect((await entries(deps, "operation")).filter((e) => e.data?.resourceId === id(neu)).map((e) => e.data?.status)).toEqual(["running", "failed", "running", "succeeded"]);
    expect(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.path.split("/").pop())).toEqual([neu]);
    expect(again.at(-1)).toMatchObject({ changed: false });
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
    void weu;
  });

  it("turns a throttled PATCH into a retryable error with Retry-After; the update that was accepted is watched by the retry, not sent again", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id } = afd(fx);
    fx.estate.addFault({ kind: "throttle", operationId: "AFDOrigins_Update", count: 1, retryAfterSeconds: 7, resourceId: id(neu) });

    const attempt = await switchFrontDoorStandard(input(fx, "northeurope", true), deps).catch((e: unknown) => e);
    const writes = await entries(deps, "write");
    const mark = requestMark(fx);
    const retry = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);
    const noWrite = writesSince(fx, mark);
    now += OPERATION_MS;
    await watch(pendingsOf(retry), input(fx, "northeurope", true), deps, tick);
    const next = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);

    expect(attempt).toMatchObject({ retryable: true, retryAfterSeconds: 7, details: { status: 429, operation: "AFDOrigins_Update" } });
    expect(writes.map((w) => [w.data?.origin, String(w.data?.result).split(":")[0]]).sort()).toEqual([
      [neu, "failed"],
      [weu, "accepted"],
    ]);
    expect(noWrite).toEqual([]);
    expect(pendingsOf(retry).map((p) => p.resourceId)).toEqual([id(weu)]);
    expect(pendingsOf(next).map((p) => p.resourceId)).toEqual([id(neu)]);
  });

  it("watches an origin busy with an update this run cannot resume (its attempt died before journaling the token), then compares again", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id, update, state } = afd(fx);
    // What an attempt killed between Azure's 202 and the journal append leaves: an update nobody tracks.
    const lost = await update(neu, { priority: 1 });
    const mark = requestMark(fx);

    const first = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);
    const whileBusy = await pollFrontDoorStandard({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);
    now += OPERATION_MS;
    await lost.pollUntilDone();
    const rounds = await converge(switchFrontDoorStandard, input(fx, "northeurope", true), deps, tick);

    expect(pendingsOf(first).map((p) => [p.resourceId, p.operation, p.resumeToken])).toEqual([[id(neu), "AFDOrigins_Update (started elsewhere)", undefined]]);
    expect(first.changed).toBe(false);
    expect((await entries(deps, "wait")).map((e) => e.message)).toEqual([expect.stringContaining("an update this run cannot resume is in flight")]);
    expect(whileBusy.status).toBe("running");
    // Once it ended: only the other origin's update, nothing sent again to the one that was busy.
    expect(fx.estate.requests({ since: mark, writesOnly: true }).map((r) => r.path.split("/").pop())).toEqual([weu]);
    expect(rounds.at(-1)).toMatchObject({ changed: false });
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
  });

  it("journals each token as soon as Azure accepted the update: a rerun after a crash watches them and writes nothing", async () => {
    const deps = activityDeps(fx);
    const { weu, neu, id } = afd(fx);

    await expect(switchFrontDoorStandard(input(fx, "northeurope", true), { ...deps, journal: new KilledAfterAccept(deps.journal) })).rejects.toThrow("process killed");
    const mark = requestMark(fx);
    const rerun = await switchFrontDoorStandard(input(fx, "northeurope", true), deps);

    expect(writesSince(fx, mark)).toEqual([]);
    expect(pendingsOf(rerun).map((p) => p.resourceId).sort()).toEqual([id(neu), id(weu)].sort());
  });

  it("refuses, before any write, a plan origin the group does not have", async () => {
    const deps = activityDeps(fx);
    const spec = fx.plan.frontDoor.standard[0]!;
    const plan: Plan = { ...fx.plan, frontDoor: { ...fx.plan.frontDoor, standard: [{ ...spec, origins: { ...spec.origins, westeurope: "no-such-origin" } }] } };
    const mark = requestMark(fx);

    await expect(switchFrontDoorStandard({ ...input(fx, "northeurope", true), plan }, deps)).rejects.toMatchObject({ code: "OriginNotFound", retryable: false });
    expect(writesSince(fx, mark)).toEqual([]);
  });
});

// ---- Front Door classic ---------------------------------------------------------------------------

describe("switchFrontDoorClassic and pollFrontDoorClassic", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  it("sends one GET and one PUT under the Front Door's lease, returns the update as pending, and a second call writes nothing", async () => {
    const lease = recordingLease();
    const deps = { ...activityDeps(fx), frontDoorLease: lease };
    const { spec, state } = classic(fx);
    const poolId = `${spec.frontDoor.id}/backendPools/${spec.backendPool}`;
    const mark = requestMark(fx);

    const first = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);
    const calls = fx.estate.requests({ since: mark }).map((r) => r.operationId);
    const afterFirst = requestMark(fx);
    const second = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);
    const running = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);
    now += OPERATION_MS;
    const done = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);
    const third = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);

    // GET, PUT, and the read after the write (still under the lease).
    expect(calls).toEqual(["FrontDoors_Get", "FrontDoors_CreateOrUpdate", "FrontDoors_Get"]);
    expect(lease.log).toEqual([`acquire ${spec.frontDoor.id}`, `release ${spec.frontDoor.id}`, `acquire ${spec.frontDoor.id}`, `release ${spec.frontDoor.id}`]);
    expect(first.pending).toMatchObject({ resourceId: poolId, operation: "FrontDoors_CreateOrUpdate", poll: Activities.pollFrontDoorClassic, pollSeconds: FRONT_DOOR_POLL_SECONDS });
    expect(first.alsoPending).toBeUndefined();
    expect(writesSince(fx, afterFirst)).toEqual([]);
    expect(second.pending).toMatchObject({ resourceId: poolId, operation: "FrontDoors_CreateOrUpdate" });
    expect(running.status).toBe("running");
    expect(done.status).toBe("succeeded");
    expect((await entries(deps, "operation")).map((e) => e.data?.status)).toEqual(["running", "succeeded"]);
    expect(third).toEqual({ resourceId: spec.frontDoor.id, changed: false, requestIds: [] });
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
  });

  it("answers a poll run again after it journaled the end with success, reading the Front Door and writing nothing", async () => {
    const deps = activityDeps(fx);
    const { state } = classic(fx);
    const first = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);
    now += OPERATION_MS;
    const done = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);
    const mark = requestMark(fx);

    const again = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps);

    expect(done.status).toBe("succeeded");
    expect(again).toEqual({ status: "succeeded", requestIds: [] });
    expect(fx.estate.requests({ since: mark }).map((r) => r.operationId)).toEqual(["FrontDoors_Get"]);
    expect((await entries(deps, "operation")).map((e) => e.data?.status)).toEqual(["running", "succeeded"]);
    expect(await entries(deps, "decision")).toEqual([]);
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
  });

  it("answers a poll run again after it journaled a Failed end with the same non-retryable end, writing nothing", async () => {
    const deps = activityDeps(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "FrontDoors_CreateOrUpdate", count: 1 });
    const first = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);
    now += OPERATION_MS;
    const failed = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps).catch((e: unknown) => e);
    const mark = requestMark(fx);

    const again = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps).catch((e: unknown) => e);

    expect(failed).toMatchObject({ retryable: false, code: OPERATION_ENDED });
    expect(again).toMatchObject({ retryable: false, code: OPERATION_ENDED, details: { operation: "FrontDoors_CreateOrUpdate" } });
    expect(fx.estate.requests({ since: mark })).toEqual([]);
  });

  it("reports an update that ended Failed as a non-retryable poll error; the Front Door shows Failed and the next call writes it again", async () => {
    const deps = activityDeps(fx);
    const { get, state } = classic(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "FrontDoors_CreateOrUpdate", count: 1 });

    const first = await switchFrontDoorClassic(input(fx, "northeurope", true), deps);
    now += OPERATION_MS;
    const failed = await pollFrontDoorClassic({ runId: RUN, plan: fx.plan, pending: first.pending! }, deps).catch((e: unknown) => e);
    const shown = (await get()).provisioningState;
    const mark = requestMark(fx);
    await converge(switchFrontDoorClassic, input(fx, "northeurope", true), deps, tick);

    expect(failed).toMatchObject({ retryable: false, details: { operation: "FrontDoors_CreateOrUpdate" } });
    expect(shown).toBe("Failed");
    expect((await entries(deps, "operation")).map((e) => e.data?.status)).toEqual(["running", "failed", "running", "succeeded"]);
    expect(writesSince(fx, mark)).toEqual(["PUT FrontDoors_CreateOrUpdate"]);
    expect(await state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
  });

  it("does not PUT over another writer's update in flight: it watches it end, then writes on top of it", async () => {
    const deps = activityDeps(fx);
    const { client, spec, get, state } = classic(fx);
    // Another writer's PUT (a weight change on the pool) is in flight.
    const theirs = await get();
    theirs.backendPools!.find((p) => p.name === spec.backendPool)!.backends!.forEach((b) => (b.weight = 60));
    const other = client.frontDoors.createOrUpdate(spec.frontDoor.resourceGroup, spec.frontDoor.name, theirs, FAST_POLL);
    await other.submitted();
    const mark = requestMark(fx);

    const first = await switchFrontDoorClassic(input(fx, "northeurope", false), deps);
    const noWrite = writesSince(fx, mark);
    now += OPERATION_MS + PROPAGATION_MS;
    await other.pollUntilDone();
    await converge(switchFrontDoorClassic, input(fx, "northeurope", false), deps, tick);
    const after = await get();

    expect(first.pending).toMatchObject({ operation: "FrontDoors_CreateOrUpdate (started elsewhere)" });
    expect(noWrite).toEqual([]);
    expect(await state()).toEqual({ westeurope: [2, "Enabled"], northeurope: [1, "Enabled"] });
    expect(after.backendPools!.find((p) => p.name === spec.backendPool)!.backends!.map((b) => b.weight)).toEqual([60, 60]);
  });
});

// ---- two plans, one classic Front Door --------------------------------------------------------------

describe("two plans sharing one classic Front Door, switching at the same time (blob leases in Azurite)", () => {
  let estate: Estate;
  let azurite: AzuriteBlob;
  let clients: ClientFactory;
  let tickets: Plan;
  let refunds: Plan;

  beforeAll(async () => {
    tickets = await loadPlanFile(PLAN);
    const fd = tickets.frontDoor.classic[0]!.frontDoor.id;
    refunds = parsePlan({
      name: "tailspin-refunds",
      regions: {
        primary: { name: "westeurope", healthEndpoints: [{ url: "https://refunds-weu.tailspin.example/status" }] },
        secondary: { name: "northeurope", healthEndpoints: [{ url: "https://refunds-neu.tailspin.example/status" }] },
      },
      objectives: { rpoSeconds: 300, rtoMinutes: 30 },
      frontDoor: { classic: [{ frontDoor: fd, backendPool: "refunds-pool", backends: { westeurope: "refunds-weu.tailspin.example", northeurope: "refunds-neu.tailspin.example" } }] },
    });
    [estate, azurite] = await Promise.all([startEstate({ seed: seedFromPlans([tickets, refunds]), timeScale: 1000, clock: () => now }), startAzuriteBlob()]);
    clients = new ClientFactory({ target: estate.clientTarget(), blobStore: { connectionString: azurite.connectionString }, maxRetries: 0 });
  });
  afterAll(async () => {
    await estate?.close();
    await azurite?.stop();
  });

  it("takes the lease in turn, never PUTs over the other's update, and both pool changes hold", async () => {
    const container = clients.blobService().getContainerClient("switchyard-state");
    const lease = blobFrontDoorLease(container, { waitMs: 10_000, retryMs: 20 });
    const fixture = { estate, clients } as EstateFixture;
    const depsFor = () => ({ ...activityDeps(fixture), frontDoorLease: lease });
    const [ticketsDeps, refundsDeps] = [depsFor(), depsFor()];
    const runOf = (plan: Plan) => ({ runId: RUN, plan, index: 0, to: "northeurope", disableOther: true });
    const mark = estate.requests().at(-1)?.seq ?? 0;

    const [ticketsRounds, refundsRounds] = await Promise.all([
      converge(switchFrontDoorClassic, runOf(tickets), ticketsDeps, tick, 8),
      converge(switchFrontDoorClassic, runOf(refunds), refundsDeps, tick, 8),
    ]);
    now += PROPAGATION_MS;

    expect(await classic({ plan: tickets, clients }).state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
    expect(await classic({ plan: refunds, clients }).state()).toEqual({ westeurope: [2, "Disabled"], northeurope: [1, "Enabled"] });
    // Two PUTs in all, one per plan; the plan that came second watched the first one's update before its own.
    expect(estate.requests({ since: mark, writesOnly: true }).map((r) => r.operationId)).toEqual(["FrontDoors_CreateOrUpdate", "FrontDoors_CreateOrUpdate"]);
    const waited = [ticketsRounds, refundsRounds].filter((rounds) => rounds[0]!.pending?.operation === "FrontDoors_CreateOrUpdate (started elsewhere)");
    expect(waited).toHaveLength(1);
  });

  it("gives the lease to one holder at a time; another waits, then gives up with a retryable error", async () => {
    const container = clients.blobService().getContainerClient("switchyard-state");
    const lease = blobFrontDoorLease(container, { waitMs: 200, retryMs: 20 });
    const id = tickets.frontDoor.classic[0]!.frontDoor.id;

    const held = await lease.acquire(id);
    const busy = await lease.acquire(id).catch((e: unknown) => e);
    const other = await lease.acquire(`${id}-other`);
    await held.release();
    const next = await lease.acquire(id.toUpperCase());
    await Promise.all([next.release(), other.release()]);

    expect(busy).toMatchObject({ code: "FrontDoorLeaseBusy", retryable: true });
  });
});

// ---- verification where users are ----------------------------------------------------------------

describe("verifyPrimary through Front Door, while changes settle", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  /** Starts both Front Door switches, lets their operations end (not their propagation), and checks nothing is left to start. */
  async function switchFrontDoors(deps: TestDeps, to: string, disableOther: boolean) {
    const started = await Promise.all([switchFrontDoorStandard(input(fx, to, disableOther), deps), switchFrontDoorClassic(input(fx, to, disableOther), deps)]);
    now += OPERATION_MS;
    await watch(started.flatMap(pendingsOf), input(fx, to, disableOther), deps, tick);
    const again = await Promise.all([switchFrontDoorStandard(input(fx, to, disableOther), deps), switchFrontDoorClassic(input(fx, to, disableOther), deps)]);
    expect(again.map((r) => r.changed)).toEqual([false, false]);
  }

  it("settles while the changes propagate and the target's app restarts, then passes; reads no site", async () => {
    const deps = activityDeps(fx);
    await switchFrontDoors(deps, "northeurope", false);
    for (const index of [0, 1]) await switchAppService(input(fx, "northeurope", false, { index }), deps);
    const mark = requestMark(fx);

    const settling = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: "northeurope" }, deps);
    now += RESTART_MS;
    const propagating = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: "northeurope" }, deps);
    // Two origin updates of one profile: the second is deployed after the first (one propagation each).
    now += 2 * PROPAGATION_MS;
    const live = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: "northeurope" }, deps);

    const failing = (r: typeof settling) => r.checks.filter((c) => !c.ok).map((c) => [c.what.replace(/ [a-z0-9-]+\.z01\.azurefd\.net/, " <endpoint>"), c.settling]);
    expect(settling).toMatchObject({ ok: false, settling: true });
    expect(failing(settling)).toEqual([
      ["health endpoints of northeurope", true],
      ["Front Door origin group tailspin-afd/tickets", true],
      ["Front Door endpoint <endpoint> (origin group tickets)", true],
      ["Front Door (classic) tailspin-legacy backend pool tickets-pool", true],
      ["Front Door (classic) tailspin-legacy frontend tailspin-legacy.azurefd.net", true],
    ]);
    expect(settling.checks.find((c) => c.what.startsWith("Front Door origin group"))!.detail).toMatch(/still deploying to the edge \(deploymentStatus InProgress/);
    // Both regions' apps restart (one site in each was written): nothing can serve through the edge yet.
    expect(settling.checks.find((c) => c.what.startsWith("Front Door endpoint"))!.detail).toMatch(/^\/status\?probe=1: answers 503 .*expected 200 from northeurope/);
    // Restarts over: the edge still serves the configuration before the switch.
    expect(propagating.checks.find((c) => c.what.startsWith("Front Door endpoint"))!.detail).toMatch(/^\/status\?probe=1: answers 200 from westeurope, expected 200 from northeurope/);
    expect(settling.checks.find((c) => c.what.startsWith("health"))!.detail).toMatch(/got 503 \(restarting after this run's settings writes\)/);
    expect(propagating).toMatchObject({ ok: false, settling: true });
    expect(failing(propagating).map(([what]) => what)).not.toContain("health endpoints of northeurope");
    expect(live.ok).toBe(true);
    expect(live.checks.filter((c) => c.what.includes("azurefd.net")).map((c) => c.detail)).toEqual(["/status?probe=1: answers 200 from northeurope", "/status?probe=1: answers 200 from northeurope"]);
    expect(fx.estate.requests({ since: mark }).filter((r) => r.operationId === "WebApps_Get")).toEqual([]);
  });

  it("does not settle when the target region itself is down", async () => {
    const deps = activityDeps(fx);
    await switchFrontDoors(deps, "northeurope", false);
    now += PROPAGATION_MS;
    await fx.estate.setRegion("northeurope", { down: true, healthWhenDown: "503" });

    const result = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: "northeurope" }, deps);

    expect(result.ok).toBe(false);
    expect(result.settling).toBeUndefined();
    expect(result.checks.find((c) => c.what === "health endpoints of northeurope")).toMatchObject({ ok: false });
    expect(result.checks.find((c) => c.what === "health endpoints of northeurope")!.settling).toBeUndefined();
  });

  it("passes with the other region's control plane down, checking no site there (where a site runs comes from the plan)", async () => {
    const deps = activityDeps(fx);
    await fx.estate.setRegion("westeurope", { down: true, healthWhenDown: "refused", controlPlane: "down" });
    await switchFrontDoors(deps, "northeurope", true);
    for (const index of [0, 1]) await switchAppService(input(fx, "northeurope", true, { index }), deps);
    now += 2 * PROPAGATION_MS;
    const mark = requestMark(fx);

    const result = await withAllChecks(verifyPrimary, { runId: RUN, plan: fx.plan, region: "northeurope" }, deps);

    expect(result.ok).toBe(true);
    expect(result.checks.find((c) => c.what === "app settings of tailspin-tickets-a")!.detail).toMatch(/^not checked: the site is in westeurope, which is down/);
    const siteA = fx.plan.appService[0]!.site.name;
    expect(fx.estate.requests({ since: mark }).filter((r) => r.path.includes(`/sites/${siteA}`))).toEqual([]);
  });
});
