import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import type { PlanState } from "../../src/core/detection/model.ts";
import { BlobPlanStateStore, MAX_SEEN_ALERTS } from "../../src/detection/stateStore.ts";

describe("blob store through the client factory (Azurite)", () => {
  let azurite: AzuriteBlob;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("writes and reads a blob with the connection-string client", async () => {
    const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } });
    const container = clients.blobService().getContainerClient("switchyard-plans");
    await container.createIfNotExists();
    const body = Buffer.from("name: contoso-orders\n");
    await container.getBlockBlobClient("contoso-orders.yaml").upload(body, body.length);
    const text = (await container.getBlobClient("contoso-orders.yaml").downloadToBuffer()).toString();
    expect(text).toBe("name: contoso-orders\n");
  });

  it("refuses to guess a blob store when none is configured", () => {
    const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" } });
    expect(() => clients.blobService()).toThrow(/no blob store configured/);
  });

  describe("detection state: group commit on the real blob store", () => {
    const container = () => new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } }).blobService().getContainerClient("switchyard-state");
    const append = (entry: string) => (s: PlanState): PlanState => ({ ...s, policy: { ...s.policy, autoFailovers: [...s.policy.autoFailovers, entry] } });

    it("200 concurrent distinct alerts: every one new and recorded, in a handful of blob writes, none refused", async () => {
      const store = new BlobPlanStateStore(container());
      const keys = Array.from({ length: 200 }, (_, i) => `storm-${i}:Fired`);
      const results = await Promise.allSettled(keys.map((k) => store.markAlertSeen("storm-plan", k, new Date())));
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      expect(results.every((r) => r.status === "fulfilled" && r.value)).toBe(true);
      expect(Object.keys((await new BlobPlanStateStore(container()).get("storm-plan")).state.seenAlerts).sort()).toEqual([...keys].sort());
      expect(store.stats.writes).toBeLessThanOrEqual(10);
    });

    it("two processes (two stores) updating one plan at once: conflicts are retried on the ETag and nothing is lost", async () => {
      const [one, two] = [new BlobPlanStateStore(container()), new BlobPlanStateStore(container())];
      const entries = (p: string) => Array.from({ length: 60 }, (_, i) => `${p}${i}`);
      await Promise.all([...entries("a").map((e) => one.update("shared-plan", append(e))), ...entries("b").map((e) => two.update("shared-plan", append(e)))]);
      const stored = (await one.get("shared-plan")).state.policy.autoFailovers;
      expect([...stored].sort()).toEqual([...entries("a"), ...entries("b")].sort());
      expect(stored.filter((e) => e.startsWith("a"))).toEqual(entries("a"));
      expect(one.stats.writes + two.stats.writes).toBeLessThan(40);
    });

    it("a change that throws fails only its caller; the rest of its round is written", async () => {
      const store = new BlobPlanStateStore(container());
      const results = await Promise.allSettled([
        store.update("throwing-plan", append("a")),
        store.update("throwing-plan", () => {
          throw new Error("bad change");
        }),
        store.update("throwing-plan", append("b")),
      ]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect((await store.get("throwing-plan")).state.policy.autoFailovers).toEqual(["a", "b"]);
    });

    it(`keeps at most ${MAX_SEEN_ALERTS} dedupe keys however many alerts arrive`, async () => {
      const store = new BlobPlanStateStore(container());
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: MAX_SEEN_ALERTS + 50 }, (_, i) => store.markAlertSeen("bounded-plan", `alert-${i}:Fired`, new Date(t0 + i))));
      expect(results.every(Boolean)).toBe(true);
      const { state } = await store.get("bounded-plan");
      expect(Object.keys(state.seenAlerts)).toHaveLength(MAX_SEEN_ALERTS);
      expect(state.seenAlerts["alert-49:Fired"]).toBeUndefined();
      expect(state.seenAlerts["alert-50:Fired"]).toBeDefined();
    });
  });
});
