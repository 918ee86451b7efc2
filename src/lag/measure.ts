/**
 * Measures the replication lag of every resource of a plan, read-only:
 *
 * - SQL, per database of every failover group: the group is read from Resource Manager (from the
 *   plan's primary server, else from its partner: whichever region's control plane answers) to learn
 *   which server is primary now and which databases the group holds; then each database is asked over
 *   TDS, on the primary server, for `sys.dm_geo_replication_link_status` (`replication_lag_sec` and
 *   `last_replication` exist on the primary only; in `master` the view is empty, so each database is a
 *   login of its own). A primary that cannot be reached gives a sample with no lag (`unreachable`).
 * - Storage, per account: now − `geoReplicationStats.lastSyncTime` (rounded up), with the status and
 *   `canFailover`, from `StorageAccounts_GetProperties` with `$expand=geoReplicationStats`.
 *
 * Resource Manager reads and TDS logins each run at most `armConcurrency` / `tdsConcurrency` at a
 * time; the reads are paced to stay inside the principal's read budget (src/azure/armPacer.ts), and the
 * ARM clients' retry policy honours Retry-After on a 429 all the same. One round makes
 * (failover groups + storage accounts) ARM reads, one more per group whose primary-side read fails,
 * and one TDS login per database.
 */
import type { FailoverGroup } from "@azure/arm-sql";
import type { TokenCredential } from "@azure/core-auth";
import type { ClientFactory } from "../azure/clients.ts";
import { querySql, SqlQueryError, type SqlRow } from "../azure/sqlQuery.ts";
import { LAG_ARM_PACER, LAG_STORAGE_PACER, type TokenBucketPacer } from "../azure/armPacer.ts";
import { settleEach } from "../core/concurrency.ts";
import { LAG_SOURCES, type LagSample } from "../core/lag.ts";
import { ancestorId, type Plan } from "../core/plan/index.ts";
import { redactText } from "../core/secrets.ts";
import { readFailoverGroup, sqlGroupIn } from "../activities/sql.ts";
import { accountRef, readAccount } from "../activities/storage.ts";

export interface MeasureOptions {
  /** TDS logins at once (default 16). */
  readonly tdsConcurrency?: number;
  /** Resource Manager reads at once (default 8). */
  readonly armConcurrency?: number;
  /** TCP + TLS + login to a database (ms, default 15,000). */
  readonly connectTimeoutMs?: number;
  /** The DMV query (ms, default 10,000). */
  readonly requestTimeoutMs?: number;
  /**
   * The region whose server each failover group is read from first (default the plan's primary): a
   * run reads from the region it fails over to, whose control plane it needs anyway.
   */
  readonly readFrom?: string;
  /**
   * Databases not asked within this many ms of the start are not asked (their samples say so); the
   * queries under way end by their own timeouts. Default: none.
   */
  readonly deadlineMs?: number;
  /** A server whose first database fails in any way is not asked for its others (default: only when no connection could be made). */
  readonly firstFailureSilencesServer?: boolean;
  /** Paces the Resource Manager reads (default: the process's LAG_ARM_PACER, per subscription). */
  readonly armPacer?: Pick<TokenBucketPacer, "take">;
  /** Paces the storage account reads besides (default: LAG_STORAGE_PACER: the Storage resource provider's own limit). */
  readonly storagePacer?: Pick<TokenBucketPacer, "take">;
  /**
   * Failover groups already read (plan index → the group as the server `server` sees it): used instead
   * of a read of their own, so that the caller and the measurement agree on each group's primary and
   * databases (a run reads them from its target region for the group's role anyway).
   */
  readonly knownGroups?: ReadonlyMap<number, { readonly fg: FailoverGroup; readonly server: string }>;
  /** Only these failover groups (plan indexes) and accounts; default all. */
  readonly only?: { readonly sql?: readonly number[]; readonly storage?: readonly number[] };
}

export interface MeasureDeps {
  readonly clients: ClientFactory;
  readonly clock: () => Date;
  /** Overrides the factory's credential for TDS (tests). */
  readonly sqlCredential?: TokenCredential;
}

