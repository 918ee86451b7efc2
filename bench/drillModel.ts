/**
 * The drill benchmark's model of a run (bench/drill.ts explains the method):
 *
 * - the **physical critical path** of each phase: the Azure operations the phase needs, as chains of
 *   requests, long-running operations and after-effects, every chain of a phase running in parallel
 *   (the phase takes its longest chain), priced with the Azure time profile (estate/profile.ts) —
 *   either Azure's own figures or the figures the estate applies at a time scale;
 * - the **Azure writes** the run should make, by operation id, for the model check.
 *
 * The model walks the drill as Azure would see it (what each site holds, which origin serves, which
 * SKU each account has), so the failback is modelled on what the failover left. It is written from
 * Azure's rules and the plan, not from Switchyard's code: where the two disagree, the model check says so.
 */
import { AZURE_PROFILE, scaleProfile, type EffectName } from "../estate/profile.ts";
import type { Plan } from "../src/core/plan/index.ts";

// ---- prices ---------------------------------------------------------------------------------------

/** What a term costs: Azure's own milliseconds, or the estate's milliseconds at a time scale. */
export interface Prices {
  readonly name: string;
  latency(operationId: string): number;
  operation(operationId: string): number;
  effect(effect: EffectName): number;
}

function lookup(table: Readonly<Record<string, number>>, key: string, what: string, fallback?: string): number {
  const value = table[key] ?? (fallback !== undefined ? table[fallback] : undefined);
  if (value === undefined) throw new Error(`estate/profile.ts has no ${what} for ${key}`);
  return value;
}

/** Azure's figures, as estate/profile.ts gives them. */
export function azurePrices(): Prices {
  const ms = <K extends string>(table: Readonly<Record<K, { ms: number }>>) => Object.fromEntries(Object.entries<{ ms: number }>(table).map(([k, v]) => [k, v.ms]));
  const latency = ms(AZURE_PROFILE.latency);
  const operations = ms(AZURE_PROFILE.operations);
  const effects = ms(AZURE_PROFILE.effects);
  return {
    name: "Azure",
    latency: (op) => lookup(latency, op, "request latency", "*"),
    operation: (op) => lookup(operations, op, "operation duration"),
    effect: (effect) => lookup(effects, effect, "effect duration"),
  };
}

/** The figures the estate applies at `scale` (scaleProfile: whole milliseconds, at least 1). */
export function localPrices(scale: number): Prices {
  const scaled = scaleProfile(AZURE_PROFILE, scale);
  return {
    name: `local at 1/${scale}`,
    latency: (op) => lookup(scaled.latencyMs, op, "request latency", "*"),
    operation: (op) => lookup(scaled.durationsMs, op, "operation duration"),
    effect: (effect) => lookup(scaled.effectsMs, effect, "effect duration"),
  };
}

// ---- chains ---------------------------------------------------------------------------------------

/** One link of a chain: a request's latency, a long-running operation's duration, or an after-effect. */
export type Term =
  | { readonly kind: "request"; readonly op: string; readonly note?: string }
  | { readonly kind: "operation"; readonly op: string }
  | { readonly kind: "effect"; readonly effect: EffectName };

/** Terms one after another; a `parallel` item is branches that run at once (it lasts its longest branch). */
export type Item = Term | { readonly parallel: readonly (readonly Term[])[] };

export interface Chain {
  readonly what: string;
  readonly items: readonly Item[];
}

export interface PhaseModel {
  readonly phase: string;
  /** Chains that run at once; none: the phase needs no Azure operation (its whole time is Switchyard's). */
  readonly chains: readonly Chain[];
}

const request = (op: string, note?: string): Term => ({ kind: "request", op, ...(note ? { note } : {}) });
const operation = (op: string): Term => ({ kind: "operation", op });
const effect = (name: EffectName): Term => ({ kind: "effect", effect: name });
/** The read that sees an operation or an effect has ended (any ARM read: the profile's `*` latency). */
const observe = (what: string) => request("*", what);

const termMs = (term: Term, prices: Prices): number =>
  term.kind === "request" ? prices.latency(term.op) : term.kind === "operation" ? prices.operation(term.op) : prices.effect(term.effect);
const itemMs = (item: Item, prices: Prices): number =>
  "parallel" in item ? Math.max(0, ...item.parallel.map((branch) => sum(branch.map((t) => termMs(t, prices))))) : termMs(item, prices);
export const chainMs = (chain: Chain, prices: Prices): number => sum(chain.items.map((item) => itemMs(item, prices)));

