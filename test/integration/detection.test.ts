import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProbe } from "../../src/activities/probe.ts";
import type { Signal } from "../../src/core/detection/model.ts";
import type { RunPort } from "../../src/core/run/port.ts";
import { checkPlanHealth, collectSignals } from "../../src/detection/collect.ts";
import { detectionJournalId } from "../../src/detection/evaluate.ts";
import { BlobPlanStateStore, InvalidStateError } from "../../src/detection/stateStore.ts";
import { BlobJournal } from "../../src/journal/blobJournal.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { useEstate } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

/** One clock for the estate (its metrics are computed at its "now") and for Switchyard: tests move it. */
let nowMs = Math.floor(Date.now() / 60_000) * 60_000;
const clock = () => new Date(nowMs);

const fx = useEstate({ estate: { clock: () => nowMs } });

let azurite: AzuriteBlob;
let blobs: BlobServiceClient;
let containerSeq = 0;
beforeAll(async () => {
  azurite = await startAzuriteBlob();
  blobs = BlobServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});
/** A fresh container per test (created lazily by the stores, as in Azure). */
const freshContainer = (): ContainerClient => blobs.getContainerClient(`detection-${process.pid}-${++containerSeq}`);

const deps = () => ({ probe: createProbe(fx.clients), clients: fx.clients, clock });
const byName = (signals: Signal[]) => Object.fromEntries(signals.map((s) => [s.name, s]));

describe("collectSignals against the local estate", () => {
  it("sees both regions up: every health endpoint, the Front Door origins and the classic backends", async () => {
    const plan = fx.plan;
    const signals = await collectSignals(plan, deps());
    const probes = signals.filter((s) => s.source === "probe");
    const frontDoor = signals.filter((s) => s.source === "frontdoor");

    const endpoints = [plan.regions.primary, plan.regions.secondary].flatMap((r) => r.healthEndpoints.map((e) => [e.url, r.name]));
    expect(probes.map((s) => [s.name, s.region]).sort()).toEqual(endpoints.sort());
    expect(probes.every((s) => s.status === "up" && s.at === clock().toISOString() && s.plan === plan.name)).toBe(true);

    const group = plan.frontDoor.standard[0]!;
    const classic = plan.frontDoor.classic[0]!;
    const names = byName(frontDoor);
    expect(Object.keys(names).sort()).toEqual(
      [
        `afd:${group.originGroup.name}/${group.origins.eastus2}`,
        `afd:${group.originGroup.name}/${group.origins.centralus}`,
        `fdclassic:${classic.frontDoor.name}/${classic.backendPool}/${classic.backends.eastus2}`,
        `fdclassic:${classic.frontDoor.name}/${classic.backendPool}/${classic.backends.centralus}`,
      ].sort(),
    );
    expect(names[`afd:web/web-eastus2`]).toMatchObject({ region: "eastus2", status: "up" });
    expect(names[`afd:web/web-centralus`]).toMatchObject({ region: "centralus", status: "up" });
    expect(names[`afd:web/web-eastus2`]!.detail).toMatch(/health 100% at/);
  });

  it("reports the primary down by its probes and its Front Door origin once its region is down", async () => {
    const plan = fx.plan;
    const primary = plan.regions.primary.name;
    await fx.estate.setRegion(primary, { down: true, healthWhenDown: "refused" });

    const signals = await collectSignals(plan, deps());
    for (const s of signals) expect(s.status, `${s.name} (${s.region})`).toBe(s.region === primary ? "down" : "up");
    const names = byName(signals);
    expect(names["afd:web/web-eastus2"]!.detail).toMatch(/health 0% at/);
    expect(names[plan.regions.primary.healthEndpoints[0]!.url]!.detail).toBe("ECONNREFUSED");
  });

  it("a region answering 503 is down by its probes, with the status as detail", async () => {
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true, healthWhenDown: "503" });
    const signals = await collectSignals(fx.plan, deps());
    const probe = byName(signals)[fx.plan.regions.primary.healthEndpoints[0]!.url]!;
    expect(probe).toMatchObject({ status: "down", detail: "expected 200, got 503" });
  });

  it("a failed metrics read or origin list gives unknown Front Door signals (never up, never down), logged, and never throws", async () => {
    fx.estate.addFault({ kind: "serverError", operationId: "MetricsBatch_Batch", count: 100, status: 500 });
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
    const signals = await collectSignals(fx.plan, { ...deps(), log });
    const frontDoor = signals.filter((s) => s.source === "frontdoor");
    expect(frontDoor).toHaveLength(4);
    expect(frontDoor.every((s) => s.status === "unknown")).toBe(true);
    expect(byName(frontDoor)["afd:web/web-eastus2"]).toMatchObject({ region: "eastus2", detail: expect.stringMatching(/^OriginHealthPercentage could not be read: /) });
    expect(signals.filter((s) => s.source === "probe").every((s) => s.status === "up")).toBe(true);
    expect(warnings.some((w) => /metrics OriginHealthPercentage could not be read/.test(w))).toBe(true);
    expect(warnings.some((w) => /metrics BackendHealthPercentage could not be read/.test(w))).toBe(true);

    await fx.estate.reset();
    fx.estate.addFault({ kind: "serverError", operationId: "AFDOrigins_ListByOriginGroup", count: 100, status: 500 });
    const again = await collectSignals(fx.plan, { ...deps(), log });
    expect(again.filter((s) => s.name.startsWith("afd:")).map((s) => [s.status, s.detail?.startsWith("the origins of web could not be listed")])).toEqual([
      ["unknown", true],
      ["unknown", true],
    ]);
    expect(again.filter((s) => s.name.startsWith("fdclassic:")).map((s) => s.status)).toEqual(["up", "up"]);
  });

  it("reads Front Door metrics at the global endpoint only: every batch the estate received was accepted", async () => {
    await collectSignals(fx.plan, deps());
    const batches = fx.estate.requests().filter((r) => r.operationId.startsWith("MetricsBatch"));
    expect(batches.map((r) => [r.operationId, r.path.split("/").slice(0, 3).join("/"), r.status])).toEqual([
      ["MetricsBatch_Batch", "/metrics/global", 200],
      ["MetricsBatch_Batch", "/metrics/global", 200],
    ]);
  });
});

