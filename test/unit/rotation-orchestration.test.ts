/**
 * The rotation orchestration through the real durable-functions orchestrator (the local durable host),
 * over scripted activities: the order of its steps, its waits for a run, for the apps' pick-up and
 * after retryable failures, and where it stops. Time scale 10^6: an Azure hour of timers takes ms.
 */
import { describe, expect, it } from "vitest";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { credentialsOf, nextCredential, leasesOf, isLeaseLive, RotationActivities, RotationErrors, RotationOrchestrations, type RotationInput, type RotationOutput, type StepReport } from "../../src/core/rotation/model.ts";
import { DEFER_ROUNDS_PER_EXECUTION, MAX_ATTEMPTS, VERIFY_ATTEMPTS } from "../../src/orchestrations/rotate.ts";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { readFileSync } from "node:fs";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { MemoryRunPlanStore } from "../../src/journal/runPlans.ts";
import { Rotations, ROTATION_START_GRACE_MS } from "../../src/rotation/port.ts";

type Script = Partial<Record<string, (call: number) => { ok: true; value: unknown } | { ok: false; error: { name: string; code: string; message: string; retryable: boolean } } | undefined>>;

const fail = (code: string, retryable: boolean, message = `${code} happened`) => ({ ok: false as const, error: { name: "SwitchyardError", code, message, retryable } });
const report = (step: string, extra: Partial<StepReport> = {}) => ({ ok: true as const, value: { step, summary: `${step} done`, durationMs: 1, ...extra } });

function scripted(script: Script) {
  const calls: string[] = [];
  const counts = new Map<string, number>();
  const activity = (name: string) => async (input: unknown) => {
    const n = (counts.get(name) ?? 0) + 1;
    counts.set(name, n);
    calls.push(name);
    const step = (input as { step?: string }).step ?? name;
    const scriptedResult = script[name]?.(n);
    if (scriptedResult) return scriptedResult;
    if (name === RotationActivities.record || name === RotationActivities.notify) return { ok: true, value: null };
    if (name === RotationActivities.create) return report(step, { created: { credential: "key2", vault: "kv-a", version: "v-new", expiresAt: "2027-01-01T00:00:00.000Z", created: true } });
    if (name === RotationActivities.replicate) return report(step, { versions: [{ vault: "kv-a", version: "v-new", written: false }, { vault: "kv-b", version: "v-new-b", written: true }] });
    return report(step);
  };
  const activities = Object.fromEntries(Object.values(RotationActivities).map((name) => [name, activity(name)]));
  return { activities, calls, counts };
}

async function rotate(script: Script): Promise<{ output: RotationOutput; calls: string[]; counts: Map<string, number>; notices: unknown[] }> {
  const s = scripted(script);
  const notices: unknown[] = [];
  const notify = s.activities[RotationActivities.notify]!;
  s.activities[RotationActivities.notify] = async (input: unknown) => {
    notices.push(input);
    return notify(input);
  };
  const host = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: s.activities as never });
  const input: RotationInput = { rotationId: "harbor.20261203T120000Z.rotate-0001", plan: "harbor", secret: "token", trigger: { kind: "sweep" }, timeScale: 1_000_000 };
  await host.start(RotationOrchestrations.rotate, input, "r1");
  const status = await host.waitForCompletion("r1");
  expect(status.runtimeStatus).toBe("Completed");
  return { output: status.output as RotationOutput, calls: s.calls, counts: s.counts, notices };
}

const steps = (calls: readonly string[]) => calls.filter((c) => c !== RotationActivities.record && c !== RotationActivities.notify);

