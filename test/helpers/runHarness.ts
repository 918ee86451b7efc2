/**
 * An in-process world for end-to-end run tests: the local estate, Azurite, the real activities over a
 * client factory aimed at both, a blob journal and a blob instance store (fresh containers per test),
 * and local durable hosts over that store (a test can make a second host after a simulated crash).
 *
 * Use `useRunWorld()` at the top of a test file: it starts the estate and Azurite once for the file,
 * resets the estate and opens new containers before each test, and stops every host after it.
 *
 * Client retries are OFF (`maxRetries: 0`): every planted 429/5xx reaches the activity, comes back to
 * the orchestrator as a retryable failure, and is retried there (durable timer, Retry-After honoured,
 * journaled). With SDK retries on, a single 500 would be absorbed silently inside one activity call, and
 * how a 429 burst splits between the SDK and the orchestrator would depend on SDK internals, so the
 * fault matrix would not test Switchyard's own retry logic. A refused request never reached the estate's
 * state, so retrying it in the orchestrator is as safe as in the SDK.
 */
import { MemoryLagStore } from "../../src/lag/store.ts";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { createActivities, type ActivityHandlers } from "../../src/activities/registry.ts";
import type { Logger } from "../../src/activities/deps.ts";
import { createProbe } from "../../src/activities/probe.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { newRunId, type NotifyInput, type RunInput, type RunKind, type RunOptions, type FailoverMode } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { BlobJournal } from "../../src/journal/blobJournal.ts";
import { BlobRunPlanStore } from "../../src/journal/runPlans.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { LocalDurableHost, type CrashPoint } from "../../src/durable/durableHost.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { BlobInstanceStore } from "../../src/durable/instanceStore.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import type { Notifier } from "../../src/notify/notifier.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { startEstate, type Estate, type LoggedRequest } from "../../estate/server.ts";
import { EXAMPLE_PLAN } from "./estate.ts";

/** Long-running operation durations for tests: short, but not zero (operations are really in flight). */
export const TEST_DURATIONS: Record<string, number> = {
  default: 5,
  FailoverGroups_Failover: 20,
  FailoverGroups_ForceFailoverAllowDataLoss: 15,
  StorageAccounts_Failover: 20,
  AFDOrigins_Update: 10,
  FrontDoors_CreateOrUpdate: 10,
};

/** Orchestrator retries for tests: the default policy's shape, in milliseconds instead of seconds. */
export const TEST_RETRY = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 50 } as const;

export interface HostHandle {
  readonly host: LocalDurableHost;
  readonly runs: LocalRuns;
  /** The activity calls this host made, by activity name, in the order they started. */
  readonly calls: string[];
  /** Resolves once none of this host's activity calls is still running (a crashed host's included). */
  idle(timeoutMs?: number): Promise<void>;
}

export interface RunWorld {
  estate: Estate;
  azurite: AzuriteBlob;
  clients: ClientFactory;
  /** The first plan given (every plan is seeded). */
  plan: Plan;
  plans: Plan[];
  /** This test's journal and instance store (fresh containers). */
  journal: BlobJournal;
  store: BlobInstanceStore;
  /** This test's run plan snapshots (shared by its hosts' LocalRuns and the activities). */
  runPlans: BlobRunPlanStore;
  activities: ActivityHandlers;
  /** Notifications the runs sent (the notifier port), in order. */
  notifications: NotifyInput[];
  /** The lag samples the runs' RPO gate falls back on (fresh per test): record rounds here. */
  lag: MemoryLagStore;
  /** The test's first host; `newHost()` makes more on the same store. */
  host: LocalDurableHost;
  runs: LocalRuns;
  newHost(options?: { crashAt?: (point: CrashPoint) => boolean }): HostHandle;
  runInput(kind: RunKind, options?: RunInputOptions): RunInput;
  /** Polls the plan's run until `predicate` holds (or fails after `timeoutMs`). */
  waitForStatus(predicate: (run: RunView) => boolean, options?: { plan?: Plan; runs?: LocalRuns; timeoutMs?: number }): Promise<RunView>;
}

