import { Steps, type MeasureReplicationInput, type MeasureReplicationResult, type ReplicationObserved, type SqlReplication, type StorageReplication } from "../core/run/model.ts";
import { journalObservation } from "./writes.ts";
import type { ActivityDeps } from "./deps.ts";
import { planRegion } from "./health.ts";
import { readFailoverGroup, sqlGroupIn } from "./sql.ts";
import { accountRef, readAccount } from "./storage.ts";

/**
 * Measures how far each replica in `input.to` is behind: the input of the RPO gate. Read-only towards
 * Azure. Each replica's figures are journaled (an observation of the measure step); the run gets the
 * largest lag, and journals the gate's decision with it.
 *
 * - SQL: Azure reports geo-replication lag only inside the primary database
 *   (`sys.dm_geo_replication_link_status`), not through ARM, so `lagSeconds` is null; the group's role
 *   in the target region and its replication state are read from the failover group on the server there.
 * - Storage: lag = now − `lastSyncTime` (rounded up to whole seconds, never understating the data at
 *   risk); null when Azure has no last sync time (an account with no secondary).
 * `maxLagSeconds` is null as soon as any lag is unknown, so a plan with SQL groups never passes the RPO
 * gate on measurement alone.
 */
export async function measureReplication(input: MeasureReplicationInput, deps: ActivityDeps): Promise<MeasureReplicationResult> {
  const { plan, to } = input;
  planRegion(plan, to); // refuses a region the plan does not name
  const now = deps.clock();

  const sql = Promise.all(
    plan.sql.map(async (_, index): Promise<SqlReplication> => {
      const group = sqlGroupIn(plan, index, to);
      const fg = await readFailoverGroup(deps, group);
      return {
        failoverGroup: group.groupId,
        lagSeconds: null,
        replicationState: fg.replicationState ?? "unknown",
        roleInTarget: fg.replicationRole === "Primary" ? "Primary" : "Secondary",
      };
    }),
  );

  const storage = Promise.all(
    plan.storage.map(async (_, index): Promise<StorageReplication> => {
      const ref = accountRef(plan, index);
      const account = await readAccount(deps, ref, true);
      const stats = account.geoReplicationStats;
      const lastSync = stats?.lastSyncTime;
      return {
        account: ref.id,
        lagSeconds: lastSync ? Math.max(0, Math.ceil((now.getTime() - lastSync.getTime()) / 1000)) : null,
        lastSyncTime: lastSync ? lastSync.toISOString() : null,
        status: stats?.status ?? (account.secondaryLocation ? "Unknown" : "NoSecondary"),
        canPlannedFailover: stats?.canPlannedFailover === true,
        canFailover: stats?.canFailover === true,
        primaryLocation: account.primaryLocation ?? "unknown",
      };
    }),
  );

  const [sqlResults, storageResults] = await Promise.all([sql, storage]);
  const lags = [...sqlResults, ...storageResults].map((r) => r.lagSeconds);
  const measured = lags.filter((lag): lag is number => lag !== null);
  const maxLagSeconds = measured.length < lags.length ? null : Math.max(0, ...measured);
  const observed: ReplicationObserved = { to, sql: sqlResults, storage: storageResults, maxLagSeconds };
  await journalObservation(deps, {
    runId: input.runId,
    step: Steps.measure,
    message: `replication towards ${to}: ${maxLagSeconds === null ? `largest lag unknown (${lags.length - measured.length} of ${lags.length} replicas report none)` : `largest lag ${maxLagSeconds} s over ${lags.length} replica(s)`}`,
    data: { ...observed },
  });
  return { at: now.toISOString(), maxLagSeconds };
}
