/**
 * The failover run end to end: the real orchestration on the local durable host, the real activities,
 * the real SDK clients against the local estate, the journal and the host's history in Azurite.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Plan } from "../../src/core/plan/index.ts";
import { newRunId, type RunOutput } from "../../src/core/run/model.ts";
import { RunInProgressError } from "../../src/core/run/port.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { replicationLagRound } from "../../src/lag/round.ts";
import { expectedSettings, planState } from "../helpers/estateView.ts";
import { dataLossWrites, journaledRequestIds, succeeded, unjournaledWrites, useRunWorld, writes } from "../helpers/runHarness.ts";

const FABRIKAM = fileURLToPath(new URL("../fixtures/fabrikam.plan.json", import.meta.url));
const STORAGE_ONLY = fileURLToPath(new URL("../fixtures/storage-only.plan.json", import.meta.url));

const world = useRunWorld({ planFiles: [EXAMPLE_PLAN, FABRIKAM, STORAGE_ONLY] });
const planNamed = (name: string): Plan => world.plans.find((p) => p.name === name)!;

const byKind = (entries: JournalEntry[], kind: JournalEntry["kind"]) => entries.filter((e) => e.kind === kind);
const gateDecision = (entries: JournalEntry[]) => entries.find((e) => e.kind === "decision" && e.step === "gate");

/** The estate holds `region` as the plan's primary everywhere; `other` is standby (or disabled). */
function expectPrimaryIn(plan: Plan, region: string, other: { enabledState: "Enabled" | "Disabled" }) {
  const state = planState(world.estate, plan);
  for (const g of state.sql) expect(g, `failover group ${g.group}`).toMatchObject({ primaryRegion: region });
  for (const a of state.storage) expect(a, `storage account ${a.account}`).toMatchObject({ primaryLocation: region });
  for (const members of [...state.afd, ...state.classic]) {
    for (const [r, member] of Object.entries(members.byRegion)) {
      expect(member, `${JSON.stringify(members)} in ${r}`).toEqual(r === region ? { priority: 1, enabledState: "Enabled" } : { priority: 2, enabledState: other.enabledState });
    }
  }
  return state;
}

/** No successful write twice on one resource with one operation (since request `since`). */
function expectNoDuplicateWrites(since = 0) {
  const duplicates = writes(world.estate, { since }).filter((g) => g.requests.length > 1);
  expect(duplicates.map((g) => `${g.key} ×${g.requests.length}`)).toEqual([]);
}

/** Every successful write is in the journal: by resource, and by the request id Azure answered with. */
async function expectJournaledWrites(runIds: string[]) {
  const entries = (await Promise.all(runIds.map((id) => world.journal.read(id)))).flat();
  expect(unjournaledWrites(world.estate, entries).map((r) => `${r.operationId} ${r.path}`)).toEqual([]);
  const ids = journaledRequestIds(entries);
  const successful = world.estate.requests({ writesOnly: true }).filter(succeeded);
  expect(successful.filter((r) => !ids.has(r.requestId)).map((r) => `${r.operationId} ${r.path} ${r.requestId}`)).toEqual([]);
}

