import { randomBytes, randomUUID } from "node:crypto";
import { ancestorId, parseArmId, type Plan } from "../src/core/plan/index.ts";
import { afdEndpointHostName, Edge } from "./edge.ts";

/** Ids are compared case-insensitively, as ARM does. */
export const key = (id: string) => id.replace(/\/+$/, "").toLowerCase();

export interface SqlServer {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
}

export interface FailoverGroup {
  readonly name: string;
  /** Server ids; failover swaps them. */
  primaryServerId: string;
  secondaryServerId: string;
  /** Database names (the same on both servers). */
  databases: string[];
  readWriteEndpoint: { failoverPolicy: "Automatic" | "Manual"; failoverWithDataLossGracePeriodMinutes?: number };
  readOnlyEndpoint: { failoverPolicy: "Enabled" | "Disabled" };
  /** Replication lag of the databases to the secondary, in seconds (scenario-controlled). */
  lagSeconds: number;
  /** Replication link ids per database (stable across failovers, as in Azure). */
  readonly linkIds: Record<string, string>;
  /** Seconds of writes lost by forced failovers so far (an estate-only record, shown in /_estate/state). */
  dataLossSeconds: number;
}

export interface StorageKey {
  keyName: "key1" | "key2";
  value: string;
  creationTime: string;
}

export interface StorageAccount {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  primaryLocation: string;
  /** undefined while the account is LRS/ZRS (after an unplanned failover). */
  secondaryLocation: string | undefined;
  /**
   * The plan's two regions, fixed at seed time: whichever is not primary is the account's paired
   * location, the secondary that re-protection (a change back to a geo-redundant SKU) restores.
   */
  readonly regionPair: readonly [string, string];
  sku: string;
  kind: string;
  lagSeconds: number;
  keys: StorageKey[];
  /** When the last failover finished (ms), for `lastGeoFailoverTime`. */
  lastGeoFailoverTime?: number;
  /** Seconds of writes lost by unplanned failovers so far (an estate-only record, shown in /_estate/state). */
  dataLossSeconds: number;
  creationTime: string;
  /** The SKU the account was created with (an unplanned failback to its first region restores its zone redundancy). */
  readonly originalSku: string;
  /** Geo-redundancy turned (back) on: the initial sync to the secondary runs from `startedAt` until `until` (ms). */
  geoSync?: { readonly startedAt: number; readonly until: number };
  /** The last customer-initiated migration (zone conversion); its state is its long-running operation's. */
  migration?: { readonly targetSku: string; readonly operationId: string; readonly startedAt: number };
}

export interface AfdOrigin {
  readonly id: string;
  readonly name: string;
  readonly originGroupId: string;
  hostName: string;
  httpPort: number;
  httpsPort: number;
  originHostHeader: string;
  priority: number;
  weight: number;
  enabledState: "Enabled" | "Disabled";
  /** Absent means true (Azure's default). */
  enforceCertificateNameCheck?: boolean;
  /** The plan region this origin serves, if known (drives health metrics). */
  region?: string;
}

export interface AfdOriginGroup {
  readonly id: string;
  readonly name: string;
  readonly profileId: string;
}

/** An AFD endpoint (`<name>-<hash>.z01.azurefd.net`) and its routes, each to one origin group. */
export interface AfdEndpoint {
  readonly id: string;
  readonly name: string;
  readonly profileId: string;
  readonly hostName: string;
  readonly routes: { readonly name: string; readonly originGroupId: string; readonly patternsToMatch: readonly string[] }[];
}

/** A classic Front Door is kept as the ARM body it was PUT with (properties and all). */
export interface ClassicFrontDoor {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  body: Record<string, unknown>;
  /** Backend address → plan region, for health metrics. */
  readonly backendRegions: Record<string, string>;
}

export interface Site {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  appSettings: Record<string, string>;
  connectionStrings: Record<string, { value: string; type: string }>;
  /** Until when (ms) the app restarts after a settings write: its region's health endpoints answer 503. */
  restartingUntil?: number;
}

export interface SecretVersion {
  readonly version: string;
  value: string;
  contentType?: string;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  readonly created: number;
  updated: number;
  tags?: Record<string, string>;
}

export interface Vault {
  readonly name: string;
  /** The region the vault is located in (its control plane), when a plan names it. */
  location?: string;
  /** Secret name (lower-case) → versions, oldest first. */
  readonly secrets: Map<string, { name: string; versions: SecretVersion[] }>;
}

/**
 * A region's control plane: the regional resource providers that ARM hands requests for resources
 * located there to. `reads-fail`: reads of those resources fail; `down`: writes fail too.
 */
export type ControlPlane = "up" | "reads-fail" | "down";

