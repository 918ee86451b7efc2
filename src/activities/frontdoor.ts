import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AFDOrigin, AFDOriginUpdateParameters } from "@azure/arm-cdn";
import { restorePoller, type Backend, type FrontDoor } from "@azure/arm-frontdoor";
import type { ClientFactory } from "../azure/clients.ts";
import { AzureRequestError, PreconditionError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, type OperationPollInput, type OperationPollResult, type PendingOperation, type SwitchInput, type SwitchResult } from "../core/run/model.ts";
import { azureCall, requestIdOf } from "./azureCall.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { journalAccepted, journalEnded, keyOfPending, OperationEndedError, readInFlight, watchOf, type OperationKey } from "./operations.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

/*
 * Traffic: the region `to` takes all traffic (enabled, priority 1); the region being left stays as a
 * standby (enabled, priority 2) or, when it is unhealthy (`disableOther`), is taken out (disabled,
 * priority 2). Every activity here returns within a few requests (the Durable monitor pattern): a
 * switch reads, starts the writes that are needed and returns them as pending operations, which the
 * orchestration polls (pollFrontDoorStandard / pollFrontDoorClassic) on durable timers and then calls
 * the switch again, until a call finds nothing left to change.
 *
 * A switch never writes twice: an operation this run started and has not seen end (its resume token
 * is in the run's journal) is returned again instead of a new write; a resource busy with an operation
 * this run cannot resume (someone else's, or one whose attempt died before journaling it) is watched
 * until it ends, and compared again then.
 */

/**
 * Polling a Front Door change. Azure's Front Door FAQ says a configuration change can take up to
 * 20 minutes to propagate, and that changes submitted while one propagates are queued behind it
 * (back-to-back changes: about 40 minutes). Azure does not say how much of that the ARM operation
 * itself lasts, so the run polls every 30 s of Azure time (fine-grained against minutes, a few
 * dozen reads at most) and gives up after 45 minutes: two queued changes at the documented upper
 * bound, with margin.
 */
export const FRONT_DOOR_POLL_SECONDS = 30;
export const FRONT_DOOR_DEADLINE_SECONDS = 45 * 60;

const AFD_UPDATE = "AFDOrigins_Update";
const CLASSIC_PUT = "FrontDoors_CreateOrUpdate";
/** Journal names for watching an operation this run did not start (no resume token: the resource is read). */
const AFD_OBSERVED = `${AFD_UPDATE} (started elsewhere)`;
const CLASSIC_OBSERVED = `${CLASSIC_PUT} (started elsewhere)`;

type EnabledState = "Enabled" | "Disabled";

/** What an origin or backend should look like after the switch. */
interface Target {
  readonly priority: number;
  readonly enabledState: EnabledState;
}

const PRIMARY: Target = { priority: 1, enabledState: "Enabled" };
const standby = (disableOther: boolean): Target => ({ priority: 2, enabledState: disableOther ? "Disabled" : "Enabled" });

/** The fields of `current` that differ from `target` (empty when it already holds). */
function difference(current: { priority?: number; enabledState?: string }, target: Target): Partial<Target> {
  const change: { priority?: number; enabledState?: EnabledState } = {};
  if (current.priority !== target.priority) change.priority = target.priority;
  // An absent enabledState means Enabled (the API's default).
  if ((current.enabledState ?? "Enabled") !== target.enabledState) change.enabledState = target.enabledState;
  return change;
}

const isEmpty = (change: object) => Object.keys(change).length === 0;
const summarise = (change: Partial<Target>) => Object.entries(change).map(([k, v]) => `${k}=${String(v)}`).join(", ");

/**
 * The targets per region of a per-region map of the plan: `to` first (it must be ready to serve before
 * the other is taken out), then every other region.
 */
function targetsFor<T>(plan: Plan, byRegion: Readonly<Record<string, T>>, to: string, disableOther: boolean, what: string): { region: string; item: T; target: Target }[] {
  planRegion(plan, to);
  const mine = byRegion[to];
  if (mine === undefined) throw new PreconditionError(`${what} names nothing for region '${to}'`, "RegionNotMapped");
  const others = Object.entries(byRegion).filter(([region]) => region !== to);
  return [{ region: to, item: mine, target: PRIMARY }, ...others.map(([region, item]) => ({ region, item, target: standby(disableOther) }))];
}