describe.each([
  { label: "the example plan", name: "contoso-orders" },
  { label: "a plan with other names and another region pair", name: "fabrikam-claims" },
])("outage → failover → verify → failback on $label", ({ name }) => {
  it("fails over after approval with the primary down, verifies, and fails back once the region is back", async () => {
    const plan = planNamed(name);
    const [primary, secondary] = [plan.regions.primary.name, plan.regions.secondary.name];
    await world.estate.setRegion(primary, { down: true });
    const detectedAt = new Date(Date.now() - 5_000).toISOString();

    // ---- failover: SQL lag is unmeasurable, so a data-loss failover waits for a human
    const failover = world.runInput("failover", { plan, detectedAt });
    const started = await world.runs.start(failover);
    expect(started).toMatchObject({ runId: failover.runId, kind: "failover", from: primary, to: secondary });
    const waiting = await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval", { plan });
    expect(waiting).toMatchObject({ status: "running", progress: { step: "approval", runId: failover.runId } });
    expect(writes(world.estate), "nothing is written before the approval").toEqual([]);
    expect(world.notifications.map((n) => n.event)).toContain("approval-needed");
    expect(world.notifications.find((n) => n.event === "approval-needed")).toMatchObject({ severity: "critical" });

    await world.runs.approve(plan.name, { approve: true, by: "oncall@example.com", reason: "outage confirmed" });
    const done = await world.runs.waitFor(plan.name);
    expect(done.status).toBe("completed");
    const out = done.output as RunOutput;
    expect(out).toMatchObject({ runId: failover.runId, kind: "failover", outcome: "completed", from: primary, to: secondary, dataLossAllowedBy: "approval" });
    expect(out.rtoSeconds).toBeGreaterThanOrEqual(5);
    expect(out.rtoSeconds).toBeLessThan(60);
    expect(out.rtoTargetSeconds).toBe(plan.objectives.rtoMinutes * 60);
    expect(out.rpoBudgetSeconds).toBe(plan.objectives.rpoSeconds);
    // The data tier was forced (the lag is unknown), so the exposure is reported as unknown, not as 0.
    expect(out.rpoExposureSeconds).toBeNull();
    expect(out.steps.map((s) => [s.step, s.outcome])).toEqual([
      ["assess", "ok"],
      ["measure", "ok"],
      ["approval", "ok"],
      ["data-tier", "ok"],
      ...(plan.appService.some((a) => a.region === secondary) ? [["settings", "ok"]] : []),
      ["traffic", "ok"],
      ...(plan.appService.some((a) => a.region !== secondary) ? [["standby-settings", "ok"]] : []),
      ["verify", "ok"],
    ]);

    // ---- the estate: data tier, traffic and settings in the secondary; the dead region taken out
    const after = expectPrimaryIn(plan, secondary, { enabledState: "Disabled" });
    for (const a of after.storage) expect(a.sku).toBe("Standard_LRS"); // an unplanned failover leaves LRS
    plan.appService.forEach((spec, i) => {
      const site = after.sites[i]!;
      // A site in the dead region cannot be written: it keeps its values until failback.
      const region = site.location === primary ? primary : secondary;
      expect({ appSettings: site.appSettings, connectionStrings: site.connectionStrings }, spec.site.name).toEqual(expectedSettings(plan, i, region));
    });
    expect(after.sites.some((s) => s.location === secondary), "the plan has a site in the secondary region").toBe(true);
    const forced = dataLossWrites(world.estate).filter(succeeded);
    // Data loss allowed: SQL asks Azure for try-planned-before-forced, never a forced failover outright.
    expect(forced.filter((r) => r.operationId === "FailoverGroups_TryPlannedBeforeForcedFailover")).toHaveLength(plan.sql.length);
    expect(forced.filter((r) => r.operationId === "FailoverGroups_ForceFailoverAllowDataLoss")).toEqual([]);
    expect(forced.filter((r) => r.operationId === "StorageAccounts_Failover")).toHaveLength(plan.storage.length);

    // ---- the journal
    const journal = await world.journal.read(failover.runId);
    expect(byKind(journal, "run-started")).toHaveLength(1);
    expect(byKind(journal, "run-started")[0]).toMatchObject({ data: { kind: "failover", mode: "auto", plan: plan.name, from: primary, to: secondary } });
    expect(gateDecision(journal)?.data).toMatchObject({ decision: "needs-approval", primaryHealthy: false, maxLagSeconds: null, rpoSeconds: plan.objectives.rpoSeconds });
    const assess = journal.find((e) => e.kind === "decision" && e.step === "assess");
    expect(assess?.data).toMatchObject({ regions: { [primary]: { healthy: false }, [secondary]: { healthy: true } } });
    expect(journal.find((e) => e.kind === "decision" && e.step === "approval")).toMatchObject({ data: { approve: true, by: "oncall@example.com" } });
    const writeEntries = byKind(journal, "write");
    expect(writeEntries.length).toBeGreaterThanOrEqual(plan.sql.length + plan.storage.length);
    for (const w of writeEntries) {
      expect(w.data, w.message).toMatchObject({ resourceId: expect.any(String), operation: expect.any(String), result: expect.any(String) });
      expect((w.data!.requestIds as string[]).length, w.message).toBeGreaterThan(0);
    }
    // Data loss allowed: one try-planned-before-forced per SQL group (Azure forces it: the partner is
    // down), one unplanned failover per account; each accepted, then watched until it succeeded.
    const operations = byKind(journal, "operation");
    for (const spec of plan.sql) {
      const mine = writeEntries.filter((w) => w.data!.resourceId === spec.failoverGroup.id).map((w) => [w.data!.operation, w.data!.result]);
      expect(mine, spec.failoverGroup.name).toEqual([["FailoverGroups_TryPlannedBeforeForcedFailover", "accepted"]]);
      const ends = operations.filter((o) => o.data!.resourceId === spec.failoverGroup.id).map((o) => o.data!.status);
      expect(ends, spec.failoverGroup.name).toEqual(["sending", "running", "succeeded"]);
    }
    for (const spec of plan.storage) {
      const mine = writeEntries.filter((w) => w.data!.resourceId === spec.account.id).map((w) => [w.data!.operation, w.data!.result]);
      expect(mine, spec.account.name).toEqual([["StorageAccounts_Failover (Unplanned)", "accepted"]]);
      const ends = operations.filter((o) => o.data!.resourceId === spec.account.id).map((o) => o.data!.status);
      expect(ends, spec.account.name).toEqual(["running", "succeeded"]);
    }
    const finished = byKind(journal, "run-finished");
    expect(finished).toHaveLength(1);
    expect(finished[0]!.data?.output).toEqual(out);
    await expectJournaledWrites([failover.runId]);
    expectNoDuplicateWrites();

    // ---- failback once the region is back: re-protect, then a planned failover home
    await world.estate.setRegion(primary, { down: false });
    const mark = world.estate.requests().at(-1)!.seq;
    const failback = world.runInput("failback", { plan });
    await world.runs.start(failback);
    const back = await world.runs.waitFor(plan.name);
    expect(back.status).toBe("completed");
    const backOut = back.output as RunOutput;
    expect(backOut).toMatchObject({ kind: "failback", outcome: "completed", from: secondary, to: primary, dataLossAllowedBy: "none", rpoExposureSeconds: 0 });
    expect(backOut.rtoSeconds).toEqual(expect.any(Number));
    expect(backOut.steps.map((s) => s.step)).toEqual(["reprotect", "check-reprotection", "assess", "measure", "data-tier", ...(plan.appService.some((a) => a.region === primary) ? ["settings"] : []), "traffic", ...(plan.appService.some((a) => a.region !== primary) ? ["standby-settings"] : []), "verify", "restore-redundancy"]);
    const home = expectPrimaryIn(plan, primary, { enabledState: "Enabled" });
    plan.storage.forEach((spec, i) => expect(home.storage[i]).toMatchObject({ sku: spec.sku, secondaryLocation: secondary }));
    plan.appService.forEach((_, i) => {
      const site = home.sites[i]!;
      expect({ appSettings: site.appSettings, connectionStrings: site.connectionStrings }).toEqual(expectedSettings(plan, i, primary));
    });
    const failbackWrites = world.estate.requests({ since: mark, writesOnly: true }).filter(succeeded);
    expect(dataLossWrites(world.estate).filter((r) => r.seq > mark), "a failback never loses data").toEqual([]);
    expect(failbackWrites.filter((r) => r.operationId === "StorageAccounts_Update")).toHaveLength(plan.storage.length);
    expect(failbackWrites.filter((r) => r.operationId === "FailoverGroups_Failover")).toHaveLength(plan.sql.length);
    const backJournal = await world.journal.read(failback.runId);
    expect(byKind(backJournal, "run-started")).toHaveLength(1);
    expect(byKind(backJournal, "run-finished")).toHaveLength(1);
    // A success says what happened: "Switched to" the target, "Returned to" home (never "Failed over").
    expect(byKind(journal, "run-finished")[0]!.message).toMatch(new RegExp(`^failover completed: Switched to ${secondary} in `));
    expect(byKind(backJournal, "run-finished")[0]!.message).toMatch(new RegExp(`^failback completed: Returned to ${primary} in `));
    expect(backJournal.find((e) => e.kind === "decision" && e.step === "check-reprotection")?.message).toMatch(/re-protected/);
    await expectJournaledWrites([failover.runId, failback.runId]);
    expectNoDuplicateWrites(mark);
  });
});