describe("the rotation orchestration", () => {
  it("runs create, replicate, apply, verify, retire once each and notifies the rotation with its new versions", async () => {
    const { output, calls, notices } = await rotate({});
    expect(steps(calls)).toEqual(["rotationCreate", "rotationReplicate", "rotationApply", "rotationVerify", "rotationRetire"]);
    expect(output).toMatchObject({ outcome: "rotated", credential: "key2", deferrals: 0, versions: [{ vault: "kv-a" }, { vault: "kv-b", version: "v-new-b" }] });
    expect(notices).toEqual([expect.objectContaining({ kind: "secret-rotated", n: 1 })]);
  });

  it("waits while a run holds the plan, notifies the deferral once, and goes on from the same step when the run ends", async () => {
    const { output, calls, notices } = await rotate({ [RotationActivities.apply]: (n) => (n <= 3 ? fail(RotationErrors.runInProgress, true, "run x holds plan harbor") : undefined) });
    expect(steps(calls)).toEqual(["rotationCreate", "rotationReplicate", "rotationApply", "rotationApply", "rotationApply", "rotationApply", "rotationVerify", "rotationRetire"]);
    expect(output).toMatchObject({ outcome: "rotated", deferrals: 1 });
    expect(notices.map((n) => (n as { kind: string }).kind)).toEqual(["secret-rotation-deferred", "secret-rotated"]);
  });

  it("continues as new while it waits a long time for a run, keeping its history to an hour's waits and its steps, deferral and notices", async () => {
    class MeasuringStore extends MemoryInstanceStore {
      largest = 0;
      override async put(state: Parameters<MemoryInstanceStore["put"]>[0], json?: string) {
        const text = json ?? JSON.stringify(state);
        this.largest = Math.max(this.largest, Buffer.byteLength(text));
        return super.put(state, text);
      }
    }
    const store = new MeasuringStore();
    const s = scripted({ [RotationActivities.retire]: (n) => (n <= 40 ? fail(RotationErrors.runInProgress, true, "run x holds plan harbor") : undefined) });
    const records: unknown[] = [];
    const record = s.activities[RotationActivities.record]!;
    s.activities[RotationActivities.record] = async (input: unknown) => (records.push(input), record(input));
    const host = new LocalDurableHost({ store, orchestrations: ORCHESTRATIONS as never, activities: s.activities as never });
    await host.start(RotationOrchestrations.rotate, { rotationId: "harbor.20261203T120000Z.rotate-0002", plan: "harbor", secret: "token", trigger: { kind: "sweep" }, timeScale: 20_000 } satisfies RotationInput, "r2");
    const status = await host.waitForCompletion("r2");

    expect(status.output).toMatchObject({ outcome: "rotated", deferrals: 1, credential: "key2", versions: [{ vault: "kv-a" }, { vault: "kv-b" }] });
    expect((status.output as RotationOutput).steps.map((x) => x.step)).toEqual(["create", "replicate", "apply", "verify", "retire"]);
    expect(s.counts.get(RotationActivities.create)).toBe(1);
    expect(s.counts.get(RotationActivities.notify)).toBe(2);
    expect(JSON.stringify(records).match(/rotation of token started/g)).toHaveLength(1);
    // 40 waits are more than three executions' worth; one execution's history stays small.
    expect(40).toBeGreaterThan(3 * DEFER_ROUNDS_PER_EXECUTION);
    expect(store.largest).toBeLessThan(25_000);
  });

  it("applies again and verifies again while the apps have not picked the version up, and stops before retiring when they never do", async () => {
    const slow = await rotate({ [RotationActivities.verify]: (n) => (n <= 2 ? fail(RotationErrors.notYetInUse, true) : undefined) });
    expect(steps(slow.calls)).toEqual(["rotationCreate", "rotationReplicate", "rotationApply", "rotationVerify", "rotationApply", "rotationVerify", "rotationApply", "rotationVerify", "rotationRetire"]);
    expect(slow.output.outcome).toBe("rotated");

    const never = await rotate({ [RotationActivities.verify]: () => fail(RotationErrors.notYetInUse, true, "not every app uses the new version yet") });
    expect(never.counts.get(RotationActivities.verify)).toBe(VERIFY_ATTEMPTS + 1);
    expect(never.counts.get(RotationActivities.retire)).toBeUndefined();
    expect(never.output).toMatchObject({ outcome: "failed", failedStep: "verify", error: "not every app uses the new version yet" });
    expect(never.notices.map((n) => (n as { kind: string }).kind)).toEqual(["secret-rotation-failed"]);
  });

  it("tries a retryable failure again up to its attempts, and fails at once on one that is not", async () => {
    const flaky = await rotate({ [RotationActivities.replicate]: (n) => (n === 1 ? fail("AzureRequestFailed", true) : undefined) });
    expect(flaky.output.outcome).toBe("rotated");
    expect(flaky.counts.get(RotationActivities.replicate)).toBe(2);

    const down = await rotate({ [RotationActivities.replicate]: () => fail("AzureRequestFailed", true, "503 from the vault") });
    expect(down.counts.get(RotationActivities.replicate)).toBe(MAX_ATTEMPTS);
    expect(down.output).toMatchObject({ outcome: "failed", failedStep: "replicate" });
    expect(down.counts.get(RotationActivities.apply)).toBeUndefined();

    const refused = await rotate({ [RotationActivities.create]: () => fail("RotationCredentialUnknown", false, "the vaults disagree") });
    expect(refused.counts.get(RotationActivities.create)).toBe(1);
    expect(refused.output).toMatchObject({ outcome: "failed", failedStep: "create", error: "the vaults disagree" });
    expect(steps(refused.calls)).toEqual(["rotationCreate"]);
  });
});

