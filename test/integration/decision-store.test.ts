import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DecisionTakenError, type RunDecision } from "../../src/core/run/port.ts";
import { BlobPlanStateStore } from "../../src/detection/stateStore.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { BlobDecisionStore, DecisionClaims } from "../../src/runs/decisions.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { ManualClock } from "../helpers/clock.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

/*
 * Decision records in blob storage (Azurite), through the real @azure/storage-blob client: the
 * create-only write lets one of many concurrent claimers win, as Azure Storage does.
 */

const RUN = "contoso-orders.20261128T100000Z.failover-abcd";
const decision = (approve: boolean, by: string): RunDecision => ({ runId: RUN, waitingFor: "approval", approve, by, reason: "because", at: "2026-11-28T10:00:00.000Z" });

describe("decision records in blob storage (Azurite)", () => {
  let azurite: AzuriteBlob;
  let service: BlobServiceClient;
  let n = 0;
  const container = () => service.getContainerClient(`decisions-${Date.now()}-${n++}`);
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
    service = BlobServiceClient.fromConnectionString(azurite.connectionString);
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("lets one of 50 concurrent claims of a wait create its record (the container is created on the way), and tells the others what it holds", async () => {
    const store = new BlobDecisionStore(container());

    const claims = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claim({ decision: decision(i % 2 === 0, `op${i}`) })));

    const won = claims.flatMap((c, i) => (c.won ? [i] : []));
    expect(won).toHaveLength(1);
    const winner = decision(won[0]! % 2 === 0, `op${won[0]}`);
    for (const c of claims) if (!c.won) expect(c.record).toEqual({ decision: winner });
    expect(BlobDecisionStore.blobName(winner)).toBe(`decisions/${RUN}/approval.json`);
  });

  it("replaces a record only at its ETag", async () => {
    const store = new BlobDecisionStore(container());
    const claim = await store.claim({ decision: decision(true, "alice"), sendingAt: "2026-11-28T10:00:00.000Z" });
    if (!claim.won) throw new Error("the first claim must win");

    const marked = await store.replace({ decision: decision(true, "alice"), sentAt: "2026-11-28T10:00:01.000Z" }, claim.etag);
    const stale = await store.replace({ decision: decision(false, "mallory") }, claim.etag);
    const after = await store.claim({ decision: decision(false, "bob") });

    expect(marked).toEqual(expect.any(String));
    expect(stale).toBeUndefined();
    expect(after).toMatchObject({ won: false, record: { decision: decision(true, "alice"), sentAt: "2026-11-28T10:00:01.000Z" }, etag: marked });
  });

  it("sends one of 25 approves and 25 aborts racing through claims on the same container", async () => {
    const shared = container();
    const clock = new ManualClock(new Date("2026-11-28T10:00:00Z"));
    const sent: RunDecision[] = [];
    // Every request with its own store object over the container, as separate app instances would be.
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => new DecisionClaims({ store: new BlobDecisionStore(shared), clock: clock.now }).decide(decision(i % 2 === 0, `op${i}`), async (d) => void sent.push(d))),
    );

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(sent).toHaveLength(1);
    const refusals = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(refusals).toHaveLength(49);
    for (const error of refusals) expect(error).toEqual(new DecisionTakenError(sent[0]!));
  });

  it("is where the run port claims decisions when its plan state is in blob storage", async () => {
    const shared = container();
    const memory = new MemoryRuns();
    memory.current = { instanceId: "i", runId: RUN, status: "running", kind: "failover", from: "eastus2", to: "centralus" };
    const clock = new ManualClock(new Date("2026-11-28T10:00:00Z"));
    const runs = new ReservingRuns(memory, { store: new BlobPlanStateStore(shared), clock: clock.now });

    await runs.approve("contoso-orders", { approve: true, by: "alice", reason: "accept the loss" }, { runId: RUN, waitingFor: "approval" });

    const stored = JSON.parse((await shared.getBlockBlobClient(`decisions/${RUN}/approval.json`).downloadToBuffer()).toString("utf8"));
    expect(stored).toMatchObject({ decision: { runId: RUN, waitingFor: "approval", approve: true, by: "alice" }, sentAt: "2026-11-28T10:00:00.000Z" });
  });
});
