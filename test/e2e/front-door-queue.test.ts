/**
 * A plan with two origin groups in one Front Door profile (hanbit: koreacentral → koreasouth): the
 * traffic step's four origin writes queue behind each other at Front Door, so the last one is live
 * about four propagations after the writes. Verification waits for that (verifySettleSeconds) instead
 * of giving up after two, and the planned drill passes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { runPlannedDrill } from "../../src/local/plannedDrill.ts";
import { verifySettleSeconds } from "../../src/orchestrations/run.ts";

const out = mkdtempSync(join(tmpdir(), "switchyard-fdqueue-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("verification after queued Front Door changes", () => {
  it("waits for as many propagations as the traffic step queued", async () => {
    const plan = await loadPlanFile(new URL("../fixtures/hanbit.plan.yaml", import.meta.url).pathname);
    const profiles = new Set(plan.frontDoor.standard.map((g) => g.originGroup.id.split("/originGroups/")[0]));
    expect([plan.frontDoor.standard.length, profiles.size]).toEqual([2, 1]);
    expect(verifySettleSeconds(plan)).toBe(4 * 20 * 60 + 5 * 60);

    const result = await runPlannedDrill({ plan, outputDir: out });
    expect(result.failover?.output.outcome, result.failover?.output.message).toBe("completed");
    expect(result.failback?.output.outcome).toBe("completed");
    expect(result.outcome).toBe("passed");
  }, 120_000);

  it("keeps the wait of a plan with one origin group, and counts classic Front Door changes per Front Door", async () => {
    const contoso = await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname);
    expect(verifySettleSeconds(contoso)).toBe(45 * 60);
    const classic = (ids: string[]) => ({ frontDoor: { standard: [], classic: ids.map((id) => ({ frontDoor: { id } })) } });
    expect(verifySettleSeconds(classic(["/fd/a", "/fd/b", "/fd/c"]))).toBe(45 * 60);
    expect(verifySettleSeconds(classic(["/fd/a", "/FD/A", "/fd/a"]))).toBe(3 * 20 * 60 + 5 * 60);
  });
});
