import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { formatDrillSummary, runDrill } from "../../src/local/drill.ts";

describe("switchyard drill (what npm start runs)", () => {
  it("on a plan with other names and another region pair: outage, failover with approval, verify, failback, reports", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/fabrikam.plan.json", import.meta.url).pathname);
    const out = mkdtempSync(join(tmpdir(), "switchyard-drill-"));
    const progress: string[] = [];

    const result = await runDrill({ plan, failback: true, approve: true, outputDir: out, progress: (l) => progress.push(l), durations: { default: 20 } });

    expect(result.ok).toBe(true);
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

    const result = await runDrill({ plan, failback: true, approve: false, approvalTimeoutSeconds: 0.2, outputDir: out, durations: { default: 20 } });

    expect(result.ok).toBe(false);
    expect(result.failover.output.outcome).toBe("stopped-approval-timeout");
    expect(result.failover.output.steps.map((s) => s.step)).not.toContain("data-tier");
    expect(result.failback).toBeUndefined();
  }, 60_000);
});
