/**
 * Starting and reading rotations: one durable instance per plan secret (rotationInstanceId), so one
 * rotation per secret at a time. A start while that secret's rotation runs answers with the running
 * one instead of starting another. The plan is kept under the rotation's id before the instance
 * starts; its activities read it there.
 */
import type { Plan } from "../core/plan/index.ts";
import { rotationInstanceId, RotationOrchestrations, type RotationInput, type RotationOutput, type RotationTrigger } from "../core/rotation/model.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";
import { newRunId } from "../core/run/model.ts";
import type { RotationStartReservation } from "../core/detection/model.ts";
import type { PlanStateStore } from "../detection/stateStore.ts";

/** The durable operations a rotation port needs (the Durable client in Azure, the local host locally). */
export interface RotationHost {
  status(instanceId: string): Promise<{ readonly runtimeStatus: string; readonly input?: unknown; readonly output?: unknown; readonly customStatus?: unknown } | undefined>;
  /** Starts the instance; rejects when one with the id is pending or running. */
  start(orchestration: string, instanceId: string, input: RotationInput): Promise<void>;
}

export interface RotationView {
  readonly instanceId: string;
  readonly rotationId: string;
  readonly plan: string;
  readonly secret: string;
  readonly status: "pending" | "running" | "completed" | "failed" | "terminated";
  /** The step under way and how often it waited for a run (while running). */
  readonly progress?: { readonly step?: string; readonly deferrals?: number };
  readonly output?: RotationOutput;
}

export interface RotationStart {
  /** `started`: a new rotation; `running`: the secret's rotation already under way (this one was not started). */
  readonly outcome: "started" | "running";
  readonly rotation: RotationView;
}

const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

function statusOf(runtime: string): RotationView["status"] {
  if (runtime === "Pending") return "pending";
  if (ACTIVE.has(runtime)) return "running";
  if (runtime === "Completed") return "completed";
  if (runtime === "Terminated" || runtime === "Canceled") return "terminated";
  return "failed";
}

function viewOf(instanceId: string, s: { runtimeStatus: string; input?: unknown; output?: unknown; customStatus?: unknown }): RotationView | undefined {
  const input = s.input as Partial<RotationInput> | undefined;
  if (!input || typeof input.rotationId !== "string" || typeof input.plan !== "string" || typeof input.secret !== "string") return undefined;
  const custom = (s.customStatus ?? {}) as { step?: unknown; deferrals?: unknown };
  const output = s.output as RotationOutput | undefined;
  return {
    instanceId,
    rotationId: input.rotationId,
    plan: input.plan,
    secret: input.secret,
    status: statusOf(s.runtimeStatus),
    ...(ACTIVE.has(s.runtimeStatus) ? { progress: { ...(typeof custom.step === "string" ? { step: custom.step } : {}), ...(typeof custom.deferrals === "number" ? { deferrals: custom.deferrals } : {}) } } : {}),
    ...(output && typeof output === "object" && "outcome" in output ? { output } : {}),
  };
}

/**
 * How long a rotation start's reservation holds its secret while its instance is not visible (a start
 * in flight, or one that died between its reservation and its start): as a run's reservation.
 */
export const ROTATION_START_GRACE_MS = 5 * 60_000;

export interface RotationsOptions {
  readonly clock: () => Date;
  readonly timeScale?: number;
  /**
   * The plans' state documents: every start reserves its secret there first (one ETag-checked update),
   * because the Durable client alone cannot refuse a second start of one instance id (two racing
   * `startNew` calls can both be accepted with the Azure Storage backend). Absent: the host's refusal only.
   */
  readonly store?: Pick<PlanStateStore, "update">;
}

export class Rotations {
  constructor(
    private readonly host: RotationHost,
    private readonly runPlans: Pick<RunPlanStore, "put">,
    private readonly options: RotationsOptions = { clock: () => new Date() },
  ) {}