export interface LagRound {
  readonly plan: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly samples: LagSample[];
  /** Failover groups whose databases could not be listed (neither server's control plane answered). */
  readonly failures: { readonly resourceId: string; readonly error: string }[];
  readonly armReads: number;
  /** Milliseconds the ARM reads waited, in all, to stay inside the principal's read budget. */
  readonly armPacedMs: number;
  readonly tdsLogins: number;
}

/** The DMV's columns Switchyard reads. */
export const LAG_QUERY =
  "SELECT partner_server, partner_database, replication_lag_sec, last_replication, last_commit, replication_state_desc, role_desc FROM sys.dm_geo_replication_link_status";

const nameOf = (id: string) => id.split("/").filter((p) => p.length > 0).at(-1) ?? id;
const message = (error: unknown) => redactText((error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 300));

/** A database to ask: its sample's identity and where it is primary. */
interface DatabaseTarget {
  readonly group: string;
  readonly resourceId: string;
  readonly name: string;
  readonly primaryServer: string;
  readonly partnerServer: string;
}

export async function measureLag(plan: Plan, deps: MeasureDeps, options: MeasureOptions = {}): Promise<LagRound> {
  const startedAt = deps.clock();
  const armConcurrency = options.armConcurrency ?? 8;
  const tdsConcurrency = options.tdsConcurrency ?? 16;
  let armReads = 0;
  let armPacedMs = 0;
  let tdsLogins = 0;
  const pacer = options.armPacer ?? LAG_ARM_PACER;
  const paced = async (subscriptionId: string) => {
    armPacedMs += await pacer.take(subscriptionId.toLowerCase());
    armReads++;
  };
  const failures: LagRound["failures"] = [];
  const samples: LagSample[] = [];
  const sqlIndexes = options.only?.sql ?? plan.sql.map((_, i) => i);
  const storageIndexes = options.only?.storage ?? plan.storage.map((_, i) => i);

  // Which server is primary for each group, and its databases: one ARM read (two if the first region's control plane is down).
  const groups = await settleEach(sqlIndexes, armConcurrency, async (index) => {
    const entry = plan.sql[index]!;
    const planPrimaryServer = ancestorId(entry.failoverGroup, 1);
    let read: { fg: FailoverGroup; server: string } | undefined = options.knownGroups?.get(index);
    let lastError: unknown;
    const first = options.readFrom?.toLowerCase() === plan.regions.secondary.name.toLowerCase() ? plan.regions.secondary.name : plan.regions.primary.name;
    const second = first === plan.regions.primary.name ? plan.regions.secondary.name : plan.regions.primary.name;
    for (const region of read ? [] : [first, second]) {
      const at = sqlGroupIn(plan, index, region);
      await paced(at.subscriptionId);
      try {
        read = { fg: await readFailoverGroup(deps, at), server: at.server };
        break;
      } catch (error) {
        lastError = error;
      }
    }
    const listed = entry.databases ?? [];
    if (!read) {
      failures.push({ resourceId: entry.failoverGroup.id, error: message(lastError) });
      return listed.map((db): LagSample => ({ resourceId: `${planPrimaryServer}/databases/${db}`, kind: "sqlDatabase", name: db, group: entry.failoverGroup.id, lagSeconds: null, state: "unreachable", reach: "unasked", measuredAt: deps.clock().toISOString(), source: LAG_SOURCES.sql, error: message(lastError) }));
    }
    const partnerId = read.fg.partnerServers?.[0]?.id;
    const readIsPrimary = read.fg.replicationRole === "Primary";
    const primaryServer = readIsPrimary ? read.server : partnerId ? nameOf(partnerId) : read.server;
    const partnerServer = readIsPrimary ? (partnerId ? nameOf(partnerId) : "") : read.server;
    const databases = (read.fg.databases ?? []).map(nameOf);
    return (databases.length > 0 ? databases : listed).map((db): DatabaseTarget => ({ group: entry.failoverGroup.id, resourceId: `${planPrimaryServer}/databases/${db}`, name: db, primaryServer, partnerServer }));
  });

  const targets: DatabaseTarget[] = [];
  for (const result of groups) {
    if (result.status === "rejected") continue; // settleEach's work does not throw; kept for type narrowing
    for (const item of result.value) {
      if ("kind" in item) samples.push(item);
      else targets.push(item);
    }
  }

  const credential = deps.sqlCredential ?? deps.clients.credential;
  const started = performance.now();
  const pastDeadline = () => options.deadlineMs !== undefined && performance.now() - started > options.deadlineMs;
  const base = (t: DatabaseTarget) => ({ resourceId: t.resourceId, kind: "sqlDatabase" as const, name: t.name, group: t.group, source: LAG_SOURCES.sql, primary: t.primaryServer });
  /** Servers not asked again (no connection at all; in a run, any failed first login), with why and how they failed. */
  const silent = new Map<string, { why: string; reach: LagSample["reach"] }>();
  const ask = async (t: DatabaseTarget): Promise<LagSample> => {
    tdsLogins++;
    try {
      const rows = await querySql(deps.clients.target, credential, {
        server: t.primaryServer,
        database: t.name,
        statement: LAG_QUERY,
        connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
        requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      });
      return { ...base(t), ...fromLinkRows(rows, t.partnerServer), reach: "answered", measuredAt: deps.clock().toISOString() };
    } catch (error) {
      // "silent": no connection could be made at all; "refused": the server answered and refused the login or the query.
      const reach: "silent" | "refused" = error instanceof SqlQueryError && error.serverSilent ? "silent" : "refused";
      if (options.firstFailureSilencesServer || reach === "silent") silent.set(t.primaryServer.toLowerCase(), { why: message(error), reach });
      return { ...base(t), lagSeconds: null, state: "unreachable", reach, measuredAt: deps.clock().toISOString(), error: message(error) };
    }
  };
  // One database per server first, every server at once (up to 64): a server in a lost region costs one
  // connect timeout, not one per database. Then the other databases of the servers that answered.
  const byServer = new Map<string, DatabaseTarget[]>();
  for (const t of targets) byServer.set(t.primaryServer.toLowerCase(), [...(byServer.get(t.primaryServer.toLowerCase()) ?? []), t]);
  const firsts = [...byServer.values()].map((list) => list[0]!);
  const sqlSamples = (async () => {
    const first = await settleEach(firsts, Math.min(64, Math.max(tdsConcurrency, firsts.length)), ask);
    const rest = [...byServer.values()].flatMap((list) => list.slice(1));
    const second = await settleEach(rest, tdsConcurrency, async (t) => {
      const skip = silent.get(t.primaryServer.toLowerCase());
      if (skip !== undefined) return { ...base(t), lagSeconds: null, state: "unreachable", reach: skip.reach, measuredAt: deps.clock().toISOString(), error: `not asked: server ${t.primaryServer} did not answer (${skip.why})` };
      if (pastDeadline()) return { ...base(t), lagSeconds: null, state: "unreachable", reach: "unasked" as const, measuredAt: deps.clock().toISOString(), error: `not asked: the measurement's ${options.deadlineMs} ms had passed` };
      return ask(t);
    });
    return [...first, ...second];
  })();

  const storagePacer = options.storagePacer ?? LAG_STORAGE_PACER;
  const storageSamples = settleEach(storageIndexes, armConcurrency, async (index): Promise<LagSample> => {
    const subscriptionId = accountRef(plan, index).subscriptionId.toLowerCase();
    armPacedMs += await storagePacer.take(subscriptionId);
    await paced(subscriptionId);
    try {
      return await storageLag(plan, index, deps);
    } catch (error) {
      const ref = accountRef(plan, index);
      return { resourceId: ref.id, kind: "storageAccount", name: ref.name, source: LAG_SOURCES.storage, lagSeconds: null, state: "unreachable", reach: "unasked", measuredAt: deps.clock().toISOString(), error: message(error) };
    }
  });

  for (const list of [await sqlSamples, await storageSamples]) for (const r of list) if (r.status === "fulfilled") samples.push(r.value);
  return { plan: plan.name, startedAt: startedAt.toISOString(), finishedAt: deps.clock().toISOString(), samples, failures, armReads, armPacedMs, tdsLogins };
}

