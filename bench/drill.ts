/**
 * Benchmark: full DR drills (runDrill: the local estate, Azurite, the local durable host, the real
 * orchestration and activities) under a latency profile per Azure operation, scaled down from
 * real-world figures. For each phase of each run it compares the measured time with a critical-path
 * lower bound: the longest chain of Azure operations the phase cannot overlap, priced with the same
 * profile. `overhead` = measured ÷ lower bound (1.00 would mean Switchyard adds nothing to what Azure
 * itself takes). A measurement, not a test: nothing here fails on a number.
 *
 *   BENCH_DRILLS  drills per variant (default 3): each variant is run that many times,
 *                 failover only, then failover + failback
 *   BENCH_SCALE   the profile's scale-down divisor (default 250: real 1 h → 14.4 s)
 *   BENCH_PLAN    plan file (default examples/contoso.plan.yaml)
 *
 * Scenario: the primary region is down (health endpoints refuse connections), so the data-loss gate
 * asks for approval; the drill approves at once, as the operator would. The approval wait is human
 * time and is left out of both the measured time and the lower bound.
 *
 * ── Latency profile ──────────────────────────────────────────────────────────────────────────────
 * Scaled = real ÷ BENCH_SCALE, whole milliseconds (the estate's unit), at least 1 ms. At 1/250:
 *
 * | operation id                               | real            | 1/250    | source                                                         |
 * | ------------------------------------------ | --------------- | -------- | -------------------------------------------------------------- |
 * | request latency, every ARM call (`*`):     | 250 ms          | 1 ms     | assumption (no published per-call ARM latency)                  |
 * |   reads, lists, LRO status polls           |                 |          |                                                                |
 * | request latency, write accepted (202):     | 500 ms          | 2 ms     | assumption                                                     |
 * |   FailoverGroups_Failover, _ForceFailover… |                 |          |                                                                |
 * |   StorageAccounts_Failover, AFDOrigins_    |                 |          |                                                                |
 * |   Update, FrontDoors_CreateOrUpdate        |                 |          |                                                                |
 * | request latency, synchronous writes:       | 1 s             | 4 ms     | assumption                                                     |
 * |   StorageAccounts_Update (SKU), WebApps_   |                 |          |                                                                |
 * |   Update{ApplicationSettings,Connection…}  |                 |          |                                                                |
 * | FailoverGroups_Failover (planned) — LRO    | 60 s            | 240 ms   | assumption: "typically under a minute" (the roles swap after a |
 * |                                            |                 |          | full sync); with the primary down it ends Failed at completion |
 * | FailoverGroups_ForceFailoverAllowData-     | 30 s            | 120 ms   | MicrosoftDocs/sql-docs, azure-sql/database/business-continuity-|
 * |   Loss — LRO                               |                 |          | high-availability-disaster-recover-hadr-overview.md: manual    |
 * |                                            |                 |          | (unplanned) database failover RTO 30 s                         |
 * | StorageAccounts_Failover — LRO, unplanned  | 1 h             | 14 400 ms| MicrosoftDocs/azure-docs, articles/storage/common/storage-     |
 * |   and planned (`failoverType=Planned`)     |                 |          | disaster-recovery-guidance.md ("typically takes about an hour")|
 * |                                            |                 |          | and storage-failover-customer-managed-planned.md (planned      |
 * |                                            |                 |          | failover and failback: "typically takes about an hour")        |
 * | AFDOrigins_Update — LRO                    | 5 min           | 1 200 ms | azure-docs articles/frontdoor/front-door-faq.md: updates reach |
 * | FrontDoors_CreateOrUpdate — LRO            | 5 min           | 1 200 ms | every POP in "about 3 to 5 minutes" (upper end taken; whether  |
 * |                                            |                 |          | the ARM operation ends before global propagation is an         |
 * |                                            |                 |          | assumption)                                                    |
 * | poll interval (deps.pollIntervalMs)        | 5 s             | 20 ms    | src/app/composition.ts (the estate sends Retry-After: 0, so    |
 * |                                            |                 |          | the SDKs poll at this interval)                                |
 *
 * Applied to the estate as LRO durations (`timing.durations`) and as latency faults: one for `*` (every
 * ARM request, status polls included) and one per write operation adding the difference (the estate
 * sums the latency faults that match a request). Health endpoints (the application's own, probed by
 * assess/verify) have no latency: they are not Azure operations.
 *
 * ── Lower bound ──────────────────────────────────────────────────────────────────────────────────
 * CHAINS (below) lists, per run kind and phase, the Azure calls each activity makes, in order, as
 * read from its code (src/activities/*.ts) and the SDKs' long-running-operation protocol. A phase's
 * bound is the longest chain among the resources it handles at once; a run's bound is the sum over
 * its phases. A request costs its latency; a long-running operation costs the latency of the request
 * that starts it plus its duration (a poll can land exactly when it is due: polling itself is not in
 * the bound). Everything Switchyard does besides (durable host episodes persisting the instance to
 * Azurite, journal appends and reads, poll granularity, local HTTPS) is overhead by definition.
 * Each run's Azure requests, as logged by the estate, are checked against the chains (the "model
 * check" line): a mismatch means an activity changed and the table needs updating.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadPlanFile, type Plan } from "../src/core/plan/index.ts";
import type { RunOutput } from "../src/core/run/model.ts";
import { BlobJournal } from "../src/journal/blobJournal.ts";
import { runDrill, type DrillResult } from "../src/local/drill.ts";
import { LocalDurableHost } from "../src/local/durableHost.ts";
import { BlobInstanceStore } from "../src/local/instanceStore.ts";
import type { Scenario } from "../estate/scenario.ts";
import { Estate, type LoggedRequest } from "../estate/server.ts";

const DRILLS = positive(process.env.BENCH_DRILLS, 3);
const SCALE = positive(process.env.BENCH_SCALE, 250);
const PLAN_FILE = process.env.BENCH_PLAN ? resolve(process.env.BENCH_PLAN) : fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url));

// ---- the profile ---------------------------------------------------------------------------------

/** Real-world request latency per operation id (ms); `*` for every ARM request not listed. */
const REAL_LATENCY_MS: Readonly<Record<string, number>> = {
  "*": 250,
  FailoverGroups_Failover: 500,
  FailoverGroups_ForceFailoverAllowDataLoss: 500,
  StorageAccounts_Failover: 500,
  AFDOrigins_Update: 500,
  FrontDoors_CreateOrUpdate: 500,
  StorageAccounts_Update: 1_000,
  WebApps_UpdateApplicationSettings: 1_000,
  WebApps_UpdateConnectionStrings: 1_000,
};

