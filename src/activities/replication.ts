import type { Plan } from "../core/plan/index.ts";
import { DEFAULT_LAG_SAMPLE_MAX_AGE_SECONDS, largestLag, lastKnownLag, type LagEvidence, type LagSample } from "../core/lag.ts";
import { Steps, type MeasureReplicationInput, type MeasureReplicationResult, type ReplicationObserved, type SqlReplication, type StorageReplication } from "../core/run/model.ts";
import { measureLag, storageLag } from "../lag/measure.ts";
import type { LagDocument } from "../lag/store.ts";
import { journalObservation } from "./writes.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { readFailoverGroup, sqlGroupIn } from "./sql.ts";

/**
 * The SQL part of the measure step: databases not asked by then are known by their stored sample. A
 * failing primary (one failed first login per server) and the connect timeout bound it as well.
 */
const SQL_DEADLINE_MS = 15_000;

/** A run's reads are not paced behind the lag timer's: a failover must not wait on a measurement round. */
const UNPACED = { take: async () => 0 };

/** Evidence entries journaled in full; beyond this, counts and the largest only (a plan may hold hundreds of databases). */
const LARGEST_IN_RESULT = 5;
const EVIDENCE_IN_JOURNAL = 20;

/**
 * Measures how far each replica in `input.to` is behind: the input of the RPO gate. Read-only towards
 * Azure. The figures are journaled (an observation of the measure step); the run gets the largest lag
 * and how it is known, and journals the gate's decision with it.
 *
 * - SQL, per database: `replication_lag_sec` asked live on the primary over TDS (src/lag/measure.ts).
 *   When the primary cannot be asked (its region is down: the usual case for a forced failover), the
 *   last lag the `replicationLag` timer measured before the outage stands in, aged to the outage start:
 *   `lag at the sample + (end − sample time)`, where the end is the later of the outage start and the
 *   first failed sample after it (or now), if the sample is at most `objectives.lagSampleMaxAgeSeconds`
 *   older than that end (core/lag.ts: lastKnownLag). The outage start is the run's `detectedAt` less
 *   the plan's `downForSeconds` (when detection's signals went down).
 *   The group's role in the target region and its replication state are read from the failover group
 *   on the server there. A primary whose first database fails (no connection, or a login Azure
 *   refuses) is not asked for its others, so it costs one connect timeout (8 s) whatever the number of
 *   its databases; databases not asked within 15 s fall back on their stored samples too.
 * - Storage: lag = now − `lastSyncTime` (rounded up); when Azure has none, the last sample, aged the
 *   same way.
 * `maxLagSeconds` is null as soon as any resource's lag is unknown, so the RPO gate then asks a human.
 */
