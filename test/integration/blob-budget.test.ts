/**
 * The time budget of the work in progress reaches every blob request the stores make: the real blob
 * client against Azurite, through a proxy in between that can stop answering (or stop sending a body
 * half-way), as a storage account under trouble does.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import type { ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobFrontDoorLease } from "../../src/activities/frontDoorLease.ts";
import { withBudget } from "../../src/azure/budget.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import { SwitchyardError } from "../../src/core/errors.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { BlobPlanStateStore, InvalidStateError } from "../../src/detection/stateStore.ts";
import { BlobInstanceStore, type InstanceState } from "../../src/durable/instanceStore.ts";
import { BlobJournal } from "../../src/journal/blobJournal.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { BlobRunPlanStore } from "../../src/journal/runPlans.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";

const NORTHWIND = new URL("../fixtures/northwind.plan.yaml", import.meta.url).pathname;
const FRONT_DOOR = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-edge/providers/Microsoft.Network/frontDoors/fd-northwind";
/** Far longer than any request to Azurite takes, far shorter than the test's timeout. */
const BUDGET_MS = 200;
/** Long past the budget: a call still waiting then was never going to be aborted. */
const STILL_WAITING_MS = 10_000;

/**
 * A proxy to Azurite. It counts the requests it is sent; the one numbered `hold` it takes and never
 * answers (a storage account that stops answering), and with `stall` it answers each GET with half its
 * body and then nothing (one that stops sending).
 */
interface Proxy {
  readonly server: Server;
  readonly port: number;
  requests: number;
  hold?: number;
  stall: boolean;
}

async function startProxy(upstream: URL): Promise<Proxy> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the proxy listens on no TCP port");
  const proxy: Proxy = { server, port: address.port, requests: 0, stall: false };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (++proxy.requests === proxy.hold) return void req.resume();
    const stall = proxy.stall && req.method === "GET";
    const ahead = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (stall) halfOf(answer, res);
      else answer.pipe(res);
    });
    ahead.on("error", () => res.destroy());
    req.pipe(ahead);
  });
  return proxy;
}

/** Sends the first half of the answer's body, and then nothing. */
function halfOf(answer: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  answer.on("data", (chunk: Buffer) => chunks.push(chunk));
  answer.on("end", () => {
    const body = Buffer.concat(chunks);
    if (body.length < 2) res.end(body);
    else res.write(body.subarray(0, body.length >> 1));
  });
}

/** Whether the error is, or was caused by, an abort. */
function isAbort(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e.name === "AbortError") return true;
  return false;
}

/**
 * What `work` rejected with under a budget of BUDGET_MS: an error saying so instead when it resolved,
 * or was still waiting long after the budget (a request that does not carry the budget waits forever).
 */
async function rejectionUnderBudget(work: () => Promise<unknown>): Promise<unknown> {
  const outcome = withBudget(BUDGET_MS, work).then(
    () => new Error("resolved, though the storage account never answered"),
    (error: unknown) => error,
  );
  const stillWaiting = delay(STILL_WAITING_MS, new Error(`still waiting ${STILL_WAITING_MS} ms after a budget of ${BUDGET_MS} ms`), { ref: false });
  return Promise.race([outcome, stillWaiting]);
}

const entry = (runId: string, message: string): JournalEntry => ({ runId, at: new Date().toISOString(), kind: "decision", step: "assess", message });

const instance = (instanceId: string): InstanceState => {
  const now = new Date().toISOString();
  return { instanceId, name: "failover", input: { runId: instanceId }, runtimeStatus: "Running", createdTime: now, lastUpdatedTime: now, history: [], inbox: [{ EventType: 0, EventId: -1, IsPlayed: false, Timestamp: now }], canceledTimers: [] };
};

/** One call a run or the detection loop makes to Switchyard's storage, and what it needs stored first. */
interface Scenario {
  setup?(n: number): Promise<unknown>;
  call(n: number): Promise<unknown>;
}

const runIdOf = (n: number) => `northwind.20261202T000000Z.failover-${String(n).padStart(4, "0")}`;
const planNameOf = (n: number) => `plan-${n}`;