  async get(plan: string, secret: string): Promise<RotationView | undefined> {
    const instanceId = rotationInstanceId(plan, secret);
    const status = await this.host.status(instanceId);
    return status ? viewOf(instanceId, status) : undefined;
  }

  async start(plan: Plan, secret: string, trigger: RotationTrigger): Promise<RotationStart> {
    const instanceId = rotationInstanceId(plan.name, secret);
    const running = await this.get(plan.name, secret);
    if (running && (running.status === "pending" || running.status === "running")) return { outcome: "running", rotation: running };
    const now = this.options.clock();
    // A rotation's id has a run id's form (`{plan}.{stamp}.rotate-{hex}`): journals and snapshots take it as one.
    const rotationId = newRunId(plan.name, "rotate", now);
    const holder = await this.reserve(plan.name, secret, rotationId, running?.rotationId, now);
    if (holder !== undefined) return { outcome: "running", rotation: { instanceId, rotationId: holder, plan: plan.name, secret, status: "pending" } };
    const input: RotationInput = { rotationId, plan: plan.name, secret, trigger, ...(this.options.timeScale !== undefined ? { timeScale: this.options.timeScale } : {}) };
    try {
      await this.runPlans.put(rotationId, plan);
      await this.host.start(RotationOrchestrations.rotate, instanceId, input);
    } catch (error) {
      // Lost a race with another start of the same secret's rotation: that one runs.
      const now = await this.get(plan.name, secret).catch(() => undefined);
      if (now && (now.status === "pending" || now.status === "running")) return { outcome: now.rotationId === rotationId ? "started" : "running", rotation: now };
      // Nothing started: the secret is free again at once (a failed release lapses after the grace period).
      await this.release(plan.name, secret, rotationId).catch(() => undefined);
      throw error;
    }
    return { outcome: "started", rotation: { instanceId, rotationId, plan: plan.name, secret, status: "pending" } };
  }

  private async release(plan: string, secret: string, rotationId: string): Promise<void> {
    const key = secret.toLowerCase();
    await this.options.store?.update(plan, (state) => {
      const starts = startsOf(state.rotationStarts);
      if (starts?.[key]?.rotationId !== rotationId) return state;
      const { [key]: _released, ...rest } = starts;
      const { rotationStarts: _all, ...others } = state;
      return Object.keys(rest).length > 0 ? { ...others, rotationStarts: rest } : others;
    });
  }

  /**
   * Reserves the secret for `rotationId` in the plan's state, or names the start that holds it: one
   * reserved within the grace period whose instance is not the one visible (`visible`, finished).
   */
  private async reserve(plan: string, secret: string, rotationId: string, visible: string | undefined, now: Date): Promise<string | undefined> {
    const store = this.options.store;
    if (!store) return undefined;
    const key = secret.toLowerCase();
    let holder: string | undefined;
    await store.update(plan, (state) => {
      holder = undefined;
      const current = startsOf(state.rotationStarts)?.[key];
      const age = current ? now.getTime() - Date.parse(current.reservedAt) : Number.POSITIVE_INFINITY;
      if (current && current.rotationId !== visible && age < ROTATION_START_GRACE_MS && age > -ROTATION_START_GRACE_MS) {
        holder = current.rotationId;
        return state;
      }
      return { ...state, rotationStarts: { ...startsOf(state.rotationStarts), [key]: { rotationId, reservedAt: now.toISOString() } } };
    });
    return holder;
  }
}

/** The stored rotation start reservations by secret, checked (a malformed one counts as none). */
export function startsOf(raw: unknown): Record<string, RotationStartReservation> | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const kept = Object.entries(raw).filter(([, v]) => {
    const o = v as Partial<RotationStartReservation> | null;
    return typeof o === "object" && o !== null && typeof o.rotationId === "string" && typeof o.reservedAt === "string" && Number.isFinite(Date.parse(o.reservedAt));
  });
  return kept.length > 0 ? (Object.fromEntries(kept) as Record<string, RotationStartReservation>) : undefined;
}
