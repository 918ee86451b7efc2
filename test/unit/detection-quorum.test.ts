import { describe, expect, it } from "vitest";
import { emptyPlanState, type PlanState, type Signal, type SignalSource } from "../../src/core/detection/model.ts";
import { evaluateRegions, quorumThresholds, recordSignal } from "../../src/core/detection/quorum.ts";
import type { PlanInput } from "../../src/core/plan/index.ts";
import { PRIMARY, SECONDARY, T0, iso, at, testPlan } from "../helpers/detectionPlan.ts";

// ---- fixtures (an injected clock: every time is T0 + seconds) ----------------------------------------



function signal(region: string, name: string, status: "up" | "down", seconds: number, source: SignalSource = "probe"): Signal {
  return { plan: "detect-test", region, source, name, status, at: iso(seconds), detail: `${name} ${status}` };
}

// ---- scenario runner ----------------------------------------------------------------------------

/** [region, signal name, status] reported at a step (the scenario's source). */
type Report = readonly [string, string, "up" | "down"];
interface Step {
  readonly t: number;
  readonly reports: readonly Report[];
}

/** Steps every `period` seconds in [from, to], reporting what `reports(t)` says. */
function timeline(from: number, to: number, period: number, reports: (t: number) => readonly Report[]): Step[] {
  const steps: Step[] = [];
  for (let t = from; t <= to; t += period) steps.push({ t, reports: reports(t) });
  return steps;
}

const P = (name: string, status: "up" | "down"): Report => [PRIMARY, name, status];
const S = (name: string, status: "up" | "down"): Report => [SECONDARY, name, status];
const downUp = (names: string[], down: boolean): Report[] => names.map((n) => P(n, down ? "down" : "up"));

interface Scenario {
  readonly name: string;
  readonly policy?: PlanInput["autoFailover"];
  readonly source?: SignalSource;
  readonly failuresBeforeDown?: number;
  readonly steps: readonly Step[];
  /** Every region change, in order: at which step time, which region, to what. */
  readonly changes: readonly { t: number; region: string; to: "down" | "healthy" }[];
}

function run(scenario: Scenario): { changes: { t: number; region: string; to: string }[]; state: PlanState } {
  const plan = testPlan(scenario.policy);
  let state = emptyPlanState(plan.name);
  const changes: { t: number; region: string; to: string }[] = [];
  for (const step of scenario.steps) {
    for (const [region, name, status] of step.reports) {
      state = recordSignal(state, signal(region, name, status, step.t, scenario.source ?? "probe"), { failuresBeforeDown: scenario.failuresBeforeDown ?? 1 });
    }
    const result = evaluateRegions(state, plan, at(step.t));
    state = result.state;
    for (const c of result.changes) {
      expect(c.at).toBe(iso(step.t));
      changes.push({ t: step.t, region: c.region, to: c.to });
    }
  }
  return { changes, state };
}

const down = (t: number, region = PRIMARY) => ({ t, region, to: "down" as const });
const healthy = (t: number, region = PRIMARY) => ({ t, region, to: "healthy" as const });