function entry<T>(list: readonly T[], index: number, what: string): T {
  const found = list[index];
  if (found === undefined) throw new PreconditionError(`the plan has no ${what} at index ${index} (it has ${list.length})`, "PlanIndexOutOfRange");
  return found;
}

/** Whether Azure shows the resource busy with an operation (Updating, Creating, Deleting, Provisioning...). */
const busy = (r: { provisioningState?: string }) => r.provisioningState !== undefined && !["Succeeded", "Failed", "Canceled"].includes(r.provisioningState);

/** An SDK error that reports the end of an operation Azure had accepted (core-lro's wording), not a failed request. */
function isOperationEnd(error: unknown): boolean {
  const e = error as { statusCode?: unknown; message?: unknown } | undefined;
  return e?.statusCode === undefined && typeof e?.message === "string" && /long-running operation has failed|operation was canceled/i.test(e.message);
}

/**
 * The error for an operation that ended without doing its work: never retryable as it is (a retry
 * would have to send the write again, which is the next switch call's decision: the run makes it,
 * within its budget for operations that ended).
 */
function operationEnded(error: unknown, operation: string, resourceId: string, what: string): OperationEndedError {
  const normalised = normaliseAzureError(error, operation, resourceId);
  const details = normalised instanceof AzureRequestError ? normalised.details : { operation, resourceId };
  return new OperationEndedError(`${what} ended without being applied: ${normalised.message}`, details, error);
}

/** Request ids plus the Retry-After of the last response (both SDK generations call `onResponse`). */
function captureResponses() {
  const capture = captureRequestIds();
  let retryAfterSeconds: number | undefined;
  return {
    ids: capture.ids,
    retryAfter: () => retryAfterSeconds,
    options: {
      onResponse: (response: { headers: { get(name: string): string | undefined } }) => {
        capture.options.onResponse(response);
        const value = response.headers.get("retry-after");
        retryAfterSeconds = value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
      },
    },
  };
}

/** The operation handed to the run to watch (its resume token is in the journal: see watchOf). */
function pendingOf(poll: PendingOperation["poll"], resourceId: string, operation: string, deps: ActivityDeps, context: PendingOperation["context"]): PendingOperation {
  return {
    poll,
    resourceId,
    operation,
    pollSeconds: FRONT_DOOR_POLL_SECONDS,
    deadlineSeconds: FRONT_DOOR_DEADLINE_SECONDS,
    context,
  };
}

function withPending(result: Omit<SwitchResult, "pending" | "alsoPending">, pendings: readonly PendingOperation[]): SwitchResult {
  const [first, ...rest] = pendings;
  return { ...result, ...(first ? { pending: first } : {}), ...(rest.length > 0 ? { alsoPending: rest } : {}) };
}

// ---- Front Door Standard/Premium --------------------------------------------------------------

/** An origin's id split into what arm-cdn needs. */
function originRef(originId: string) {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Cdn\/profiles\/([^/]+)\/originGroups\/([^/]+)\/origins\/([^/]+)$/i.exec(originId);
  if (!m) throw new PreconditionError(`'${originId}' is not an AFD origin id`, "InvalidResourceId");
  return { subscriptionId: m[1]!, resourceGroup: m[2]!, profile: m[3]!, group: m[4]!, origin: m[5]! };
}

/**
 * Activity: switches an AFD origin group to `input.to`. Reads the group's origins (the plan names the
 * origin of each region; AFD profiles are global, so nothing here is in a region's control plane) and
 * starts an AFDOrigins_Update for each origin that differs:
 *
 * - both at once when the target's origin is enabled already: traffic always has the target to go to,
 *   whatever order the changes reach the edge in (Azure deploys them one after the other);
 * - otherwise the target's alone: the other origin is changed by the next call, after it has ended.
 *
 * Each accepted update's resume token is journaled at once; the updates are returned as `pending`
 * (and `alsoPending`). An update of this run still in flight is returned again, never sent twice.
 */