/** One storage account's lag, from one ARM read; rejects (normalised, retryable or not) when the read fails. */
export async function storageLag(plan: Plan, index: number, deps: Pick<MeasureDeps, "clients" | "clock">): Promise<LagSample> {
  const ref = accountRef(plan, index);
  const account = await readAccount(deps, ref, true);
  const now = deps.clock();
  const stats = account.geoReplicationStats;
  const lastSync = stats?.lastSyncTime;
  return {
    resourceId: ref.id,
    kind: "storageAccount",
    name: ref.name,
    source: LAG_SOURCES.storage,
    lagSeconds: lastSync ? Math.max(0, Math.ceil((now.getTime() - lastSync.getTime()) / 1000)) : null,
    state: stats?.status ?? (account.secondaryLocation ? "Unknown" : "NoSecondary"),
    reach: "answered",
    measuredAt: now.toISOString(),
    ...(account.primaryLocation ? { primary: account.primaryLocation } : {}),
    ...(lastSync ? { lastReplication: lastSync.toISOString() } : {}),
    canFailover: stats?.canFailover === true,
    canPlannedFailover: stats?.canPlannedFailover === true,
  };
}

/**
 * The data at risk of a database from its link rows, in seconds: the writes committed on the primary
 * and not yet hardened on the secondary. Azure defines `last_replication` as when the primary last got
 * the secondary's acknowledgement of a hardened log block, and `replication_lag_sec` as how long before
 * that the acknowledged transaction committed; so everything committed after
 * `last_replication − replication_lag_sec`, up to `last_commit`, is not on the secondary:
 * `max(0, last_commit − (last_replication − replication_lag_sec))`, on the primary's own clock. On a
 * working link that is about `replication_lag_sec`; on a link that stopped (SUSPENDED) it grows with
 * every write, where `replication_lag_sec` alone would stay small. A link that is SEEDING (the
 * secondary is not usable yet), or a figure missing, leaves the lag unknown. The link to the group's
 * partner server is used (a database may have more geo-secondaries), and none to it is unknown; when the
 * partner is not known, the largest of the primary-role links.
 */
