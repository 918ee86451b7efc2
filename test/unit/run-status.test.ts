import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState } from "../../src/core/detection/model.ts";
import { currentPrimary, decideAutoFailover, observeRun } from "../../src/core/detection/policy.ts";
import { evaluateRegions } from "../../src/core/detection/quorum.ts";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { outlineOf, runStatusOf, type RunInput, type RunOutput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { runViewOf, statusOfOutcome, type RunInstance } from "../../src/runs/runView.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

describe("a run's custom status read back from the Durable runtime", () => {
  it("keeps a status the run wrote, and drops a waitingFor it does not know", () => {
    const written = { runId: "r-1", kind: "failback", step: "reprotect", stepStartedAt: "2026-12-02T00:00:00.000Z", waitingFor: "reprotection" };

    expect(runStatusOf(written)).toEqual(written);
    expect(runStatusOf({ ...written, waitingFor: "coffee" })).toEqual({ runId: "r-1", kind: "failback", step: "reprotect", stepStartedAt: "2026-12-02T00:00:00.000Z" });
  });

  it("is not a status when a field is missing or of another type (another orchestration's status, a string, null)", () => {
    for (const value of [null, "data-tier", { step: "data-tier" }, { runId: "r", kind: "sideways", step: "x", stepStartedAt: "t" }, { runId: 1, kind: "failover", step: "x", stepStartedAt: "t" }]) {
      expect(runStatusOf(value), JSON.stringify(value)).toBeUndefined();
    }
  });
});

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const RUN_ID = "contoso-orders.20261128T090000Z.failback-0a0a";

function output(outcome: RunOutput["outcome"], endedAt = "2026-11-28T09:10:00.000Z"): RunOutput {
  return {
    runId: RUN_ID,
    kind: "failback",
    outcome,
    from: "centralus",
    to: "eastus2",
    steps: [{ step: "verify", startedAt: endedAt, endedAt, outcome: outcome === "completed" ? "ok" : "failed" }],
    rtoSeconds: null,
    rtoTargetSeconds: 1800,
    rpoExposureSeconds: 0,
    rpoBudgetSeconds: 300,
    dataLossAllowedBy: "none",
    message: outcome,
  };
}

/** The failback's instance as the Durable runtime hands it back. */
function instance(status: RunInstance["status"], out?: RunOutput): RunInstance {
  const input: RunInput = {
    runId: RUN_ID,
    kind: "failback",
    mode: "planned",
    plan,
    from: "centralus",
    to: "eastus2",
    trigger: { source: "manual", by: "oncall", reason: "home is back", detectedAt: "2026-11-28T09:00:00.000Z" },
  };
  return { instanceId: "switchyard-contoso-orders", status, input: { ...input, plan: outlineOf(plan) }, ...(out ? { output: out } : {}) };
}

describe("a run's status and its outcome", () => {
  it("never shows completed over an outcome that did not complete: failed is failed, a run that stopped short is stopped", () => {
    const cases: [RunOutput["outcome"], RunView["status"]][] = [
      ["completed", "completed"],
      ["failed", "failed"],
      ["stopped-aborted", "stopped"],
      ["stopped-approval-timeout", "stopped"],
      ["refused-target-unhealthy", "stopped"],
      ["refused-not-reprotected", "stopped"],
    ];
    for (const [outcome, status] of cases) {
      const view = runViewOf(instance("completed", output(outcome)));
      expect([outcome, view.status, view.output?.outcome]).toEqual([outcome, status, outcome]);
      expect(statusOfOutcome(outcome)).toBe(status);
    }
    expect(runViewOf(instance("running")).status).toBe("running");
    expect(runViewOf(instance("failed")).status).toBe("failed");
  });

  it("lets detection move the primary only for a run that completed its switch", () => {
    const state = { ...emptyPlanState(plan.name), primary: { region: "centralus", since: "2026-11-28T08:00:00.000Z" } };
    const now = new Date("2026-11-28T09:20:00.000Z");
    const stopped = observeRun(state, plan, runViewOf(instance("completed", output("refused-not-reprotected"))), now);
    const failed = observeRun(state, plan, runViewOf(instance("completed", output("failed"))), now);
    const completed = observeRun(state, plan, runViewOf(instance("completed", output("completed"))), now);
    expect([currentPrimary(plan, stopped), currentPrimary(plan, failed), currentPrimary(plan, completed)]).toEqual(["centralus", "centralus", "eastus2"]);
  });
});

describe("a completed failback resets detection for home", () => {
  /** Home (eastus2) held down by a verdict and two signals from before the failback ended at 09:10, centralus serving. */
  function heldDown(): PlanState {
    return {
      ...emptyPlanState(plan.name),
      primary: { region: "centralus", since: "2026-11-28T08:00:00.000Z" },
      regions: { eastus2: { state: "down", since: "2026-11-28T07:55:00.000Z" } },
      signals: {
        eastus2: {
          "https://orders-eastus2.contoso.example/healthz": { source: "probe", status: "down", since: "2026-11-28T07:50:00.000Z", lastSeen: "2026-11-28T09:08:00.000Z", consecutiveFailures: 70 },
          "alert:orders-5xx": { source: "alert", status: "down", since: "2026-11-28T07:51:00.000Z", lastSeen: "2026-11-28T09:09:00.000Z", consecutiveFailures: 1 },
          "afd:orders": { source: "frontdoor", status: "up", since: "2026-11-28T09:00:00.000Z", lastSeen: "2026-11-28T09:09:00.000Z", consecutiveFailures: 0 },
        },
      },
      policy: { autoFailovers: [] },
    };
  }
  const twoSecondsLater = new Date("2026-11-28T09:10:02.000Z");
  const completedFailback = runViewOf(instance("completed", output("completed")));

  it("drops home's stale down verdict and down signals, so no failover starts right after", () => {
    const observed = observeRun(heldDown(), plan, completedFailback, twoSecondsLater);

    expect(currentPrimary(plan, observed)).toBe("eastus2");
    expect(observed.regions.eastus2).toEqual({ state: "healthy", since: "2026-11-28T09:10:00.000Z" });
    expect(Object.keys(observed.signals.eastus2 ?? {})).toEqual(["afd:orders"]);
    const evaluated = evaluateRegions(observed, plan, twoSecondsLater).state;
    expect(decideAutoFailover({ plan, state: evaluated, change: undefined, runInProgress: undefined, now: twoSecondsLater })).toMatchObject({ start: false, code: "not-down" });
  });

  it("without the reset the same state would fail over again (the case the reset exists for)", () => {
    const moved = { ...heldDown(), primary: { region: "eastus2", since: "2026-11-28T09:10:00.000Z", runId: RUN_ID } };
    expect(decideAutoFailover({ plan, state: moved, change: undefined, runInProgress: undefined, now: twoSecondsLater })).toMatchObject({ start: true, from: "eastus2", to: "centralus" });
  });

  it("keeps what was observed after the failback ended, and resets once per run", () => {
    const after = { source: "probe" as const, status: "down" as const, since: "2026-11-28T09:10:01.000Z", lastSeen: "2026-11-28T09:10:01.000Z", consecutiveFailures: 3 };
    const state = heldDown();
    const withLater = { ...state, signals: { eastus2: { ...state.signals.eastus2, "https://orders-eastus2.contoso.example/ready": after } } };
    const observed = observeRun(withLater, plan, completedFailback, twoSecondsLater);
    expect(observed.signals.eastus2?.["https://orders-eastus2.contoso.example/ready"]).toEqual(after);

    const laterDown = { ...observed, regions: { eastus2: { state: "down" as const, since: "2026-11-28T09:15:00.000Z" } } };
    expect(observeRun(laterDown, plan, completedFailback, new Date("2026-11-28T09:15:00.000Z"))).toBe(laterDown);
  });

  it("leaves home as it was after a failback that did not complete", () => {
    const state = heldDown();
    const failed = observeRun(state, plan, runViewOf(instance("completed", output("failed"))), twoSecondsLater);
    expect([failed.regions.eastus2, failed.signals.eastus2]).toEqual([state.regions.eastus2, state.signals.eastus2]);
  });
});
