import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { formatDrillSummary, runDrill } from "../../src/local/drill.ts";
import { functionTimeoutMs } from "../../src/durable/hostJson.ts";
import { loadScenarioFile } from "../../estate/scenario.ts";
import type { LoggedRequest } from "../../estate/server.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import type { Scenario } from "../../estate/scenario.ts";

/** The primary region lost, and the plan's first failover group lagging `lagSeconds` behind (measured before the outage). */
function laggingOutage(plan: Plan, lagSeconds: number): Scenario {
  return { regions: { [plan.regions.primary.name]: { down: true, healthWhenDown: "refused", controlPlane: "down" } }, lag: [{ resourceId: plan.sql[0]!.failoverGroup.id, seconds: lagSeconds }] };
}

describe("switchyard drill (what npm start runs)", () => {
  it("on a plan with other names and another region pair: outage with SQL lag over the RPO, failover with approval, verify, failback, reports", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/fabrikam.plan.json", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));
    const progress: string[] = [];

    const result = await runDrill({ plan, scenario: laggingOutage(plan, plan.objectives.rpoSeconds + 600), failback: true, approve: true, outputDir: out, progress: (l) => progress.push(l), durations: { default: 20 } });

    expect(result.ok, formatDrillSummary(result)).toBe(true);
    expect(result.lagBeforeOutage).toMatchObject({ unknown: 0, rpoSeconds: 60 });
    expect(result.lagBeforeOutage!.largestSeconds).toBeGreaterThanOrEqual(660);
    expect(progress.find((l) => l.startsWith("replication lag before the outage:"))).toMatch(/largest 66\d s over \d+ resource\(s\) \(RPO 60 s\)/);
    expect(result.failover.gate).toMatch(/^data-loss gate: needs-approval — the primary region is unreachable and the largest lag 66\d s \(\d+ replica\(s\) by their last sample, aged until the primary stopped answering.* exceeds the RPO budget of 60 s$/);
    expect(result.failover.output).toMatchObject({ outcome: "completed", from: "westeurope", to: "northeurope", dataLossAllowedBy: "approval" });
    expect(result.failback?.output).toMatchObject({ outcome: "completed", from: "northeurope", to: "westeurope", rpoExposureSeconds: 0 });
    expect(result.failover.output.rtoSeconds).toBeGreaterThan(0);
    expect(progress).toContain("  approval requested: the drill approves as the operator");
    expect(progress.some((l) => l.includes("failover · data-tier"))).toBe(true);
    for (const run of [result.failover, result.failback!]) {
      expect(existsSync(run.reportPath)).toBe(true);
      expect(readFileSync(run.reportPath, "utf8")).toContain(`# Switchyard run \`${run.output.runId}\``);
    }
    expect(formatDrillSummary(result)).toMatch(/drill passed/);
  }, 60_000);

  it("without an approval, stops at the timeout with the data tier untouched and fails the drill", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/fabrikam.plan.json", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));

    const result = await runDrill({ plan, scenario: laggingOutage(plan, 3600), failback: true, approve: false, approvalTimeoutSeconds: 0.2, outputDir: out, durations: { default: 20 } });

    expect(result.ok).toBe(false);
    expect(result.failover.output.outcome).toBe("stopped-approval-timeout");
    expect(result.failover.output.steps.map((s) => s.step)).not.toContain("data-tier");
    expect(result.failback).toBeUndefined();
  }, 60_000);
});

describe("switchyard report after a drill", () => {
  it("renders a drill's run from the drill's journal folder, with no storage settings and no option", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/fabrikam.plan.json", import.meta.url).pathname);
    const cwd = mkdtempSync(join(tmpdir(), "switchyard-drill-report-"));
    const result = await runDrill({ plan, failback: false, approve: true, outputDir: join(cwd, ".switchyard"), durations: { default: 20 } });
    const { runId } = result.failover.output;
    expect(existsSync(join(cwd, ".switchyard", "journal", `${runId}.jsonl`))).toBe(true);

    const saved = { env: { ...process.env }, cwd: process.cwd() };
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
    let code: number;
    try {
      for (const name of Object.keys(process.env)) if (name.startsWith("SWITCHYARD_")) delete process.env[name];
      process.chdir(cwd);
      code = await main(["node", "switchyard", "report", runId]);
    } finally {
      process.chdir(saved.cwd);
      process.env = saved.env;
      vi.restoreAllMocks();
    }

    expect(code, stderr.join("")).toBe(0);
    const report = stdout.join("");
    expect(report.split("\n")[0]).toBe(`# Switchyard run \`${runId}\``);
    expect(report).toContain("Failover of **fabrikam");
    expect(report).toContain(": **completed**");
    // The same run the drill reported, read back after the drill's Azurite is gone.
    expect(report).toContain("## Decisions and why");
    expect(stderr.join("")).toBe("");
  }, 60_000);
});