// Defaults: quorum N = 2, W = downForSeconds = 180, H = healthyForSeconds = 900, stale after 540 s.
const scenarios: Scenario[] = [
  {
    name: "N of M held for W triggers exactly once",
    steps: timeline(0, 1200, 30, () => [P("a", "down"), P("b", "down"), P("c", "up")]),
    changes: [down(180)],
  },
  {
    name: "held for W − 1 s is not enough; W is",
    steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 179, reports: [] }, { t: 180, reports: [] }, { t: 181, reports: [] }],
    changes: [down(180)],
  },
  {
    name: "one signal down for an hour never reaches a quorum of 2",
    steps: timeline(0, 3600, 60, () => [P("a", "down"), P("b", "up"), P("c", "up")]),
    changes: [],
  },
  {
    name: "a probe that flaps forever never triggers, even with quorum 1 (its down never lasts W)",
    policy: { quorum: 1 },
    source: "probe",
    failuresBeforeDown: 1,
    steps: timeline(0, 6 * 3600, 60, (t) => [P("a", (t / 60) % 2 === 0 ? "down" : "up")]),
    changes: [],
  },
  {
    name: "a probe alternating failure and success never turns down with failuresBeforeDown 2 (even with W 0)",
    policy: { quorum: 1, downForSeconds: 0 },
    source: "probe",
    failuresBeforeDown: 2,
    steps: timeline(0, 2 * 3600, 30, (t) => [P("a", (t / 30) % 2 === 0 ? "down" : "up")]),
    changes: [],
  },
  {
    name: "two signals flapping out of phase never make a quorum of 2 (even with W 0)",
    policy: { downForSeconds: 0 },
    steps: timeline(0, 2 * 3600, 60, (t) => {
      const even = (t / 60) % 2 === 0;
      return [P("a", even ? "down" : "up"), P("b", even ? "up" : "down")];
    }),
    changes: [],
  },
  {
    name: "two signals flapping in phase, down 120 s then up 60 s, never hold W = 180",
    steps: timeline(0, 3 * 3600, 30, (t) => downUp(["a", "b"], t % 180 < 120)),
    changes: [],
  },
  {
    name: "a 43-second partition of every signal does not move the region",
    steps: [...timeline(0, 43, 1, () => downUp(["a", "b", "c"], true)), ...timeline(44, 1800, 30, () => downUp(["a", "b", "c"], false))],
    changes: [],
  },
  {
    name: "staggered signals: the quorum is reached when the second has held W",
    steps: timeline(0, 600, 10, (t) => [P("a", "down"), P("b", t >= 100 ? "down" : "up")]),
    changes: [down(280)],
  },
  {
    name: "probes turn down at their 2nd consecutive failure; W counts from then",
    source: "probe",
    failuresBeforeDown: 2,
    steps: timeline(0, 900, 60, () => [P("a", "down"), P("b", "down"), P("c", "up")]),
    changes: [down(240)],
  },
  {
    name: "probes with failuresBeforeDown 3 turn down one round later",
    source: "probe",
    failuresBeforeDown: 3,
    steps: timeline(0, 900, 60, () => [P("a", "down"), P("b", "down")]),
    changes: [down(300)],
  },
  {
    name: "down signals not seen for more than the stale window (3 × W = 540 s) count as not down",
    steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 541, reports: [] }, { t: 1200, reports: [] }],
    changes: [],
  },
  {
    name: "a down signal exactly at the edge of the stale window still counts",
    steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 540, reports: [] }],
    changes: [down(540)],
  },
  {
    name: "the stale window is at least 300 s (W = 60)",
    policy: { downForSeconds: 60 },
    steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 300, reports: [] }],
    changes: [down(300)],
  },
  {
    name: "with W = 60 a signal silent for 301 s is stale",
    policy: { downForSeconds: 60 },
    steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 301, reports: [] }],
    changes: [],
  },
  {
    name: "a live down signal and a stale one do not make a quorum",
    steps: [{ t: 0, reports: [P("b", "down")] }, ...timeline(400, 1500, 30, () => [P("a", "down")])],
    changes: [],
  },
  {
    name: "recovery needs H = 900 s below quorum, not W",
    steps: [...timeline(0, 600, 60, () => downUp(["a", "b"], true)), ...timeline(660, 3000, 60, () => downUp(["a", "b"], false))],
    changes: [down(180), healthy(1560)],
  },
  {
    name: "recovery restarts its window when the quorum is down again",
    steps: [
      ...timeline(0, 600, 60, () => downUp(["a", "b"], true)),
      ...timeline(660, 840, 60, () => downUp(["a", "b"], false)),
      ...timeline(900, 1020, 60, () => downUp(["a", "b"], true)),
      ...timeline(1080, 3600, 60, () => downUp(["a", "b"], false)),
    ],
    changes: [down(180), healthy(1980)],
  },
  {
    name: "one signal still down (below quorum) does not hold recovery back",
    steps: [...timeline(0, 600, 60, () => downUp(["a", "b"], true)), ...timeline(660, 3000, 60, () => [P("a", "up"), P("b", "down")])],
    changes: [down(180), healthy(1560)],
  },
  {
    name: "signals that stop reporting go stale; the region recovers H after the first evaluation that sees them stale",
    steps: [...timeline(0, 600, 60, () => downUp(["a", "b"], true)), ...timeline(660, 3000, 60, () => [])],
    changes: [down(180), healthy(2100)],
  },
  {
    name: "after recovering, a new outage is declared again, once",
    steps: [
      ...timeline(0, 600, 60, () => downUp(["a", "b"], true)),
      ...timeline(660, 1740, 60, () => downUp(["a", "b"], false)),
      ...timeline(1800, 3600, 60, () => downUp(["a", "b"], true)),
    ],
    changes: [down(180), healthy(1560), down(1980)],
  },
  {
    name: "regions are judged independently: the secondary's signals do not move the primary",
    steps: timeline(0, 900, 60, () => [S("a", "down"), S("b", "down"), P("a", "up"), P("b", "up")]),
    changes: [down(180, SECONDARY)],
  },
  {
    name: "both regions can go down, each once",
    steps: timeline(0, 900, 60, () => [S("a", "down"), S("b", "down"), P("a", "down"), P("b", "down")]),
    changes: [down(180, PRIMARY), down(180, SECONDARY)],
  },
  {
    name: "a region with fewer signals than the quorum never goes down",
    policy: { quorum: 4 },
    steps: timeline(0, 3600, 60, () => downUp(["a", "b", "c"], true)),
    changes: [],
  },
  {
    name: "quorum 1, W 0, H 300 (the floor): one probe moves the region down at once, and back 300 s after it is up",
    policy: { quorum: 1, downForSeconds: 0, healthyForSeconds: 300 },
    steps: [{ t: 0, reports: [P("a", "down")] }, { t: 30, reports: [] }, { t: 60, reports: [P("a", "up")] }, { t: 359, reports: [] }, { t: 360, reports: [] }],
    changes: [down(0), healthy(360)],
  },
  {
    name: "alerts alone never declare a region down, however many hold the quorum",
    policy: { quorum: 2, downForSeconds: 0 },
    source: "alert",
    steps: timeline(0, 3600, 60, () => downUp(["a", "b", "c"], true)),
    changes: [],
  },
];

