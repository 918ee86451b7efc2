import { setTimeout as delay } from "node:timers/promises";
import type { AFDOrigin, AFDOriginUpdateParameters } from "@azure/arm-cdn";
import { restorePoller, type Backend, type FrontDoor } from "@azure/arm-frontdoor";
import { PreconditionError, SwitchyardError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, type SwitchInput, type SwitchResult } from "../core/run/model.ts";
import { azureCall, requestIdOf } from "./azureCall.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { readInFlight, trackedOperation, type InFlight, type TrackedPoller } from "./operations.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

/*
 * Traffic: the region `to` takes all traffic (enabled, priority 1); the region being left stays as a
 * standby (enabled, priority 2) or, when it is unhealthy (`disableOther`), is taken out (disabled,
 * priority 2). Both activities read first and write only what differs, so a second call never writes.
 */

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

// ---- one tracked write ------------------------------------------------------------------------

interface TrackedWrite {
  readonly runId: string;
  readonly step: string;
  /** What the operation is tracked under (resumed by): the origin, or the classic backend pool. */
  readonly trackedId: string;
  /** What the journal's write entry names. */
  readonly resourceId: string;
  readonly operation: string;
  readonly details: Record<string, unknown>;
  /** Starts the operation, or restores its poller from `resumeFrom` without sending it again. */
  readonly start: (resumeFrom: string | undefined, options: ReturnType<typeof captureRequestIds>["options"]) => Promise<TrackedPoller<unknown>>;
  /** This run's operations in flight, as read by this attempt before it could have started this one. */
  readonly inFlight: InFlight;
}

/** Whether this run journaled an operation on the resource that was accepted and never finished. */
const hasInFlight = (inFlight: InFlight, trackedId: string, operation: string) => inFlight.tokenOf({ resourceId: trackedId, operation }) !== undefined;

/**
 * Runs one long-running write through trackedOperation (resuming one in flight), journals it with its
 * request ids and result, and says whether it resumed. Only the SDK's errors are normalised and
 * journaled as a failed write: anything else (the journal failing, the process going away) passes as is.
 */
async function trackedWrite(deps: ActivityDeps, w: TrackedWrite): Promise<{ resumed: boolean; requestIds: string[] }> {
  const capture = captureRequestIds();
  const sdk = <T>(call: () => Promise<T>) => azureCall(w.operation, w.resourceId, call);
  let resumed: boolean;
  try {
    ({ resumed } = await trackedOperation(deps, { runId: w.runId, step: w.step, resourceId: w.trackedId, operation: w.operation }, async (resumeFrom) => {
      const poller = await sdk(() => w.start(resumeFrom, capture.options));
      return { serialize: () => poller.serialize(), wait: () => sdk(() => poller.wait()) };
    }, w.inFlight));
  } catch (error) {
    if (!(error instanceof SwitchyardError)) throw error;
    const id = requestIdOf(error);
    const ids = id !== undefined && !capture.ids.includes(id) ? [...capture.ids, id] : [...capture.ids];
    await journalWrite(deps, { runId: w.runId, step: w.step, resourceId: w.resourceId, operation: w.operation, requestIds: ids, result: `failed: ${error.message.split("\n")[0]}`, details: w.details });
    throw error;
  }
  const result = resumed ? "succeeded (resumed the operation a previous attempt started)" : "succeeded";
  await journalWrite(deps, { runId: w.runId, step: w.step, resourceId: w.resourceId, operation: w.operation, requestIds: capture.ids, result, details: w.details });
  return { resumed, requestIds: capture.ids };
}

/** How long a switch waits for an operation it did not start (and cannot resume) before giving up for now. */
export const IN_FLIGHT_WAIT_MS = 10 * 60 * 1000;

/** Whether Azure shows the resource busy with an operation (AFD: Updating/Creating/Deleting; classic: also Provisioning). */
const busy = (r: { provisioningState?: string }) => r.provisioningState !== undefined && !["Succeeded", "Failed", "Canceled"].includes(r.provisioningState);

/**
 * Waits until the resource is no longer busy. An activity killed between Azure accepting its write and
 * journaling the resume token leaves an operation the re-run cannot resume: the re-run waits for it
 * and then compares again, instead of sending the write a second time.
 */
