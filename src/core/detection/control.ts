import type { Plan } from "../plan/index.ts";

/** The detection side the API reads and switches (auto-failover on/off, health, policy). */
export interface DetectionControl {
  setAutoFailover(plan: Plan, change: { enabled: boolean; by: string; reason: string; at: string }): Promise<unknown>;
  status(plan: Plan): Promise<unknown>;
  /** The region detection records as primary (kept up to date from the runs it observes). */
  currentPrimary(plan: Plan): Promise<string>;
}