describe("which credential a rotation replaces", () => {
  const plan = parsePlanText(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8"), "harbor");
  const storage = plan.secrets.find((s) => s.source.kind === "storageAccountKey")!;
  const generated = plan.secrets.find((s) => s.source.kind === "generated")!;

  it("replaces the key no vault holds, never the one in use", () => {
    expect(credentialsOf(storage)).toEqual(["key1", "key2"]);
    expect(nextCredential(storage, ["key1", "key1"])).toEqual({ credential: "key2", replaced: "key1" });
    expect(nextCredential(storage, ["KEY2"])).toEqual({ credential: "key1", replaced: "key2" });
  });

  it("refuses when the vaults disagree, hold something else, or say nothing", () => {
    expect(nextCredential(storage, ["key1", "key2"])).toEqual({ refused: expect.stringContaining("disagree") });
    expect(nextCredential(storage, ["none of the account's keys"])).toEqual({ refused: expect.stringContaining("neither key1 nor key2") });
    expect(nextCredential(storage, [])).toEqual({ refused: expect.stringContaining("no vault says") });
  });

  it("draws a generated secret whatever the vaults hold", () => {
    expect(nextCredential(generated, [])).toEqual({ credential: "generated" });
  });
});

describe("a rotation step's lease, as stored", () => {
  const now = new Date("2026-12-03T12:00:00Z");
  const lease = { rotationId: "r", secret: "s", step: "apply" as const, since: "2026-12-03T11:59:50.000Z", until: "2026-12-03T12:00:30.000Z" };

  it("holds until its end, not after, and not for ever when dated far ahead", () => {
    expect(isLeaseLive(leasesOf({ s: lease })!.s, now)).toBe(true);
    expect(isLeaseLive(lease, new Date("2026-12-03T12:00:30Z"))).toBe(false);
    expect(isLeaseLive({ ...lease, until: "2027-01-01T00:00:00.000Z" }, now)).toBe(false);
  });

  it("drops what does not read as a lease (a run is never held by it)", () => {
    expect(leasesOf({ s: { ...lease, step: "explode" }, t: "x", u: null })).toBeUndefined();
    expect(leasesOf([lease])).toBeUndefined();
    expect(Object.keys(leasesOf({ s: lease, t: { ...lease, until: 5 } })!)).toEqual(["s"]);
  });
});

describe("starting a secret's rotation", () => {
  const plan = parsePlanText(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8"), "harbor");

  /** A host that, like two `startNew` calls racing on the Azure Storage backend, accepts every start and shows none of them yet. */
  function acceptingHost() {
    const started: string[] = [];
    return { started, host: { status: async () => undefined, start: async (_name: string, _id: string, input: RotationInput) => void started.push(input.rotationId) } };
  }

  it("lets one of two racing starts through: the other is told which rotation holds the secret", async () => {
    const { host, started } = acceptingHost();
    const store = new MemoryPlanStateStore();
    const clock = () => new Date("2026-12-03T12:00:00Z");
    const rotations = new Rotations(host, new MemoryRunPlanStore(), { clock, store });

    const [a, b] = await Promise.all([rotations.start(plan, "partner-api-token", { kind: "sweep" }), rotations.start(plan, "partner-api-token", { kind: "sweep" })]);

    expect(started).toHaveLength(1);
    expect([a.outcome, b.outcome].sort()).toEqual(["running", "started"]);
    expect(a.rotation.rotationId).toBe(b.rotation.rotationId);
    // Another secret of the plan is not held by it.
    expect((await rotations.start(plan, "bookings-storage-key", { kind: "sweep" })).outcome).toBe("started");
  });

  it("takes over a reservation whose start never became visible, once its grace period is over", async () => {
    const { host, started } = acceptingHost();
    const store = new MemoryPlanStateStore();
    let now = new Date("2026-12-03T12:00:00Z");
    const rotations = new Rotations(host, new MemoryRunPlanStore(), { clock: () => now, store });
    await rotations.start(plan, "partner-api-token", { kind: "sweep" });

    now = new Date(now.getTime() + ROTATION_START_GRACE_MS - 1000);
    expect((await rotations.start(plan, "partner-api-token", { kind: "sweep" })).outcome).toBe("running");
    now = new Date(now.getTime() + 2000);
    expect((await rotations.start(plan, "partner-api-token", { kind: "sweep" })).outcome).toBe("started");
    expect(started).toHaveLength(2);
  });
});

describe("a start that fails", () => {
  const plan = parsePlanText(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8"), "harbor");

  it("frees its secret at once: the next start is not told a rotation runs that never started", async () => {
    let calls = 0;
    const host = {
      status: async () => undefined,
      start: async () => {
        if (++calls === 1) throw new Error("the task hub answered 503");
      },
    };
    const rotations = new Rotations(host, new MemoryRunPlanStore(), { clock: () => new Date("2026-12-03T12:00:00Z"), store: new MemoryPlanStateStore() });

    await expect(rotations.start(plan, "partner-api-token", { kind: "sweep" })).rejects.toThrow("503");
    const again = await rotations.start(plan, "partner-api-token", { kind: "sweep" });

    expect(again.outcome).toBe("started");
    expect(calls).toBe(2);
  });
});