describe("health quorum: hysteresis scenarios (injected clock)", () => {
  it.each(scenarios.map((s) => [s.name, s] as const))("%s", (_name, scenario) => {
    expect(run(scenario).changes).toEqual(scenario.changes);
  });

  it("a region declared down quotes the signals that held W, with since, and the thresholds", () => {
    const plan = testPlan();
    let state = emptyPlanState(plan.name);
    state = recordSignal(state, signal(PRIMARY, "a", "down", 0), { failuresBeforeDown: 1 });
    state = recordSignal(state, signal(PRIMARY, "b", "down", 10), { failuresBeforeDown: 1 });
    state = recordSignal(state, signal(PRIMARY, "c", "down", 100), { failuresBeforeDown: 1 });
    const { changes, state: after } = evaluateRegions(state, plan, at(190));
    expect(changes).toEqual([
      {
        plan: plan.name,
        region: PRIMARY,
        from: "healthy",
        to: "down",
        at: iso(190),
        signals: [
          { name: "a", source: "probe", status: "down", since: iso(0), lastSeen: iso(0), stale: false, detail: "a down" },
          { name: "b", source: "probe", status: "down", since: iso(10), lastSeen: iso(10), stale: false, detail: "b down" },
        ],
        thresholds: { quorum: 2, downForSeconds: 180, healthyForSeconds: 900, staleAfterSeconds: 540 },
      },
    ]);
    expect(after.regions[PRIMARY]).toEqual({ state: "down", since: iso(190) });
    expect(after.regions[SECONDARY]).toEqual({ state: "healthy", since: iso(190) });
  });

  it("a recovery lists every signal of the region as it stood", () => {
    const plan = testPlan({ healthyForSeconds: 300 });
    const { changes, state } = run({
      name: "",
      policy: { healthyForSeconds: 300 },
      steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 180, reports: [] }],
      changes: [],
    });
    expect(changes).toEqual([down(180)]);
    let s = recordSignal(state, signal(PRIMARY, "a", "up", 200), { failuresBeforeDown: 1 });
    s = recordSignal(s, signal(PRIMARY, "b", "down", 200), { failuresBeforeDown: 1 });
    s = evaluateRegions(s, plan, at(200)).state;
    s = recordSignal(s, signal(PRIMARY, "b", "down", 500), { failuresBeforeDown: 1 });
    const result = evaluateRegions(s, plan, at(500));
    expect(result.changes).toHaveLength(1);
    expect(result.changes[0]!.to).toBe("healthy");
    expect(result.changes[0]!.signals.map((x) => [x.name, x.status])).toEqual([
      ["a", "up"],
      ["b", "down"],
    ]);
    s = result.state;
    expect(s.regions[PRIMARY]).toEqual({ state: "healthy", since: iso(500) });
  });

  it("records when the below-quorum window began, and clears it when the quorum is down again", () => {
    const plan = testPlan();
    let { state } = run({ name: "", steps: [{ t: 0, reports: [P("a", "down"), P("b", "down")] }, { t: 180, reports: [] }], changes: [] });
    state = recordSignal(state, signal(PRIMARY, "a", "up", 240), { failuresBeforeDown: 1 });
    state = evaluateRegions(state, plan, at(240)).state;
    expect(state.regions[PRIMARY]).toEqual({ state: "down", since: iso(180), belowQuorumSince: iso(240) });
    state = evaluateRegions(state, plan, at(300)).state;
    expect(state.regions[PRIMARY]!.belowQuorumSince).toBe(iso(240));
    state = recordSignal(state, signal(PRIMARY, "a", "down", 360), { failuresBeforeDown: 1 });
    state = evaluateRegions(state, plan, at(360)).state;
    expect(state.regions[PRIMARY]).toEqual({ state: "down", since: iso(180) });
  });

  it("honours an explicit stale window", () => {
    const plan = testPlan();
    let state = emptyPlanState(plan.name);
    for (const name of ["a", "b"]) state = recordSignal(state, signal(PRIMARY, name, "down", 0), { failuresBeforeDown: 1 });
    expect(evaluateRegions(state, plan, at(200), { staleAfterSeconds: 199 }).changes).toEqual([]);
    expect(evaluateRegions(state, plan, at(200), { staleAfterSeconds: 200 }).changes).toHaveLength(1);
    expect(quorumThresholds(plan, { staleAfterSeconds: 42 }).staleAfterSeconds).toBe(42);
    expect(quorumThresholds(testPlan({ downForSeconds: 400 })).staleAfterSeconds).toBe(1200);
  });

  it("forgets signals not seen for 24 hours, and ignores signals of regions outside the plan", () => {
    const plan = testPlan();
    let state = emptyPlanState(plan.name);
    state = recordSignal(state, signal(PRIMARY, "old", "up", 0), { failuresBeforeDown: 1 });
    state = recordSignal(state, signal("westeurope", "x", "down", 0), { failuresBeforeDown: 1 });
    state = recordSignal(state, signal("westeurope", "y", "down", 0), { failuresBeforeDown: 1 });
    state = recordSignal(state, signal(PRIMARY, "new", "up", 86_000), { failuresBeforeDown: 1 });
    const kept = evaluateRegions(state, plan, at(86_400));
    expect(Object.keys(kept.state.signals[PRIMARY]!)).toEqual(["old", "new"]);
    expect(kept.changes).toEqual([]);
    expect(kept.state.regions.westeurope).toBeUndefined();
    const later = evaluateRegions(state, plan, at(86_401)).state;
    expect(Object.keys(later.signals[PRIMARY]!)).toEqual(["new"]);
    expect(later.signals.westeurope).toBeUndefined();
  });
});

