import type { PlanState, RunReservation } from "../detection/model.ts";
import type { RunKind } from "./model.ts";
import type { RunView } from "./port.ts";

/*
 * The run reservation: before a start calls the run port, it records the run in the plan's state
 * document (one optimistic-concurrency update), unless another run holds the plan. The Durable client
 * alone cannot refuse a second start: with the Azure Storage backend two racing `startNew` calls for one
 * instance id can both be accepted. The ETag write can only succeed for one of them. Pure.
 *
 * A reservation holds the plan while it is live:
 *   - its run is visible through the run port (the view has its run id): live while pending or
 *     running, over as soon as the view shows it completed, failed or terminated (a drill terminated by
 *     an incident frees the plan at once, however young its reservation);
 *   - its run is not visible (its start is in flight, or failed without releasing it, or its instance
 *     was replaced): live for a grace period after `reservedAt`.
 * A run the view shows pending or running holds the plan whether it was reserved or not.
 */

/**
 * How long a reservation whose run is not visible yet holds the plan. A start's `startNew` is one
 * request to the Durable extension (seconds), and an HTTP-triggered invocation is cut off by Azure's
 * load balancer after 230 s: 5 minutes outlives any start still in flight. And a starter that died
 * between its reservation and its start (or its release) holds the plan for at most 5 minutes, which
 * is small against an RTO of tens of minutes, and the next evaluation retries.
 */
export const RESERVATION_GRACE_MS = 5 * 60_000;

export interface ReserveRequest {
  readonly runId: string;
  readonly kind: RunKind;
  /** The plan's run as the run port showed it, read before the decision. */
  readonly view: RunView | undefined;
  readonly now: Date;
  /** Default RESERVATION_GRACE_MS. */
  readonly graceMs?: number;
}

export type ReserveDecision =
  | {
      readonly reserved: true;
      readonly state: PlanState;
      /** The earlier reservation this one replaced (its run finished, or it outlived the grace period). */
      readonly replaced?: RunReservation;
    }
  | {
      readonly reserved: false;
      /** The run that holds the plan. */
      readonly holder: string;
      /** `running`: the run port shows it in progress; `reserved`: its start is (or may be) in flight. */
      readonly why: "running" | "reserved";
    };

const isActive = (view: RunView | undefined): view is RunView => view !== undefined && (view.status === "pending" || view.status === "running");

/** Whether `reservation` still holds the plan, given the run port's view and the time. */
export function isReservationLive(reservation: RunReservation, view: RunView | undefined, now: Date, graceMs: number = RESERVATION_GRACE_MS): boolean {
  if (view?.runId === reservation.runId) return isActive(view);
  const age = now.getTime() - Date.parse(reservation.reservedAt);
  // A reservation dated more than the grace period ahead was made by a clock far off: it does not
  // hold the plan for ever.
  return age < graceMs && age > -graceMs;
}

/** Reserves `runId` for the plan, or says which run holds it. Reserving the reserved run again renews it (a retried start). */
export function reserveRun(state: PlanState, request: ReserveRequest): ReserveDecision {
  const { runId, view, now } = request;
  const graceMs = request.graceMs ?? RESERVATION_GRACE_MS;
  if (isActive(view) && view.runId !== runId) return { reserved: false, holder: view.runId, why: "running" };
  const current = state.activeRun;
  // (A live reservation whose run is visible is running: refused above.)
  if (current && current.runId !== runId && isReservationLive(current, view, now, graceMs)) return { reserved: false, holder: current.runId, why: "reserved" };
  const activeRun: RunReservation = { runId, kind: request.kind, reservedAt: now.toISOString() };
  return { reserved: true, state: { ...state, activeRun }, ...(current && current.runId !== runId ? { replaced: current } : {}) };
}

/** Drops the reservation of `runId` (its start failed); a reservation another start has taken since is kept. */
export function releaseRun(state: PlanState, runId: string): PlanState {
  if (state.activeRun?.runId !== runId) return state;
  const { activeRun: _released, ...rest } = state;
  return rest;
}