describe("a data-loss failover that nobody approves", () => {
  it("stops when the approval times out, with no forced or unplanned failover", async () => {
    const plan = world.plan;
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover", { options: { approvalTimeoutSeconds: 0.3 } });
    await world.runs.start(input);
    const done = await world.runs.waitFor(plan.name);
    const out = done.output as RunOutput;
    expect(out).toMatchObject({ outcome: "stopped-approval-timeout", dataLossAllowedBy: "none", rtoSeconds: null });
    expect(out.message).toMatch(/no approval/i);
    expect(dataLossWrites(world.estate)).toEqual([]);
    expect(writes(world.estate)).toEqual([]);
    expect(planState(world.estate, plan).sql.every((g) => g.primaryRegion === plan.regions.primary.name)).toBe(true);
    const journal = await world.journal.read(input.runId);
    expect(journal.find((e) => e.kind === "wait" && e.step === "approval")?.data).toMatchObject({ until: expect.any(String) });
    expect(journal.find((e) => e.kind === "decision" && e.step === "approval")?.message).toMatch(/timed out/);
    expect(byKind(journal, "run-finished")).toHaveLength(1);
  });

  it("stops when an operator aborts, with no forced or unplanned failover", async () => {
    const plan = world.plan;
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover");
    await world.runs.start(input);
    await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    await world.runs.approve(plan.name, { approve: false, by: "oncall@example.com", reason: "the region is coming back" });
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "stopped-aborted", dataLossAllowedBy: "none" });
    expect(out.message).toContain("oncall@example.com");
    expect(dataLossWrites(world.estate)).toEqual([]);
    expect(writes(world.estate)).toEqual([]);
    const journal = await world.journal.read(input.runId);
    expect(journal.find((e) => e.kind === "decision" && e.step === "approval")).toMatchObject({ data: { approve: false, by: "oncall@example.com" } });
    expect(out.steps.map((s) => s.step)).not.toContain("data-tier");
  });
});