export interface RegionState {
  down: boolean;
  /** When the region went down (ms): replication from it stops then. */
  downSince?: number;
  /** What the region's application health endpoints answer while it is down. */
  healthWhenDown: "refused" | "503";
  /** Its control plane (independent of `down`, which is the data plane and the application). */
  controlPlane: ControlPlane;
}

/** Everything the estate holds. Resources are keyed by subscription, then by lower-case ARM id. */
export class EstateState {
  readonly regions = new Map<string, RegionState>();
  readonly sqlServers = new Map<string, Map<string, SqlServer>>();
  readonly failoverGroups: FailoverGroup[] = [];
  readonly storageAccounts = new Map<string, Map<string, StorageAccount>>();
  readonly afdOriginGroups = new Map<string, AfdOriginGroup>();
  readonly afdOrigins = new Map<string, AfdOrigin>();
  readonly afdEndpoints = new Map<string, AfdEndpoint>();
  readonly frontDoors = new Map<string, ClassicFrontDoor>();
  /** Front Door as users reach it: the configuration that has propagated to the edge. */
  readonly edge = new Edge();
  readonly sites = new Map<string, Site>();
  readonly vaults = new Map<string, Vault>();
  /** Host name (lower-case) of an application health endpoint → its region and path. */
  readonly healthHosts = new Map<string, { region: string }>();

  constructor(private readonly clock: () => number) {}

  /** Forgets every resource and region (reset re-seeds from the plans). */
  clear(): void {
    this.regions.clear();
    this.sqlServers.clear();
    this.failoverGroups.length = 0;
    this.storageAccounts.clear();
    this.afdOriginGroups.clear();
    this.afdOrigins.clear();
    this.afdEndpoints.clear();
    this.frontDoors.clear();
    this.edge.clear();
    this.sites.clear();
    this.vaults.clear();
    this.healthHosts.clear();
  }

  region(name: string): RegionState {
    let state = this.regions.get(name);
    if (!state) {
      state = { down: false, healthWhenDown: "refused", controlPlane: "up" };
      this.regions.set(name, state);
    }
    return state;
  }

  isDown(region: string | undefined): boolean {
    return region !== undefined && this.regions.get(region)?.down === true;
  }

  /** Is an app of this region restarting at `now` (after a settings write)? */
  restarting(region: string, now: number): boolean {
    for (const site of this.sites.values()) {
      if (site.location === region && site.restartingUntil !== undefined && site.restartingUntil > now) return true;
    }
    return false;
  }

  sqlServer(id: string): SqlServer | undefined {
    return this.sqlServers.get(parseArmId(id).subscriptionId.toLowerCase())?.get(key(id));
  }

  storageAccount(id: string): StorageAccount | undefined {
    return this.storageAccounts.get(parseArmId(id).subscriptionId.toLowerCase())?.get(key(id));
  }

