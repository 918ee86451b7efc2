import { beforeEach, describe, expect, it } from "vitest";
import { AZURE_PROFILE } from "../../estate/profile.ts";
import { reprotectStorageAccount, ReprotectStages, type ReprotectProgress } from "../../src/activities/reprotect.ts";
import { PreconditionError, SwitchyardError } from "../../src/core/errors.ts";
import type { DataTierInput } from "../../src/core/run/model.ts";
import { activityDeps, requestMark, writesSince, type TestDeps } from "../helpers/activities.ts";
import { FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { tailwindPlanFile } from "../helpers/tailwindPlan.ts";

/**
 * Re-protection one step per call, through the real SDK against the estate at a time scale on an
 * injected clock (Azure time passes only when a test says so), on a westeurope/northeurope plan.
 */
const SCALE = 3600;
const T0 = Date.parse("2026-06-01T06:00:00Z");
let now = T0;
const GEO_SYNC_MS = AZURE_PROFILE.effects.storageInitialGeoSync.ms / SCALE;
const ZONE_CONVERSION_MS = AZURE_PROFILE.effects.storageZoneConversion.ms / SCALE;
const FAILOVER_MS = AZURE_PROFILE.operations.StorageAccounts_Failover!.ms / SCALE;
const home = "westeurope";
const away = "northeurope";
const RUN = "tailwind-ledger.20260601T060000Z.failback-7a1c";
const DOCS = 0; // Standard_GZRS
const EXPORTS = 1; // Standard_RAGRS
const ARCHIVE = 2; // Standard_RAGZRS

describe("reprotectStorageAccount (src/activities/reprotect.ts)", () => {
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ planFile: tailwindPlanFile(), estate: { clock: () => now, timeScale: SCALE } });
  const input = (index: number, runId = RUN): DataTierInput => ({ runId, plan: fx.plan, index, to: home, allowDataLoss: false });
  const account = (index: number) => {
    const a = fx.plan.storage[index]!.account;
    return { id: a.id, rg: a.resourceGroup, name: a.name, client: fx.clients.storage(a.subscriptionId) };
  };
  const skuOf = async (index: number) => {
    const a = account(index);
    return (await a.client.storageAccounts.getProperties(a.rg, a.name)).sku?.name;
  };

  async function failover(index: number, planned: boolean) {
    const a = account(index);
    const poller = a.client.storageAccounts.failover(a.rg, a.name, planned ? { ...FAST_POLL, failoverType: "Planned" } : FAST_POLL);
    await poller.submitted();
    now += FAILOVER_MS;
    await poller.pollUntilDone();
  }
  /** westeurope goes down, the account fails over unplanned to northeurope, westeurope comes back. */
  async function outage(index: number) {
    await fx.estate.setRegion(home, { down: true });
    await failover(index, false);
    await fx.estate.setRegion(home, { down: false });
  }

  /** One call; returns its progress and the writes the estate received during it. */
  async function step(deps: TestDeps, index: number, runId = RUN): Promise<{ progress: ReprotectProgress; writes: string[] }> {
    const mark = requestMark(fx);
    const progress = await reprotectStorageAccount(input(index, runId), deps);
    return { progress, writes: writesSince(fx, mark) };
  }
  /** One call, then the same call again at once: the repeat must write nothing and say the same. */
  async function stepTwice(deps: TestDeps, index: number) {
    const first = await step(deps, index);
    const repeat = await step(deps, index);
    expect(first.writes.length).toBeLessThanOrEqual(1);
    expect(repeat.writes).toEqual([]);
    expect(repeat.progress.changed).toBe(false);
    return { first, repeat };
  }
  const summary = (s: { progress: ReprotectProgress; writes: string[] }) => [s.progress.state, s.progress.stage, s.writes.join(",")];

  it("walks a GZRS account back after an unplanned failover: LRS → GRS (Bootstrap, then Live: protected for failback) → planned failback → GRS → GZRS by migration → Live", async () => {
    const deps = activityDeps(fx);
    await outage(DOCS);
    expect(await skuOf(DOCS)).toBe("Standard_LRS");

    const geo = await stepTwice(deps, DOCS);
    now += GEO_SYNC_MS;
    const synced = await stepTwice(deps, DOCS);
    await failover(DOCS, true); // the failback: planned, both regions up
    const convert = await stepTwice(deps, DOCS);
    now += ZONE_CONVERSION_MS;
    const done = await stepTwice(deps, DOCS);

    expect(summary(geo.first)).toEqual(["waiting", ReprotectStages.geoRedundancy, "PATCH StorageAccounts_Update"]);
    expect(summary(geo.repeat)).toEqual(["waiting", ReprotectStages.initialSync, ""]);
    expect(geo.repeat.progress.why).toMatch(/Bootstrap/);
    expect(summary(synced.first)).toEqual(["protected", ReprotectStages.zoneAfterFailback, ""]);
    expect(synced.first.progress.why).toMatch(/only after it fails back to westeurope/);
    expect(summary(convert.first)).toEqual(["waiting", ReprotectStages.zoneConversion, "POST StorageAccounts_CustomerInitiatedMigration"]);
    expect(summary(convert.repeat)).toEqual(["waiting", ReprotectStages.zoneConversion, ""]);
    expect(summary(done.first)).toEqual(["protected", ReprotectStages.done, ""]);
    expect(await skuOf(DOCS)).toBe("Standard_GZRS");
    expect(geo.first.progress).toMatchObject({ changed: true, pollSeconds: expect.any(Number) });
    expect(geo.first.progress.requestIds).toHaveLength(1);

    const writes = (await deps.journal.read(RUN)).filter((e) => e.kind === "write");
    expect(writes.map((w) => [w.data?.operation, w.data?.result])).toEqual([
      ["StorageAccounts_Update", "succeeded"],
      ["StorageAccounts_CustomerInitiatedMigration", "accepted"],
    ]);
    expect(writes[0]!.data).toMatchObject({ from: "Standard_LRS", sku: "Standard_GRS", planSku: "Standard_GZRS", requestIds: geo.first.progress.requestIds });
    expect(writes[1]!.data).toMatchObject({ from: "Standard_GRS", targetSkuName: "Standard_GZRS", requestIds: convert.first.progress.requestIds });
  });

  it("walks an LRS account in its home region to GZRS as Azure allows: LRS → GRS → Bootstrap → migration → GZRS → Live", async () => {
    const deps = activityDeps(fx);
    const docs = account(DOCS);
    // Make it LRS at home the way Azure would: GZRS → ZRS by update, ZRS → LRS by migration.
    await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_ZRS" } });
    await docs.client.storageAccounts.customerInitiatedMigration(docs.rg, docs.name, { targetSkuName: "Standard_LRS" }, FAST_POLL).submitted();
    now += ZONE_CONVERSION_MS;
    expect(await skuOf(DOCS)).toBe("Standard_LRS");

    const calls: string[][] = [];
    for (let i = 0; i < 12; i++) {
      const s = await step(deps, DOCS);
      calls.push(summary(s));
      expect(s.writes.length).toBeLessThanOrEqual(1);
      if (s.progress.state === "protected") break;
      now += s.progress.stage === ReprotectStages.zoneConversion ? ZONE_CONVERSION_MS : GEO_SYNC_MS / 2;
    }

    expect(calls).toEqual([
      ["waiting", ReprotectStages.geoRedundancy, "PATCH StorageAccounts_Update"],
      ["waiting", ReprotectStages.initialSync, ""],
      ["waiting", ReprotectStages.zoneConversion, "POST StorageAccounts_CustomerInitiatedMigration"],
      ["protected", ReprotectStages.done, ""],
    ]);
    expect(await skuOf(DOCS)).toBe("Standard_GZRS");
  });

  it("an RA-GRS account: LRS → RA-GRS, then protected once the initial sync is done; a RA-GZRS account is protected for failback as RA-GRS", async () => {
    const deps = activityDeps(fx);
    await outage(EXPORTS);
    await outage(ARCHIVE);

    const exports1 = await step(deps, EXPORTS);
    const archive1 = await step(deps, ARCHIVE);
    now += GEO_SYNC_MS;
    const exports2 = await stepTwice(deps, EXPORTS);
    const archive2 = await stepTwice(deps, ARCHIVE);

    expect(summary(exports1)).toEqual(["waiting", ReprotectStages.geoRedundancy, "PATCH StorageAccounts_Update"]);
    expect(summary(archive1)).toEqual(["waiting", ReprotectStages.geoRedundancy, "PATCH StorageAccounts_Update"]);
    expect(summary(exports2.first)).toEqual(["protected", ReprotectStages.done, ""]);
    expect(summary(archive2.first)).toEqual(["protected", ReprotectStages.zoneAfterFailback, ""]);
    expect(await skuOf(EXPORTS)).toBe("Standard_RAGRS");
    expect(await skuOf(ARCHIVE)).toBe("Standard_RAGRS");
  });

  it("writes nothing while a failover or someone else's migration is in progress", async () => {
    const deps = activityDeps(fx);
    const exports = account(EXPORTS);
    await exports.client.storageAccounts.failover(exports.rg, exports.name, FAST_POLL).submitted();
    const duringFailover = await step(deps, EXPORTS);
    now += FAILOVER_MS;
    const archive = account(ARCHIVE);
    await archive.client.storageAccounts.customerInitiatedMigration(archive.rg, archive.name, { targetSkuName: "Standard_RAGRS" }, FAST_POLL).submitted();
    const duringMigration = await step(deps, ARCHIVE);

    expect(summary(duringFailover)).toEqual(["waiting", ReprotectStages.failover, ""]);
    expect(summary(duringMigration)).toEqual(["waiting", ReprotectStages.zoneConversion, ""]);
    expect(duringMigration.progress.why).toMatch(/Standard_RAGZRS to Standard_RAGRS/);
  });

  it("a conversion this run started that fails stops re-protection with Azure's reason; one another run started is started again", async () => {
    const deps = activityDeps(fx);
    const docs = account(DOCS);
    await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_ZRS" } });
    await docs.client.storageAccounts.customerInitiatedMigration(docs.rg, docs.name, { targetSkuName: "Standard_LRS" }, FAST_POLL).submitted();
    now += ZONE_CONVERSION_MS;
    await docs.client.storageAccounts.update(docs.rg, docs.name, { sku: { name: "Standard_GRS" } });
    now += GEO_SYNC_MS;
    fx.estate.addFault({ kind: "lroFailure", operationId: "StorageAccounts_CustomerInitiatedMigration", count: 1, code: "ZrsNotSupportedForAccountWithArchiveData" });

    const started = await step(deps, DOCS);
    now += ZONE_CONVERSION_MS;
    const stopped = reprotectStorageAccount(input(DOCS), deps);
    await expect(stopped).rejects.toBeInstanceOf(PreconditionError);
    await expect(stopped).rejects.toMatchObject({ code: "ZoneConversionFailed", message: expect.stringMatching(/ZrsNotSupportedForAccountWithArchiveData/) });
    const otherRun = await step(activityDeps(fx), DOCS, `${RUN}-retry`);

    expect(summary(started)).toEqual(["waiting", ReprotectStages.zoneConversion, "POST StorageAccounts_CustomerInitiatedMigration"]);
    expect(summary(otherRun)).toEqual(["waiting", ReprotectStages.zoneConversion, "POST StorageAccounts_CustomerInitiatedMigration"]);
  });

  it("journals a refused write with Azure's request id and surfaces it as retryable", async () => {
    const deps = activityDeps(fx);
    await outage(EXPORTS);
    fx.estate.addFault({ kind: "throttle", operationId: "StorageAccounts_Update", count: 1, retryAfterSeconds: 3 });

    const refused = reprotectStorageAccount(input(EXPORTS), deps);

    await expect(refused).rejects.toBeInstanceOf(SwitchyardError);
    await expect(refused).rejects.toMatchObject({ retryable: true, retryAfterSeconds: 3, details: { status: 429 } });
    const writes = (await deps.journal.read(RUN)).filter((e) => e.kind === "write");
    expect(writes).toHaveLength(1);
    expect(writes[0]!.data).toMatchObject({ operation: "StorageAccounts_Update", result: expect.stringMatching(/^failed/), requestIds: [expect.any(String)] });
    expect(await skuOf(EXPORTS)).toBe("Standard_LRS");
  });

  it("waits while the account's secondary region is unavailable, and reads an account whose home region's control plane is down", async () => {
    const deps = activityDeps(fx);
    await outage(EXPORTS);
    await step(deps, EXPORTS);
    now += GEO_SYNC_MS;
    await fx.estate.setRegion(home, { down: true, controlPlane: "reads-fail" });

    const unavailable = await step(deps, EXPORTS);

    expect(summary(unavailable)).toEqual(["waiting", ReprotectStages.secondaryUnavailable, ""]);
    expect(unavailable.progress.why).toMatch(/Unavailable/);
    expect((await fx.clients.storage(fx.plan.storage[EXPORTS]!.account.subscriptionId).storageAccounts.getProperties(account(EXPORTS).rg, account(EXPORTS).name)).primaryLocation).toBe(away);
  });
});