describe("switchyard drill at Azure time, the primary's control plane down", () => {
  it("fails over and back on a plan no code was tuned to, never needing the down region, without waiting inside an activity", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/northwind.plan.yaml", import.meta.url).pathname);
    const scenario = await loadScenarioFile(new URL("../fixtures/northwind-outage.yaml", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));
    const scale = 3600;
    let requests: LoggedRequest[] = [];

    const result = await runDrill({ plan, scenario, failback: true, approve: true, outputDir: out, timeScale: scale, inspect: (app) => void (requests = app.estate.requests()) });

    expect(result.ok, formatDrillSummary(result)).toBe(true);
    const fo = result.failover.output;
    // SQL lag measured over TDS before the outage, within the RPO: forced by the RPO gate, no approval asked.
    expect(fo.steps.map((s) => s.step)).toEqual(["assess", "measure", "data-tier", "settings", "traffic", "standby-settings", "verify"]);
    expect(fo.dataLossAllowedBy).toBe("rpo-gate");
    expect(result.lagBeforeOutage).toMatchObject({ unknown: 0, resources: plan.storage.length + plan.sql.reduce((n, g) => n + (g.databases?.length ?? 1), 0) });
    expect(result.failover.gate).toMatch(/^data-loss gate: forced — the primary region is unreachable and the largest lag \d+ s \(\d+ replica\(s\) by their last sample, aged until the primary stopped answering.*\) is within the RPO budget of 900 s$/);
    expect(formatDrillSummary(result)).toContain(result.failover.gate!);
    // The storage failovers (an hour of Azure time) outlasted the Functions timeout at this scale: the
    // data tier was watched on durable timers, not awaited inside an activity (which the host would fail).
    const dataTier = fo.steps.find((s) => s.step === "data-tier")!;
    expect(Date.parse(dataTier.endedAt) - Date.parse(dataTier.startedAt)).toBeGreaterThan(functionTimeoutMs() / scale);
    // Nothing in the failover needed the down region's control plane: no request was refused for it.
    const failoverEnd = Date.parse(fo.steps.at(-1)!.endedAt);
    expect(requests.filter((r) => Date.parse(r.time) <= failoverEnd && r.status === 503).map((r) => `${r.operationId} ${r.path}`)).toEqual([]);
    expect(result.failover.userFacingRtoSeconds).toEqual(expect.any(Number));
    // Failback: the GZRS account came back through GRS and its initial sync, and its zone redundancy
    // is being restored once it is home.
    expect(result.failback!.output.steps.map((s) => s.step)).toEqual(["reprotect", "check-reprotection", "assess", "measure", "data-tier", "settings", "traffic", "standby-settings", "verify", "restore-redundancy"]);
    const labels = plan.storage.find((s) => s.sku === "Standard_GZRS")!.account;
    const writesToLabels = requests.filter((r) => r.write && r.status < 300 && r.path.toLowerCase().startsWith(labels.id.toLowerCase())).map((r) => r.operationId);
    expect(writesToLabels).toEqual(["StorageAccounts_Failover", "StorageAccounts_Update", "StorageAccounts_Failover", "StorageAccounts_CustomerInitiatedMigration"]);
    expect(formatDrillSummary(result)).toMatch(/projected .* at Azure durations/);
  }, 120_000);
});

describe("switchyard drill at Azure time, a storage failover that ends Failed", () => {
  it("reports the failed operation, not a timeout: the SDK's own retry backoff is scaled with Azure time", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/storage-only.plan.json", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));

    // Failing every time: the run starts the failover again within its budget (3 starts), then fails the step.
    const result = await runDrill({ plan, failback: false, approve: true, outputDir: out, scenario: { faults: [{ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 10 }] } });

    expect(result.failover.output.outcome).toBe("failed");
    expect(result.failover.output.message).toMatch(/StorageAccounts_Failover .* failed: 500/);
    expect(result.failover.output.message).not.toMatch(/time budget|Timeout value/);
  }, 60_000);

  it("completes when the storage failover ends Failed once: the run starts it again", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/storage-only.plan.json", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));

    const result = await runDrill({ plan, failback: false, approve: true, outputDir: out, scenario: { faults: [{ kind: "lroFailure", operationId: "StorageAccounts_Failover", count: 1 }] } });

    expect(result.failover.output.outcome).toBe("completed");
  }, 60_000);
});
