import { currentPrimary, pause, resume } from "../core/detection/policy.ts";
import { describeSignals, quorumThresholds } from "../core/detection/quorum.ts";
import { planHealthView, type PlanHealthView } from "../core/detection/view.ts";
import type { DecidingSignal, RegionVerdictState } from "../core/detection/model.ts";
import type { Plan } from "../core/plan/index.ts";
import type { DetectionControl } from "../core/detection/control.ts";
import type { PlanStateStore } from "./stateStore.ts";

/** A region detection holds down: its verdict and the signals down now (not stale). */
export interface RegionHold {
  readonly region: string;
  readonly verdict: RegionVerdictState & { readonly state: "down" };
  readonly signals: readonly DecidingSignal[];
}

/** What the operator API reads of detection, besides the kill switch. */
export interface OperatorDetection extends DetectionControl {
  status(plan: Plan): Promise<PlanHealthView>;
  /** The region's hold when detection's verdict on it is down; undefined when it is healthy. */
  regionDown(plan: Plan, region: string): Promise<RegionHold | undefined>;
}

/** The operator API's view of detection: the kill switch and the plan's health, over the state store. */
export function detectionControl(store: PlanStateStore, clock: () => Date): OperatorDetection {
  return {
    async setAutoFailover(plan: Plan, change) {
      const state = await store.update(plan.name, (s) => (change.enabled ? resume(s, change) : pause(s, change)));
      return planHealthView(plan, state, clock()).policy;
    },
    async currentPrimary(plan: Plan) {
      const { state } = await store.get(plan.name);
      return currentPrimary(plan, state);
    },
    async status(plan: Plan) {
      const { state } = await store.get(plan.name);
      return planHealthView(plan, state, clock());
    },
    async regionDown(plan: Plan, region: string) {
      const { state } = await store.get(plan.name);
      const verdict = state.regions[region];
      if (verdict?.state !== "down") return undefined;
      const signals = describeSignals(state, region, quorumThresholds(plan), clock())
        .filter((s) => s.activeDown)
        .map(({ activeDown: _a, heldDown: _h, ...signal }) => signal);
      return { region, verdict: { ...verdict, state: "down" }, signals };
    },
  };
}