export interface RunInputOptions {
  readonly plan?: Plan;
  readonly mode?: FailoverMode;
  readonly runId?: string;
  /** Merged over the test defaults (TEST_RETRY, approval 30 s, 20 re-protection checks 20 ms apart). */
  readonly options?: RunOptions;
  readonly detectedAt?: string;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let containerSeq = 0;

/**
 * Starts the world for one test file. `planFiles`: the plans to seed (default: the example plan); the
 * first is `world.plan`. `durations`: long-running operation durations (default TEST_DURATIONS).
 */
export function useRunWorld(options: { planFiles?: readonly string[]; durations?: Record<string, number> } = {}): RunWorld {
  const world = { notifications: [] as NotifyInput[] } as RunWorld;
  const handles: HostHandle[] = [];

  beforeAll(async () => {
    world.plans = await Promise.all((options.planFiles ?? [EXAMPLE_PLAN]).map((f) => loadPlanFile(f)));
    world.plan = world.plans[0]!;
    [world.estate, world.azurite] = await Promise.all([
      startEstate({ seed: seedFromPlans(world.plans), timing: { durations: { ...(options.durations ?? TEST_DURATIONS) } } }),
      startAzuriteBlob(),
    ]);
    world.clients = new ClientFactory({ target: world.estate.clientTarget(), blobStore: { connectionString: world.azurite.connectionString }, maxRetries: 0 });
  });

  beforeEach(async () => {
    await world.estate.reset();
    const suffix = `${process.pid}-${++containerSeq}`;
    const blobs = world.clients.blobService();
    world.journal = new BlobJournal(blobs.getContainerClient(`e2e-journal-${suffix}`));
    world.store = new BlobInstanceStore(blobs.getContainerClient(`e2e-durable-${suffix}`));
    world.notifications = [];
    const notifications = world.notifications;
    const notifier: Notifier = {
      name: "test",
      notify: async (n) => {
        notifications.push(n);
      },
    };
    world.runPlans = new BlobRunPlanStore(blobs.getContainerClient(`e2e-state-${suffix}`));
    world.lag = new MemoryLagStore();
    world.activities = createActivities({
      lag: world.lag,
      runPlans: world.runPlans,
      clients: world.clients,
      journal: world.journal,
      probe: createProbe(world.clients),
      log: silent,
      clock: () => new Date(),
      pollIntervalMs: 2,
      notifier,
    });
    const first = world.newHost();
    world.host = first.host;
    world.runs = first.runs;
  });

  afterEach(async () => {
    for (const handle of handles.splice(0)) {
      handle.host.stop();
      await handle.idle(10_000).catch(() => undefined);
    }
  });

  afterAll(async () => {
    await world.estate?.close();
    await world.azurite?.stop();
  });

  world.newHost = (hostOptions = {}) => {
    let inFlight = 0;
    const waiters: (() => void)[] = [];
    const calls: string[] = [];
    const counted = Object.fromEntries(
      Object.entries(world.activities).map(([name, fn]) => [
        name,
        async (input: unknown) => {
          calls.push(name);
          inFlight++;
          try {
            return await fn(input);
          } finally {
            if (--inFlight === 0) for (const w of waiters.splice(0)) w();
          }
        },
      ]),
    );
    const host = new LocalDurableHost({
      store: world.store,
      orchestrations: ORCHESTRATIONS as never,
      activities: counted as never,
      ...(hostOptions.crashAt ? { crashAt: hostOptions.crashAt } : {}),
    });
    const handle: HostHandle = {
      host,
      runs: new LocalRuns(host, { runPlans: world.runPlans }),
      calls,
      idle: (timeoutMs = 15_000) =>
        inFlight === 0
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`activities still running after ${timeoutMs} ms`)), timeoutMs);
              waiters.push(() => {
                clearTimeout(timer);
                resolve();
              });
            }),
    };
    handles.push(handle);
    return handle;
  };

  world.runInput = (kind, o = {}) => {
    const plan = o.plan ?? world.plan;
    const [primary, secondary] = [plan.regions.primary.name, plan.regions.secondary.name];
    const [from, to] = kind === "failover" ? [primary, secondary] : [secondary, primary];
    return {
      runId: o.runId ?? newRunId(plan.name, kind, new Date()),
      kind,
      mode: o.mode ?? (kind === "failover" ? "auto" : "planned"),
      plan,
      from,
      to,
      trigger: { source: "manual", by: "e2e test", reason: `e2e ${kind}`, detectedAt: o.detectedAt ?? new Date().toISOString() },
      options: { retry: TEST_RETRY, approvalTimeoutSeconds: 30, reprotectionChecks: 20, reprotectionIntervalSeconds: 0.02, timeScale: 1000, ...o.options },
    };
  };

  world.waitForStatus = async (predicate, o = {}) => {
    const runs = o.runs ?? world.runs;
    const planName = (o.plan ?? world.plan).name;
    const deadline = Date.now() + (o.timeoutMs ?? 15_000);
    let last: RunView | undefined;
    for (;;) {
      last = await runs.get(planName);
      if (last && predicate(last)) return last;
      if (Date.now() > deadline) throw new Error(`run of ${planName} did not reach the expected status; last: ${JSON.stringify(last?.progress ?? last?.status)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  return world;
}

// ---- the estate's request log -------------------------------------------------------------------

/**
 * One resource as both the estate's request paths and the journal name it, lower-case: action suffixes
 * (`/failover`, `/config/appsettings`) and a classic backend pool (`/backendPools/x`) are cut off, and a
 * SQL failover group is the same resource whichever of its two servers it is addressed through.
 */
export function canonicalResource(pathOrId: string): string {
  let p = pathOrId.toLowerCase().replace(/\/+$/, "");
  p = p.replace(/\/(failover|forcefailoverallowdataloss|tryplannedbeforeforcedfailover|startaccountmigration)$/, "");
  p = p.replace(/\/config\/(appsettings|connectionstrings)$/, "");
  p = p.replace(/(\/providers\/microsoft\.network\/frontdoors\/[^/]+)\/backendpools\/[^/]+$/, "$1");
  const fog = /^\/subscriptions\/([^/]+)\/resourcegroups\/[^/]+\/providers\/microsoft\.sql\/servers\/[^/]+\/failovergroups\/([^/]+)$/.exec(p);
  return fog ? `/subscriptions/${fog[1]}/providers/microsoft.sql/failovergroups/${fog[2]}` : p;
}

export interface WriteGroup {
  /** `operationId path` (the path as requested, action segment included). */
  readonly key: string;
  readonly operationId: string;
  readonly path: string;
  /** canonicalResource(path). */
  readonly resource: string;
  readonly requests: LoggedRequest[];
}

/** True for a write Azure accepted or did (2xx, 202 included). */
export const succeeded = (r: LoggedRequest) => r.status >= 200 && r.status < 300;

/** The estate's successful write requests (2xx/202), grouped by operation id and resource path. */
export function writes(estate: Estate, filter: { since?: number } = {}): WriteGroup[] {
  const groups = new Map<string, WriteGroup>();
  for (const r of estate.requests({ writesOnly: true, ...filter }).filter(succeeded)) {
    const key = `${r.operationId} ${r.path.toLowerCase()}`;
    const group = groups.get(key) ?? { key, operationId: r.operationId, path: r.path, resource: canonicalResource(r.path), requests: [] };
    group.requests.push(r);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * Every data-loss write the estate received, successful or not: forced SQL failovers and storage
 * failovers without `failoverType=Planned`.
 */
export function dataLossWrites(estate: Estate): LoggedRequest[] {
  return estate
    .requests({ writesOnly: true })
    .filter(
      (r) =>
        r.operationId === "FailoverGroups_ForceFailoverAllowDataLoss" ||
        r.operationId === "FailoverGroups_TryPlannedBeforeForcedFailover" ||
        (r.operationId === "StorageAccounts_Failover" && !/failoverType=Planned/i.test(r.query)),
    );
}

/**
 * The successful write requests the journal does not account for: each needs a `write` or `operation`
 * entry naming its resource (same operation family: the journal's operation starts with the request's
 * operation id).
 */
export function unjournaledWrites(estate: Estate, entries: readonly JournalEntry[]): LoggedRequest[] {
  const named = entries.filter((e) => e.kind === "write" || e.kind === "operation");
  return estate
    .requests({ writesOnly: true })
    .filter(succeeded)
    .filter((r) => {
      const resource = canonicalResource(r.path);
      return !named.some((e) => String(e.data?.operation ?? "").startsWith(r.operationId) && typeof e.data?.resourceId === "string" && canonicalResource(e.data.resourceId) === resource);
    });
}

/** Request ids the journal's write entries carry. */
export function journaledRequestIds(entries: readonly JournalEntry[]): Set<string> {
  return new Set(entries.filter((e) => e.kind === "write").flatMap((e) => (Array.isArray(e.data?.requestIds) ? (e.data.requestIds as string[]) : [])));
}