export async function switchFrontDoorStandard(input: SwitchInput, deps: ActivityDeps): Promise<SwitchResult> {
  const step = Activities.switchFrontDoorStandard;
  const spec = entry(input.plan.frontDoor.standard, input.index, "frontDoor.standard entry");
  const group = spec.originGroup;
  const [rg, profile, groupName] = [group.resourceGroup, group.names[0]!, group.name];
  const client = deps.clients.cdn(group.subscriptionId);
  const targets = targetsFor(input.plan, spec.origins, input.to, input.disableOther, `origin group ${group.id}`);
  const log = { runId: input.runId, resourceId: group.id };
  const context = (region: string, origin: string, observed = false) => ({ step, index: input.index, to: input.to, region, origin, ...(observed ? { observed } : {}) });

  const [origins, inFlight] = await Promise.all([
    azureCall("AFDOrigins_ListByOriginGroup", group.id, async () => {
      const list: AFDOrigin[] = [];
      for await (const origin of client.afdOrigins.listByOriginGroup(rg, profile, groupName)) list.push(origin);
      return list;
    }),
    readInFlight(deps, input.runId, { shared: true }),
  ]);
  // Every origin the plan names must exist before anything is changed.
  const planned = targets.map((t) => {
    const current = origins.find((o) => o.name?.toLowerCase() === t.item.toLowerCase());
    if (!current) throw new PreconditionError(`origin group ${group.id} has no origin '${t.item}'`, "OriginNotFound");
    return { ...t, id: `${group.id}/origins/${t.item}`, current };
  });

  // Updates this run started that nobody has seen end: watch them again, write nothing.
  const running = planned.flatMap((p) => {
    const token = inFlight.tokenOf({ resourceId: p.id, operation: AFD_UPDATE });
    return token === undefined ? [] : [pendingOf(Activities.pollFrontDoorStandard, p.id, AFD_UPDATE, deps, context(p.region, p.item))];
  });
  if (running.length > 0) {
    deps.log.info(`origin group ${group.name}: ${running.length} update(s) this run started are still in flight; watching them again`, log);
    return withPending({ resourceId: group.id, changed: true, requestIds: [] }, running);
  }

  const changes = planned.map((p) => ({ ...p, change: difference(p.current, p.target) })).filter((c) => !isEmpty(c.change));
  if (changes.length === 0) {
    deps.log.info(`origin group ${group.name} already sends traffic to ${input.to}`, log);
    return { resourceId: group.id, changed: false, requestIds: [] };
  }
  const targetEnabled = (planned[0]!.current.enabledState ?? "Enabled") === "Enabled";
  const batch = targetEnabled ? changes : changes.filter((c) => c.region === input.to);

  // An origin busy with an operation this run cannot resume: watched until it ends, then compared again.
  const occupied = batch.filter((c) => busy(c.current));
  if (occupied.length > 0) {
    const message = `origin(s) ${occupied.map((c) => c.item).join(", ")} of ${group.name} are ${occupied[0]!.current.provisioningState}: an update this run cannot resume is in flight; waiting for it to end before comparing again`;
    await deps.journal.append({ runId: input.runId, at: deps.clock().toISOString(), kind: "wait", step, message, data: { resourceId: group.id, origins: occupied.map((c) => c.item) } });
    deps.log.warn(message, log);
    return withPending(
      { resourceId: group.id, changed: false, requestIds: [] },
      occupied.map((c) => pendingOf(Activities.pollFrontDoorStandard, c.id, AFD_OBSERVED, deps, context(c.region, c.item, true))),
    );
  }

  const started = await Promise.allSettled(
    batch.map(async (c) => {
      const capture = captureRequestIds();
      const key: OperationKey = { runId: input.runId, step, resourceId: c.id, operation: AFD_UPDATE };
      const details = { region: c.region, origin: c.item, change: c.change };
      let token: string;
      try {
        const update: AFDOriginUpdateParameters = c.change;
        // arm-cdn sends the PATCH and polls once before it hands out the poller.
        const poller = await client.afdOrigins.beginUpdate(rg, profile, groupName, c.item, update, { updateIntervalInMs: 0, ...capture.options });
        token = poller.toString();
      } catch (error) {
        const failure = isOperationEnd(error) ? operationEnded(error, AFD_UPDATE, c.id, `the update of origin ${c.item}`) : normaliseAzureError(error, AFD_UPDATE, c.id);
        const id = requestIdOf(failure);
        const ids = id !== undefined && !capture.ids.includes(id) ? [...capture.ids, id] : capture.ids;
        if (ids.length > 0) await journalWrite(deps, { runId: input.runId, step, resourceId: c.id, operation: AFD_UPDATE, requestIds: ids, result: `failed: ${failure.message.split("\n")[0]}`, details });
        throw failure;
      }
      await journalAccepted(deps, key, token, capture.ids);
      await journalWrite(deps, { runId: input.runId, step, resourceId: c.id, operation: AFD_UPDATE, requestIds: capture.ids, result: "accepted", details });
      deps.log.info(`origin ${c.item} (${c.region}) of ${group.name}: ${summarise(c.change)} accepted`, { ...log, origin: c.item });
      return { pending: pendingOf(Activities.pollFrontDoorStandard, c.id, AFD_UPDATE, deps, context(c.region, c.item)), ids: capture.ids };
    }),
  );
  // Every accepted update is journaled; a write that failed fails the call (a retry watches the others).
  const refused = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (refused) throw refused.reason;
  const accepted = started.map((s) => (s as PromiseFulfilledResult<{ pending: PendingOperation; ids: string[] }>).value);
  if (!targetEnabled && changes.length > batch.length) deps.log.info(`origin group ${group.name}: the target's origin first; the other follows once it has been applied`, log);
  return withPending({ resourceId: group.id, changed: true, requestIds: accepted.flatMap((a) => a.ids) }, accepted.map((a) => a.pending));
}

