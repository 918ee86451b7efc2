import type { FailoverGroup, SqlManagementClient } from "@azure/arm-sql";
import { PreconditionError, type SwitchyardError } from "../core/errors.ts";
import { ancestorId, type Plan } from "../core/plan/index.ts";
import { Activities, type DataTierInput, type DataTierResult } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { idsWith, planEntry } from "./dataTier.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { readInFlight, trackedOperation, type InFlight, type OperationKey, type TrackedPoller } from "./operations.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

const STEP = Activities.failoverSqlGroup;
const PLANNED = "FailoverGroups_Failover";
const FORCED = "FailoverGroups_ForceFailoverAllowDataLoss";
type FailoverOperation = typeof PLANNED | typeof FORCED;

/** A failover group of the plan, as seen from the server in one region. */
export interface SqlGroupInRegion {
  /** The plan's id of the failover group (under the plan's primary server): the group's identity in results. */
  readonly groupId: string;
  readonly name: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** The server in the region. */
  readonly server: string;
  readonly serverId: string;
}

/** plan.sql[index] seen from `region`: the plan's primary server there, the partner server in the other region. */
export function sqlGroupIn(plan: Plan, index: number, region: string): SqlGroupInRegion {
  const entry = planEntry(plan.sql, index, "sql");
  const fg = entry.failoverGroup;
  const server = planRegion(plan, region) === plan.regions.primary
    ? { id: ancestorId(fg, 1), resourceGroup: fg.resourceGroup, name: fg.names[0]! }
    : { id: entry.partnerServer.id, resourceGroup: entry.partnerServer.resourceGroup, name: entry.partnerServer.name };
  return { groupId: fg.id, name: fg.name, subscriptionId: fg.subscriptionId, resourceGroup: server.resourceGroup, server: server.name, serverId: server.id };
}

/** Reads the failover group from the server in the group's region (the role is as that server sees it). */
export async function readFailoverGroup(deps: ActivityDeps, group: SqlGroupInRegion): Promise<FailoverGroup> {
  try {
    return await deps.clients.sql(group.subscriptionId).failoverGroups.get(group.resourceGroup, group.server, group.name);
  } catch (error) {
    throw normaliseAzureError(error, "FailoverGroups_Get", `${group.serverId}/failoverGroups/${group.name}`);
  }
}

/**
 * Makes the failover group primary on its server in `input.to`. Idempotent: reads the group from that
 * server first and does nothing when it is already primary there.
 *
 * Planned (no data loss) first. When Azure refuses the planned failover because the current primary is
 * unreachable, a forced failover (forceFailoverAllowDataLoss) follows only when `input.allowDataLoss`;
 * otherwise PreconditionError `PlannedFailoverImpossible`. This is "try planned before forced" done here,
 * in two steps, because @azure/arm-sql 10.0.0 has no tryPlannedBeforeForcedFailover method; doing it
 * ourselves also lets each step be journaled and resumed on its own.
 *
 * Each failover runs through trackedOperation: a re-run after a crash resumes the operation in flight
 * instead of posting a second failover.
 */
export async function failoverSqlGroup(input: DataTierInput, deps: ActivityDeps): Promise<DataTierResult> {
  const group = sqlGroupIn(input.plan, input.index, input.to);
  const log = { runId: input.runId, plan: input.plan.name, resourceId: group.groupId, region: input.to };
  const keyOf = (operation: FailoverOperation): OperationKey => ({ runId: input.runId, step: STEP, resourceId: group.groupId, operation });
  const requestIds: string[] = [];
  const result = (method: DataTierResult["method"]): DataTierResult => ({ resourceId: group.groupId, changed: method !== "none", method, requestIds });

  // An operation an earlier attempt of this run started is resumed even when the group already looks
  // failed over: that attempt's write then gets its outcome journaled and the result says what was done.
  // One read of the journal answers for both operations, and for the failovers below (nothing this
  // attempt does before them can start one).
  const inFlight = await readInFlight(deps, input.runId, { shared: true });
  const forcedInFlight = inFlight.tokenOf(keyOf(FORCED)) !== undefined;
  const plannedInFlight = !forcedInFlight && inFlight.tokenOf(keyOf(PLANNED)) !== undefined;
  if (!forcedInFlight && !plannedInFlight) {
    const current = await readFailoverGroup(deps, group);
    if (current.replicationRole === "Primary") {
      deps.log.info(`failover group ${group.name} is already primary in ${input.to}`, log);
      return result("none");
    }
  }

  if (!forcedInFlight) {
    try {
      await failover(deps, input, group, keyOf(PLANNED), requestIds, inFlight);
      return result("planned");
    } catch (error) {
      const failure = error as SwitchyardError;
      if (!partnerUnavailable(failure)) throw failure;
      if (!input.allowDataLoss) {
        throw new PreconditionError(
          `planned failover of ${group.name} to ${input.to} is impossible: the current primary is unreachable, and a forced failover (possible data loss) is not allowed for this run`,
          "PlannedFailoverImpossible",
          failure,
        );
      }
      deps.log.warn(`planned failover of ${group.name} refused (primary unreachable); forcing it, data loss allowed`, log);
    }
  }
  await failover(deps, input, group, keyOf(FORCED), requestIds, inFlight);
  return result("forced");
}