/** Real-world duration of each long-running operation (ms), from its 202 to its end. */
const REAL_DURATION_MS: Readonly<Record<string, number>> = {
  FailoverGroups_Failover: 60_000,
  FailoverGroups_ForceFailoverAllowDataLoss: 30_000,
  StorageAccounts_Failover: 3_600_000,
  AFDOrigins_Update: 300_000,
  FrontDoors_CreateOrUpdate: 300_000,
};

/** Switchyard's interval between polls of a long-running operation in Azure (src/app/composition.ts). */
const REAL_POLL_INTERVAL_MS = 5_000;

const scaled = (realMs: number) => (realMs <= 0 ? 0 : Math.max(1, Math.round(realMs / SCALE)));
const latencyMs = (op: string) => scaled(REAL_LATENCY_MS[op] ?? REAL_LATENCY_MS["*"]!);
const durationMs = (op: string) => scaled(REAL_DURATION_MS[op] ?? 0);
const POLL_INTERVAL_MS = scaled(REAL_POLL_INTERVAL_MS);

/** The profile as estate settings: LRO durations, and latency faults (`*` plus each write's extra). */
function profileScenario(plan: Plan): Scenario {
  const base = latencyMs("*");
  return {
    regions: { [plan.regions.primary.name]: { down: true, healthWhenDown: "refused" } },
    timing: { durations: { default: 0, ...Object.fromEntries(Object.keys(REAL_DURATION_MS).map((op) => [op, durationMs(op)])) }, retryAfterSeconds: 0 },
    faults: [
      { kind: "latency", operationId: "*", ms: base },
      ...Object.keys(REAL_LATENCY_MS)
        .filter((op) => op !== "*" && latencyMs(op) > base)
        .map((op) => ({ kind: "latency" as const, operationId: op, ms: latencyMs(op) - base })),
    ],
  };
}