  /** Seeds the resources a plan names, each in the region the plan puts it in. Idempotent. */
  seed(plan: Plan): void {
    const now = this.clock();
    const primary = plan.regions.primary.name;
    const secondary = plan.regions.secondary.name;
    this.region(primary);
    this.region(secondary);
    for (const role of ["primary", "secondary"] as const) {
      for (const endpoint of plan.regions[role].healthEndpoints) {
        this.healthHosts.set(new URL(endpoint.url).host.toLowerCase(), { region: plan.regions[role].name });
      }
    }

    for (const group of plan.sql) {
      const fg = group.failoverGroup;
      const primaryServer = this.addSqlServer(ancestorId(fg, 1), primary);
      const secondaryServer = this.addSqlServer(group.partnerServer.id, secondary);
      const existing = this.failoverGroups.find(
        (g) => g.name.toLowerCase() === fg.name.toLowerCase() && [g.primaryServerId, g.secondaryServerId].some((s) => key(s) === key(primaryServer.id)),
      );
      if (existing) continue;
      const databases = group.databases ?? [`${fg.name}-db`];
      this.failoverGroups.push({
        name: fg.name,
        primaryServerId: primaryServer.id,
        secondaryServerId: secondaryServer.id,
        databases,
        readWriteEndpoint: { failoverPolicy: "Manual" },
        readOnlyEndpoint: { failoverPolicy: "Disabled" },
        lagSeconds: 0,
        linkIds: Object.fromEntries(databases.map((db) => [db.toLowerCase(), randomUUID()])),
        dataLossSeconds: 0,
      });
      if (group.gracePeriodMinutes !== undefined) {
        this.failoverGroups.at(-1)!.readWriteEndpoint = { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: group.gracePeriodMinutes };
      }
    }

    for (const account of plan.storage) {
      const sub = account.account.subscriptionId.toLowerCase();
      const bySub = this.storageAccounts.get(sub) ?? new Map<string, StorageAccount>();
      this.storageAccounts.set(sub, bySub);
      if (bySub.has(key(account.account.id))) continue;
      const created = new Date(now - 90 * 86_400_000).toISOString();
      bySub.set(key(account.account.id), {
        id: account.account.id,
        subscriptionId: account.account.subscriptionId,
        resourceGroup: account.account.resourceGroup,
        name: account.account.name,
        primaryLocation: primary,
        secondaryLocation: secondary,
        regionPair: [primary, secondary],
        sku: account.sku,
        kind: "StorageV2",
        lagSeconds: 0,
        keys: [
          { keyName: "key1", value: newStorageKey(), creationTime: created },
          { keyName: "key2", value: newStorageKey(), creationTime: created },
        ],
        dataLossSeconds: 0,
        creationTime: created,
        originalSku: account.sku,
      });
    }

    for (const group of plan.frontDoor.standard) {
      const groupId = group.originGroup.id;
      if (!this.afdOriginGroups.has(key(groupId))) {
        this.afdOriginGroups.set(key(groupId), { id: groupId, name: group.originGroup.name, profileId: ancestorId(group.originGroup, 1) });
      }
      // Each origin group is served by one endpoint of its profile, named after it, through one route.
      const profileId = ancestorId(group.originGroup, 1);
      const endpointId = `${profileId}/afdEndpoints/${group.originGroup.name}`;
      if (!this.afdEndpoints.has(key(endpointId))) {
        this.afdEndpoints.set(key(endpointId), {
          id: endpointId,
          name: group.originGroup.name,
          profileId,
          hostName: afdEndpointHostName(endpointId, group.originGroup.name),
          routes: [{ name: `${group.originGroup.name}-route`, originGroupId: groupId, patternsToMatch: ["/*"] }],
        });
      }
      for (const [region, originName] of Object.entries(group.origins)) {
        const originId = `${groupId}/origins/${originName}`;
        if (this.afdOrigins.has(key(originId))) continue;
        const host = this.hostFor(plan, region) ?? `${originName}.azurewebsites.net`;
        this.afdOrigins.set(key(originId), {
          id: originId,
          name: originName,
          originGroupId: groupId,
          hostName: host,
          httpPort: 80,
          httpsPort: 443,
          originHostHeader: host,
          priority: region === primary ? 1 : 2,
          weight: 1000,
          enabledState: "Enabled",
          region,
        });
      }
    }

    for (const fd of plan.frontDoor.classic) {
      const id = fd.frontDoor.id;
      const existing = this.frontDoors.get(key(id));
      const backends = Object.entries(fd.backends).map(([region, address]) => ({
        address,
        httpPort: 80,
        httpsPort: 443,
        priority: region === primary ? 1 : 2,
        weight: 50,
        backendHostHeader: address,
        enabledState: "Enabled",
      }));
      const backendRegions = Object.fromEntries(Object.entries(fd.backends).map(([region, address]) => [address.toLowerCase(), region]));
      if (existing) {
        Object.assign(existing.backendRegions, backendRegions);
        const pools = (existing.body.properties as { backendPools: { name: string }[] }).backendPools;
        if (!pools.some((p) => p.name.toLowerCase() === fd.backendPool.toLowerCase())) pools.push(classicPool(id, fd.backendPool, backends));
        continue;
      }
      this.frontDoors.set(key(id), {
        id,
        subscriptionId: fd.frontDoor.subscriptionId,
        resourceGroup: fd.frontDoor.resourceGroup,
        name: fd.frontDoor.name,
        backendRegions,
        body: classicFrontDoorBody(id, fd.frontDoor.name, fd.backendPool, backends),
      });
    }

    for (const site of plan.appService) {
      if (this.sites.has(key(site.site.id))) continue;
      const location = site.region ?? [secondary, primary].find((r) => site.site.name.toLowerCase().includes(r) || site.site.resourceGroup.toLowerCase().includes(r)) ?? primary;
      this.sites.set(key(site.site.id), {
        id: site.site.id,
        subscriptionId: site.site.subscriptionId,
        resourceGroup: site.site.resourceGroup,
        name: site.site.name,
        location,
        appSettings: Object.fromEntries(site.appSettings.map((s) => [s.name, s.values[primary] ?? ""])),
        connectionStrings: Object.fromEntries(site.connectionStrings.map((s) => [s.name, { value: s.values[primary] ?? "", type: s.type }])),
      });
    }

    for (const secret of plan.secrets) {
      const vault = this.vault(secret.vault.name);
      // Plans name no vault region: taken from the vault's name or resource group, else the primary region.
      vault.location ??= [secondary, primary].find((r) => [secret.vault.name, secret.vault.resourceGroup].some((n) => n.toLowerCase().includes(r))) ?? primary;
      if (vault.secrets.has(secret.name.toLowerCase())) continue;
      const created = now - 30 * 86_400_000;
      vault.secrets.set(secret.name.toLowerCase(), {
        name: secret.name,
        versions: [
          {
            version: randomUUID().replace(/-/g, ""),
            value: randomBytes(32).toString("base64url"),
            enabled: true,
            created,
            updated: created,
            exp: created + secret.validityDays * 86_400_000,
          },
        ],
      });
    }
  }

