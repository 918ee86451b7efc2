/**
 * Every orchestration the app registers, by name: the current versions, the watch sub-orchestration,
 * a secret's rotation, a plan's planned drill and the scheduled pass over every plan, and the earlier versions that runs in flight may still be replaying (see Orchestrations in
 * core/run/model.ts). The Functions registrations and the local durable host both take this table.
 */
import type * as df from "durable-functions";
import { EarlierOrchestrations, Orchestrations } from "../core/run/model.ts";
import { runOrchestration, runOrchestrationV1, runOrchestrationV2, runOrchestrationV3 } from "./run.ts";
import { reprotectStorage } from "./reprotect.ts";
import { watchOperations } from "./watch.ts";
import { RotationOrchestrations } from "../core/rotation/model.ts";
import { rotateSecret } from "./rotate.ts";
import { DrillOrchestrations } from "../core/drill/model.ts";
import { plannedDrill, scheduledDrills } from "./drill.ts";

export const ORCHESTRATIONS: Readonly<Record<string, df.OrchestrationHandler>> = {
  [Orchestrations.failover]: runOrchestration,
  [Orchestrations.failback]: runOrchestration,
  [Orchestrations.watch]: watchOperations,
  [Orchestrations.reprotect]: reprotectStorage,
  [RotationOrchestrations.rotate]: rotateSecret,
  [DrillOrchestrations.planned]: plannedDrill,
  [DrillOrchestrations.scheduled]: scheduledDrills,
  [EarlierOrchestrations.failoverV1]: runOrchestrationV1,
  [EarlierOrchestrations.failbackV1]: runOrchestrationV1,
  [EarlierOrchestrations.failoverV2]: runOrchestrationV2,
  [EarlierOrchestrations.failbackV2]: runOrchestrationV2,
  [EarlierOrchestrations.failoverV3]: runOrchestrationV3,
  [EarlierOrchestrations.failbackV3]: runOrchestrationV3,
};