/** A phase's bound: its longest chain (0 when it needs no Azure operation). */
export function phaseBound(phase: PhaseModel, prices: Prices): { ms: number; critical?: Chain } {
  let critical: Chain | undefined;
  for (const chain of phase.chains) if (critical === undefined || chainMs(chain, prices) > chainMs(critical, prices)) critical = chain;
  return critical ? { ms: chainMs(critical, prices), critical } : { ms: 0 };
}

export function describeChain(chain: Chain, prices: Prices, format: (ms: number) => string): string {
  const term = (t: Term) =>
    t.kind === "request"
      ? `${t.op === "*" ? "read" : `${t.op} request`}${t.note ? ` (${t.note})` : ""} ${format(prices.latency(t.op))}`
      : t.kind === "operation"
        ? `${t.op} operation ${format(prices.operation(t.op))}`
        : `${t.effect} ${format(prices.effect(t.effect))}`;
  const item = (i: Item) => ("parallel" in i ? `(${i.parallel.map((b) => b.map(term).join(" → ")).join(" ‖ ")})` : term(i));
  return `${chain.what}: ${chain.items.map(item).join(" → ")}`;
}

// ---- what Azure holds as the drill goes ---------------------------------------------------------------

interface Serving {
  priority: number;
  enabled: boolean;
}

/** The resources as Azure holds them, per the estate's seed: the primary region serving everything. */
export interface AzureView {
  /** Per site id: the region whose values its settings hold. */
  readonly siteHolds: Map<string, string>;
  /** Per AFD origin group id / classic entry, per region: its origin's or backend's routing. */
  readonly routing: Map<string, Map<string, Serving>>;
  /** Per storage account id: SKU and primary region. */
  readonly storage: Map<string, { sku: string; primary: string }>;
}

export function initialView(plan: Plan): AzureView {
  const { primary } = plan.regions;
  const routing = new Map<string, Map<string, Serving>>();
  const seed = (key: string, regions: readonly string[]) =>
    routing.set(key, new Map(regions.map((r) => [r, { priority: r === primary.name ? 1 : 2, enabled: true }] as const)));
  plan.frontDoor.standard.forEach((g) => seed(routingKey("standard", g.originGroup.id), Object.keys(g.origins)));
  plan.frontDoor.classic.forEach((c, i) => seed(routingKey("classic", `${c.frontDoor.id}#${i}`), Object.keys(c.backends)));
  return {
    siteHolds: new Map(plan.appService.map((s) => [s.site.id.toLowerCase(), primary.name] as const)),
    routing,
    storage: new Map(plan.storage.map((s) => [s.account.id.toLowerCase(), { sku: s.sku, primary: primary.name }] as const)),
  };
}

const routingKey = (kind: "standard" | "classic", id: string) => `${kind}:${id.toLowerCase()}`;

// ---- storage redundancy, as Azure changes it ------------------------------------------------------

const zoneRedundant = (sku: string) => /ZRS$/i.test(sku);
const geoRedundant = (sku: string) => /GRS$|GZRS$/i.test(sku);
const readAccess = (sku: string) => /_RA/i.test(sku);
const standardSku = (zone: boolean, geo: boolean, ra: boolean) => `Standard_${geo ? `${ra ? "RA" : ""}${zone ? "GZRS" : "GRS"}` : zone ? "ZRS" : "LRS"}`;

// ---- the model of one run ---------------------------------------------------------------------------

export interface RunContext {
  readonly kind: "failover" | "failback";
  readonly from: string;
  readonly to: string;
  /** The region being left is down (data plane and control plane). */
  readonly fromDown: boolean;
}

export interface RunModel extends RunContext {
  /** Every step the run should take, in order, with its physical chains (approval excluded). */
  readonly phases: readonly PhaseModel[];
  /** The Azure writes the run should make, by operation id (storage failovers by type). */
  readonly writes: ReadonlyMap<string, number>;
  /** Front Door changes per scope (AFD profile, classic Front Door): Azure deploys them one after another. */
  readonly frontDoorChanges: ReadonlyMap<string, number>;
}

/** Where the estate's request log records a storage failover: by type, as the request's query says. */
export function writeKey(operationId: string, query: string): string {
  if (operationId === "StorageAccounts_Failover") return `${operationId} (${/failoverType=Planned/i.test(query) ? "Planned" : "Unplanned"})`;
  return operationId;
}