/**
 * Activity: polls one AFD origin update once (restoring arm-cdn's poller from the resume token polls
 * it) and journals its end. An update that ended Failed or Canceled is a non-retryable error; a poll
 * that did not get through is a retryable one. An update this run did not start (`started elsewhere`)
 * is watched by reading the origin until it is no longer busy.
 */
export async function pollFrontDoorStandard(input: OperationPollInput, deps: ActivityDeps): Promise<OperationPollResult> {
  const { pending } = input;
  const ref = originRef(pending.resourceId);
  const client = deps.clients.cdn(ref.subscriptionId);
  const capture = captureResponses();
  const result = (status: OperationPollResult["status"]): OperationPollResult => {
    const retryAfterSeconds = capture.retryAfter();
    return { status, requestIds: [...capture.ids], ...(status === "running" && retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
  };

  if (pending.operation === AFD_OBSERVED) {
    const origin = await azureCall("AFDOrigins_Get", pending.resourceId, () => client.afdOrigins.get(ref.resourceGroup, ref.profile, ref.group, ref.origin, capture.options));
    return result(busy(origin) ? "running" : "succeeded");
  }

  const key = keyOfPending(input.runId, pending);
  const watch = await watchOf(deps, input.runId, pending);
  if ("ended" in watch) return result("succeeded");
  let done: boolean;
  try {
    const poller = await client.afdOrigins.beginUpdate(ref.resourceGroup, ref.profile, ref.group, ref.origin, {}, { resumeFrom: watch.token, updateIntervalInMs: 0, ...capture.options });
    done = poller.isDone();
  } catch (error) {
    const failure = normaliseAzureError(error, AFD_UPDATE, pending.resourceId);
    if (!isOperationEnd(error) && failure.retryable) throw failure;
    const ended = operationEnded(error, AFD_UPDATE, pending.resourceId, `the update of origin ${ref.origin}`);
    await journalEnded(deps, key, { ok: false, error: ended.message });
    throw ended;
  }
  if (!done) return result("running");
  await journalEnded(deps, key, { ok: true });
  deps.log.info(`update of origin ${ref.origin} of ${ref.group} applied`, { runId: input.runId, resourceId: pending.resourceId });
  return result("succeeded");
}

// ---- Front Door classic -------------------------------------------------------------------------

/** The backends of the plan's pool in a Front Door, checked to exist. */
function poolBackends(fd: FrontDoor, poolName: string, fdId: string): Backend[] {
  const pool = fd.backendPools?.find((p) => p.name?.toLowerCase() === poolName.toLowerCase());
  if (!pool) throw new PreconditionError(`Front Door ${fdId} has no backend pool '${poolName}'`, "BackendPoolNotFound");
  return pool.backends ?? [];
}

/**
 * Applies the targets to the pool's backends in `fd` (in place) and says what changed, per address.
 * Backends the plan does not name are left as they are.
 */
function applyTargets(fd: FrontDoor, poolName: string, fdId: string, targets: { region: string; item: string; target: Target }[]) {
  const backends = poolBackends(fd, poolName, fdId);
  const changes: { region: string; address: string; change: Partial<Target> }[] = [];
  for (const { region, item: address, target } of targets) {
    const backend = backends.find((b) => b.address?.toLowerCase() === address.toLowerCase());
    if (!backend) throw new PreconditionError(`backend pool '${poolName}' of Front Door ${fdId} has no backend '${address}'`, "BackendNotFound");
    const change = difference(backend, target);
    if (isEmpty(change)) continue;
    Object.assign(backend, change);
    changes.push({ region, address, change });
  }
  return changes;
}

/** Does the pool of `fd` hold the targets (for confirming a write)? */
function poolHolds(fd: FrontDoor, poolName: string, fdId: string, targets: { region: string; item: string; target: Target }[]): boolean {
  try {
    return applyTargets(structuredClone(fd), poolName, fdId, targets).length === 0;
  } catch {
    return false;
  }
}

/**
 * Activity: switches a classic Front Door's backend pool to `input.to`. A classic Front Door is one
 * resource written whole (FrontDoors_CreateOrUpdate, a PUT with no ETag), and several plan entries,
 * or several plans, may share one: the switch holds the Front Door's lease (deps.frontDoorLease) from
 * its GET to its PUT, writes only while the Front Door is not busy with another writer's operation (it
 * watches that one end instead), and reads the Front Door again after its PUT to confirm that its pool
 * change is there (again when the operation ends: pollFrontDoorClassic). Both backends change in the one
 * PUT. The PUT's resume token is journaled as soon as Azure accepts it; an operation of this run still in
 * flight is returned again, never sent twice.
 */
export async function switchFrontDoorClassic(input: SwitchInput, deps: ActivityDeps): Promise<SwitchResult> {
  const step = Activities.switchFrontDoorClassic;
  const spec = entry(input.plan.frontDoor.classic, input.index, "frontDoor.classic entry");
  const fdRef = spec.frontDoor;
  const client = deps.clients.frontDoor(fdRef.subscriptionId);
  const targets = targetsFor(input.plan, spec.backends, input.to, input.disableOther, `backend pool '${spec.backendPool}' of ${fdRef.id}`);
  // The operation is tracked by the pool, so that switches of two pools of one Front Door stay apart.
  const poolId = `${fdRef.id}/backendPools/${spec.backendPool}`;
  const log = { runId: input.runId, resourceId: fdRef.id };
  const context = (observed = false) => ({ step, index: input.index, to: input.to, disableOther: input.disableOther, backendPool: spec.backendPool, ...(observed ? { observed } : {}) });

  const inFlight = await readInFlight(deps, input.runId, { shared: true });
  const token = inFlight.tokenOf({ resourceId: poolId, operation: CLASSIC_PUT });
  if (token !== undefined) {
    deps.log.info(`backend pool ${spec.backendPool} of ${fdRef.name}: the update this run started is still in flight; watching it again`, log);
    return withPending({ resourceId: fdRef.id, changed: true, requestIds: [] }, [pendingOf(Activities.pollFrontDoorClassic, poolId, CLASSIC_PUT, deps, context())]);
  }

  if (!deps.frontDoorLease) deps.log.warn(`no Front Door lease is configured: switching ${fdRef.name} without one`, log);
  const lease = await deps.frontDoorLease?.acquire(fdRef.id);
  try {
    const get = () => azureCall("FrontDoors_Get", fdRef.id, () => client.frontDoors.get(fdRef.resourceGroup, fdRef.name));
    const fd = await get();
    // An earlier update that ended Failed may have left the body as sent but never applied: write it again.
    const failedBefore = fd.provisioningState === "Failed";
    const changes = applyTargets(fd, spec.backendPool, fdRef.id, targets);
    if (changes.length === 0 && !failedBefore) {
      deps.log.info(`backend pool ${spec.backendPool} of ${fdRef.name} already sends traffic to ${input.to}`, log);
      return { resourceId: fdRef.id, changed: false, requestIds: [] };
    }
    if (busy(fd)) {
      const message = `Front Door ${fdRef.name} is ${fd.provisioningState}: another update is in flight; waiting for it to end before writing the whole Front Door`;
      await deps.journal.append({ runId: input.runId, at: deps.clock().toISOString(), kind: "wait", step, message, data: { resourceId: fdRef.id, provisioningState: fd.provisioningState } });
      deps.log.warn(message, log);
      return withPending({ resourceId: fdRef.id, changed: false, requestIds: [] }, [pendingOf(Activities.pollFrontDoorClassic, poolId, CLASSIC_OBSERVED, deps, context(true))]);
    }

    const capture = captureRequestIds();
    const details = { backendPool: spec.backendPool, changes, ...(failedBefore ? { rewrite: "the previous update ended Failed" } : {}) };
    let serialized: string;
    try {
      const poller = client.frontDoors.createOrUpdate(fdRef.resourceGroup, fdRef.name, fd, { updateIntervalInMs: 0, ...capture.options });
      await poller.submitted();
      serialized = await poller.serialize();
    } catch (error) {
      const failure = normaliseAzureError(error, CLASSIC_PUT, fdRef.id);
      const id = requestIdOf(failure);
      const ids = id !== undefined && !capture.ids.includes(id) ? [...capture.ids, id] : capture.ids;
      if (ids.length > 0) await journalWrite(deps, { runId: input.runId, step, resourceId: fdRef.id, operation: CLASSIC_PUT, requestIds: ids, result: `failed: ${failure.message.split("\n")[0]}`, details });
      throw failure;
    }
    await journalAccepted(deps, { runId: input.runId, step, resourceId: poolId, operation: CLASSIC_PUT }, serialized, capture.ids);
    await journalWrite(deps, { runId: input.runId, step, resourceId: fdRef.id, operation: CLASSIC_PUT, requestIds: capture.ids, result: "accepted", details });
    deps.log.info(`backend pool ${spec.backendPool} of ${fdRef.name}: ${changes.map((c) => `${c.address} (${c.region}) ${summarise(c.change)}`).join("; ") || "written again"} accepted`, log);

    // Still under the lease: the Front Door as the next writer will read it. Azure may show the
    // previous body until the operation ends; the poll confirms again from the final body.
    try {
      const after = await get();
      const holds = poolHolds(after, spec.backendPool, fdRef.id, targets);
      deps.log.info(`backend pool ${spec.backendPool} of ${fdRef.name} read after the write: ${holds ? "holds this change" : "does not show this change yet (checked again when the update ends)"}`, log);
    } catch (error) {
      deps.log.warn(`reading ${fdRef.name} after the write failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`, log);
    }
    return withPending({ resourceId: fdRef.id, changed: true, requestIds: [...capture.ids] }, [pendingOf(Activities.pollFrontDoorClassic, poolId, CLASSIC_PUT, deps, context())]);
  } finally {
    if (lease) {
      await lease.release().catch((error: unknown) => deps.log.warn(`releasing the lease of ${fdRef.name} failed (it expires by itself): ${error instanceof Error ? error.message : String(error)}`, log));
    }
  }
}

/**
 * Activity: polls one classic Front Door update once (arm-frontdoor's restorePoller, then one poll)
 * and journals its end. When it succeeded, the final body must hold the plan's pool change: if another
 * writer's update replaced it, the end is journaled and logged, and the switch, called again, writes
 * it again. An update that ended Failed or Canceled is a non-retryable error. An update this run did
 * not start is watched by reading the Front Door until it is no longer busy.
 */
export async function pollFrontDoorClassic(input: OperationPollInput, deps: ActivityDeps): Promise<OperationPollResult> {
  const { pending } = input;
  const spec = entry(input.plan.frontDoor.classic, Number(pending.context.index), "frontDoor.classic entry");
  const fdRef = spec.frontDoor;
  const client = deps.clients.frontDoor(fdRef.subscriptionId);
  const log = { runId: input.runId, resourceId: fdRef.id };

  if (pending.operation === CLASSIC_OBSERVED) {
    const capture = captureRequestIds();
    const fd = await azureCall("FrontDoors_Get", fdRef.id, () => client.frontDoors.get(fdRef.resourceGroup, fdRef.name, capture.options));
    return { status: busy(fd) ? "running" : "succeeded", requestIds: [...capture.ids] };
  }

  const key = keyOfPending(input.runId, pending);
  const watch = await watchOf(deps, input.runId, pending);
  let result: FrontDoor | undefined;
  // "ended": an earlier attempt of this poll saw the update succeed; what follows reads the Front Door as it is.
  if (!("ended" in watch)) {
    try {
      const poller = restorePoller(client, watch.token, client.frontDoors.createOrUpdate, { updateIntervalInMs: 0 });
      await poller.poll();
      if (!poller.isDone) return { status: "running", requestIds: [] };
      result = poller.result;
    } catch (error) {
      const failure = normaliseAzureError(error, CLASSIC_PUT, fdRef.id);
      if (!isOperationEnd(error) && failure.retryable) throw failure;
      const ended = operationEnded(error, CLASSIC_PUT, fdRef.id, `the update of Front Door ${fdRef.name}`);
      await journalEnded(deps, key, { ok: false, error: ended.message });
      throw ended;
    }
    await journalEnded(deps, key, { ok: true });
  }
  const to = String(pending.context.to);
  const targets = targetsFor(input.plan, spec.backends, to, pending.context.disableOther === true, `backend pool '${spec.backendPool}' of ${fdRef.id}`);
  const final = result ?? (await azureCall("FrontDoors_Get", fdRef.id, () => client.frontDoors.get(fdRef.resourceGroup, fdRef.name)));
  if (poolHolds(final, spec.backendPool, fdRef.id, targets)) {
    deps.log.info(`update of ${fdRef.name} applied: backend pool ${spec.backendPool} sends traffic to ${to}`, log);
  } else {
    const message = `the update of ${fdRef.name} ended, but backend pool ${spec.backendPool} does not hold this run's change (another writer replaced it): the switch writes it again`;
    await deps.journal.append({ runId: input.runId, at: deps.clock().toISOString(), kind: "decision", step: String(pending.context.step ?? ""), message, data: { resourceId: fdRef.id, backendPool: spec.backendPool } });
    deps.log.warn(message, log);
  }
  return { status: "succeeded", requestIds: [] };
}

// ---- requests through Front Door, where users are ------------------------------------------------

export interface EdgeAnswer {
  readonly url: string;
  /** HTTP status, when an answer came. */
  readonly status?: number;
  /** The region the answer says served it (the application's own JSON `region`), when it says. */
  readonly region?: string;
  readonly error?: string;
}

/**
 * One GET of an application URL through a Front Door host, as a user sends it: a fresh connection, a
 * hard timeout, the body read (up to 64 KiB) for the region it names, if it names one. Locally the
 * client factory maps the Front Door host onto the estate's edge.
 */
export function requestThroughFrontDoor(clients: ClientFactory, url: string, timeoutMs: number): Promise<EdgeAnswer> {
  let target: URL;
  try {
    target = new URL(clients.endpointUrl(url));
  } catch (error) {
    return Promise.resolve({ url, error: error instanceof Error ? error.message : String(error) });
  }
  const ca = clients.target.kind === "estate" ? clients.target.ca : undefined;
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<EdgeAnswer>((resolve) => {
    const req = send(target, { method: "GET", agent: false, timeout: timeoutMs, ...(ca ? { ca } : {}), headers: { "User-Agent": "switchyard-verify" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 64 * 1024) chunks.push(chunk);
      });
      res.on("end", () => {
        let region: string | undefined;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { region?: unknown };
          if (typeof body?.region === "string") region = body.region;
        } catch {
          /* not JSON: the answer does not say where it was served */
        }
        resolve({ url, status: res.statusCode ?? 0, ...(region ? { region } : {}) });
      });
      res.on("error", (error) => resolve({ url, error: error.message }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ url, error: error.code ?? error.message }));
    req.end();
  });
}
