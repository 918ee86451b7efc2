import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { wrapActivity } from "../../src/activities/wrap.ts";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { Activities, newRunId, type RunInput } from "../../src/core/run/model.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { MemoryDecisionStore } from "../../src/runs/decisions.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { ManualClock } from "../helpers/clock.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

/*
 * Approve and abort racing on a run that waits for approval, through the operator API, the run port
 * that claims decisions, and the real run orchestration on the local durable host. The activities
 * answer from a small world: the primary is down and the replication lag unknown, so a run in `auto`
 * mode waits for approval of a data-loss failover; the plan has no resources, so an approved run goes
 * straight to verification.
 */

const example = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const plan: Plan = { ...example, sql: [], storage: [], frontDoor: { standard: [], classic: [] }, appService: [] };
const OPERATOR_JOURNAL = `operator-${plan.name}-20261128`;

function world() {
  const clock = new ManualClock(new Date("2026-11-28T10:00:00Z"));
  const answer = (name: string, value: (input: any) => unknown) => wrapActivity(name, async (input: any) => value(input));
  const host = new LocalDurableHost({
    store: new MemoryInstanceStore(),
    orchestrations: ORCHESTRATIONS,
    activities: {
      [Activities.journal]: answer(Activities.journal, () => null),
      [Activities.notify]: answer(Activities.notify, () => null),
      [Activities.assessRegions]: answer(Activities.assessRegions, (i: { regions: string[] }) => ({
        at: clock.now().toISOString(),
        regions: Object.fromEntries(i.regions.map((r) => [r, { healthy: r !== plan.regions.primary.name }])),
      })),
      [Activities.measureReplication]: answer(Activities.measureReplication, () => ({ at: clock.now().toISOString(), maxLagSeconds: null })),
      [Activities.verifyPrimary]: answer(Activities.verifyPrimary, () => ({ ok: true, checks: [], passed: 1 })),
    },
  });
  const local = new LocalRuns(host);
  const decisions = new MemoryDecisionStore();
  const runs = new ReservingRuns(local, { store: new MemoryPlanStateStore(), clock: clock.now, decisions });
  const journal = new MemoryJournal();
  const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: clock.now, appServiceAuthOn: false });
  return { clock, local, runs, decisions, journal, api };
}

function post(id: string, reason: string): HttpRequest {
  return new HttpRequest({ method: "POST", url: `http://localhost/api/runs/${id}`, params: { id }, headers: { "content-type": "application/json" }, body: { string: JSON.stringify({ reason }) } });
}

/** Resolves once `reached` holds (checked every few ms): a state the host reaches by itself. */
async function until(reached: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (await reached()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`not reached: ${what}`);
}

async function runWaitingForApproval(w: ReturnType<typeof world>): Promise<string> {
  const input: RunInput = {
    runId: newRunId(plan.name, "failover", w.clock.now()),
    kind: "failover",
    mode: "auto",
    plan,
    from: plan.regions.primary.name,
    to: plan.regions.secondary.name,
    trigger: { source: "manual", by: "oncall@contoso.com", reason: "eastus2 is down", detectedAt: w.clock.now().toISOString() },
    options: { approvalTimeoutSeconds: 3600, timeScale: 1000 },
  };
  await w.runs.start(input);
  await until(async () => (await w.runs.get(plan.name))?.progress?.waitingFor === "approval", "the run waits for approval");
  return input.runId;
}

const body = (r: { jsonBody?: unknown }) => r.jsonBody as any;

describe("one decision per approval", () => {
  for (const first of ["approve", "abort"] as const) {
    it(`of 25 approves and 25 aborts at once (${first}s sent first), one is taken, 49 are told which, and the run does what the one taken says`, async () => {
      const w = world();
      const runId = await runWaitingForApproval(w);
      const second = first === "approve" ? "abort" : "approve";

      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const action = i % 2 === 0 ? first : second;
          return w.api[action](post(runId, `${action} #${i}`));
        }),
      );
      const end = await w.local.waitFor(plan.name);
      const entries = await w.journal.read(OPERATOR_JOURNAL);

      const taken = answers.filter((a) => a.status === 202);
      const refused = answers.filter((a) => a.status === 409);
      expect(taken).toHaveLength(1);
      expect(refused).toHaveLength(49);
      const winner = body(taken[0]!);
      expect(winner).toMatchObject({ runId, status: "taken" });
      const standing = w.decisions.get({ runId, waitingFor: "approval" })!;
      expect(standing.decision.approve).toBe(winner.decision === "approve");
      for (const answer of refused) {
        expect(body(answer).error).toMatchObject({ code: "DecisionTaken", details: { runId, standing: { decision: winner.decision, by: "function-key caller", at: standing.decision.at } } });
      }
      // The run did what the decision taken says.
      if (winner.decision === "approve") expect(end.output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "approval" });
      else expect(end.output).toMatchObject({ outcome: "stopped-aborted", dataLossAllowedBy: "none" });
      // The journal: one decision taken, and 49 refusals naming it.
      expect(entries.filter((e) => e.data?.outcome === "taken")).toEqual([expect.objectContaining({ data: expect.objectContaining({ action: winner.decision, runId, waitingFor: "approval" }) })]);
      const refusals = entries.filter((e) => String(e.data?.outcome).startsWith("refused:"));
      expect(refusals).toHaveLength(49);
      expect(new Set(refusals.map((e) => e.data?.outcome))).toEqual(new Set([`refused: ${winner.decision} by function-key caller at ${standing.decision.at} stands`]));
      expect(entries).toHaveLength(50);
    });
  }

  it("answers a decision after the first, once the run has moved on, as not waiting (nothing is sent)", async () => {
    const w = world();
    const runId = await runWaitingForApproval(w);
    expect((await w.api.abort(post(runId, "the region is coming back"))).status).toBe(202);
    await w.local.waitFor(plan.name);

    const late = await w.api.approve(post(runId, "accepting the loss"));

    expect(late.status).toBe(409);
    expect(body(late).error.code).toBe("NotWaitingForApproval");
    expect(w.decisions.get({ runId, waitingFor: "approval" })?.decision).toMatchObject({ approve: false, reason: "the region is coming back" });
  });
});
