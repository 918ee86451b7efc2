import { describe, expect, it } from "vitest";
import { buildHandlers, HealthRoundError } from "../../src/app/handlers.ts";
import type { ClientFactory } from "../../src/azure/clients.ts";
import { settleEach } from "../../src/core/concurrency.ts";
import type { PlanState } from "../../src/core/detection/model.ts";
import { parsePlan } from "../../src/core/plan/index.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { at } from "../helpers/detectionPlan.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("settleEach", () => {
  it("runs at most `limit` at a time, keeps the order of the items, and one failure stops no other", async () => {
    let running = 0;
    let most = 0;
    const results = await settleEach(Array.from({ length: 30 }, (_, i) => i), 4, async (i) => {
      running++;
      most = Math.max(most, running);
      await turn();
      running--;
      if (i === 7) throw new Error("seven");
      return i * 2;
    });
    expect(most).toBe(4);
    expect(results.filter((r) => r.status === "rejected")).toHaveLength(1);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "failed"))).toEqual(Array.from({ length: 30 }, (_, i) => (i === 7 ? "failed" : i * 2)));
  });

  it("refuses a concurrency that is not a positive integer", async () => {
    await expect(settleEach([1], 0, async (x) => x)).rejects.toThrow(/positive integer/);
  });
});

describe("checkAllHealth: the health timer's round over many plans", () => {
  /** 40 plans; the probe counts how many plans are being probed at once; the state of `failing` cannot be written. */
  function world(failing?: string) {
    const plans = Array.from({ length: 40 }, (_, i) => planNamed(`plan-${String(i).padStart(2, "0")}`));
    const inFlight = new Set<string>();
    let most = 0;
    const store = new (class extends MemoryPlanStateStore {
      override update(plan: string, change: (state: PlanState) => PlanState) {
        return plan === failing ? Promise.reject(new Error("storage refused the write")) : super.update(plan, change);
      }
    })();
    const handlers = buildHandlers({
      plans: new StaticPlanCatalog(plans, () => undefined),
      runs: new MemoryRuns(),
      store,
      journal: new MemoryJournal(),
      // No plan here has a Front Door: the round reads no metrics.
      clients: new Proxy({}, { get: () => { throw new Error("no Azure client is needed"); } }) as ClientFactory,
      probe: async (url) => {
        const plan = new URL(url).hostname.split(".")[1]!;
        inFlight.add(plan);
        most = Math.max(most, inFlight.size);
        await turn();
        inFlight.delete(plan);
        return { url, ok: true, status: 200, ms: 1 };
      },
      log: silent,
      clock: () => at(0),
      appServiceAuthOn: false,
    });
    return { handlers, plans, store, most: () => most };
  }

  it("checks every plan, at most `concurrency` plans at a time, in the catalog's order", async () => {
    const { handlers, plans, store, most } = world();
    const checked: string[] = [];
    const summaries = await handlers.checkAllHealth({ concurrency: 6, onChecked: (s) => checked.push(s.plan) });
    expect(summaries.map((s) => s.plan)).toEqual(plans.map((p) => p.name));
    expect([...checked].sort()).toEqual(plans.map((p) => p.name));
    expect(summaries.every((s) => s.recorded === 6)).toBe(true);
    expect(most()).toBe(6);
    expect(Object.keys((await store.get("plan-39")).state.signals.eastus2 ?? {})).toHaveLength(3);
  });

  it("a plan whose check fails stops no other; the round then fails naming it", async () => {
    const { handlers, plans } = world("plan-05");
    const checked: string[] = [];
    const error = await handlers.checkAllHealth({ concurrency: 8, onChecked: (s) => checked.push(s.plan) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HealthRoundError);
    const round = error as HealthRoundError;
    expect(round.failed.map((f) => f.plan)).toEqual(["plan-05"]);
    expect(round.message).toContain("plan-05 (storage refused the write)");
    expect(round.summaries.map((s) => s.plan)).toEqual(plans.map((p) => p.name).filter((n) => n !== "plan-05"));
    expect(checked).toHaveLength(39);
  });
});

/** A small plan (three endpoints per region, auto-failover on) whose endpoints are under its own name. */
function planNamed(name: string) {
  const endpoints = (region: string) => ["a", "b", "c"].map((n) => ({ url: `https://${n}-${region}.${name}.example/healthz` }));
  return parsePlan({
    name,
    regions: { primary: { name: "eastus2", healthEndpoints: endpoints("eastus2") }, secondary: { name: "centralus", healthEndpoints: endpoints("centralus") } },
    objectives: { rpoSeconds: 300, rtoMinutes: 30 },
    storage: [{ account: `/subscriptions/0c6f4e2d-8b1a-4c3e-9f5d-2a7b6c8d9e0f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/${name.replaceAll("-", "")}` }],
    autoFailover: { enabled: true, quorum: 2, downForSeconds: 180, healthyForSeconds: 900, cooldownMinutes: 60, maxPerDay: 1 },
  });
}
