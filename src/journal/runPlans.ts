import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { isObject } from "../core/guards.ts";
import type { Plan } from "../core/plan/index.ts";

/**
 * The plan each run was started with, kept once per run: the starter writes it before the run's
 * orchestration exists, and activities read it by run id (the orchestration's history carries only an
 * outline of the plan). A snapshot, not the catalog: a plan edited while a run is in flight does not
 * change that run.
 */
export interface RunPlanStore {
  /** Keeps the plan of `runId`; writing the same run again (a retried start) keeps the first. */
  put(runId: string, plan: Plan): Promise<void>;
  get(runId: string): Promise<Plan | undefined>;
}

/** Plans read lately, by run id (a snapshot never changes, so a read is kept until pushed out). */
class RecentPlans {
  private readonly items = new Map<string, Plan>();
  constructor(private readonly size = 64) {}
  get(runId: string): Plan | undefined {
    const plan = this.items.get(runId);
    if (plan) {
      this.items.delete(runId);
      this.items.set(runId, plan);
    }
    return plan;
  }
  set(runId: string, plan: Plan): void {
    this.items.delete(runId);
    this.items.set(runId, plan);
    if (this.items.size > this.size) this.items.delete(this.items.keys().next().value!);
  }
}

/**
 * Whether a stored snapshot has a plan's shape. It is the validated plan as JSON (ARM ids as their
 * parsed parts, which plan files do not accept), written by Switchyard itself: checked for its shape,
 * not parsed again as a plan file.
 */
function isStoredPlan(value: unknown): value is Plan {
  return (
    isObject(value) && typeof value.name === "string" && isObject(value.regions) && isObject(value.frontDoor) &&
    ["sql", "storage", "appService", "secrets"].every((k) => Array.isArray(value[k]))
  );
}

/** A stored snapshot back as a plan; `where` names what held it, for the error when it is not one. */
function revive(text: string, runId: string, where: string): Plan {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`the stored plan of run ${runId} (${where}) is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isStoredPlan(value)) throw new Error(`the stored plan of run ${runId} (${where}) is not a plan`);
  return value;
}

export class MemoryRunPlanStore implements RunPlanStore {
  private readonly items = new Map<string, string>();
  async put(runId: string, plan: Plan): Promise<void> {
    if (!this.items.has(runId)) this.items.set(runId, JSON.stringify(plan));
  }
  async get(runId: string): Promise<Plan | undefined> {
    const text = this.items.get(runId);
    return text === undefined ? undefined : revive(text, runId, "in memory");
  }
}

/**
 * Snapshots as blobs `runs/{runId}/plan.json` in a container (Switchyard's state container). Each
 * request carries the time budget of the work that makes it (an activity reading its run's plan).
 */
export class BlobRunPlanStore implements RunPlanStore {
  private created = false;
  private readonly recent = new RecentPlans();
  constructor(private readonly container: ContainerClient) {}

  private blob(runId: string) {
    return this.container.getBlockBlobClient(`runs/${encodeURIComponent(runId)}/plan.json`);
  }

  /**
   * Creates the container until a create has succeeded. Callers do not share a pending create: each
   * asks under its own budget (creating is idempotent), and a failed create leaves the next start to
   * try again.
   */
  private async ensure(): Promise<void> {
    if (this.created) return;
    await this.container.createIfNotExists(budgetOptions());
    this.created = true;
  }

  async put(runId: string, plan: Plan): Promise<void> {
    await this.ensure();
    const body = Buffer.from(JSON.stringify(plan));
    try {
      // Created once: a second start of the same run (a retry) finds it and keeps it.
      await this.blob(runId).upload(body, body.length, { conditions: { ifNoneMatch: "*" }, blobHTTPHeaders: { blobContentType: "application/json" }, ...budgetOptions() });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status !== 409 && status !== 412) throw error;
    }
  }

  async get(runId: string): Promise<Plan | undefined> {
    const known = this.recent.get(runId);
    if (known) return known;
    const blob = this.blob(runId);
    let body: Buffer;
    try {
      body = await blob.downloadToBuffer(0, undefined, budgetOptions());
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
    const plan = revive(body.toString("utf8"), runId, `blob ${blob.name} in container ${this.container.containerName}`);
    this.recent.set(runId, plan);
    return plan;
  }
}
