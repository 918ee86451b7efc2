/**
 * What starts planned drills: the scheduledDrill timer (SWITCHYARD_DRILL_SCHEDULE), which drills every
 * plan of the catalog, one at a time, in one durable pass (orchestrations/drill.ts).
 */
import type { Logger } from "../core/logger.ts";
import type { PlanCatalog } from "../plan/catalog.ts";
import type { Drills, ScheduledStart } from "./port.ts";

export interface DrillTriggerDeps {
  readonly plans: PlanCatalog;
  readonly drills: Pick<Drills, "startScheduled">;
  readonly log: Logger;
}

/** The name the timer's drills are recorded as started by. */
export const SCHEDULED_DRILL_TIMER = "scheduledDrill";

/** One firing of the scheduledDrill timer: a pass over every plan the catalog lists (none while one is under way). */
export async function scheduledDrillPass(deps: DrillTriggerDeps): Promise<ScheduledStart> {
  const plans = await deps.plans.list();
  const start = await deps.drills.startScheduled(plans, { kind: "timer", by: SCHEDULED_DRILL_TIMER });
  if (start.outcome === "running") deps.log.warn(`scheduled drills: pass ${start.passId} is still drilling (${start.plans.join(", ") || "no plan"}); none started`);
  else deps.log.info(`scheduled drills: pass ${start.passId} started over ${start.plans.length} plan(s): ${start.plans.join(", ") || "none"}`);
  return start;
}
