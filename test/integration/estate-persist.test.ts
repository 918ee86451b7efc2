import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { restorePoller } from "@azure/arm-storage";
import { afterEach, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { EXAMPLE_PLAN, FAST_POLL } from "../helpers/estate.ts";

/** The estate's clock, stepped by the test. */
const T0 = Date.parse("2025-03-01T12:00:00Z");
let now = T0;
const clock = () => now;
const HOUR = 3_600_000;

describe("estate kept in a folder (stateDir)", () => {
  let dir: string;
  const estates: Estate[] = [];
  afterEach(async () => {
    for (const e of estates.splice(0)) await e.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a new estate on the folder completes a storage failover begun before, on the same port and CA, with the request log kept", async () => {
    // Arrange: a storage failover accepted by the first estate (it lasts an hour on this clock).
    dir = await mkdtemp(join(tmpdir(), "estate-kept-"));
    now = T0;
    const plan = await loadPlanFile(EXAMPLE_PLAN);
    const account = plan.storage[0]!.account;
    const options = { seed: seedFromPlans([plan]), clock, stateDir: dir, timing: { durations: { StorageAccounts_Failover: HOUR } } };
    const first = await startEstate(options);
    estates.push(first);
    const client = (e: Estate) => new ClientFactory({ target: e.clientTarget(), maxRetries: 0 }).storage(account.subscriptionId);
    const poller = await client(first).storageAccounts.beginFailover(account.resourceGroup, account.name, { ...FAST_POLL, failoverType: "Planned" });
    const token = poller.toString();
    const firstUrl = first.url;
    const firstCa = first.ca.cert;
    // What a kill leaves: the folder as the last answered request left it (close() saves nothing more).
    await first.close();
    estates.length = 0;

    // Act: an hour later, a new estate on the folder; the client resumes its poller from the token.
    now = T0 + HOUR + 1;
    const second = await startEstate(options);
    estates.push(second);
    const storage = client(second);
    const resumed = restorePoller(storage, token, storage.storageAccounts.failover, FAST_POLL);
    await resumed.pollUntilDone();

    // Assert
    expect(second.url).toBe(firstUrl);
    expect(second.ca.cert).toBe(firstCa);
    const kept = second.snapshot().storageAccounts.find((a) => a.id === account.id)!;
    expect(kept).toMatchObject({ primaryLocation: plan.regions.secondary.name, secondaryLocation: plan.regions.primary.name, failoverInProgress: false });
    expect(second.requests({ writesOnly: true }).map((r) => `${r.operationId} ${r.status}`)).toEqual(["StorageAccounts_Failover 202"]);
    expect((await readFile(join(dir, "estate-ca.key"), "utf8")).length).toBeGreaterThan(0);
  });

  it("refuses a folder whose estate.json is not a kept estate, naming the file and the field", async () => {
    dir = await mkdtemp(join(tmpdir(), "estate-kept-"));
    await writeFile(join(dir, "estate.json"), JSON.stringify({ format: "switchyard-estate/1", port: "443" }));
    await expect(startEstate({ stateDir: dir })).rejects.toThrow(/estate\.json is not a kept estate .*port/);
  });
});