describe("the RPO gate on a storage-only plan (lag measurable)", () => {
  it("forces the failover without approval when the lag is within the RPO", async () => {
    const plan = planNamed("tailspin-media");
    const account = plan.storage[0]!.account.id;
    world.estate.setLag(account, 60);
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover", { plan });
    await world.runs.start(input);
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "completed", dataLossAllowedBy: "rpo-gate", rpoBudgetSeconds: 300 });
    expect(out.rpoExposureSeconds).toBeGreaterThanOrEqual(60);
    expect(out.rpoExposureSeconds).toBeLessThanOrEqual(62);
    expect(out.steps.map((s) => s.step)).not.toContain("approval");
    expect(world.notifications.map((n) => n.event)).not.toContain("approval-needed");
    const gate = gateDecision(await world.journal.read(input.runId));
    expect(gate?.data).toMatchObject({ decision: "forced", rpoSeconds: 300 });
    expect(gate?.data?.maxLagSeconds).toBeGreaterThanOrEqual(60);
    const [state] = planState(world.estate, plan).storage;
    expect(state).toMatchObject({ primaryLocation: plan.regions.secondary.name, sku: "Standard_LRS" });
    expect(state!.dataLossSeconds).toBeGreaterThanOrEqual(60);
    expect(dataLossWrites(world.estate).filter(succeeded)).toHaveLength(1);
    await expectJournaledWrites([input.runId]);
  });

  it("waits for approval when the lag exceeds the RPO, and reports the exposure once approved", async () => {
    const plan = planNamed("tailspin-media");
    world.estate.setLag(plan.storage[0]!.account.id, 600);
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover", { plan });
    await world.runs.start(input);
    await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval", { plan });
    expect(writes(world.estate)).toEqual([]);
    const gate = gateDecision(await world.journal.read(input.runId));
    expect(gate?.data).toMatchObject({ decision: "needs-approval", rpoSeconds: 300 });
    expect(gate?.data?.maxLagSeconds).toBeGreaterThanOrEqual(600);
    await world.runs.approve(plan.name, { approve: true, by: "oncall@example.com", reason: "accepting 10 minutes of loss" });
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "completed", dataLossAllowedBy: "approval" });
    expect(out.rpoExposureSeconds).toBeGreaterThanOrEqual(600);
    expect(out.rpoExposureSeconds).toBeLessThanOrEqual(602);
  });
});