// ---- the chains ----------------------------------------------------------------------------------

/** One Azure call: a request, or a long-running operation (its starting request, then its duration). */
interface Call {
  readonly op: string;
  readonly lro?: true;
  readonly note?: string;
}
/** A chain item: a call, or branches that run at the same time (the item costs the longest). */
type Item = Call | { readonly parallel: readonly (readonly Call[])[] };
/** What one activity asks of Azure for one resource, in order: each item waits for the one before. */
interface Chain {
  readonly what: string;
  readonly items: readonly Item[];
}

const req = (op: string, note?: string): Call => ({ op, ...(note ? { note } : {}) });
const lro = (op: string, note?: string): Call => ({ op, lro: true, ...(note ? { note } : {}) });

type Kind = "failover" | "failback";

/** What a phase's chains depend on: the plan, the direction, and what earlier runs of the drill changed. */
interface ChainContext {
  readonly plan: Plan;
  readonly from: string;
  readonly to: string;
  /** The region being left is down: switches take it out (`disableOther`), checks skip sites in it. */
  readonly fromDown: boolean;
  /** Per site id: the region whose setting values the site holds now. */
  readonly siteValues: Map<string, string>;
}

const SQL_GET = req("FailoverGroups_Get");
const STORAGE_GET = req("StorageAccounts_GetProperties");

/**
 * CHAINS[kind][phase](context) → the chains of that phase, one per resource (or check).
 * Sources: src/activities/<file>.ts, function named in each comment.
 */
const CHAINS: Record<Kind, Record<string, (c: ChainContext) => Chain[]>> = {
  failover: {
    assess: () => [], // health.ts assessRegions: probes the application's endpoints only
    measure: measureChains,
    "data-tier": dataTierChains,
    "traffic-and-settings": trafficChains,
    verify: verifyChains,
  },
  failback: {
    // storage.ts reprotectStorageAccount: GET the account, then PATCH its SKU back to geo-redundant
    // (synchronous) — the unplanned failover left it LRS.
    reprotect: ({ plan }) => plan.storage.map((s) => ({ what: `storage ${s.account.name}`, items: [STORAGE_GET, req("StorageAccounts_Update", "sku back to geo-redundant")] })),
    // verify.ts checkReprotection: per account GET, then GET ?$expand=geoReplicationStats; per group a
    // GET; all at once. (One round: the estate re-protects at once, so the first check passes.)
    "check-reprotection": ({ plan }) => [
      ...plan.storage.map((s) => ({ what: `storage ${s.account.name}`, items: [STORAGE_GET, req("StorageAccounts_GetProperties", "$expand=geoReplicationStats")] })),
      ...plan.sql.map((g) => ({ what: `sql ${g.failoverGroup.name}`, items: [SQL_GET] })),
    ],
    assess: () => [],
    measure: measureChains,
    "data-tier": dataTierChains,
    "traffic-and-settings": trafficChains,
    verify: verifyChains,
  },
};

/** replication.ts measureReplication: every group and account read at once (the account with its geo statistics). */
function measureChains({ plan }: ChainContext): Chain[] {
  return [
    ...plan.sql.map((g) => ({ what: `sql ${g.failoverGroup.name}`, items: [SQL_GET] })),
    ...plan.storage.map((s) => ({ what: `storage ${s.account.name}`, items: [req("StorageAccounts_GetProperties", "$expand=geoReplicationStats")] })),
  ];
}