  vault(name: string): Vault {
    const k = name.toLowerCase();
    let vault = this.vaults.get(k);
    if (!vault) {
      vault = { name, secrets: new Map() };
      this.vaults.set(k, vault);
    }
    return vault;
  }

  private addSqlServer(id: string, location: string): SqlServer {
    const parsed = parseArmId(id);
    const sub = parsed.subscriptionId.toLowerCase();
    const bySub = this.sqlServers.get(sub) ?? new Map<string, SqlServer>();
    this.sqlServers.set(sub, bySub);
    const existing = bySub.get(key(id));
    if (existing) return existing;
    const server: SqlServer = { id, subscriptionId: parsed.subscriptionId, resourceGroup: parsed.resourceGroup, name: parsed.name, location };
    bySub.set(key(id), server);
    return server;
  }

  private hostFor(plan: Plan, region: string): string | undefined {
    const role = plan.regions.primary.name === region ? "primary" : "secondary";
    const url = plan.regions[role].healthEndpoints[0]?.url;
    return url ? new URL(url).hostname : undefined;
  }
}

export function newStorageKey(): string {
  return randomBytes(64).toString("base64");
}

function classicPool(frontDoorId: string, name: string, backends: unknown[]) {
  return {
    id: `${frontDoorId}/backendPools/${name}`,
    name,
    type: "Microsoft.Network/Frontdoors/BackendPools",
    properties: {
      backends,
      loadBalancingSettings: { id: `${frontDoorId}/loadBalancingSettings/loadBalancingSettings1` },
      healthProbeSettings: { id: `${frontDoorId}/healthProbeSettings/healthProbeSettings1` },
      resourceState: "Enabled",
    },
  };
}

function classicFrontDoorBody(id: string, name: string, poolName: string, backends: unknown[]): Record<string, unknown> {
  const frontendId = `${id}/frontendEndpoints/frontendEndpoint1`;
  return {
    id,
    name,
    type: "Microsoft.Network/frontdoors",
    location: "global",
    tags: {},
    properties: {
      friendlyName: name,
      enabledState: "Enabled",
      routingRules: [
        {
          id: `${id}/routingRules/routingRule1`,
          name: "routingRule1",
          properties: {
            frontendEndpoints: [{ id: frontendId }],
            acceptedProtocols: ["Https"],
            patternsToMatch: ["/*"],
            enabledState: "Enabled",
            routeConfiguration: {
              "@odata.type": "#Microsoft.Azure.FrontDoor.Models.FrontdoorForwardingConfiguration",
              forwardingProtocol: "HttpsOnly",
              backendPool: { id: `${id}/backendPools/${poolName}` },
            },
            resourceState: "Enabled",
          },
        },
      ],
      healthProbeSettings: [
        {
          id: `${id}/healthProbeSettings/healthProbeSettings1`,
          name: "healthProbeSettings1",
          properties: { path: "/", protocol: "Https", intervalInSeconds: 30, healthProbeMethod: "HEAD", enabledState: "Enabled", resourceState: "Enabled" },
        },
      ],
      loadBalancingSettings: [
        {
          id: `${id}/loadBalancingSettings/loadBalancingSettings1`,
          name: "loadBalancingSettings1",
          properties: { sampleSize: 4, successfulSamplesRequired: 2, additionalLatencyMilliseconds: 0, resourceState: "Enabled" },
        },
      ],
      backendPools: [classicPool(id, poolName, backends)],
      frontendEndpoints: [
        {
          id: frontendId,
          name: "frontendEndpoint1",
          properties: { hostName: `${name}.azurefd.net`, sessionAffinityEnabledState: "Disabled", resourceState: "Enabled" },
        },
      ],
      backendPoolsSettings: { enforceCertificateNameCheck: "Enabled", sendRecvTimeoutSeconds: 30 },
      resourceState: "Enabled",
      provisioningState: "Succeeded",
      cname: `${name}.azurefd.net`,
      frontdoorId: randomUUID(),
    },
  };
}