/**
 * One failover request (or the resumption of the one in flight) through trackedOperation, journaled as
 * a write whose request ids are also added to `requestIds`. Failures are normalised.
 */
async function failover(deps: ActivityDeps, input: DataTierInput, group: SqlGroupInRegion, key: OperationKey, requestIds: string[], inFlight: InFlight): Promise<void> {
  const client: SqlManagementClient = deps.clients.sql(group.subscriptionId);
  const operation = key.operation;
  const capture = captureRequestIds();
  const write = (result: string, ids: readonly string[], resumed: boolean) =>
    journalWrite(deps, {
      runId: input.runId,
      step: STEP,
      resourceId: group.groupId,
      operation,
      requestIds: ids,
      result,
      details: { server: group.serverId, region: input.to, allowDataLoss: input.allowDataLoss, ...(resumed ? { resumed: true } : {}) },
    });
  let resumedFrom = false;
  try {
    const { resumed } = await trackedOperation(deps, key, async (resumeFrom): Promise<TrackedPoller<unknown>> => {
      resumedFrom = resumeFrom !== undefined;
      const options = { updateIntervalInMs: deps.pollIntervalMs, ...capture.options, ...(resumeFrom ? { resumeFrom } : {}) };
      try {
        const poller =
          operation === PLANNED
            ? await client.failoverGroups.beginFailover(group.resourceGroup, group.server, group.name, options)
            : await client.failoverGroups.beginForceFailoverAllowDataLoss(group.resourceGroup, group.server, group.name, options);
        return { serialize: () => poller.toString(), wait: () => poller.pollUntilDone() };
      } catch (error) {
        // arm-sql polls once inside begin…: an operation that already ended (or a resumed one whose
        // poll fails) is reported as the operation's outcome, not as a request that never got through.
        if (resumeFrom !== undefined || isOperationFailure(error)) return endedPoller(error);
        throw error;
      }
    }, inFlight);
    await write(resumed ? "succeeded (resumed the operation a previous attempt started)" : "succeeded", capture.ids, resumed);
    requestIds.push(...capture.ids);
    deps.log.info(`${operation} of ${group.name} to ${input.to} succeeded${resumed ? " (resumed)" : ""}`, { runId: input.runId, resourceId: group.groupId, region: input.to });
  } catch (error) {
    // An operation that ended Failed is normalised as non-retryable: retrying would send a new failover.
    const failure = normaliseAzureError(error, operation, `${group.serverId}/failoverGroups/${group.name}`);
    const ids = idsWith(capture.ids, failure);
    requestIds.push(...ids);
    // A request that reached Azure is a write, refused or not; nothing reached it when there is no id.
    if (ids.length > 0 || resumedFrom) await write(`failed: ${failure.message}`, ids, resumedFrom);
    throw failure;
  }
}

/** Azure refused a planned failover because the current primary (the partner) cannot be reached. */
function partnerUnavailable(error: SwitchyardError): boolean {
  // FailoverGroupPartnerUnavailable is the local estate's code (Azure's exact code is not documented);
  // the wording covers Azure's messages that the partner/primary is unreachable or unavailable.
  return /FailoverGroupPartnerUnavailable|partner\b[^.]*\b(unavailable|unreachable|not reachable)/i.test(error.message);
}

/** An SDK error saying that a long-running operation Azure had accepted ended Failed (core-lro's wording). */
function isOperationFailure(error: unknown): boolean {
  const e = error as { statusCode?: unknown; message?: unknown } | undefined;
  return e?.statusCode === undefined && typeof e?.message === "string" && /long-running operation has failed/i.test(e.message);
}

/**
 * A poller that reports `error` as the operation's outcome: for an operation whose end the SDK reported
 * before handing out a poller, so that trackedOperation journals it as ended instead of leaving it running.
 */
function endedPoller(error: unknown): TrackedPoller<unknown> {
  return { serialize: () => "", wait: () => Promise.reject(error) };
}