/** Every SQL group and storage account at once (run.ts data-tier: one callAll). */
function dataTierChains({ plan, fromDown }: ChainContext): Chain[] {
  // sql.ts failoverSqlGroup: GET the group on the target server (Secondary there), then a planned
  // failover. Primary down: it ends Failed at completion (FailoverGroupPartnerUnavailable), so the
  // forced failover follows (approved). arm-sql's poller reads the Location URL once the
  // Azure-AsyncOperation status says Succeeded (not after a failure).
  const sql = plan.sql.map((g) => ({
    what: `sql ${g.failoverGroup.name}`,
    items: fromDown
      ? [SQL_GET, lro("FailoverGroups_Failover", "ends Failed: partner unreachable"), lro("FailoverGroups_ForceFailoverAllowDataLoss"), req("Operations_GetStatus", "final GET of the Location URL")]
      : [SQL_GET, lro("FailoverGroups_Failover"), req("Operations_GetStatus", "final GET of the Location URL")],
  }));
  // storage.ts failoverStorageAccount: GET with geo statistics, then one failover — unplanned when
  // canPlannedFailover is false (primary down), planned otherwise. Location-only polling: the last
  // poll carries the result, no further GET.
  const storage = plan.storage.map((s) => ({
    what: `storage ${s.account.name}`,
    items: [req("StorageAccounts_GetProperties", "$expand=geoReplicationStats"), lro("StorageAccounts_Failover", fromDown ? "unplanned" : "failoverType=Planned")],
  }));
  return [...sql, ...storage];
}

/** Every Front Door and site at once (run.ts traffic-and-settings: one callAll). */
function trafficChains(c: ChainContext): Chain[] {
  const { plan } = c;
  // frontdoor.ts switchFrontDoorStandard: list the group's origins, then PATCH each origin that differs,
  // one after another, the target's first; core-lro GETs the origin when the operation succeeded. In a
  // two-region switch every origin differs (the priorities swap).
  const standard = plan.frontDoor.standard.map((g) => ({
    what: `AFD ${g.originGroup.names[0]}/${g.originGroup.name}`,
    items: [req("AFDOrigins_ListByOriginGroup"), ...Object.keys(g.origins).flatMap(() => [lro("AFDOrigins_Update"), req("AFDOrigins_Get", "final GET")])],
  }));
  // frontdoor.ts switchFrontDoorClassic: GET the Front Door, PUT it whole (long-running), final GET.
  const classic = plan.frontDoor.classic.map((f) => ({
    what: `Front Door ${f.frontDoor.name}`,
    items: [req("FrontDoors_Get"), lro("FrontDoors_CreateOrUpdate"), req("FrontDoors_Get", "final GET")],
  }));
  return [...standard, ...classic, ...plan.appService.map((site) => appServiceSwitch(c, site))];
}

/**
 * appService.ts switchAppService: with the region being left down, GET the site first, and skip a site
 * located there. Then list the app settings and PUT them back when a value differs; the same for the
 * connection strings. Updates `siteValues` with what the switch leaves each site holding.
 */
function appServiceSwitch(c: ChainContext, site: Plan["appService"][number]): Chain {
  const what = `site ${site.site.name}`;
  const items: Item[] = [];
  if (c.fromDown && (site.appSettings.length > 0 || site.connectionStrings.length > 0)) {
    items.push(req("WebApps_Get"));
    if (siteRegion(c.plan, site) === c.from) return { what: `${what} (skipped: in ${c.from}, down)`, items };
  }
  const holds = c.siteValues.get(site.site.id) ?? c.plan.regions.primary.name;
  const differs = (settings: readonly { values: Readonly<Record<string, string>> }[]) => settings.some((s) => s.values[holds] !== s.values[c.to]);
  if (site.appSettings.length > 0) {
    items.push(req("WebApps_ListApplicationSettings"));
    if (differs(site.appSettings)) items.push(req("WebApps_UpdateApplicationSettings"));
  }
  if (site.connectionStrings.length > 0) {
    items.push(req("WebApps_ListConnectionStrings"));
    if (differs(site.connectionStrings)) items.push(req("WebApps_UpdateConnectionStrings"));
  }
  c.siteValues.set(site.site.id, c.to);
  return { what, items };
}

/**
 * verify.ts verifyPrimary: every check at once — each group, account, origin group, Front Door read
 * once; per site (when the other region's probe says it is down) a GET of the site, then its app
 * settings and connection strings listed side by side, or nothing for a site in the down region.
 */
