import { currentPrimary, pause, resume } from "../core/detection/policy.ts";
import { planHealthView } from "../core/detection/view.ts";
import type { Plan } from "../core/plan/index.ts";
import type { DetectionControl } from "../core/detection/control.ts";
import type { PlanStateStore } from "./stateStore.ts";

/** The operator API's view of detection: the kill switch and the plan's health, over the state store. */
export function detectionControl(store: PlanStateStore, clock: () => Date): DetectionControl {
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
  };
}