describe("the RPO gate on SQL: the last lag measured over TDS before the outage", () => {
  const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
  /** One round of the replicationLag timer (the real measurement over TDS and ARM), dated `agoSeconds` back. */
  const lagRound = async (plan: Plan, agoSeconds = 0) => {
    const none = { name: "none", notify: async () => undefined, publish: async () => undefined };
    const [summary] = await replicationLagRound([plan], { clients: world.clients, clock: () => new Date(Date.now() - agoSeconds * 1000), store: world.lag, notifier: none, metrics: none, log: quiet });
    expect(summary!.round!.samples.every((s) => s.lagSeconds !== null), JSON.stringify(summary!.round!.samples)).toBe(true);
    return summary!.round!;
  };
  const lagGroups = (plan: Plan, seconds: number) => plan.sql.forEach((g) => world.estate.setLag(g.failoverGroup.id, seconds));

  it("a fresh sample within the RPO: forced by the gate, no approval, and the journal says how the lag is known", async () => {
    const plan = world.plan;
    lagGroups(plan, 45);
    const round = await lagRound(plan);
    expect(round.tdsLogins).toBe(round.samples.filter((s) => s.kind === "sqlDatabase").length);
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover");
    await world.runs.start(input);
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "completed", dataLossAllowedBy: "rpo-gate" });
    expect(out.steps.map((s) => s.step)).not.toContain("approval");
    const entries = await world.journal.read(input.runId);
    const gate = gateDecision(entries);
    const databases = round.samples.filter((s) => s.kind === "sqlDatabase").length;
    expect(gate?.data).toMatchObject({ decision: "forced", lagBasis: { live: plan.storage.length, lastKnown: databases, unknown: 0 } });
    expect(gate?.message).toContain("by their last sample, aged until the primary stopped answering");
    expect(gate?.data?.maxLagSeconds).toBeGreaterThanOrEqual(45);
    const measure = entries.find((e) => e.kind === "observation" && e.step === "measure");
    expect(measure?.data).toMatchObject({ basis: { lastKnown: databases }, evidenceTotal: databases + plan.storage.length });
    // Every database of every group failed over with the data it had not replicated counted.
    for (const g of planState(world.estate, plan).sql) expect(g.primaryRegion).toBe(plan.regions.secondary.name);
  });

  it("a sample older than the plan's limit before the outage: the lag is unknown, so a person decides", async () => {
    const plan = world.plan;
    lagGroups(plan, 5);
    await lagRound(plan, plan.objectives.lagSampleMaxAgeSeconds + 120);
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover");
    await world.runs.start(input);
    await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    expect(writes(world.estate)).toEqual([]);
    const gate = gateDecision(await world.journal.read(input.runId));
    expect(gate?.data).toMatchObject({ decision: "needs-approval", maxLagSeconds: null });
    expect(gate?.message).toMatch(/replication lag is unknown for 3 of 5 replica\(s\)/);
    await world.runs.approve(plan.name, { approve: false, by: "oncall@example.com", reason: "not without knowing the loss" });
    expect(((await world.runs.waitFor(plan.name)).output as RunOutput).outcome).toBe("stopped-aborted");
  });

  it("a fresh sample over the RPO: approval, and the figure is the one asked about", async () => {
    const plan = world.plan;
    lagGroups(plan, plan.objectives.rpoSeconds + 100);
    await lagRound(plan);
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover");
    await world.runs.start(input);
    await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    const gate = gateDecision(await world.journal.read(input.runId));
    expect(gate?.data).toMatchObject({ decision: "needs-approval" });
    expect(gate?.data?.maxLagSeconds).toBeGreaterThanOrEqual(plan.objectives.rpoSeconds + 100);
    expect(gate?.message).toMatch(/exceeds the RPO budget of 300 s/);
    await world.runs.approve(plan.name, { approve: false, by: "oncall@example.com", reason: "too much to lose" });
    await world.runs.waitFor(plan.name);
  });
});

