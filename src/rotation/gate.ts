/**
 * Rotation and failover kept apart, through the plan's state document (one ETag-checked update each):
 *   - a rotation step takes a lease on the plan only while no failover or failback holds it (a live
 *     reservation, or a run the run port shows in progress); otherwise it is refused as deferred and
 *     the rotation waits for the run to end;
 *   - a run's start reserves the plan first (core/run/reservation.ts), then waits for the steps under
 *     way to end (their leases are released, or lapse at STEP_LEASE_MS) before the run begins.
 * Whichever update lands first wins: a step never begins after a run has reserved the plan, and a run
 * never begins while a step it did not see is changing Azure.
 */
import { SwitchyardError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { isReservationLive } from "../core/run/reservation.ts";
import type { RunPort } from "../core/run/port.ts";
import { liveLeases, RotationErrors, STEP_LEASE_MS, type RotationStepInput, type RotationStepLease } from "../core/rotation/model.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";
import type { PlanState } from "../core/detection/model.ts";

export interface RotationGateDeps {
  readonly store: PlanStateStore;
  /** The plan's run as the run port shows it. */
  readonly runs: Pick<RunPort, "get">;
  readonly clock: () => Date;
  readonly log?: Logger;
}

/** A failover or failback holds the plan: the step did not begin. */
export class RotationDeferredError extends SwitchyardError {
  constructor(readonly plan: string, readonly runId: string) {
    super(`run ${runId} holds plan ${plan}: the rotation waits for it to end`, { code: RotationErrors.runInProgress, retryable: true });
  }
}

/**
 * Runs `work` holding the step's lease on the plan, or refuses with RotationDeferredError while a run
 * holds the plan. The lease is released when the work ends, however it ends; a release that fails
 * leaves it to lapse.
 */
export async function holdRotationStep<T>(deps: RotationGateDeps, input: RotationStepInput, work: () => Promise<T>): Promise<T> {
  const view = await deps.runs.get(input.plan);
  const now = deps.clock();
  let holder: string | undefined;
  const lease: RotationStepLease = {
    rotationId: input.rotationId,
    secret: input.secret,
    step: input.step,
    since: now.toISOString(),
    until: new Date(now.getTime() + STEP_LEASE_MS).toISOString(),
  };
  await deps.store.update(input.plan, (state) => {
    holder = undefined;
    if (view && (view.status === "pending" || view.status === "running")) holder = view.runId;
    else if (state.activeRun && isReservationLive(state.activeRun, view, now)) holder = state.activeRun.runId;
    if (holder !== undefined) return state;
    return { ...state, rotationSteps: { ...state.rotationSteps, [input.secret.toLowerCase()]: lease } };
  });
  if (holder !== undefined) throw new RotationDeferredError(input.plan, holder);
  try {
    return await work();
  } finally {
    try {
      await deps.store.update(input.plan, (state) => {
        const key = input.secret.toLowerCase();
        if (state.rotationSteps?.[key]?.rotationId !== input.rotationId) return state;
        const { [key]: _released, ...rest } = state.rotationSteps;
        const { rotationSteps: _all, ...others } = state;
        return Object.keys(rest).length > 0 ? { ...others, rotationSteps: rest } : others;
      });
    } catch (error) {
      deps.log?.warn("a rotation step's lease could not be released; it lapses by itself", { plan: input.plan, rotationId: input.rotationId, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

export interface StepWaitOptions {
  readonly store: Pick<PlanStateStore, "get">;
  /** The plan's state as the caller last wrote it (the first look, instead of a read). */
  readonly state?: PlanState;
  readonly clock: () => Date;
  /** Waits between reads (default: real time, 250 ms). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: Logger;
}

/**
 * Waits until no rotation step holds the plan (a run's start calls it once it has reserved the plan),
 * at most until the last lease's `until`. Returns the steps it waited for.
 */
export async function waitForRotationSteps(plan: string, options: StepWaitOptions): Promise<RotationStepLease[]> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const waited = new Map<string, RotationStepLease>();
  let known = options.state;
  for (;;) {
    const state = known ?? (await options.store.get(plan)).state;
    known = undefined;
    const now = options.clock();
    const live = liveLeases(state.rotationSteps, now);
    if (live.length === 0) return [...waited.values()];
    for (const lease of live) {
      if (waited.has(lease.rotationId)) continue;
      waited.set(lease.rotationId, lease);
      options.log?.info(`the run waits for the ${lease.step} step of rotation ${lease.rotationId} (secret ${lease.secret}) to finish`, { plan, rotationId: lease.rotationId });
    }
    const until = Math.max(...live.map((l) => Date.parse(l.until)));
    await sleep(Math.min(250, Math.max(1, until - now.getTime()), STEP_LEASE_MS));
  }
}