async function settled<T extends { provisioningState?: string }>(deps: ActivityDeps, w: { runId: string; step: string; resourceId: string; what: string }, first: T, read: () => Promise<T>): Promise<T> {
  let current = first;
  if (!busy(current)) return current;
  const started = deps.clock().getTime();
  const message = `${w.what} is ${current.provisioningState}: waiting for the operation in flight before comparing again`;
  await deps.journal.append({ runId: w.runId, at: deps.clock().toISOString(), kind: "wait", step: w.step, message, data: { resourceId: w.resourceId, provisioningState: current.provisioningState } });
  deps.log.info(message, { runId: w.runId, resourceId: w.resourceId });
  while (busy(current)) {
    if (deps.clock().getTime() - started > IN_FLIGHT_WAIT_MS) {
      throw new SwitchyardError(`${w.what} is still ${current.provisioningState} after ${IN_FLIGHT_WAIT_MS / 1000} s: an operation Switchyard cannot resume is in flight`, { code: "OperationInFlight", retryable: true, retryAfterSeconds: 60 });
    }
    await delay(deps.pollIntervalMs);
    current = await read();
  }
  return current;
}

// ---- Front Door Standard/Premium --------------------------------------------------------------

/**
 * Activity: switches an AFD origin group to `input.to`. Reads the group's origins once, then PATCHes
 * (AFDOrigins_Update, long-running, tracked so a re-run resumes it) only the origins that differ,
 * the target region's first. An operation a killed attempt left in flight is resumed (and its end
 * journaled) even when the origin already shows the target state; one it cannot resume (killed before
 * the token was journaled) is waited for, then the origin is compared again.
 */