function verifyChains(c: ChainContext): Chain[] {
  const { plan } = c;
  const sites = plan.appService.map((site): Chain => {
    const what = `site ${site.site.name}`;
    const lists: Call[][] = [
      ...(site.appSettings.length > 0 ? [[req("WebApps_ListApplicationSettings")]] : []),
      ...(site.connectionStrings.length > 0 ? [[req("WebApps_ListConnectionStrings")]] : []),
    ];
    if (lists.length === 0) return { what, items: [] };
    if (!c.fromDown) return { what, items: [{ parallel: lists }] };
    if (siteRegion(plan, site) === c.from) return { what: `${what} (not checked: in ${c.from}, down)`, items: [req("WebApps_Get")] };
    return { what, items: [req("WebApps_Get"), { parallel: lists }] };
  });
  return [
    ...plan.sql.map((g) => ({ what: `sql ${g.failoverGroup.name}`, items: [SQL_GET] })),
    ...plan.storage.map((s) => ({ what: `storage ${s.account.name}`, items: [STORAGE_GET] })),
    ...plan.frontDoor.standard.map((g) => ({ what: `AFD ${g.originGroup.name}`, items: [req("AFDOrigins_ListByOriginGroup")] })),
    ...plan.frontDoor.classic.map((f) => ({ what: `Front Door ${f.frontDoor.name}`, items: [req("FrontDoors_Get")] })),
    ...sites,
  ];
}

/** The region a site runs in, as the estate seeds it (estate/state.ts): the plan's, else named in its name or group, else the primary. */
function siteRegion(plan: Plan, site: Plan["appService"][number]): string {
  const { primary, secondary } = plan.regions;
  return site.region ?? [secondary.name, primary.name].find((r) => site.site.name.toLowerCase().includes(r) || site.site.resourceGroup.toLowerCase().includes(r)) ?? primary.name;
}

const callCost = (call: Call) => latencyMs(call.op) + (call.lro ? durationMs(call.op) : 0);
const itemCost = (item: Item): number => ("parallel" in item ? Math.max(0, ...item.parallel.map((branch) => sum(branch.map(callCost)))) : callCost(item));
const chainCost = (chain: Chain) => sum(chain.items.map(itemCost));
const calls = (chain: Chain): Call[] => chain.items.flatMap((item) => ("parallel" in item ? item.parallel.flat() : [item]));

interface PhaseBound {
  readonly phase: string;
  readonly boundMs: number;
  readonly critical?: Chain;
  readonly chains: readonly Chain[];
}

/** The lower bound of every phase of one run, in order (the phases that have chains). */
function boundsFor(kind: Kind, context: ChainContext): PhaseBound[] {
  return Object.entries(CHAINS[kind]).map(([phase, build]) => {
    const chains = build(context);
    const critical = chains.reduce<Chain | undefined>((best, chain) => (best === undefined || chainCost(chain) > chainCost(best) ? chain : best), undefined);
    return { phase, boundMs: critical ? chainCost(critical) : 0, chains, ...(critical ? { critical } : {}) };
  });
}

// ---- instrumentation (where the time goes) ------------------------------------------------------

/** Busy time of the host's and the journal's calls to Azurite, by start time (they may overlap). */
interface Sample {
  readonly label: string;
  readonly start: number;
  readonly ms: number;
}
const samples: Sample[] = [];
function instrument(target: object, method: string, label: string): void {
  const proto = target as Record<string, unknown>;
  const original = proto[method];
  if (typeof original !== "function") return;
  proto[method] = async function (this: unknown, ...args: unknown[]) {
    const start = Date.now();
    const t = performance.now();
    try {
      return await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args);
    } finally {
      samples.push({ label, start, ms: performance.now() - t });
    }
  };
}
instrument(BlobInstanceStore.prototype, "get", "instance store get");
instrument(BlobInstanceStore.prototype, "put", "instance store put");
instrument(LocalDurableHost.prototype, "episode", "host episode (replay + keep)");
instrument(BlobJournal.prototype, "append", "journal append");
instrument(BlobJournal.prototype, "read", "journal read");

/** The estate each drill starts (runDrill keeps it to itself): its request log and operations. */
let lastEstate: Estate | undefined;
{
  const start = Estate.prototype.start;
  Estate.prototype.start = function (this: Estate) {
    lastEstate = this;
    return start.call(this);
  };
}