export function fromLinkRows(rows: readonly SqlRow[], partnerServer: string): Pick<LagSample, "lagSeconds" | "state" | "lastReplication" | "error"> {
  if (rows.length === 0) return { lagSeconds: null, state: "NO_LINK", error: "the database has no geo-replication link" };
  const primaryRows = rows.filter((r) => String(r.role_desc ?? "").toUpperCase() === "PRIMARY");
  if (primaryRows.length === 0) return { lagSeconds: null, state: "NOT_PRIMARY", error: "the database answered as a geo-secondary: the lag is known on the primary only" };
  const partner = primaryRows.find((r) => String(r.partner_server ?? "").toLowerCase() === partnerServer.toLowerCase());
  // The group fails over to its partner: another geo-secondary's link says nothing of what the partner holds.
  if (!partner && partnerServer !== "") return { lagSeconds: null, state: "PARTNER_LINK_MISSING", error: `the database has no geo-replication link to ${partnerServer}, the failover group's partner` };
  const chosen = partner ? [partner] : primaryRows;
  let lag: number | null = 0;
  let problem: string | undefined;
  for (const r of chosen) {
    const risk = atRisk(r);
    if (typeof risk === "string") {
      lag = null;
      problem ??= risk;
    } else if (lag !== null) lag = Math.max(lag, risk);
  }
  const row = chosen[0]!;
  const last = validDate(row.last_replication)?.toISOString();
  return { lagSeconds: lag, state: String(row.replication_state_desc ?? "UNKNOWN"), ...(last ? { lastReplication: last } : {}), ...(problem ? { error: problem } : {}) };
}

const validDate = (v: unknown): Date | undefined => (v instanceof Date && !Number.isNaN(v.getTime()) ? v : undefined);

/** One link row's seconds at risk, or why it cannot tell. */
function atRisk(r: SqlRow): number | string {
  const state = String(r.replication_state_desc ?? "").toUpperCase();
  if (state !== "CATCH_UP" && state !== "SUSPENDED") return `the link is ${state || "in no known state"}: the secondary does not hold a usable copy`;
  const lagSec = r.replication_lag_sec;
  const lastReplication = validDate(r.last_replication);
  const lastCommit = validDate(r.last_commit);
  if (typeof lagSec !== "number" || !Number.isFinite(lagSec) || lagSec < 0 || !lastReplication || !lastCommit) return "the link reports no replication_lag_sec, last_replication or last_commit";
  const hardenedCommit = lastReplication.getTime() - lagSec * 1000;
  return Math.max(0, Math.ceil((lastCommit.getTime() - hardenedCommit) / 1000));
}
