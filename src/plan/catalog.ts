import type { ContainerClient } from "@azure/storage-blob";
import { settleEach } from "../core/concurrency.ts";
import { loadPlanFile, parsePlanText, PlanValidationError, type Plan } from "../core/plan/index.ts";

/** Logs a warning about the plans (a structured logger's `warn`). */
export type CatalogWarn = (message: string, fields?: Record<string, unknown>) => void;

const consoleWarn: CatalogWarn = (message) => console.warn(message);

/** Classic Front Doors (by ARM id, case-insensitively) that more than one plan switches, with those plans. */
export function sharedClassicFrontDoors(plans: readonly Plan[]): { frontDoor: string; plans: string[] }[] {
  const byId = new Map<string, { frontDoor: string; plans: Set<string> }>();
  for (const plan of plans) {
    for (const entry of plan.frontDoor.classic) {
      const id = entry.frontDoor.id;
      const found = byId.get(id.toLowerCase()) ?? { frontDoor: id, plans: new Set<string>() };
      found.plans.add(plan.name);
      byId.set(id.toLowerCase(), found);
    }
  }
  return [...byId.values()].filter((f) => f.plans.size > 1).map((f) => ({ frontDoor: f.frontDoor, plans: [...f.plans].sort() }));
}

/**
 * Warns once per set of sharing plans: a classic Front Door is written whole (a PUT with no ETag), so
 * plans that share one take its lease for each switch and switch one after the other.
 */
function sharedWarner(warn: CatalogWarn): (plans: readonly Plan[]) => void {
  let last = "";
  return (plans) => {
    const shared = sharedClassicFrontDoors(plans);
    const now = JSON.stringify(shared);
    if (now === last) return;
    last = now;
    for (const s of shared) {
      warn(`plans ${s.plans.join(", ")} share the classic Front Door ${s.frontDoor}: each switch takes the Front Door's lease, so concurrent runs switch it one after the other`, { frontDoor: s.frontDoor, plans: s.plans });
    }
  };
}

/** Where the plans live: files locally, a blob container in Azure. */
export interface PlanCatalog {
  get(name: string): Promise<Plan | undefined>;
  /** The plans: the same array until they change (never change it), so work derived from it can be kept per array. */
  list(): Promise<Plan[]>;
}

export class StaticPlanCatalog implements PlanCatalog {
  private readonly plans: Map<string, Plan>;
  /** The list every `list()` answers (one array, as the blob catalog answers one per refresh). */
  private readonly all: Plan[];
  /** `warn`: told when two plans share a classic Front Door. */
  constructor(plans: readonly Plan[], warn: CatalogWarn = consoleWarn) {
    this.plans = new Map(plans.map((p) => [p.name, p]));
    this.all = [...this.plans.values()];
    sharedWarner(warn)(this.all);
  }
  static async fromFiles(files: readonly string[], warn?: CatalogWarn): Promise<StaticPlanCatalog> {
    return new StaticPlanCatalog(await Promise.all(files.map((f) => loadPlanFile(f))), warn);
  }
  async get(name: string) {
    return this.plans.get(name);
  }
  async list() {
    return this.all;
  }
}

/** Plan blobs downloaded at once when several changed. */
const DOWNLOADS_AT_ONCE = 16;

/**
 * Plans as blobs (`*.yaml`, `*.yml`, `*.json`) in a container, validated when read; a blob that does
 * not validate is skipped and reported through `onInvalid` (never used half-valid) at every refresh.
 *
 * The list is refreshed at most every `ttlMs` (an alert storm must not download every plan per alert),
 * and a refresh costs one List Blobs request (5,000 blobs a page) plus a download of each blob whose
 * ETag changed since the last one, 16 at a time: with 200 unchanged plans the alert that meets an
 * expired list waits for one listing, not 200 downloads.
 */
export class BlobPlanCatalog implements PlanCatalog {
  private cached?: { at: number; plans: Promise<Plan[]> };
  private readonly warnShared: (plans: readonly Plan[]) => void;
  /** Every plan blob as last read: its ETag and its plan, or why it is invalid. */
  private known = new Map<string, { etag: string; plan: Plan } | { etag: string; invalid: PlanValidationError }>();

  /**
   * Plans are read again at most every `ttlMs`. `warn` is told when two plans share a classic Front
   * Door (once per change of who shares what).
   */
  constructor(
    private readonly container: ContainerClient,
    private readonly onInvalid: (blob: string, error: PlanValidationError) => void = () => undefined,
    private readonly ttlMs = 60_000,
    private readonly clock: () => number = Date.now,
    warn: CatalogWarn = consoleWarn,
  ) {
    this.warnShared = sharedWarner(warn);
  }

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
    const listed: { name: string; etag: string }[] = [];
    for await (const item of this.container.listBlobsFlat()) {
      if (/\.(ya?ml|json)$/i.test(item.name)) listed.push({ name: item.name, etag: item.properties.etag ?? "" });
    }
    const changed = listed.filter(({ name, etag }) => etag === "" || this.known.get(name)?.etag !== etag);
    const read = await settleEach(changed, DOWNLOADS_AT_ONCE, async ({ name, etag }) => {
      const text = (await this.container.getBlobClient(name).downloadToBuffer()).toString("utf8");
      try {
        return { name, etag, plan: parsePlanText(text, name) };
      } catch (error) {
        if (error instanceof PlanValidationError) return { name, etag, invalid: error };
        throw error;
      }
    });
    const failed = read.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const known = new Map(this.known);
    for (const r of read) if (r.status === "fulfilled") known.set(r.value.name, r.value);
    // Blobs no longer listed are forgotten; the plans in the listing's order.
    this.known = new Map(listed.map(({ name }) => [name, known.get(name)!]));
    const plans: Plan[] = [];
    for (const [name, entry] of this.known) {
      if ("plan" in entry) plans.push(entry.plan);
      else this.onInvalid(name, entry.invalid);
    }
    this.warnShared(plans);
    return plans;
  }

  async get(name: string): Promise<Plan | undefined> {
    return (await this.list()).find((p) => p.name === name);
  }
}
