/**
 * An activity's time budget reaches every Azure request it makes: the real SDK clients against the
 * estate, with the estate holding its answers back.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { createActivities } from "../../src/activities/registry.ts";
import { createProbe } from "../../src/activities/probe.ts";
import { withBudget } from "../../src/azure/budget.ts";
import type { ClientFactory } from "../../src/azure/clients.ts";
import { Activities, type ActivityResult, type AssessRegionsResult } from "../../src/core/run/model.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { useEstate } from "../helpers/estate.ts";

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe("an activity's time budget", () => {
  const fx = useEstate();

  it("aborts an SDK request still waiting for Azure when the budget runs out, and not one that answers in time", async () => {
    const g = fx.plan.sql[0]!;
    const client = fx.clients.sql(g.failoverGroup.subscriptionId);
    const get = () => client.failoverGroups.get(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, g.failoverGroup.name);
    fx.estate.addFault({ kind: "latency", operationId: "FailoverGroups_Get", ms: 2_000, count: 1 });

    const started = Date.now();
    const slow = await withBudget(150, get).then(() => "answered", (error: Error) => error.name);
    const elapsed = Date.now() - started;
    const fast = await withBudget(5_000, get);

    expect(slow).toBe("AbortError");
    expect(elapsed).toBeLessThan(2_000);
    expect(fast.name).toBe(g.failoverGroup.name);
  });

  it("ends a probe of an endpoint that does not answer, as a failed probe", async () => {
    const silentServer = createServer(() => undefined);
    await new Promise<void>((resolve) => silentServer.listen(0, "127.0.0.1", resolve));
    const { port } = silentServer.address() as AddressInfo;
    // A probe as in Azure (no estate in between): straight to the endpoint.
    const probe = createProbe({ target: { kind: "azure" }, endpointUrl: (url: string) => url } as unknown as ClientFactory);
    try {
      const started = Date.now();
      const result = await withBudget(150, () => probe(`http://127.0.0.1:${port}/health`, { expectStatus: 200, timeoutMs: 10_000 }));

      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/time budget/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silentServer.closeAllConnections();
      silentServer.close();
    }
  });

  it("turns a request cut by the budget into a retryable failure the run can retry", async () => {
    const activities = createActivities({
      clients: fx.clients,
      journal: new MemoryJournal(),
      probe: createProbe(fx.clients),
      log: silent,
      clock: () => new Date(),
      pollIntervalMs: 1,
      notifier: { name: "none", notify: async () => undefined },
      activityBudgetMs: 150,
    });
    fx.estate.addFault({ kind: "latency", operationId: "FailoverGroups_Get", ms: 2_000 });

    const result = (await activities[Activities.measureReplication]({ runId: "r-1", plan: fx.plan, to: fx.plan.regions.secondary.name })) as ActivityResult<AssessRegionsResult>;

    expect(result, JSON.stringify(result)).toMatchObject({ ok: false, error: { code: "ActivityBudgetExceeded", retryable: true } });
  });
});

describe("the activity budget in Azure", () => {
  it("ends before host.json's functionTimeout would stop the invocation", async () => {
    const { ACTIVITY_BUDGET_MS } = await import("../../src/app/composition.ts");
    const { functionTimeoutMs } = await import("../../src/durable/hostJson.ts");

    expect(ACTIVITY_BUDGET_MS).toBeLessThan(functionTimeoutMs());
  });
});