export async function measureReplication(input: MeasureReplicationInput, deps: ActivityDeps): Promise<MeasureReplicationResult> {
  const { plan, to } = input;
  planRegion(plan, to); // refuses a region the plan does not name
  const now = deps.clock();
  // Detection declares a region down once its signals have been down for downForSeconds: the outage began
  // about that much earlier. This is only the earliest end of a sample's aging (core/lag.ts: the first
  // failed sample after it, or now, when later), so it never shortens an aging the samples show.
  const detected = input.outageStartedAt !== undefined && !Number.isNaN(Date.parse(input.outageStartedAt)) ? new Date(input.outageStartedAt) : now;
  const outageStart = new Date(detected.getTime() - (plan.autoFailover.downForSeconds ?? 0) * 1000);
  // Plans kept by runs started before the limit existed have none: the default applies.
  const maxAgeSeconds = plan.objectives.lagSampleMaxAgeSeconds ?? DEFAULT_LAG_SAMPLE_MAX_AGE_SECONDS;

  // Each group, from its server in the target region: its role there, its primary and its databases. The
  // measurement uses this same read (one list of databases, which every one must have evidence for).
  const reads = await Promise.all(
    plan.sql.map(async (_, index) => {
      const group = sqlGroupIn(plan, index, to);
      return { index, group, fg: await readFailoverGroup(deps, group) };
    }),
  );
  const roles = reads.map(({ group, fg }): Omit<SqlReplication, "lagSeconds"> => ({ failoverGroup: group.groupId, replicationState: fg.replicationState ?? "unknown", roleInTarget: fg.replicationRole === "Primary" ? "Primary" : "Secondary" }));
  const knownGroups = new Map(reads.map(({ index, group, fg }) => [index, { fg, server: group.server }]));
  // SQL over TDS: a primary that cannot be asked is a sample with no lag (the stored one stands in).
  // Storage from ARM: a failed read fails the activity (retryable or not), as every other read does.
  const [sqlRound, storageLive, stored] = await Promise.all([
    measureLag(plan, { clients: deps.clients, clock: deps.clock }, { only: { storage: [] }, knownGroups, armPacer: UNPACED, tdsConcurrency: 16, armConcurrency: 8, connectTimeoutMs: 8_000, requestTimeoutMs: 8_000, deadlineMs: SQL_DEADLINE_MS, firstFailureSilencesServer: true }),
    Promise.all(plan.storage.map((_, index) => storageLag(plan, index, deps))),
    deps.lag ? deps.lag.get(plan.name).catch((error: unknown) => { deps.log.warn(`the lag samples of plan ${plan.name} could not be read`, { error: error instanceof Error ? error.message : String(error) }); return undefined; }) : Promise.resolve(undefined),
  ]);

  const live = [...sqlRound.samples, ...storageLive];
  // What an earlier run already switched to `to` has nothing at stake in this one (a resumed run).
  const switched = new Set([
    ...roles.filter((r) => r.roleInTarget === "Primary").map((r) => r.failoverGroup),
    ...storageLive.filter((s) => s.primary !== undefined && s.primary.toLowerCase() === to.toLowerCase()).map((s) => s.resourceId),
  ]);
  const evidence = replicationEvidence(plan, live, stored, outageStart, maxAgeSeconds, now, { switched, listed: new Set(roles.map((r) => r.failoverGroup)) });
  const maxLagSeconds = largestLag(evidence);
  const byGroup = new Map<string, LagEvidence[]>();
  for (const e of evidence) if (e.group !== undefined) byGroup.set(e.group, [...(byGroup.get(e.group) ?? []), e]);
  const sql: SqlReplication[] = roles.map((r) => ({ ...r, lagSeconds: largestLag(byGroup.get(r.failoverGroup) ?? [{ lagSeconds: null }]) }));
  const storage: StorageReplication[] = live
    .filter((s) => s.kind === "storageAccount")
    .map((s) => ({
      account: s.resourceId,
      lagSeconds: evidence.find((e) => e.resourceId === s.resourceId)?.lagSeconds ?? null,
      lastSyncTime: s.lastReplication ?? null,
      status: s.state,
      canPlannedFailover: s.canPlannedFailover === true,
      canFailover: s.canFailover === true,
      primaryLocation: s.primary ?? "unknown",
    }));
  const basis = { live: evidence.filter((e) => e.basis === "live").length, lastKnown: evidence.filter((e) => e.basis === "last-known").length, unknown: evidence.filter((e) => e.basis === "none").length };
  const note = lagNote(evidence, basis, maxLagSeconds, outageStart, maxAgeSeconds);
  const shown = [...evidence].sort((a, b) => (b.lagSeconds ?? Infinity) - (a.lagSeconds ?? Infinity)).slice(0, EVIDENCE_IN_JOURNAL);
  const observed: ReplicationObserved = { to, sql, storage, maxLagSeconds };
  await journalObservation(deps, {
    runId: input.runId,
    step: Steps.measure,
    message: `replication towards ${to}: ${note}`,
    data: { ...observed, basis, outageStart: outageStart.toISOString(), lagSampleMaxAgeSeconds: maxAgeSeconds, evidence: shown, evidenceShown: shown.length, evidenceTotal: evidence.length },
  });
  // The largest few, for the approval's "at stake" (the journal has EVIDENCE_IN_JOURNAL of them).
  const largest = shown.slice(0, LARGEST_IN_RESULT).map((e) => ({ resourceId: e.resourceId, lagSeconds: e.lagSeconds, basis: e.basis }));
  return { at: now.toISOString(), maxLagSeconds, basis, note, largest };
}