// ---- measuring -------------------------------------------------------------------------------------

interface PhaseResult {
  readonly phase: string;
  readonly measuredMs: number;
  readonly boundMs: number;
}

interface RunResult {
  readonly kind: Kind;
  readonly phases: readonly PhaseResult[];
  /** First step's start to verify's end, less the approval wait. */
  readonly measuredMs: number;
  readonly boundMs: number;
  readonly modelMismatches: readonly string[];
  readonly lroLagMs: readonly number[];
  readonly requests: number;
  readonly polls: number;
  readonly busy: ReadonlyMap<string, { n: number; ms: number }>;
}

interface DrillSample {
  readonly variant: "failover only" | "failover + failback";
  readonly wallSeconds: number;
  readonly runs: readonly RunResult[];
}

const EXCLUDED = new Set(["approval"]);

function analyseRun(output: RunOutput, context: ChainContext, log: readonly LoggedRequest[], estate: Estate): RunResult {
  if (output.outcome !== "completed") throw new Error(`${output.kind} ended ${output.outcome}: ${output.message}`);
  const kind = output.kind as Kind;
  const bounds = boundsFor(kind, context);
  const steps = output.steps;
  const ms = (s: { startedAt: string; endedAt: string }) => Date.parse(s.endedAt) - Date.parse(s.startedAt);
  const phases = steps
    .filter((s) => !EXCLUDED.has(s.step))
    .map((s) => {
      const bound = bounds.find((b) => b.phase === s.step);
      if (!bound) throw new Error(`the chains table has no phase '${s.step}' for a ${kind} (update CHAINS)`);
      return { phase: s.step, measuredMs: ms(s), boundMs: bound.boundMs };
    });
  const missing = bounds.filter((b) => !steps.some((s) => s.step === b.phase)).map((b) => b.phase);
  if (missing.length > 0) throw new Error(`the ${kind} ran no ${missing.join(", ")} step (update CHAINS)`);
  const first = Date.parse(steps[0]!.startedAt);
  const last = steps.at(-1)!;
  if (last.step !== "verify") throw new Error(`the ${kind} ended with ${last.step}, not verify`);
  const excluded = sum(steps.filter((s) => EXCLUDED.has(s.step)).map(ms));
  const measuredMs = Date.parse(last.endedAt) - first - excluded;

  // Model check: the Azure requests of this run (status polls aside) against the chains' calls.
  const end = Date.parse(last.endedAt);
  const inRun = log.filter((r) => r.api !== "control" && Date.parse(r.time) >= first && Date.parse(r.time) <= end);
  const polls = inRun.filter((r) => r.operationId === "Operations_GetStatus");
  const counted = (ops: readonly string[]) => ops.reduce((m, op) => m.set(op, (m.get(op) ?? 0) + 1), new Map<string, number>());
  const expected = counted(bounds.flatMap((b) => b.chains.flatMap(calls)).map((c) => c.op).filter((op) => op !== "Operations_GetStatus"));
  const actual = counted(inRun.filter((r) => r.operationId !== "Operations_GetStatus").map((r) => r.operationId));
  const modelMismatches = [...new Set([...expected.keys(), ...actual.keys()])]
    .filter((op) => (expected.get(op) ?? 0) !== (actual.get(op) ?? 0))
    .map((op) => `${op}: modelled ${expected.get(op) ?? 0}, made ${actual.get(op) ?? 0}`);

  // How late each long-running operation was seen done: its first poll answered after it was due.
  const lroLagMs = estate.operations
    .list()
    .filter((op) => op.startTime >= first && op.startTime <= end)
    .flatMap((op) => {
      const seen = polls.filter((p) => p.path.includes(op.id) && Date.parse(p.time) >= op.dueAt).map((p) => Date.parse(p.time));
      return seen.length > 0 ? [Math.min(...seen) - op.dueAt] : [];
    });

  const busy = new Map<string, { n: number; ms: number }>();
  const windows = steps.filter((s) => !EXCLUDED.has(s.step)).map((s) => [Date.parse(s.startedAt), Date.parse(s.endedAt)] as const);
  for (const s of samples) {
    if (!windows.some(([a, b]) => s.start >= a && s.start < b)) continue;
    const entry = busy.get(s.label) ?? { n: 0, ms: 0 };
    entry.n++;
    entry.ms += s.ms;
    busy.set(s.label, entry);
  }
  return { kind, phases, measuredMs, boundMs: sum(phases.map((p) => p.boundMs)), modelMismatches, lroLagMs, requests: inRun.length, polls: polls.length, busy };
}

