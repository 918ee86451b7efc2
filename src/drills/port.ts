/**
 * Starting and reading planned drills: one durable instance per plan (drillInstanceId), so one drill
 * per plan at a time, and the scheduledDrill timer's pass over every plan (one instance of it at a
 * time). A start while the plan's drill runs answers with the running one instead of starting another.
 * The plan is kept under the drill's id before the instance starts; its activities read it there.
 */
import type { Plan } from "../core/plan/index.ts";
import { newRunId } from "../core/run/model.ts";
import {
  DrillOrchestrations,
  drillInstanceId,
  SCHEDULED_DRILLS_INSTANCE,
  type DrillStatus,
  type DrillTrigger,
  type PlannedDrillInput,
  type PlannedDrillOutput,
  type ScheduledDrillsInput,
  type ScheduledDrillsOutput,
} from "../core/drill/model.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";

/** The durable operations the drill port needs (the Durable client in Azure, the local host locally). */
export interface DrillHost {
  status(instanceId: string): Promise<{ readonly runtimeStatus: string; readonly input?: unknown; readonly output?: unknown; readonly customStatus?: unknown } | undefined>;
  /** Starts the instance; rejects when one with the id is pending or running. */
  start(orchestration: string, instanceId: string, input: unknown): Promise<void>;
}

export interface DrillView {
  readonly instanceId: string;
  readonly drillId: string;
  readonly plan: string;
  readonly status: "pending" | "running" | "completed" | "failed" | "terminated";
  /** Where it stands while it runs (its phase, run, step). */
  readonly progress?: Omit<DrillStatus, "kind" | "drillId" | "plan">;
  readonly output?: PlannedDrillOutput;
}

export interface DrillStart {
  /** `started`: a new drill; `running`: the plan's drill already under way (this one was not started). */
  readonly outcome: "started" | "running";
  readonly drill: DrillView;
}

export interface ScheduledStart {
  readonly outcome: "started" | "running";
  readonly passId: string;
  /** The plans the pass drills, in order (when started). */
  readonly plans: readonly string[];
}

const ACTIVE = new Set(["Pending", "Running", "ContinuedAsNew", "Suspended"]);

function statusOf(runtime: string): DrillView["status"] {
  if (runtime === "Pending") return "pending";
  if (ACTIVE.has(runtime)) return "running";
  if (runtime === "Completed") return "completed";
  if (runtime === "Terminated" || runtime === "Canceled") return "terminated";
  return "failed";
}

function viewOf(instanceId: string, s: { runtimeStatus: string; input?: unknown; output?: unknown; customStatus?: unknown }): DrillView | undefined {
  const input = s.input as Partial<PlannedDrillInput> | undefined;
  if (!input || typeof input.drillId !== "string" || typeof input.plan !== "string") return undefined;
  const custom = (s.customStatus ?? {}) as Partial<DrillStatus>;
  const output = s.output as PlannedDrillOutput | undefined;
  const progress = {
    ...(typeof custom.phase === "string" ? { phase: custom.phase } : { phase: "starting" as const }),
    ...(typeof custom.runId === "string" ? { runId: custom.runId } : {}),
    ...(typeof custom.step === "string" ? { step: custom.step } : {}),
    ...(typeof custom.waitingFor === "string" ? { waitingFor: custom.waitingFor } : {}),
  };
  return {
    instanceId,
    drillId: input.drillId,
    plan: input.plan,
    status: statusOf(s.runtimeStatus),
    ...(ACTIVE.has(s.runtimeStatus) ? { progress } : {}),
    ...(output && typeof output === "object" && "outcome" in output ? { output } : {}),
  };
}

export interface DrillsOptions {
  readonly clock: () => Date;
  /** Local drills at a time scale (given to every drill started here). */
  readonly timeScale?: number;
}

export class Drills {
  constructor(
    private readonly host: DrillHost,
    private readonly runPlans: Pick<RunPlanStore, "put">,
    private readonly options: DrillsOptions = { clock: () => new Date() },
  ) {}

  /** The plan's drill as its instance shows it (the latest, running or finished). */
  async get(plan: string): Promise<DrillView | undefined> {
    const instanceId = drillInstanceId(plan);
    const status = await this.host.status(instanceId);
    return status ? viewOf(instanceId, status) : undefined;
  }

  /** A drill's input, with the plan kept under its id (the drill's activities read it there). */
  async prepare(plan: Plan, trigger: DrillTrigger): Promise<PlannedDrillInput> {
    // A drill's id has a run id's form (`{plan}.{stamp}.drill-{hex}`): its runs' ids derive from it.
    const drillId = newRunId(plan.name, "drill", this.options.clock());
    await this.runPlans.put(drillId, plan);
    return { drillId, plan: plan.name, trigger, ...(this.options.timeScale !== undefined && this.options.timeScale !== 1 ? { timeScale: this.options.timeScale } : {}) };
  }

  /** Starts the plan's planned drill, unless one is under way (then that one is answered). */
  async start(plan: Plan, trigger: DrillTrigger): Promise<DrillStart> {
    const instanceId = drillInstanceId(plan.name);
    const running = await this.get(plan.name);
    if (running && (running.status === "pending" || running.status === "running")) return { outcome: "running", drill: running };
    const input = await this.prepare(plan, trigger);
    try {
      await this.host.start(DrillOrchestrations.planned, instanceId, input);
    } catch (error) {
      // Lost a race with another start of the plan's drill: that one runs.
      const now = await this.get(plan.name).catch(() => undefined);
      if (now && (now.status === "pending" || now.status === "running")) return { outcome: now.drillId === input.drillId ? "started" : "running", drill: now };
      throw error;
    }
    return { outcome: "started", drill: { instanceId, drillId: input.drillId, plan: plan.name, status: "pending" } };
  }

  /**
   * The scheduledDrill timer's pass: every plan given, one at a time, in one orchestration. While an
   * earlier pass is still drilling, nothing is started (it is answered `running`).
   */
  async startScheduled(plans: readonly Plan[], trigger: DrillTrigger): Promise<ScheduledStart> {
    const current = await this.host.status(SCHEDULED_DRILLS_INSTANCE);
    const currentInput = current?.input as Partial<ScheduledDrillsInput> | undefined;
    if (current && ACTIVE.has(current.runtimeStatus)) return { outcome: "running", passId: typeof currentInput?.passId === "string" ? currentInput.passId : "unknown", plans: (currentInput?.drills ?? []).map((d) => d.plan) };
    const passId = `drills.${this.options.clock().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}`;
    const drills: PlannedDrillInput[] = [];
    for (const plan of plans) drills.push(await this.prepare(plan, trigger));
    await this.host.start(DrillOrchestrations.scheduled, SCHEDULED_DRILLS_INSTANCE, { passId, drills } satisfies ScheduledDrillsInput);
    return { outcome: "started", passId, plans: drills.map((d) => d.plan) };
  }

  /** The scheduled pass as its instance shows it: its id, status and (when done) each plan's outcome. */
  async getScheduled(): Promise<{ readonly passId: string; readonly status: DrillView["status"]; readonly output?: ScheduledDrillsOutput } | undefined> {
    const s = await this.host.status(SCHEDULED_DRILLS_INSTANCE);
    const input = s?.input as Partial<ScheduledDrillsInput> | undefined;
    if (!s || typeof input?.passId !== "string") return undefined;
    return { passId: input.passId, status: statusOf(s.runtimeStatus), ...(s.output !== undefined && s.output !== null ? { output: s.output as ScheduledDrillsOutput } : {}) };
  }
}
