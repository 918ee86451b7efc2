import type { ContainerClient } from "@azure/storage-blob";
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
 * A stored snapshot back as a plan. It is the validated plan as JSON (ARM ids as their parsed parts,
 * which plan files do not accept), written by Switchyard itself: checked for its shape, not parsed
 * again as a plan file.
 */
function revive(text: string, runId: string): Plan {
  const value: unknown = JSON.parse(text);
  const v = value as Record<string, unknown> | null;
  const shaped =
    typeof v === "object" && v !== null && typeof v.name === "string" && typeof v.regions === "object" && v.regions !== null &&
    ["sql", "storage", "appService", "secrets"].every((k) => Array.isArray(v[k])) && typeof v.frontDoor === "object" && v.frontDoor !== null;
  if (!shaped) throw new Error(`the stored plan of run ${runId} is not a plan`);
  return value as Plan;
}

export class MemoryRunPlanStore implements RunPlanStore {
  private readonly items = new Map<string, string>();
  async put(runId: string, plan: Plan): Promise<void> {
    if (!this.items.has(runId)) this.items.set(runId, JSON.stringify(plan));
  }
  async get(runId: string): Promise<Plan | undefined> {
    const text = this.items.get(runId);
    return text === undefined ? undefined : revive(text, runId);
  }
}

/** Snapshots as blobs `runs/{runId}/plan.json` in a container (Switchyard's state container). */
export class BlobRunPlanStore implements RunPlanStore {
  private ready?: Promise<unknown>;
  private readonly recent = new RecentPlans();
  constructor(private readonly container: ContainerClient) {}

  private blob(runId: string) {
    return this.container.getBlockBlobClient(`runs/${encodeURIComponent(runId)}/plan.json`);
  }

  async put(runId: string, plan: Plan): Promise<void> {
    // A failed create is not remembered: the next start tries again.
    this.ready ??= this.container.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const body = Buffer.from(JSON.stringify(plan));
    try {
      // Created once: a second start of the same run (a retry) finds it and keeps it.
      await this.blob(runId).upload(body, body.length, { conditions: { ifNoneMatch: "*" }, blobHTTPHeaders: { blobContentType: "application/json" } });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 409 && status !== 412) throw error;
    }
  }

  async get(runId: string): Promise<Plan | undefined> {
    const known = this.recent.get(runId);
    if (known) return known;
    try {
      const body = await this.blob(runId).downloadToBuffer();
      const plan = revive(body.toString("utf8"), runId);
      this.recent.set(runId, plan);
      return plan;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }
}
