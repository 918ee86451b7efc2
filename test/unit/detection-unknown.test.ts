import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState, type Signal, type SignalSource, type SignalStatus } from "../../src/core/detection/model.ts";
import { evaluateRegions, recordSignal } from "../../src/core/detection/quorum.ts";
import { planHealthView } from "../../src/core/detection/view.ts";
import { PRIMARY, SECONDARY, at, iso, testPlan } from "../helpers/detectionPlan.ts";

/*
 * Signals whose observation failed (a metrics read that errored) are `unknown`: the quorum lets them
 * change no verdict. Plan: quorum 2, W = 180 s, H = 900 s, stale after 540 s.
 */

const plan = testPlan();
const sig = (name: string, status: SignalStatus, seconds: number, source: SignalSource = "frontdoor", region = PRIMARY): Signal => ({
  plan: plan.name,
  region,
  source,
  name,
  status,
  at: iso(seconds),
  detail: `${name} ${status}`,
});

/** Records each report at `seconds`, then evaluates; returns the state and the changes of that evaluation. */
function step(state: PlanState, seconds: number, reports: [string, SignalStatus, SignalSource?][]) {
  let next = state;
  for (const [name, status, source] of reports) next = recordSignal(next, sig(name, status, seconds, source ?? "frontdoor"), { failuresBeforeDown: 2 });
  return evaluateRegions(next, plan, at(seconds));
}

describe("recordSignal with an unknown observation", () => {
  it("takes the unknown status at once (since moves), and leaves a probe's failure count as it was", () => {
    let state = emptyPlanState(plan.name);
    state = recordSignal(state, sig("p", "down", 0, "probe"), { failuresBeforeDown: 3 });
    state = recordSignal(state, sig("p", "unknown", 60, "probe"), { failuresBeforeDown: 3 });
    expect(state.signals[PRIMARY]!.p).toMatchObject({ status: "unknown", since: iso(60), lastSeen: iso(60), consecutiveFailures: 1 });
    state = recordSignal(state, sig("p", "down", 120, "probe"), { failuresBeforeDown: 3 });
    // Still below 3 failures: the probe keeps its previous status.
    expect(state.signals[PRIMARY]!.p).toMatchObject({ status: "unknown", since: iso(60), consecutiveFailures: 2 });
    state = recordSignal(state, sig("p", "down", 180, "probe"), { failuresBeforeDown: 3 });
    expect(state.signals[PRIMARY]!.p).toMatchObject({ status: "down", since: iso(180), consecutiveFailures: 3 });
    state = recordSignal(state, sig("p", "unknown", 240, "probe"), { failuresBeforeDown: 3 });
    state = recordSignal(state, sig("p", "unknown", 300, "probe"), { failuresBeforeDown: 3 });
    expect(state.signals[PRIMARY]!.p).toMatchObject({ status: "unknown", since: iso(240), lastSeen: iso(300), consecutiveFailures: 3 });
  });
});

describe("the quorum with unknown signals", () => {
  it("never declares a region down on unknown signals, however many and however long", () => {
    let state = emptyPlanState(plan.name);
    for (let t = 0; t <= 3_600; t += 60) {
      const r = step(state, t, [
        ["a", "unknown"],
        ["b", "unknown"],
        ["c", "unknown"],
        ["d", "down"],
      ]);
      expect(r.changes).toEqual([]);
      state = r.state;
    }
    expect(state.regions[PRIMARY]!.state).toBe("healthy");
  });

  it("keeps a down region down while unknown signals could still be down, and lets it recover once they are known up", () => {
    let state = emptyPlanState(plan.name);
    // Down: a, b and c down from 0, declared at W = 180.
    for (let t = 0; t <= 180; t += 60) state = step(state, t, [["a", "down"], ["b", "down"], ["c", "down"]]).state;
    expect(state.regions[PRIMARY]).toMatchObject({ state: "down", since: iso(180) });

    // a comes back up, b and c become unknown: none is known down, but two may still be (quorum 2).
    for (let t = 240; t <= 240 + 2 * 900; t += 60) {
      const r = step(state, t, [["a", "up"], ["b", "unknown"], ["c", "unknown"]]);
      expect(r.changes).toEqual([]);
      expect(r.state.regions[PRIMARY]!.belowQuorumSince).toBeUndefined();
      state = r.state;
    }

    // c is known up again: one unknown is below the quorum from then, healthy H later.
    const known = 240 + 2 * 900 + 60;
    const changes: { t: number; to: string }[] = [];
    for (let t = known; t <= known + 900; t += 60) {
      const r = step(state, t, [["a", "up"], ["b", "unknown"], ["c", "up"]]);
      changes.push(...r.changes.map((c) => ({ t, to: c.to })));
      state = r.state;
    }
    expect(changes).toEqual([{ t: known + 900, to: "healthy" }]);
  });

  it("an unknown signal that stops reporting goes stale like any other and holds nothing", () => {
    let state = emptyPlanState(plan.name);
    for (let t = 0; t <= 180; t += 60) state = step(state, t, [["a", "down"], ["b", "down"], ["c", "down"]]).state;
    state = step(state, 240, [["a", "unknown"], ["b", "unknown"], ["c", "up"]]).state;
    // a and b are never heard of again: stale 540 s after their last observation, then H = 900 s to recover.
    const changes: { t: number; to: string }[] = [];
    for (let t = 300; t <= 2_400; t += 60) {
      const r = step(state, t, [["c", "up"]]);
      changes.push(...r.changes.map((c) => ({ t, to: c.to })));
      state = r.state;
    }
    expect(changes).toEqual([{ t: 240 + 540 + 60 + 900, to: "healthy" }]);
  });

  it("the plan view counts unknown signals per region, apart from down ones", () => {
    let state = emptyPlanState(plan.name);
    state = recordSignal(state, sig("afd:web/web-eastus2", "unknown", 0), { failuresBeforeDown: 2 });
    state = recordSignal(state, sig("fdclassic:legacy/api/api-eastus2", "unknown", 0), { failuresBeforeDown: 2 });
    state = recordSignal(state, sig("https://a-eastus2.app.example/healthz", "up", 0, "probe"), { failuresBeforeDown: 2 });
    state = recordSignal(state, sig("afd:web/web-centralus", "up", 0, "frontdoor", SECONDARY), { failuresBeforeDown: 2 });
    state = evaluateRegions(state, plan, at(0)).state;

    const view = planHealthView(plan, state, at(60));
    expect(view.regions[PRIMARY]).toMatchObject({ state: "healthy", signalsDown: 0, signalsHeldDown: 0, signalsUnknown: 2 });
    expect(view.regions[PRIMARY]!.signals.filter((s) => s.status === "unknown").map((s) => s.detail)).toEqual([
      "afd:web/web-eastus2 unknown",
      "fdclassic:legacy/api/api-eastus2 unknown",
    ]);
    expect(view.regions[SECONDARY]).toMatchObject({ signalsUnknown: 0 });
    // Stale unknown signals are not counted.
    expect(planHealthView(plan, state, at(600)).regions[PRIMARY]).toMatchObject({ signalsUnknown: 0 });
  });
});