describe("an operator-forced failover", () => {
  it("fails over with data loss pre-approved by the operator, without waiting", async () => {
    const plan = world.plan;
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    const input = world.runInput("failover", { mode: "forced" });
    await world.runs.start(input);
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "completed", dataLossAllowedBy: "operator" });
    expect(out.steps.map((s) => s.step)).not.toContain("approval");
    expect(gateDecision(await world.journal.read(input.runId))?.data).toMatchObject({ decision: "forced", maxLagSeconds: null });
    expectPrimaryIn(plan, plan.regions.secondary.name, { enabledState: "Disabled" });
    expect(dataLossWrites(world.estate).filter(succeeded)).toHaveLength(plan.sql.length + plan.storage.length);
    await expectJournaledWrites([input.runId]);
    expectNoDuplicateWrites();
  });

  it("still fails over planned while the primary answers", async () => {
    const input = world.runInput("failover", { mode: "forced" });
    await world.runs.start(input);
    const out = (await world.runs.waitFor(world.plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "completed", dataLossAllowedBy: "none", rpoExposureSeconds: 0 });
    expect(dataLossWrites(world.estate)).toEqual([]);
    expectPrimaryIn(world.plan, world.plan.regions.secondary.name, { enabledState: "Enabled" });
  });
});

describe("interlocks", () => {
  it.each([
    { label: "both regions down", down: ["primary", "secondary"] as const },
    { label: "the secondary down", down: ["secondary"] as const },
  ])("refuses to fail over into an unhealthy target ($label) and writes nothing", async ({ down }) => {
    const plan = world.plan;
    for (const role of down) await world.estate.setRegion(plan.regions[role].name, { down: true });
    const input = world.runInput("failover");
    await world.runs.start(input);
    const out = (await world.runs.waitFor(plan.name)).output as RunOutput;
    expect(out).toMatchObject({ outcome: "refused-target-unhealthy", rtoSeconds: null, dataLossAllowedBy: "none" });
    expect(out.message).toContain(plan.regions.secondary.name);
    expect(world.estate.requests({ writesOnly: true })).toEqual([]);
    const journal = await world.journal.read(input.runId);
    expect(journal.find((e) => e.kind === "decision" && e.step === "assess")?.data).toMatchObject({ regions: { [plan.regions.secondary.name]: { healthy: false } } });
    expect(byKind(journal, "run-finished")).toHaveLength(1);
  });

  it("refuses a second start while a run is in progress, naming the running run", async () => {
    const plan = world.plan;
    await world.estate.setRegion(plan.regions.primary.name, { down: true });
    // Two run ids of one instant that differ in their suffix only (the instant is not the point).
    const at = new Date(Date.UTC(2025, 2, 1, 10, 0, 0));
    const first = world.runInput("failover", { runId: newRunId(plan.name, "failover", at, () => 0.25) });
    await world.runs.start(first);
    await world.waitForStatus((r) => (r.progress as { waitingFor?: string } | undefined)?.waitingFor === "approval");
    const second = world.runInput("failover", { runId: newRunId(plan.name, "failover", at, () => 0.75) });
    const refusal = await world.runs.start(second).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(RunInProgressError);
    expect(refusal).toMatchObject({ planName: plan.name, runningRunId: first.runId });
    expect((refusal as Error).message).toContain(first.runId);
    expect(await world.journal.read(second.runId)).toEqual([]);
    // The running run is untouched by the refused start.
    await world.runs.approve(plan.name, { approve: false, by: "e2e", reason: "done" });
    expect((await world.runs.waitFor(plan.name)).output).toMatchObject({ runId: first.runId, outcome: "stopped-aborted" });
  });
});
