/**
 * Azure time: how long Azure's operations take in the real world, each figure with where it comes from,
 * and the time scale that divides them for local runs (`--time-scale N`: one real hour lasts 3600/N
 * seconds on the estate). The estate applies the scaled profile to request latency, long-running
 * operation durations and the effects that follow a write (an app restart, Front Door propagation,
 * storage geo-replication's initial sync, a zone conversion).
 *
 * Figures marked "assumption" have no public number behind them; they are chosen to be on the slow
 * side of what operators report, so a run that passes here is not flattered by the estate.
 */

export interface Timed {
  /** Real-world milliseconds. */
  readonly ms: number;
  readonly source: string;
}

export interface AzureTimeProfile {
  readonly name: string;
  /** Request latency by operation id; `*` for every ARM / data-plane request not listed. */
  readonly latency: Readonly<Record<string, Timed>>;
  /** Long-running operations, from the 202 to their end, by operation id. */
  readonly operations: Readonly<Record<string, Timed>>;
  /** What follows a write, after the write itself answered. */
  readonly effects: Readonly<Record<EffectName, Timed>>;
}

export type EffectName =
  /** A site restarts after an app settings or connection strings write: its health endpoint answers 503. */
  | "appRestart"
  /** A Front Door (Standard/Premium or classic) change reaches every POP: `deploymentStatus` InProgress. */
  | "frontDoorPropagation"
  /** Geo-redundancy turned back on: `geoReplicationStats.status` Bootstrap, `canFailover` false. */
  | "storageInitialGeoSync"
  /** A customer-initiated zone conversion (GRS → GZRS): `StorageAccounts_CustomerInitiatedMigration`. */
  | "storageZoneConversion";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * A customer-initiated zone conversion (GRS → GZRS). Azure's redundancy-migration doc: it "could take up
 * to 72 hours to begin", with no SLA for completion; its redundancy-change FAQ: conversions typically
 * begin within a few days and might take weeks to complete.
 */
const ZONE_CONVERSION: Timed = {
  ms: 72 * HOUR,
  source:
    "Azure's redundancy-migration doc: a customer-initiated conversion can take up to 72 hours to begin, no SLA for completion; redundancy-change FAQ: typically within a few days, possibly weeks. 72 hours assumed (the documented start delay; the conversion itself is taken as done by then), 7.2 minutes at time scale 600",
};

/** Azure's durations as public material gives them (or as assumed, where it gives none). */
export const AZURE_PROFILE: AzureTimeProfile = {
  name: "azure",
  latency: {
    "*": { ms: 250, source: "assumption: Azure publishes no per-request ARM latency" },
    FailoverGroups_Failover: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    FailoverGroups_ForceFailoverAllowDataLoss: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    FailoverGroups_TryPlannedBeforeForcedFailover: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    StorageAccounts_Failover: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    StorageAccounts_CustomerInitiatedMigration: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    AFDOrigins_Update: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    FrontDoors_CreateOrUpdate: { ms: 500, source: "assumption (a write that starts a long-running operation)" },
    StorageAccounts_Update: { ms: 1_000, source: "assumption (a synchronous write)" },
    WebApps_UpdateApplicationSettings: { ms: 1_000, source: "assumption (a synchronous write)" },
    WebApps_UpdateConnectionStrings: { ms: 1_000, source: "assumption (a synchronous write)" },
  },
  operations: {
    FailoverGroups_Failover: { ms: 60_000, source: "assumption: a planned (friendly) failover synchronises first; Azure says it typically completes in under a minute" },
    FailoverGroups_TryPlannedBeforeForcedFailover: { ms: 60_000, source: "as FailoverGroups_Failover (it is a planned failover while the partner answers)" },
    FailoverGroups_ForceFailoverAllowDataLoss: { ms: 30_000, source: "Azure SQL business continuity overview: geo-failover RTO 30 s" },
    StorageAccounts_Failover: { ms: HOUR, source: "Azure Storage disaster recovery guidance and planned failover docs: a failover typically takes about an hour" },
    AFDOrigins_Update: { ms: MINUTE, source: "assumption: the ARM operation itself; propagation to the edge follows it (effects.frontDoorPropagation)" },
    FrontDoors_CreateOrUpdate: { ms: MINUTE, source: "assumption: the ARM operation itself; propagation to the edge follows it (effects.frontDoorPropagation)" },
    StorageAccounts_CustomerInitiatedMigration: { ms: ZONE_CONVERSION.ms, source: "see effects.storageZoneConversion" },
    Email_Send: {
      ms: 20_000,
      source:
        "assumption: Azure Communication Services publishes no time from an accepted send to Succeeded; its REST reference's Email_Send example answers the 202 with retry-after: 20, taken as the time the send runs (the Running example's retry-after: 100 is the slow side)",
    },
  },
  effects: {
    appRestart: { ms: 60_000, source: "assumption: App Service restarts the app when app settings or connection strings change (documented); how long a cold start takes depends on the app — one minute assumed" },
    frontDoorPropagation: { ms: 20 * MINUTE, source: "Front Door FAQ: a configuration change might take up to 20 minutes to propagate (upper end); changes submitted meanwhile queue behind it" },
    storageInitialGeoSync: {
      ms: 24 * HOUR,
      source:
        "assumption: Azure publishes no duration and no SLA for the geo conversion (LRS → GRS) after a failover; its storage failover FAQ says it depends on the number and size of objects and the replication resources, and its redundancy-change FAQ says SKU conversions typically complete within a few days and can take weeks. One day assumed (the short end, so a failback drill at time scale 600 waits 2.4 minutes); a large account takes longer",
    },
    storageZoneConversion: ZONE_CONVERSION,
  },
};

/** The profile divided by a time scale, in whole milliseconds (at least 1 where the real figure is not 0). */
export interface ScaledProfile {
  readonly scale: number;
  readonly latencyMs: Readonly<Record<string, number>>;
  readonly durationsMs: Readonly<Record<string, number>>;
  readonly effectsMs: Readonly<Record<EffectName, number>>;
}

export function scaleMs(realMs: number, scale: number): number {
  if (realMs <= 0) return 0;
  return Math.max(1, Math.round(realMs / scale));
}

export function scaleProfile(profile: AzureTimeProfile, scale: number): ScaledProfile {
  if (!Number.isFinite(scale) || scale < 1) throw new RangeError(`time scale must be a number >= 1, got ${scale}`);
  const map = (table: Readonly<Record<string, Timed>>): Record<string, number> =>
    Object.fromEntries(Object.entries(table).map(([k, v]) => [k, scaleMs(v.ms, scale)]));
  const effect = (name: EffectName) => scaleMs(profile.effects[name].ms, scale);
  // Named one by one so that a new effect cannot be left out of the scaled profile.
  const effectsMs: Record<EffectName, number> = {
    appRestart: effect("appRestart"),
    frontDoorPropagation: effect("frontDoorPropagation"),
    storageInitialGeoSync: effect("storageInitialGeoSync"),
    storageZoneConversion: effect("storageZoneConversion"),
  };
  return { scale, latencyMs: map(profile.latency), durationsMs: map(profile.operations), effectsMs };
}

/** Effects with no time (no profile set): everything happens at once, as the estate did before Azure time. */
export const INSTANT_EFFECTS: Readonly<Record<EffectName, number>> = {
  appRestart: 0,
  frontDoorPropagation: 0,
  storageInitialGeoSync: 0,
  storageZoneConversion: 0,
};