describe("blob requests under a time budget (Azurite behind a proxy)", () => {
  let azurite: AzuriteBlob;
  let proxy: Proxy;
  let plan: Plan;
  let clients: ClientFactory;
  let last = 0;
  const next = () => ++last;

  beforeAll(async () => {
    [azurite, plan] = await Promise.all([startAzuriteBlob(), loadPlanFile(NORTHWIND)]);
    const upstream = new URL(azurite.blobEndpoint);
    proxy = await startProxy(upstream);
    const connectionString = azurite.connectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=http://127.0.0.1:${proxy.port}${upstream.pathname}`);
    clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString }, maxRetries: 0 });
  });
  afterAll(async () => {
    proxy?.server.closeAllConnections();
    proxy?.server.close();
    await azurite?.stop();
  });

  /** Every store's calls over one container, each with new store objects (nothing remembered between calls). */
  const scenarios = (container: ContainerClient): Record<string, Scenario> => {
    const append = (n: number) => new BlobJournal(container).append(entry(runIdOf(n), `entry of run ${n}`));
    const putPlan = (n: number) => new BlobRunPlanStore(container).put(runIdOf(n), plan);
    const putInstance = (n: number) => new BlobInstanceStore(container).put(instance(runIdOf(n)));
    const seeAlert = (n: number) => new BlobPlanStateStore(container).markAlertSeen(planNameOf(n), "alert-1:Fired", new Date());
    return {
      "instance list": { call: () => new BlobInstanceStore(container).list() },
      "journal append (the run's first entry)": { call: append },
      "journal append": { setup: append, call: append },
      "journal read": { setup: append, call: (n) => new BlobJournal(container).read(runIdOf(n)) },
      "journal list": { call: () => new BlobJournal(container).listRuns() },
      "run plan put": { call: putPlan },
      "run plan get": { setup: putPlan, call: (n) => new BlobRunPlanStore(container).get(runIdOf(n)) },
      "instance put": { call: putInstance },
      "instance get": { setup: putInstance, call: (n) => new BlobInstanceStore(container).get(runIdOf(n)) },
      "detection state update": { call: seeAlert },
      "detection state get": { setup: seeAlert, call: (n) => new BlobPlanStateStore(container).get(planNameOf(n)) },
      "front door lease acquire and release": { call: async (n) => (await blobFrontDoorLease(container).acquire(`${FRONT_DOOR}-${n}`)).release() },
    };
  };

  it("without a budget, and with one that does not run out, every store works", async () => {
    const container = clients.blobService().getContainerClient("budget-none");
    for (const budget of [undefined, 10_000]) {
      const results: Record<string, unknown> = {};
      for (const [name, scenario] of Object.entries(scenarios(container))) {
        const n = next();
        await scenario.setup?.(n);
        results[name] = await withBudget(budget, () => scenario.call(n)).catch((error: unknown) => {
          throw new Error(`${name} (budget ${budget}) failed: ${String(error)}`, { cause: error });
        });
      }
      expect(results["journal read"]).toMatchObject([{ message: expect.stringMatching(/^entry of run \d+$/) }]);
      expect(results["run plan get"]).toMatchObject({ name: plan.name });
      expect(results["instance get"]).toMatchObject({ runtimeStatus: "Running" });
      expect(results["detection state get"]).toMatchObject({ state: { seenAlerts: { "alert-1:Fired": expect.any(String) } } });
    }
  });

  it("aborts each request of every store's calls that the storage account never answers, when the budget runs out", { timeout: 120_000 }, async () => {
    const container = clients.blobService().getContainerClient("budget-held");
    for (const [name, scenario] of Object.entries(scenarios(container))) {
      const made = await requestsOf(scenario);
      expect(made, name).toBeGreaterThan(0);
      for (let k = 1; k <= made; k++) {
        const n = next();
        await scenario.setup?.(n);
        const error = await heldAt(k, () => rejectionUnderBudget(() => scenario.call(n)));
        expect(isAbort(error), `${name}, request ${k} of ${made} held: ${String(error)}`).toBe(true);
      }
    }
  });

  /** How many requests the scenario's call makes when every one is answered. */
  async function requestsOf(scenario: Scenario): Promise<number> {
    const n = next();
    await scenario.setup?.(n);
    proxy.requests = 0;
    await scenario.call(n);
    return proxy.requests;
  }

  /** Runs `work` with the proxy holding the k-th request it is sent from now on. */
  async function heldAt<T>(k: number, work: () => Promise<T>): Promise<T> {
    proxy.requests = 0;
    proxy.hold = k;
    try {
      return await work();
    } finally {
      proxy.hold = undefined;
    }
  }

  it("aborts the read of a download whose body stops half-way when the budget runs out", async () => {
    const all = scenarios(clients.blobService().getContainerClient("budget-stalled"));
    for (const name of ["journal read", "run plan get", "instance get", "detection state get"]) {
      const scenario = all[name];
      if (!scenario) throw new Error(`no scenario '${name}'`);
      const n = next();
      await scenario.setup?.(n);
      proxy.stall = true;
      const error = await rejectionUnderBudget(() => scenario.call(n)).finally(() => (proxy.stall = false));
      expect(isAbort(error), `${name}: ${String(error)}`).toBe(true);
    }
  });

  it("ends the wait for a Front Door lease another writer holds when the budget runs out, not at its own deadline", async () => {
    const lease = blobFrontDoorLease(clients.blobService().getContainerClient("budget-lease"), { waitMs: 60_000, retryMs: 20 });
    const held = await lease.acquire(FRONT_DOOR);
    try {
      const error = await rejectionUnderBudget(() => lease.acquire(FRONT_DOOR));
      expect(isAbort(error), String(error)).toBe(true);
      expect(error instanceof SwitchyardError && error.code === "FrontDoorLeaseBusy").toBe(false);
    } finally {
      await held.release();
    }
  });

  it("refuses a stored document of the wrong shape with an error that names its blob", async () => {
    const container = clients.blobService().getContainerClient("budget-damaged");
    const id = runIdOf(next());
    const put = async (name: string, text: string) => {
      await container.createIfNotExists();
      await container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    };
    await put(`runs/${encodeURIComponent(id)}/plan.json`, JSON.stringify({ name: "northwind", regions: [] }));
    await put(`instances/${encodeURIComponent(id)}.json`, JSON.stringify({ ...instance(id), history: [{ EventType: "started" }] }));
    await put("state/contoso-orders.json", JSON.stringify({ plan: "contoso-orders", signals: { eastus2: { probe: { status: "up" } } } }));

    await expect(new BlobRunPlanStore(container).get(id)).rejects.toThrow(`the stored plan of run ${id} (blob runs/${encodeURIComponent(id)}/plan.json in container budget-damaged) is not a plan`);
    await expect(new BlobInstanceStore(container).get(id)).rejects.toThrow(`blob instances/${encodeURIComponent(id)}.json in container budget-damaged is not an orchestration instance's state: history or inbox is not a list of history events`);
    const stateError = await new BlobPlanStateStore(container).get("contoso-orders").catch((e: unknown) => e);
    expect(stateError).toBeInstanceOf(InvalidStateError);
    expect(String(stateError)).toContain("(blob state/contoso-orders.json in container budget-damaged) is unreadable: signals are not signal states by region and name");
  });
});