export async function switchFrontDoorStandard(input: SwitchInput, deps: ActivityDeps): Promise<SwitchResult> {
  const step = Activities.switchFrontDoorStandard;
  const spec = entry(input.plan.frontDoor.standard, input.index, "frontDoor.standard entry");
  const group = spec.originGroup;
  const [rg, profile, groupName] = [group.resourceGroup, group.names[0]!, group.name];
  const client = deps.clients.cdn(group.subscriptionId);
  const targets = targetsFor(input.plan, spec.origins, input.to, input.disableOther, `origin group ${group.id}`);

  // The origins, and this run's operations in flight, read side by side. One read of the journal serves
  // every origin: nothing this attempt does to one origin starts an operation on another.
  const [origins, firstRead] = await Promise.all([
    azureCall("AFDOrigins_ListByOriginGroup", group.id, async () => {
      const list: AFDOrigin[] = [];
      for await (const origin of client.afdOrigins.listByOriginGroup(rg, profile, groupName)) list.push(origin);
      return list;
    }),
    readInFlight(deps, input.runId, { shared: true }),
  ]);
  let inFlight = firstRead;
  const byName = (name: string) => {
    const found = origins.find((o) => o.name?.toLowerCase() === name.toLowerCase());
    if (!found) throw new PreconditionError(`origin group ${group.id} has no origin '${name}'`, "OriginNotFound");
    return found;
  };
  // Check every origin exists before changing any.
  const plannedOrigins = targets.map((t) => ({ ...t, current: byName(t.item) }));

  const requestIds: string[] = [];
  let changed = false;
  for (const { region, item: originName, target, current } of plannedOrigins) {
    const originId = `${group.id}/origins/${originName}`;
    const getOrigin = () => azureCall("AFDOrigins_Get", originId, () => client.afdOrigins.get(rg, profile, groupName, originName));
    let state: { priority?: number; enabledState?: string; provisioningState?: string } = current;
    // At most twice: a resumed operation (sent by an earlier attempt) may have carried another change.
    for (let attempt = 0; attempt < 2; attempt++) {
      const pending = hasInFlight(inFlight, originId, "AFDOrigins_Update");
      if (!pending) state = await settled(deps, { runId: input.runId, step, resourceId: originId, what: `origin ${originName}` }, state, getOrigin);
      const change = difference(state, target);
      if (isEmpty(change) && !pending) break;
      const update: AFDOriginUpdateParameters = change;
      const { resumed, requestIds: ids } = await trackedWrite(deps, {
        runId: input.runId,
        step,
        trackedId: originId,
        resourceId: originId,
        operation: "AFDOrigins_Update",
        details: { region, origin: originName, change },
        inFlight,
        start: async (resumeFrom, capture) => {
          const options = { updateIntervalInMs: deps.pollIntervalMs, ...capture };
          const poller = resumeFrom
            ? await client.afdOrigins.beginUpdate(rg, profile, groupName, originName, {}, { ...options, resumeFrom })
            : await client.afdOrigins.beginUpdate(rg, profile, groupName, originName, update, options);
          return { serialize: () => poller.toString(), wait: () => poller.pollUntilDone() };
        },
      });
      requestIds.push(...ids);
      changed = true;
      deps.log.info(`origin ${originName} (${region}) of ${group.name}: ${resumed ? "resumed the operation in flight" : summarise(change)}`, { runId: input.runId, resourceId: originId });
      if (!resumed) break;
      // The resumed operation has ended (and may have carried another change): look again.
      [state, inFlight] = await Promise.all([getOrigin(), readInFlight(deps, input.runId)]);
    }
  }
  if (!changed) deps.log.info(`origin group ${group.name} already sends traffic to ${input.to}`, { runId: input.runId, resourceId: group.id });
  return { resourceId: group.id, changed, requestIds };
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

/**
 * Activity: switches a classic Front Door's backend pool to `input.to`: one GET and, only when a
 * backend differs, one PUT of the whole Front Door (FrontDoors_CreateOrUpdate, long-running, tracked).
 *
 * Two plan entries naming the same Front Door must not run at the same time: each PUTs the whole
 * resource, so concurrent switches would overwrite each other's change.
 */
export async function switchFrontDoorClassic(input: SwitchInput, deps: ActivityDeps): Promise<SwitchResult> {
  const step = Activities.switchFrontDoorClassic;
  const spec = entry(input.plan.frontDoor.classic, input.index, "frontDoor.classic entry");
  const fdRef = spec.frontDoor;
  const client = deps.clients.frontDoor(fdRef.subscriptionId);
  const targets = targetsFor(input.plan, spec.backends, input.to, input.disableOther, `backend pool '${spec.backendPool}' of ${fdRef.id}`);
  // The tracked operation is keyed by the pool, so that switches of two pools of one Front Door stay apart.
  const poolId = `${fdRef.id}/backendPools/${spec.backendPool}`;
  const get = () => azureCall("FrontDoors_Get", fdRef.id, () => client.frontDoors.get(fdRef.resourceGroup, fdRef.name));

  const requestIds: string[] = [];
  let changed = false;
  let [fd, inFlight] = await Promise.all([get(), readInFlight(deps, input.runId, { shared: true })]);
  for (let attempt = 0; attempt < 2; attempt++) {
    const pending = hasInFlight(inFlight, poolId, "FrontDoors_CreateOrUpdate");
    if (!pending) fd = await settled(deps, { runId: input.runId, step, resourceId: fdRef.id, what: `Front Door ${fdRef.name}` }, fd, get);
    const changes = applyTargets(fd, spec.backendPool, fdRef.id, targets);
    if (changes.length === 0 && !pending) break;
    const body = fd;
    const { resumed, requestIds: ids } = await trackedWrite(deps, {
      runId: input.runId,
      step,
      trackedId: poolId,
      resourceId: fdRef.id,
      operation: "FrontDoors_CreateOrUpdate",
      details: { backendPool: spec.backendPool, changes },
      inFlight,
      start: async (resumeFrom, capture) => {
        const poller = resumeFrom
          ? restorePoller(client, resumeFrom, client.frontDoors.createOrUpdate, { updateIntervalInMs: deps.pollIntervalMs })
          : client.frontDoors.createOrUpdate(fdRef.resourceGroup, fdRef.name, body, { updateIntervalInMs: deps.pollIntervalMs, ...capture });
        await poller.submitted();
        return { serialize: () => poller.serialize(), wait: () => poller.pollUntilDone() };
      },
    });
    requestIds.push(...ids);
    changed = true;
    deps.log.info(
      `backend pool ${spec.backendPool} of ${fdRef.name}: ${resumed ? "resumed the operation in flight" : changes.map((c) => `${c.address} (${c.region}) ${summarise(c.change)}`).join("; ")}`,
      { runId: input.runId, resourceId: fdRef.id },
    );
    if (!resumed) break;
    [fd, inFlight] = await Promise.all([get(), readInFlight(deps, input.runId)]);
  }
  if (!changed) deps.log.info(`backend pool ${spec.backendPool} of ${fdRef.name} already sends traffic to ${input.to}`, { runId: input.runId, resourceId: fdRef.id });
  return { resourceId: fdRef.id, changed, requestIds };
}