// ---- recordSignal --------------------------------------------------------------------------------

describe("recordSignal", () => {
  const plan = "detect-test";
  /** Records observations of one signal (all at t = index × 60 s) and returns its final state. */
  function observe(source: SignalSource, statuses: ("up" | "down")[], failuresBeforeDown: number) {
    let state = emptyPlanState(plan);
    statuses.forEach((status, i) => (state = recordSignal(state, signal(PRIMARY, "s", status, i * 60, source), { failuresBeforeDown })));
    return state.signals[PRIMARY]!.s!;
  }

  const cases: { name: string; source: SignalSource; statuses: ("up" | "down")[]; failuresBeforeDown: number; expected: { status: string; since: number; failures: number } }[] = [
    { name: "a new probe that answers is up since its first observation", source: "probe", statuses: ["up"], failuresBeforeDown: 2, expected: { status: "up", since: 0, failures: 0 } },
    { name: "one probe failure of 2 needed: still up, since unchanged", source: "probe", statuses: ["up", "down"], failuresBeforeDown: 2, expected: { status: "up", since: 0, failures: 1 } },
    { name: "a probe turns down at its 2nd consecutive failure (since = that observation)", source: "probe", statuses: ["up", "down", "down"], failuresBeforeDown: 2, expected: { status: "down", since: 120, failures: 2 } },
    { name: "a probe failing from its first observation is up until the threshold", source: "probe", statuses: ["down"], failuresBeforeDown: 3, expected: { status: "up", since: 0, failures: 1 } },
    { name: "a probe needs 3 when told 3", source: "probe", statuses: ["down", "down", "down"], failuresBeforeDown: 3, expected: { status: "down", since: 120, failures: 3 } },
    { name: "more failures do not move since", source: "probe", statuses: ["down", "down", "down", "down", "down"], failuresBeforeDown: 2, expected: { status: "down", since: 60, failures: 5 } },
    { name: "one success turns a down probe up and resets the count", source: "probe", statuses: ["down", "down", "down", "up"], failuresBeforeDown: 2, expected: { status: "up", since: 180, failures: 0 } },
    { name: "a failure after a success starts counting again", source: "probe", statuses: ["down", "down", "up", "down"], failuresBeforeDown: 2, expected: { status: "up", since: 120, failures: 1 } },
    { name: "failuresBeforeDown below 1 is taken as 1", source: "probe", statuses: ["down"], failuresBeforeDown: 0, expected: { status: "down", since: 0, failures: 1 } },
    { name: "an alert turns down at once", source: "alert", statuses: ["up", "down"], failuresBeforeDown: 5, expected: { status: "down", since: 60, failures: 1 } },
    { name: "Front Door turns down at once", source: "frontdoor", statuses: ["down"], failuresBeforeDown: 5, expected: { status: "down", since: 0, failures: 1 } },
    { name: "a resolved alert is up again", source: "alert", statuses: ["down", "down", "up"], failuresBeforeDown: 1, expected: { status: "up", since: 120, failures: 0 } },
    { name: "repeated up observations keep since", source: "frontdoor", statuses: ["up", "up", "up"], failuresBeforeDown: 1, expected: { status: "up", since: 0, failures: 0 } },
  ];

  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const s = observe(c.source, c.statuses, c.failuresBeforeDown);
    expect({ status: s.status, since: s.since, failures: s.consecutiveFailures }).toEqual({ status: c.expected.status, since: iso(c.expected.since), failures: c.expected.failures });
    expect(s.lastSeen).toBe(iso((c.statuses.length - 1) * 60));
    expect(s.source).toBe(c.source);
  });

  it("ignores an observation older than the latest one (out of order)", () => {
    let state = recordSignal(emptyPlanState(plan), signal(PRIMARY, "s", "up", 120), { failuresBeforeDown: 1 });
    const late = recordSignal(state, signal(PRIMARY, "s", "down", 60), { failuresBeforeDown: 1 });
    expect(late).toBe(state);
    state = recordSignal(state, signal(PRIMARY, "s", "down", 120), { failuresBeforeDown: 1 });
    expect(state.signals[PRIMARY]!.s!.status).toBe("down");
  });

  it("keeps the detail of the latest observation and leaves the given state untouched", () => {
    const before = emptyPlanState(plan);
    const after = recordSignal(before, { ...signal(PRIMARY, "s", "down", 0), detail: "HTTP 503" }, { failuresBeforeDown: 1 });
    expect(after.signals[PRIMARY]!.s!.detail).toBe("HTTP 503");
    expect(before.signals).toEqual({});
  });

  it("refuses a signal of another plan or with an unreadable time", () => {
    expect(() => recordSignal(emptyPlanState("other-plan"), signal(PRIMARY, "s", "down", 0), { failuresBeforeDown: 1 })).toThrow(/plan 'detect-test'.*plan 'other-plan'/);
    expect(() => recordSignal(emptyPlanState(plan), { ...signal(PRIMARY, "s", "down", 0), at: "yesterday" }, { failuresBeforeDown: 1 })).toThrow(/not an ISO time/);
  });
});