/**
 * The model of one run of the drill, given what Azure holds (`view`, updated to what the run leaves).
 * The drill's scenario: the failover leaves a region that is down, and the data-loss failover it then
 * needs is approved at once; the failback runs with both regions up (planned only).
 */
export function modelRun(plan: Plan, view: AzureView, context: RunContext): RunModel {
  const { kind, from, to, fromDown } = context;
  const writes = new Map<string, number>();
  const wrote = (op: string, n = 1) => n > 0 && writes.set(op, (writes.get(op) ?? 0) + n);
  const frontDoorChanges = new Map<string, number>();
  const phases: PhaseModel[] = [];
  const home = plan.regions.primary.name;

  if (kind === "failback") {
    // Re-protection: an account a failover left without geo-redundancy gets it back by one SKU update
    // (Azure changes geo- and zone-redundancy one at a time, geo by update); Azure then makes the first
    // copy to the secondary (effects.storageInitialGeoSync) before it can fail over again.
    const chains: Chain[] = [];
    for (const spec of plan.storage) {
      const account = view.storage.get(spec.account.id.toLowerCase())!;
      if (!geoRedundant(account.sku)) {
        account.sku = standardSku(zoneRedundant(account.sku), true, readAccess(spec.sku));
        wrote("StorageAccounts_Update");
        chains.push({ what: `storage ${spec.account.name}`, items: [request("StorageAccounts_Update", `→ ${account.sku}`), effect("storageInitialGeoSync"), observe("geo-replication Live")] });
      } else if (readAccess(account.sku) !== readAccess(spec.sku)) {
        account.sku = standardSku(zoneRedundant(account.sku), true, readAccess(spec.sku));
        wrote("StorageAccounts_Update");
        chains.push({ what: `storage ${spec.account.name}`, items: [request("StorageAccounts_Update", `→ ${account.sku}`)] });
      }
    }
    phases.push({ phase: "reprotect", chains }, { phase: "check-reprotection", chains: [] });
  }

  // Switchyard's own checks: health probes (the application's endpoints, not Azure operations) and the
  // replication reads of the RPO gate. Nothing physical requires them: their time is Switchyard's.
  phases.push({ phase: "assess", chains: [] }, { phase: "measure", chains: [] });

  // Data tier: every SQL group and account at once. With the primary down the drill approves data loss,
  // so SQL is sent tryPlannedBeforeForcedFailover and storage fails over unplanned (Azure leaves it LRS).
  {
    const allowDataLoss = fromDown;
    const sqlOp = allowDataLoss ? "FailoverGroups_TryPlannedBeforeForcedFailover" : "FailoverGroups_Failover";
    const chains: Chain[] = plan.sql.map((g) => {
      wrote(sqlOp);
      return { what: `SQL ${g.failoverGroup.name}`, items: [request(sqlOp), operation(sqlOp), observe("operation status")] };
    });
    for (const spec of plan.storage) {
      const account = view.storage.get(spec.account.id.toLowerCase())!;
      if (account.primary === to) continue;
      wrote(writeKey("StorageAccounts_Failover", fromDown ? "" : "failoverType=Planned"));
      chains.push({ what: `storage ${spec.account.name} (${fromDown ? "unplanned" : "planned"})`, items: [request("StorageAccounts_Failover"), operation("StorageAccounts_Failover"), observe("operation status")] });
      account.primary = to;
      if (fromDown) account.sku = standardSku(false, false, false); // Azure's REST reference: an unplanned failover converts the account to LRS
    }
    phases.push({ phase: "data-tier", chains });
  }

  // Settings: each site whose values differ, both lists and writes at once; a write restarts the app.
  // Sites in the target region are written before traffic (their restart holds traffic back); sites in
  // the other region after it (standby-settings), when their restart reaches no user. A site in a region
  // that is down is left alone.
  const siteChains = (inTarget: boolean): Chain[] => {
    const chains: Chain[] = [];
    for (const spec of plan.appService) {
      if ((spec.region === to) !== inTarget) continue;
      const id = spec.site.id.toLowerCase();
      if (fromDown && spec.region === from && (spec.appSettings.length > 0 || spec.connectionStrings.length > 0)) continue;
      const holds = view.siteHolds.get(id) ?? home;
      const differs = (settings: readonly { values: Readonly<Record<string, string>> }[]) => settings.some((s) => s.values[holds] !== s.values[to]);
      const branches: Term[][] = [];
      if (spec.appSettings.length > 0 && differs(spec.appSettings)) {
        wrote("WebApps_UpdateApplicationSettings");
        branches.push([request("WebApps_ListApplicationSettings", "a PUT replaces the whole set"), request("WebApps_UpdateApplicationSettings")]);
      }
      if (spec.connectionStrings.length > 0 && differs(spec.connectionStrings)) {
        wrote("WebApps_UpdateConnectionStrings");
        branches.push([request("WebApps_ListConnectionStrings", "a PUT replaces the whole set"), request("WebApps_UpdateConnectionStrings")]);
      }
      view.siteHolds.set(id, to);
      if (branches.length === 0) continue;
      chains.push({ what: `site ${spec.site.name}${inTarget ? "" : ` (restarts in ${spec.region}, after traffic has left it)`}`, items: [{ parallel: branches }, ...(inTarget ? [effect("appRestart")] : [])] });
    }
    return chains;
  };
  if (plan.appService.some((a) => a.region === to)) phases.push({ phase: "settings", chains: siteChains(true) });

  // Traffic: the target's origin/backend first (priority 1, enabled), the other standby (priority 2;
  // disabled when its region is down). One ARM operation per changed origin, all at once; a classic Front
  // Door is one PUT however many of its pools change. Propagation to the edge follows (verify).
  {
    const chains: Chain[] = [];
    const want = (region: string): Serving => (region === to ? { priority: 1, enabled: true } : { priority: 2, enabled: !fromDown });
    const change = (key: string) => {
      const current = view.routing.get(key)!;
      let changed = 0;
      for (const [region, serving] of current) {
        const target = want(region);
        if (serving.priority !== target.priority || serving.enabled !== target.enabled) changed++;
        current.set(region, target);
      }
      return changed;
    };
    for (const g of plan.frontDoor.standard) {
      const n = change(routingKey("standard", g.originGroup.id));
      if (n === 0) continue;
      wrote("AFDOrigins_Update", n);
      const scope = `AFD profile ${g.originGroup.names[0]}`;
      frontDoorChanges.set(scope, (frontDoorChanges.get(scope) ?? 0) + n);
      chains.push({ what: `AFD ${g.originGroup.names[0]}/${g.originGroup.name} (${n} origin(s) at once)`, items: [request("AFDOrigins_Update"), operation("AFDOrigins_Update"), observe("operation status")] });
    }
    const classic = new Map<string, { name: string; puts: number }>();
    plan.frontDoor.classic.forEach((c, i) => {
      if (change(routingKey("classic", `${c.frontDoor.id}#${i}`)) === 0) return;
      const entry = classic.get(c.frontDoor.id.toLowerCase()) ?? { name: c.frontDoor.name, puts: 0 };
      entry.puts++;
      classic.set(c.frontDoor.id.toLowerCase(), entry);
    });
    for (const { name, puts } of classic.values()) {
      wrote("FrontDoors_CreateOrUpdate", puts);
      frontDoorChanges.set(`Front Door (classic) ${name}`, puts);
      chains.push({ what: `Front Door (classic) ${name}`, items: [request("*", "GET: the PUT carries the whole Front Door"), request("FrontDoors_CreateOrUpdate"), operation("FrontDoors_CreateOrUpdate"), observe("operation status")] });
    }
    phases.push({ phase: "traffic", chains });
  }

  if (plan.appService.some((a) => a.region !== to)) phases.push({ phase: "standby-settings", chains: siteChains(false) });

  // Verify: the changes reach the edge (one propagation, from the end of the ARM operations), then one read.
  phases.push({
    phase: "verify",
    chains: [frontDoorChanges.size > 0 ? { what: "Front Door edge", items: [effect("frontDoorPropagation"), observe("deployment status")] } : { what: "one read", items: [observe("state")] }],
  });

  if (kind === "failback" && plan.storage.length > 0) {
    // Zone redundancy comes back by a customer-initiated migration, possible once the account is home.
    // The run starts it and does not wait (Azure takes days).
    const chains: Chain[] = [];
    for (const spec of plan.storage) {
      const account = view.storage.get(spec.account.id.toLowerCase())!;
      if (account.primary !== home || zoneRedundant(account.sku) === zoneRedundant(spec.sku)) continue;
      wrote("StorageAccounts_CustomerInitiatedMigration");
      chains.push({ what: `storage ${spec.account.name} → ${spec.sku}`, items: [request("StorageAccounts_CustomerInitiatedMigration", "started, not awaited")] });
    }
    phases.push({ phase: "restore-redundancy", chains });
  }
  return { ...context, phases, writes, frontDoorChanges };
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
