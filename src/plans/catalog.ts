import type { ContainerClient } from "@azure/storage-blob";
import { loadPlanFile, parsePlanText, PlanValidationError, type Plan } from "../core/plan/index.ts";

/** Where the plans live: files locally, a blob container in Azure. */
export interface PlanCatalog {
  get(name: string): Promise<Plan | undefined>;
  list(): Promise<Plan[]>;
}

export class StaticPlanCatalog implements PlanCatalog {
  private readonly plans: Map<string, Plan>;
  constructor(plans: readonly Plan[]) {
    this.plans = new Map(plans.map((p) => [p.name, p]));
  }
  static async fromFiles(files: readonly string[]): Promise<StaticPlanCatalog> {
    return new StaticPlanCatalog(await Promise.all(files.map((f) => loadPlanFile(f))));
  }
  async get(name: string) {
    return this.plans.get(name);
  }
  async list() {
    return [...this.plans.values()];
  }
}

/**
 * Plans as blobs (`*.yaml`, `*.yml`, `*.json`) in a container, validated on every read; a blob that
 * does not validate is skipped and reported through `onInvalid` (never used half-valid).
 */
export class BlobPlanCatalog implements PlanCatalog {
  private cached?: { at: number; plans: Promise<Plan[]> };

  /** Plans are read again at most every `ttlMs` (an alert storm must not download every plan per alert). */
  constructor(
    private readonly container: ContainerClient,
    private readonly onInvalid: (blob: string, error: PlanValidationError) => void = () => undefined,
    private readonly ttlMs = 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  async list(): Promise<Plan[]> {
    const now = this.clock();
    if (!this.cached || now - this.cached.at >= this.ttlMs) {
      const plans = this.readAll();
      this.cached = { at: now, plans };
      plans.catch(() => {
        if (this.cached?.plans === plans) this.cached = undefined;
      });
    }
    return this.cached.plans;
  }

  private async readAll(): Promise<Plan[]> {
    const plans: Plan[] = [];
    for await (const item of this.container.listBlobsFlat()) {
      if (!/\.(ya?ml|json)$/i.test(item.name)) continue;
      const text = (await this.container.getBlobClient(item.name).downloadToBuffer()).toString("utf8");
      try {
        plans.push(parsePlanText(text, item.name));
      } catch (error) {
        if (error instanceof PlanValidationError) this.onInvalid(item.name, error);
        else throw error;
      }
    }
    return plans;
  }

  async get(name: string): Promise<Plan | undefined> {
    return (await this.list()).find((p) => p.name === name);
  }
}