/**
 * Every resource's lag as the gate uses it: the live sample when it has a lag; when the primary could
 * not be asked (`unreachable`), the last stored sample with a lag taken from that same primary, aged
 * (core/lag.ts: lastKnownLag) until the first sample since in which the primary could not be reached
 * at all (`silentSince`), or now. A database that answered without a usable figure (no link, seeding,
 * not primary) stays unknown: an older figure says nothing of it now. A resource already switched to
 * the target by an earlier run (`switched`: a failover group or an account) has nothing at stake. A
 * group not in `listed` (its databases could not be listed) is known by its stored databases, or is
 * one unknown; a listed group's databases are the ones Azure listed.
 */
export function replicationEvidence(
  plan: Plan,
  live: readonly LagSample[],
  stored: LagDocument | undefined,
  outageStart: Date,
  maxAgeSeconds: number,
  now: Date,
  groups: { readonly switched?: ReadonlySet<string>; readonly listed?: ReadonlySet<string> } = {},
): LagEvidence[] {
  const out: LagEvidence[] = [];
  const seen = new Set<string>();
  const add = (sample: Pick<LagSample, "resourceId" | "kind" | "group" | "lagSeconds" | "measuredAt" | "state" | "primary">) => {
    if (seen.has(sample.resourceId)) return;
    seen.add(sample.resourceId);
    const group = sample.group !== undefined ? { group: sample.group } : {};
    const none = (why: string) => out.push({ resourceId: sample.resourceId, kind: sample.kind, basis: "none", lagSeconds: null, ...group, why });
    if (groups.switched?.has(sample.group ?? sample.resourceId)) {
      out.push({ resourceId: sample.resourceId, kind: sample.kind, basis: "live", lagSeconds: 0, ...group, why: "already primary in the target region (an earlier run switched it): nothing at stake in this run" });
      return;
    }
    if (sample.lagSeconds !== null) {
      out.push({ resourceId: sample.resourceId, kind: sample.kind, basis: "live", lagSeconds: sample.lagSeconds, ...group, why: `measured at ${sample.measuredAt} (${sample.state})` });
      return;
    }
    if (sample.state !== "unreachable") return void none(`answered without a usable lag (${sample.state})`);
    const kept = stored?.resources[sample.resourceId];
    const last = kept?.lastMeasured;
    if (last && (last.primary === undefined || sample.primary === undefined || last.primary.toLowerCase() !== sample.primary.toLowerCase())) {
      return void none(`the last sample was taken on ${last.primary ?? "an unnamed server"}, not on the primary being left (${sample.primary ?? "unknown"})`);
    }
    out.push(lastKnownLag(sample, last, outageStart, maxAgeSeconds, { now, ...(kept?.silentSince !== undefined ? { failedAfter: kept.silentSince } : {}) }));
  };
  for (const s of live) add(s);
  const storedSamples = Object.values(stored?.resources ?? {}).map((r) => r.latest);
  for (const entry of plan.sql) {
    const id = entry.failoverGroup.id;
    if (groups.listed ? groups.listed.has(id) : out.some((e) => e.group === id)) continue; // listed: Azure's databases, and only those, count
    for (const s of storedSamples) if (s.kind === "sqlDatabase" && s.group === id) add({ ...s, lagSeconds: null, state: "unreachable" });
    if (!out.some((e) => e.group === id)) out.push({ resourceId: id, kind: "sqlDatabase", basis: "none", lagSeconds: null, group: id, why: "the failover group's databases could not be listed, and no sample of them is stored" });
  }
  return out;
}

function lagNote(evidence: readonly LagEvidence[], basis: { live: number; lastKnown: number; unknown: number }, largest: number | null, outageStart: Date, maxAge: number): string {
  if (evidence.length === 0) return "the plan has no geo-replicated SQL database or storage account: nothing can be lost";
  const counts = `${evidence.length} replica(s): ${basis.live} measured now, ${basis.lastKnown} from the last sample before the outage (${outageStart.toISOString()}, samples at most ${maxAge} s older), ${basis.unknown} unknown`;
  if (largest === null) {
    const first = evidence.find((e) => e.lagSeconds === null);
    return `largest lag unknown; ${counts}${first ? `; e.g. ${first.resourceId.split("/").at(-1)}: ${first.why}` : ""}`;
  }
  const top = evidence.reduce((a, b) => ((b.lagSeconds ?? -1) > (a.lagSeconds ?? -1) ? b : a), evidence[0]!);
  return `largest lag ${largest} s (${top.resourceId.split("/").at(-1)}: ${top.why}); ${counts}`;
}