async function drill(plan: Plan, failback: boolean, outputDir: string): Promise<DrillSample> {
  lastEstate = undefined;
  const result: DrillResult = await runDrill({ plan, scenario: profileScenario(plan), failback, approve: true, outputDir, pollIntervalMs: POLL_INTERVAL_MS });
  const estate = lastEstate as Estate | undefined;
  if (!estate) throw new Error("runDrill started no estate the benchmark could see");
  const log = estate.requests();
  const { primary, secondary } = plan.regions;
  const siteValues = new Map<string, string>();
  const runs = [analyseRun(result.failover.output, { plan, from: primary.name, to: secondary.name, fromDown: true, siteValues }, log, estate)];
  if (failback) {
    if (!result.failback) throw new Error(`the drill did not fail back: ${result.failover.output.message}`);
    runs.push(analyseRun(result.failback.output, { plan, from: secondary.name, to: primary.name, fromDown: false, siteValues }, log, estate));
  }
  return { variant: failback ? "failover + failback" : "failover only", wallSeconds: result.wallSeconds, runs };
}

// ---- reporting ---------------------------------------------------------------------------------

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function positive(text: string | undefined, fallback: number): number {
  const value = Number(text);
  return text !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

const fmtMs = (ms: number) => `${Math.round(ms).toLocaleString("en-US")} ms`;
const ratio = (measured: number, bound: number) => (bound > 0 ? (measured / bound).toFixed(2) : "—");

function printKind(kind: Kind, runs: readonly RunResult[], example: readonly PhaseBound[]): void {
  console.log(`\n${kind} — median of ${runs.length} run(s)`);
  console.log(`  ${"phase".padEnd(22)} ${"measured".padStart(11)} ${"lower bound".padStart(12)} ${"ratio".padStart(7)} ${"overhead".padStart(10)}   critical chain`);
  for (const bound of example) {
    const measured = median(runs.map((r) => r.phases.find((p) => p.phase === bound.phase)!.measuredMs));
    const chain = bound.critical ? `${bound.critical.what}: ${bound.critical.items.map(describe).join(" → ")}` : "no Azure operation";
    console.log(`  ${bound.phase.padEnd(22)} ${fmtMs(measured).padStart(11)} ${fmtMs(bound.boundMs).padStart(12)} ${ratio(measured, bound.boundMs).padStart(7)} ${`+${fmtMs(measured - bound.boundMs)}`.padStart(10)}   ${chain}`);
  }
  const measured = median(runs.map((r) => r.measuredMs));
  const bound = runs[0]!.boundMs;
  console.log(`  ${"total (no approval)".padEnd(22)} ${fmtMs(measured).padStart(11)} ${fmtMs(bound).padStart(12)} ${ratio(measured, bound).padStart(7)} ${`+${fmtMs(measured - bound)}`.padStart(10)}`);
}

function describe(item: Item): string {
  if ("parallel" in item) return `(${item.parallel.map((b) => b.map(describe).join(" → ")).join(" ‖ ")})`;
  const cost = item.lro ? `${latencyMs(item.op)}+${durationMs(item.op)}` : `${latencyMs(item.op)}`;
  return `${item.op}${item.note ? ` [${item.note}]` : ""} ${cost}`;
}

function printWhereTimeGoes(kind: Kind, runs: readonly RunResult[]): void {
  const labels = [...new Set(runs.flatMap((r) => [...r.busy.keys()]))].sort();
  const lags = runs.flatMap((r) => r.lroLagMs);
  const parts = labels.map((label) => {
    const n = median(runs.map((r) => r.busy.get(label)?.n ?? 0));
    const ms = median(runs.map((r) => r.busy.get(label)?.ms ?? 0));
    return `${label} ${n}× ${fmtMs(ms)} (${(ms / Math.max(1, n)).toFixed(1)} ms each)`;
  });
  console.log(`  where the time goes (${kind}, per run, busy time inside the phases — calls overlap):`);
  for (const part of parts) console.log(`    ${part}`);
  console.log(`    Azure requests ${median(runs.map((r) => r.requests))} (status polls ${median(runs.map((r) => r.polls))}); long-running operations seen done ${lags.length > 0 ? `${fmtMs(median(lags))} (median), ${fmtMs(Math.max(...lags))} (max) after due` : "—"} (poll interval ${POLL_INTERVAL_MS} ms)`);
}

// ---- main --------------------------------------------------------------------------------------

const plan = await loadPlanFile(PLAN_FILE);
const outputDir = await mkdtemp(join(tmpdir(), "switchyard-bench-"));
console.log(`\ndrill benchmark: plan ${plan.name}, profile scaled 1/${SCALE}, ${DRILLS} drill(s) per variant, poll interval ${POLL_INTERVAL_MS} ms`);
console.log(
  `  profile (scaled): request latency ${Object.keys(REAL_LATENCY_MS).map((op) => `${op} ${latencyMs(op)} ms`).join(", ")}; durations ${Object.keys(REAL_DURATION_MS).map((op) => `${op} ${durationMs(op)} ms`).join(", ")}`,
);
const drills: DrillSample[] = [];
try {
  for (const failback of [false, true]) {
    for (let i = 1; i <= DRILLS; i++) {
      const sample = await drill(plan, failback, outputDir);
      drills.push(sample);
      const runs = sample.runs.map((r) => `${r.kind} ${fmtMs(r.measuredMs)} / ${fmtMs(r.boundMs)} = ${(r.measuredMs / r.boundMs).toFixed(3)}`).join("; ");
      console.log(`  drill ${i}/${DRILLS} (${sample.variant}): ${sample.wallSeconds.toFixed(1)} s wall; ${runs}`);
    }
  }
  report(drills);
} catch (error) {
  // A drill that did not complete measures nothing: say why, and fail the command.
  console.error(`drill benchmark stopped: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await rm(outputDir, { recursive: true, force: true });
}

function report(drills: readonly DrillSample[]): void {
  // The bounds as printed: the failover's, then the failback's after what the failover left the sites holding.
  const { primary, secondary } = plan.regions;
  const siteValues = new Map<string, string>();
  const failover = boundsFor("failover", { plan, from: primary.name, to: secondary.name, fromDown: true, siteValues });
  const failback = boundsFor("failback", { plan, from: secondary.name, to: primary.name, fromDown: false, siteValues });
  for (const [kind, bounds] of [["failover", failover], ["failback", failback]] as const) {
    const runs = drills.flatMap((d) => d.runs).filter((r) => r.kind === kind);
    if (runs.length === 0) continue;
    printKind(kind, runs, bounds);
    printWhereTimeGoes(kind, runs);
  }
  const mismatches = [...new Set(drills.flatMap((d) => d.runs.flatMap((r) => r.modelMismatches.map((m) => `${r.kind}: ${m}`))))];
  console.log(`\nmodel check (each run's Azure requests, status polls aside, against the chains): ${mismatches.length === 0 ? "ok" : `MISMATCH — ${mismatches.join("; ")}`}`);
  for (const variant of ["failover only", "failover + failback"] as const) {
    const walls = drills.filter((d) => d.variant === variant).map((d) => d.wallSeconds);
    if (walls.length > 0) console.log(`drill wall time (${variant}, estate and Azurite start included): ${median(walls).toFixed(1)} s median`);
  }
  const perRun = drills.flatMap((d) => d.runs.map((r) => r.measuredMs / r.boundMs));
  console.log(`overhead: ${median(perRun).toFixed(2)}  (measured ÷ lower bound per run, approval excluded; median of ${perRun.length} runs, ${Math.min(...perRun).toFixed(3)}–${Math.max(...perRun).toFixed(3)}; target ≤ 1.05)`);
}
