/**
 * Run plan snapshots in blob storage (Azurite, through the real blob client), including the storage
 * answering 503 once in between, as it does under load.
 */
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { BlobRunPlanStore } from "../../src/journal/runPlans.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";

const NORTHWIND = new URL("../fixtures/northwind.plan.yaml", import.meta.url).pathname;

describe("run plan snapshots", () => {
  let azurite: AzuriteBlob;
  let plan: Plan;
  beforeAll(async () => {
    [azurite, plan] = await Promise.all([startAzuriteBlob(), loadPlanFile(NORTHWIND)]);
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("keeps the first plan of a run, and reads it back as it was", async () => {
    const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } });
    const store = new BlobRunPlanStore(clients.blobService().getContainerClient("snapshots-a"));

    await store.put("northwind.20261202T000000Z.failover-0001", plan);
    await store.put("northwind.20261202T000000Z.failover-0001", { ...plan, name: "someone-else" });

    expect(await store.get("northwind.20261202T000000Z.failover-0001")).toEqual(JSON.parse(JSON.stringify(plan)));
    expect(await new BlobRunPlanStore(clients.blobService().getContainerClient("snapshots-a")).get("northwind.20261202T000000Z.failover-0002")).toBeUndefined();
  });

  it("tries to create its container again after a failed attempt, instead of failing every later start", async () => {
    // Between the client and Azurite: the first request answers 503 (no retries in this client).
    const target = new URL(/BlobEndpoint=([^;]+)/.exec(azurite.connectionString)![1]!);
    let first = true;
    const proxy = createServer((req, res) => {
      if (first) {
        first = false;
        req.resume();
        res.writeHead(503).end();
        return;
      }
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const port = (proxy.address() as AddressInfo).port;
      const connectionString = azurite.connectionString.replace(/BlobEndpoint=[^;]+/, `BlobEndpoint=http://127.0.0.1:${port}${target.pathname}`);
      const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString }, maxRetries: 0 });
      const store = new BlobRunPlanStore(clients.blobService().getContainerClient("snapshots-b"));

      const failed = await store.put("northwind.20261202T000000Z.failover-0003", plan).then(() => "stored", () => "failed");
      await store.put("northwind.20261202T000000Z.failover-0003", plan);

      expect(failed).toBe("failed");
      expect((await store.get("northwind.20261202T000000Z.failover-0003"))?.name).toBe(plan.name);
    } finally {
      proxy.close();
    }
  });
});