describe("BlobPlanStateStore on Azurite", () => {
  it("50 concurrent identical alerts: exactly one is new, and the key is stored once", async () => {
    const store = new BlobPlanStateStore(freshContainer());
    const at = clock().toISOString();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.markAlertSeen("contoso-orders", "alert-1:Fired", at)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const { state, etag } = await store.get("contoso-orders");
    expect(state.seenAlerts).toEqual({ "alert-1:Fired": at });
    expect(etag).toBeTruthy();
  });

  it("20 concurrent updates all land (conditional writes with If-Match / If-None-Match)", async () => {
    const container = freshContainer();
    const store = new BlobPlanStateStore(container);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.update("contoso-orders", (s) => ({ ...s, seenAlerts: { ...s.seenAlerts, [`a${i}`]: clock().toISOString() } }))),
    );
    expect(Object.keys((await store.get("contoso-orders")).state.seenAlerts)).toHaveLength(20);
    // A second store instance (another Functions instance) reads the same document.
    expect(Object.keys((await new BlobPlanStateStore(container).get("contoso-orders")).state.seenAlerts)).toHaveLength(20);
  });

  it("an unknown plan reads as empty; an unreadable document is an error, not a silent reset", async () => {
    const container = freshContainer();
    const store = new BlobPlanStateStore(container);
    expect((await store.get("contoso-orders")).state).toEqual({ plan: "contoso-orders", signals: {}, regions: {}, policy: { autoFailovers: [] }, seenAlerts: {} });
    await container.createIfNotExists();
    await container.getBlockBlobClient(BlobPlanStateStore.blobName("contoso-orders")).upload("{not json", 9);
    await expect(store.get("contoso-orders")).rejects.toBeInstanceOf(InvalidStateError);
  });
});

describe("evaluatePlan: an estate outage through to one automatic failover", () => {
  function fakeRuns() {
    const runs = new MemoryRuns();
    return { port: runs as RunPort, starts: runs.started };
  }

  it("detects the outage after W and starts exactly one failover; later evaluations start no second", async () => {
    const plan = fx.plan;
    const container = freshContainer();
    const store = new BlobPlanStateStore(container);
    const journal = new BlobJournal(container);
    const runs = fakeRuns();
    const tick = () => checkPlanHealth(plan, { ...deps(), store, journal, runs: runs.port });

    const start = nowMs;
    const summaries = [await tick()];
    nowMs += 60_000;
    const outageAt = nowMs;
    await fx.estate.setRegion(plan.regions.primary.name, { down: true });
    for (let i = 0; i < 10; i++) {
      summaries.push(await tick());
      nowMs += 60_000;
    }

    expect(runs.starts).toHaveLength(1);
    const input = runs.starts[0]!;
    expect(input).toMatchObject({ kind: "failover", mode: "auto", from: "eastus2", to: "centralus", trigger: { source: "timer", by: "switchyard detection" } });
    // Front Door signals turn down at once, probes after 2 failures: the quorum of 2 holds W = 180 s after the outage.
    const detectedMs = Date.parse(input.trigger.detectedAt);
    expect(detectedMs - outageAt).toBe(plan.autoFailover.downForSeconds * 1000);
    expect(input.trigger.reason).toMatch(/afd:web\/web-eastus2 \(down since/);
    const decisions = summaries.map((s) => (s.decision.start ? "start" : s.decision.code));
    expect(decisions.filter((d) => d === "start")).toHaveLength(1);
    expect(decisions.slice(decisions.indexOf("start") + 1).every((d) => d === "run-in-progress")).toBe(true);

    // The journal (append blobs on Azurite, through the secret guard) explains it.
    const entries = await journal.read(detectionJournalId(plan.name, new Date(start)));
    const messages = entries.map((e) => e.message);
    expect(messages.some((m) => m.startsWith("region eastus2 declared down"))).toBe(true);
    expect(messages.filter((m) => /^automatic failover contoso-orders\.\d{8}T\d{6}Z\.auto-failover-[0-9a-f]{4} started/.test(m))).toHaveLength(1);
    expect(messages.filter((m) => m.startsWith("no automatic failover (run-in-progress)")).length).toBeGreaterThan(0);
    const stored = (await store.get(plan.name)).state;
    expect(stored.regions.eastus2!.state).toBe("down");
    expect(stored.regions.centralus!.state).toBe("healthy");
    expect(stored.policy.autoFailovers).toHaveLength(1);
  });
});
