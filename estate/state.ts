import { randomBytes, randomUUID } from "node:crypto";
import { ancestorId, ArmIdError, parseArmId } from "./armId.ts";
import { afdEndpointHostName, Edge, type EdgeData } from "./edge.ts";
import { arrayAt, objectAt, stringAt } from "./json.ts";
import {
  SeedError,
  type EstateSeed,
  type SeedAfdEndpoint,
  type SeedAfdOriginGroup,
  type SeedFailoverGroup,
  type SeedFrontDoor,
  type SeedSecret,
  type SeedSite,
  type SeedSqlServer,
  type SeedStorageAccount,
  type SeedVault,
} from "./seed.ts";
import { hashLoginPassword, loginPasswordMatches, passwordPolicyError } from "./tds/logins.ts";

/** Ids are compared case-insensitively, as ARM does. */
export const key = (id: string) => id.replace(/\/+$/, "").toLowerCase();

const DAY_MS = 86_400_000;
/** Seeded storage accounts (and their keys) were created this long before the seeding. */
const ACCOUNT_AGE_DAYS = 90;

export interface SqlServer {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  /** SQL authentication logins, kept in the server's master (absent: none seeded). */
  readonly logins?: SqlLogin[];
}

/** A SQL authentication login: its password is kept only as a salted hash (estate/tds/logins.ts). */
export interface SqlLogin {
  readonly name: string;
  passwordHash: { readonly salt: string; readonly hash: string };
  readonly disabled: boolean;
  /** When its password was last set (ms, the estate's clock). */
  passwordSetAt: number;
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
   * Its primary and secondary as seeded, fixed from then on: the first is its ARM `location`; whichever
   * is not primary is the account's paired location, the secondary that re-protection (a change back
   * to a geo-redundant SKU) restores.
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
  /** The region the origin's host runs in, if known (drives its health: probes, metrics, the edge). */
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
  /** Backend address (lower-case) → the region it runs in, for its health. */
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
  /**
   * What App Service last fetched for each Key Vault reference among the app settings and connection
   * strings, by setting name (absent: never fetched). Versions and times only: values stay in the vaults.
   */
  keyVaultReferences?: { appSettings: Record<string, FetchedReference>; connectionStrings: Record<string, FetchedReference> };
}

/** The outcomes of resolving a Key Vault reference the estate can produce (App Service's ResolveStatus). */
export type KeyVaultReferenceStatus = "Resolved" | "InvalidSyntax" | "VaultNotFound" | "SecretNotFound" | "SecretVersionNotFound" | "OtherReasons";

/** One Key Vault reference as App Service fetched it: never the secret's value. */
export interface FetchedReference {
  /** The setting's value: `@Microsoft.KeyVault(...)`. */
  readonly reference: string;
  readonly status: KeyVaultReferenceStatus;
  readonly details: string;
  /** The version the app uses (resolved references only). */
  readonly activeVersion?: string;
  /** When App Service fetched it (ms, the estate's clock). */
  readonly fetchedAt: number;
}

/** A reference's parts, or why it cannot be read. */
export type ParsedKeyVaultReference =
  | { readonly ok: true; readonly vaultName: string; readonly secretName: string; readonly secretVersion?: string; readonly vaultHost: string }
  | { readonly ok: false; readonly problem: string };

const REFERENCE_PREFIX = "@microsoft.keyvault(";
/** Key Vault's host suffix in the public cloud (the only cloud the estate plays). */
const VAULT_HOST_SUFFIX = ".vault.azure.net";
const VAULT_NAME = /^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const SECRET_VERSION = /^[0-9a-zA-Z]{1,64}$/;
/**
 * App Service keeps what it fetched for 24 hours ("App Service caches the values of the Key Vault
 * references and refetches them every 24 hours": Use Key Vault references as app settings, "Understand
 * rotation").
 */
export const KEY_VAULT_REFERENCE_CACHE_MS = 86_400_000;

/** Is this setting value a Key Vault reference (`@Microsoft.KeyVault(...)`, well formed or not)? */
export function isKeyVaultReference(value: string): boolean {
  return value.toLowerCase().startsWith(REFERENCE_PREFIX);
}

/**
 * The two forms App Service documents: `@Microsoft.KeyVault(SecretUri=https://{vault}.vault.azure.net/secrets/{name}[/{version}])`
 * and `@Microsoft.KeyVault(VaultName={vault};SecretName={name}[;SecretVersion={version}])`.
 */
export function parseKeyVaultReference(value: string): ParsedKeyVaultReference {
  const bad = (problem: string): ParsedKeyVaultReference => ({ ok: false, problem });
  const usage = "a Key Vault reference is @Microsoft.KeyVault(SecretUri=<secret URI>) or @Microsoft.KeyVault(VaultName=<vault>;SecretName=<secret>[;SecretVersion=<version>])";
  if (!isKeyVaultReference(value) || !value.endsWith(")")) return bad(`The reference is not enclosed in @Microsoft.KeyVault(...): ${usage}.`);
  const inner = value.slice(REFERENCE_PREFIX.length, -1).trim();
  const parts = new Map<string, string>();
  for (const part of inner.split(";").map((p) => p.trim()).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return bad(`The reference has a part without a name and value: ${usage}.`);
    const name = part.slice(0, eq).trim().toLowerCase();
    if (parts.has(name)) return bad(`The reference names '${part.slice(0, eq).trim()}' twice.`);
    parts.set(name, part.slice(eq + 1).trim());
  }
  const names = [...parts.keys()].sort().join(",");
  let vaultName: string;
  let secretName: string;
  let secretVersion: string | undefined;
  let vaultHost: string;
  if (names === "secreturi") {
    let uri: URL;
    try {
      uri = new URL(parts.get("secreturi")!);
    } catch {
      return bad(`The SecretUri is not a URI: ${usage}.`);
    }
    const segments = uri.pathname.split("/").filter((s) => s !== "");
    if (uri.protocol !== "https:" || uri.search !== "" || segments.length < 2 || segments.length > 3 || segments[0]!.toLowerCase() !== "secrets") {
      return bad("The SecretUri is not of the form https://<vault>.vault.azure.net/secrets/<name>[/<version>].");
    }
    vaultHost = uri.hostname.toLowerCase();
    vaultName = vaultHost.split(".")[0]!;
    secretName = segments[1]!;
    secretVersion = segments[2];
  } else if (names === "secretname,vaultname" || names === "secretname,secretversion,vaultname") {
    vaultName = parts.get("vaultname")!;
    secretName = parts.get("secretname")!;
    secretVersion = parts.get("secretversion") || undefined;
    vaultHost = `${vaultName.toLowerCase()}${VAULT_HOST_SUFFIX}`;
  } else {
    return bad(`The reference names ${[...parts.keys()].join(", ") || "nothing"}: ${usage}.`);
  }
  if (!VAULT_NAME.test(vaultName)) return bad(`'${vaultName}' is not a key vault name.`);
  if (!SECRET_NAME.test(secretName)) return bad(`'${secretName}' is not a secret name.`);
  if (secretVersion !== undefined && !SECRET_VERSION.test(secretVersion)) return bad(`'${secretVersion}' is not a secret version.`);
  return { ok: true, vaultName, secretName, ...(secretVersion !== undefined ? { secretVersion } : {}), vaultHost };
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
  /** The vault's ARM resource id (`…/providers/Microsoft.KeyVault/vaults/{name}`), when seeded: the scope its role assignments apply to. */
  id?: string;
  /** The region the vault is located in (its control plane), when seeded. */
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

/** What an estate holds, as plain data (JSON): see EstateState.toJSON and restore. */
export interface EstateStateData {
  readonly regions: readonly (readonly [string, RegionState])[];
  readonly sqlServers: readonly SqlServer[];
  readonly failoverGroups: readonly FailoverGroup[];
  readonly storageAccounts: readonly StorageAccount[];
  readonly afdOriginGroups: readonly AfdOriginGroup[];
  readonly afdOrigins: readonly AfdOrigin[];
  readonly afdEndpoints: readonly AfdEndpoint[];
  readonly frontDoors: readonly ClassicFrontDoor[];
  readonly edge: EdgeData;
  readonly sites: readonly Site[];
  readonly vaults: readonly { readonly name: string; readonly id?: string; readonly location?: string; readonly secrets: readonly { name: string; versions: SecretVersion[] }[] }[];
  readonly healthHosts: readonly (readonly [string, { region: string }])[];
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

  /** Every resource, region and the edge, as plain data (secret values included: keep it private). */
  toJSON(): EstateStateData {
    const flat = <T>(m: Map<string, Map<string, T>>) => [...m.values()].flatMap((inner) => [...inner.values()]);
    return {
      regions: [...this.regions],
      sqlServers: flat(this.sqlServers),
      failoverGroups: this.failoverGroups,
      storageAccounts: flat(this.storageAccounts),
      afdOriginGroups: [...this.afdOriginGroups.values()],
      afdOrigins: [...this.afdOrigins.values()],
      afdEndpoints: [...this.afdEndpoints.values()],
      frontDoors: [...this.frontDoors.values()],
      edge: this.edge.toJSON(),
      sites: [...this.sites.values()],
      vaults: [...this.vaults.values()].map((v) => ({ name: v.name, ...(v.id !== undefined ? { id: v.id } : {}), ...(v.location !== undefined ? { location: v.location } : {}), secrets: [...v.secrets.values()] })),
      healthHosts: [...this.healthHosts],
    };
  }

  /** Replaces everything with kept data (see toJSON); the data is copied, not shared. */
  restore(kept: EstateStateData): void {
    const data = structuredClone(kept);
    this.clear();
    const bySubscription = <T extends { id: string; subscriptionId: string }>(target: Map<string, Map<string, T>>, items: readonly T[]) => {
      for (const item of items) {
        const sub = item.subscriptionId.toLowerCase();
        const inner = target.get(sub) ?? new Map<string, T>();
        target.set(sub, inner);
        inner.set(key(item.id), item);
      }
    };
    for (const [name, region] of data.regions) this.regions.set(name, region);
    bySubscription(this.sqlServers, data.sqlServers);
    this.failoverGroups.push(...data.failoverGroups);
    bySubscription(this.storageAccounts, data.storageAccounts);
    for (const g of data.afdOriginGroups) this.afdOriginGroups.set(key(g.id), g);
    for (const o of data.afdOrigins) this.afdOrigins.set(key(o.id), o);
    for (const e of data.afdEndpoints) this.afdEndpoints.set(key(e.id), e);
    for (const f of data.frontDoors) this.frontDoors.set(key(f.id), f);
    this.edge.restore(data.edge);
    for (const s of data.sites) this.sites.set(key(s.id), s);
    for (const v of data.vaults) {
      this.vaults.set(v.name.toLowerCase(), { name: v.name, ...(v.id !== undefined ? { id: v.id } : {}), ...(v.location !== undefined ? { location: v.location } : {}), secrets: new Map(v.secrets.map((sec) => [sec.name.toLowerCase(), sec])) });
    }
    for (const [host, target] of data.healthHosts) this.healthHosts.set(host, target);
  }

  /** Forgets every resource and region (reset seeds again from the seeds). */
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

  /** The server by ARM id; undefined also for a string that is no ARM id (it names no server). */
  sqlServer(id: string): SqlServer | undefined {
    const subscriptionId = subscriptionOf(id);
    return subscriptionId === undefined ? undefined : this.sqlServers.get(subscriptionId)?.get(key(id));
  }

  /** A login of a server, by name (case-insensitive, as the server's collation compares names). */
  sqlLogin(serverId: string, name: string): SqlLogin | undefined {
    return this.sqlServer(serverId)?.logins?.find((l) => l.name.toLowerCase() === name.toLowerCase());
  }

  /** Whether `name` and `password` log in to the server by SQL authentication now (false for an unknown or disabled login). */
  checkSqlLogin(serverId: string, name: string, password: string): boolean {
    const login = this.sqlLogin(serverId, name);
    return login !== undefined && !login.disabled && loginPasswordMatches(login, password);
  }

  /** Sets a login's password (ALTER LOGIN … WITH PASSWORD): only its salted hash is kept. */
  setSqlLoginPassword(login: SqlLogin, password: string): void {
    login.passwordHash = hashLoginPassword(password);
    login.passwordSetAt = this.clock();
  }

  /** The account by ARM id; undefined also for a string that is no ARM id. */
  storageAccount(id: string): StorageAccount | undefined {
    const subscriptionId = subscriptionOf(id);
    return subscriptionId === undefined ? undefined : this.storageAccounts.get(subscriptionId)?.get(key(id));
  }

  /**
   * Adds what a seed holds (estate/seed.ts). A resource already here is kept; a Front Door gains the
   * backend pools it lacks, an origin group the origins it lacks. The seed's references are checked
   * first: when one fails nothing changes (SeedError). The seed itself is never modified (reset
   * applies it again).
   */
  seed(seed: EstateSeed): void {
    checkSeed(seed, this);
    const now = this.clock();
    for (const r of seed.regions ?? []) {
      this.region(r.name);
      for (const host of r.applicationHosts ?? []) this.healthHosts.set(host.toLowerCase(), { region: r.name });
    }
    for (const server of seed.sqlServers ?? []) this.addSqlServer(server);
    for (const group of seed.failoverGroups ?? []) this.addFailoverGroup(group);
    for (const account of seed.storageAccounts ?? []) this.addStorageAccount(account, now);
    for (const group of seed.afdOriginGroups ?? []) this.addAfdOriginGroup(group);
    for (const endpoint of seed.afdEndpoints ?? []) this.addAfdEndpoint(endpoint);
    for (const frontDoor of seed.frontDoors ?? []) this.addFrontDoor(frontDoor);
    const newSites = (seed.sites ?? []).flatMap((site) => this.addSite(site) ?? []);
    for (const vault of seed.vaults ?? []) this.addVault(vault, now);
    // A new app resolves its Key Vault references as it starts: against the vaults as seeded, latest versions now.
    for (const site of newSites) this.fetchKeyVaultReferences(site, now);
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

  /**
   * App Service fetches the site's Key Vault references at `at`: all of them (at a start, and after any
   * configuration change, which restarts the app and "causes ... an immediate refetch of all referenced
   * secrets": Use Key Vault references as app settings, "Understand rotation"), or only the app
   * settings' (the `configreferences/appsettings/refresh` request).
   */
  fetchKeyVaultReferences(site: Site, at: number, scope: "all" | "appSettings" = "all"): void {
    const before = site.keyVaultReferences;
    const fetch = (values: Record<string, string>) =>
      Object.fromEntries(Object.entries(values).flatMap(([name, value]) => (isKeyVaultReference(value) ? [[name, this.resolveKeyVaultReference(value, at)]] : [])));
    site.keyVaultReferences = {
      appSettings: fetch(site.appSettings),
      connectionStrings: scope === "all" || !before ? fetch(connectionStringValues(site)) : before.connectionStrings,
    };
  }

  /**
   * The site's Key Vault references as App Service holds them at `now`. A fetch older than 24 hours
   * has been replaced by App Service's periodic refetch (at the last 24-hour mark before `now`, against
   * the versions that existed then); a reference never fetched is fetched now.
   */
  keyVaultReferencesAt(site: Site, now: number): NonNullable<Site["keyVaultReferences"]> {
    const before = site.keyVaultReferences;
    const current = (values: Record<string, string>, fetched: Record<string, FetchedReference> | undefined) =>
      Object.fromEntries(
        Object.entries(values).flatMap(([name, value]): [string, FetchedReference][] => {
          if (!isKeyVaultReference(value)) return [];
          const prior = fetched?.[name];
          if (!prior || prior.reference !== value) return [[name, this.resolveKeyVaultReference(value, now)]];
          const periods = Math.floor((now - prior.fetchedAt) / KEY_VAULT_REFERENCE_CACHE_MS);
          return [[name, periods >= 1 ? this.resolveKeyVaultReference(value, prior.fetchedAt + periods * KEY_VAULT_REFERENCE_CACHE_MS) : prior]];
        }),
      );
    site.keyVaultReferences = {
      appSettings: current(site.appSettings, before?.appSettings),
      connectionStrings: current(connectionStringValues(site), before?.connectionStrings),
    };
    return site.keyVaultReferences;
  }

  /**
   * What App Service gets for a reference at `at` from the estate's vaults: a versionless reference
   * takes the latest version that existed then ("If the secret version isn't specified in the
   * reference, the app uses the latest version that exists in the key vault"). The result names a
   * version, never a value.
   */
  resolveKeyVaultReference(reference: string, at: number): FetchedReference {
    const parsed = parseKeyVaultReference(reference);
    const outcome = (status: KeyVaultReferenceStatus, details: string, activeVersion?: string): FetchedReference => ({
      reference,
      status,
      details,
      ...(activeVersion !== undefined ? { activeVersion } : {}),
      fetchedAt: at,
    });
    if (!parsed.ok) return outcome("InvalidSyntax", parsed.problem);
    const vault = parsed.vaultHost === `${parsed.vaultName.toLowerCase()}${VAULT_HOST_SUFFIX}` ? this.vaults.get(parsed.vaultName.toLowerCase()) : undefined;
    if (!vault) return outcome("VaultNotFound", `Key vault '${parsed.vaultName}' (${parsed.vaultHost}) was not found.`);
    const versions = vault.secrets.get(parsed.secretName.toLowerCase())?.versions.filter((v) => v.created <= at) ?? [];
    if (versions.length === 0) return outcome("SecretNotFound", `Secret '${parsed.secretName}' was not found in key vault '${vault.name}'.`);
    const wanted = parsed.secretVersion?.toLowerCase();
    const version = wanted === undefined ? versions.at(-1)! : versions.find((v) => v.version.toLowerCase() === wanted);
    if (!version) return outcome("SecretVersionNotFound", `Version '${parsed.secretVersion}' of secret '${parsed.secretName}' was not found in key vault '${vault.name}'.`);
    if (!version.enabled) return outcome("OtherReasons", `Version '${version.version}' of secret '${parsed.secretName}' is disabled: Key Vault does not return a disabled secret.`);
    return outcome("Resolved", "Reference has been successfully resolved.", version.version);
  }

  private addSqlServer(seed: SeedSqlServer): void {
    const parsed = parseArmId(seed.id);
    const sub = parsed.subscriptionId.toLowerCase();
    const bySub = this.sqlServers.get(sub) ?? new Map<string, SqlServer>();
    this.sqlServers.set(sub, bySub);
    const logins = (seed.logins ?? []).map((l): SqlLogin => ({ name: l.name, passwordHash: hashLoginPassword(l.password), disabled: l.disabled ?? false, passwordSetAt: this.clock() }));
    const existing = bySub.get(key(seed.id));
    if (existing) {
      // A server seeded again gains the logins it lacks; those it has keep their passwords.
      const lacking = logins.filter((l) => !existing.logins?.some((e) => e.name.toLowerCase() === l.name.toLowerCase()));
      if (lacking.length > 0) bySub.set(key(seed.id), { ...existing, logins: [...(existing.logins ?? []), ...lacking] });
      return;
    }
    this.region(seed.location);
    bySub.set(key(seed.id), { id: seed.id, subscriptionId: parsed.subscriptionId, resourceGroup: parsed.resourceGroup, name: parsed.name, location: seed.location, ...(logins.length > 0 ? { logins } : {}) });
  }

  private addFailoverGroup(seed: SeedFailoverGroup): void {
    const parsed = parseArmId(seed.id);
    // Both servers are here (checkSeed); the group keeps their ids as first seeded.
    const primaryServer = this.sqlServer(ancestorId(parsed, 1))!;
    const secondaryServer = this.sqlServer(seed.partnerServerId)!;
    const existing = this.failoverGroups.some(
      (g) => g.name.toLowerCase() === parsed.name.toLowerCase() && [g.primaryServerId, g.secondaryServerId].some((s) => key(s) === key(primaryServer.id)),
    );
    if (existing) return;
    const rw = seed.readWriteEndpoint;
    this.failoverGroups.push({
      name: parsed.name,
      primaryServerId: primaryServer.id,
      secondaryServerId: secondaryServer.id,
      databases: [...seed.databases],
      readWriteEndpoint: rw
        ? { failoverPolicy: rw.failoverPolicy, ...(rw.failoverWithDataLossGracePeriodMinutes !== undefined ? { failoverWithDataLossGracePeriodMinutes: rw.failoverWithDataLossGracePeriodMinutes } : {}) }
        : { failoverPolicy: "Manual" },
      readOnlyEndpoint: { failoverPolicy: seed.readOnlyEndpoint?.failoverPolicy ?? "Disabled" },
      lagSeconds: 0,
      linkIds: Object.fromEntries(seed.databases.map((db) => [db.toLowerCase(), randomUUID()])),
      dataLossSeconds: 0,
    });
  }

  private addStorageAccount(seed: SeedStorageAccount, now: number): void {
    const parsed = parseArmId(seed.id);
    const sub = parsed.subscriptionId.toLowerCase();
    const bySub = this.storageAccounts.get(sub) ?? new Map<string, StorageAccount>();
    this.storageAccounts.set(sub, bySub);
    if (bySub.has(key(seed.id))) return;
    this.region(seed.primaryLocation);
    this.region(seed.secondaryLocation);
    const created = new Date(now - ACCOUNT_AGE_DAYS * DAY_MS).toISOString();
    bySub.set(key(seed.id), {
      id: seed.id,
      subscriptionId: parsed.subscriptionId,
      resourceGroup: parsed.resourceGroup,
      name: parsed.name,
      primaryLocation: seed.primaryLocation,
      secondaryLocation: seed.secondaryLocation,
      regionPair: [seed.primaryLocation, seed.secondaryLocation],
      sku: seed.sku,
      kind: seed.kind ?? "StorageV2",
      lagSeconds: 0,
      keys: [
        { keyName: "key1", value: newStorageKey(), creationTime: created },
        { keyName: "key2", value: newStorageKey(), creationTime: created },
      ],
      dataLossSeconds: 0,
      creationTime: created,
      originalSku: seed.sku,
    });
  }

  private addAfdOriginGroup(seed: SeedAfdOriginGroup): void {
    const parsed = parseArmId(seed.id);
    if (!this.afdOriginGroups.has(key(seed.id))) this.afdOriginGroups.set(key(seed.id), { id: seed.id, name: parsed.name, profileId: ancestorId(parsed, 1) });
    for (const origin of seed.origins) {
      const id = `${seed.id}/origins/${origin.name}`;
      if (this.afdOrigins.has(key(id))) continue;
      if (origin.region !== undefined) this.region(origin.region);
      this.afdOrigins.set(key(id), {
        id,
        name: origin.name,
        originGroupId: seed.id,
        hostName: origin.hostName,
        httpPort: 80,
        httpsPort: 443,
        originHostHeader: origin.originHostHeader ?? origin.hostName,
        priority: origin.priority,
        weight: origin.weight ?? 1000,
        enabledState: origin.enabledState ?? "Enabled",
        ...(origin.region !== undefined ? { region: origin.region } : {}),
      });
    }
  }

  private addAfdEndpoint(seed: SeedAfdEndpoint): void {
    if (this.afdEndpoints.has(key(seed.id))) return;
    const parsed = parseArmId(seed.id);
    this.afdEndpoints.set(key(seed.id), {
      id: seed.id,
      name: parsed.name,
      profileId: ancestorId(parsed, 1),
      hostName: afdEndpointHostName(seed.id, parsed.name),
      routes: seed.routes.map((r) => ({ name: r.name, originGroupId: r.originGroupId, patternsToMatch: [...(r.patternsToMatch ?? ["/*"])] })),
    });
  }

  private addFrontDoor(seed: SeedFrontDoor): void {
    const parsed = parseArmId(seed.id);
    const pools = seed.backendPools.map((pool) => ({
      name: pool.name,
      backends: pool.backends.map((b) => ({
        address: b.address,
        httpPort: 80,
        httpsPort: 443,
        priority: b.priority,
        weight: b.weight ?? 50,
        backendHostHeader: b.address,
        enabledState: "Enabled",
      })),
    }));
    const backends = seed.backendPools.flatMap((pool) => pool.backends);
    for (const b of backends) if (b.region !== undefined) this.region(b.region);
    const backendRegions = Object.fromEntries(backends.filter((b) => b.region !== undefined).map((b) => [b.address.toLowerCase(), b.region!]));
    const existing = this.frontDoors.get(key(seed.id));
    if (existing) {
      Object.assign(existing.backendRegions, backendRegions);
      // The body may be one a client PUT since: read it as JSON, and give it the collections it lacks.
      let props = objectAt(existing.body, "properties");
      if (!props) existing.body.properties = props = {};
      let bodyPools = arrayAt(props, "backendPools");
      if (!bodyPools) props.backendPools = bodyPools = [];
      for (const pool of pools) {
        const named = (p: unknown) => stringAt(p, "name")?.toLowerCase() === pool.name.toLowerCase();
        if (!bodyPools.some(named)) bodyPools.push(classicPool(seed.id, pool.name, pool.backends));
      }
      return;
    }
    this.frontDoors.set(key(seed.id), {
      id: seed.id,
      subscriptionId: parsed.subscriptionId,
      resourceGroup: parsed.resourceGroup,
      name: parsed.name,
      backendRegions,
      body: classicFrontDoorBody(seed.id, parsed.name, pools),
    });
  }

  /** The new site, or undefined when one with its id is here already. */
  private addSite(seed: SeedSite): Site | undefined {
    if (this.sites.has(key(seed.id))) return undefined;
    const parsed = parseArmId(seed.id);
    this.region(seed.location);
    const site: Site = {
      id: seed.id,
      subscriptionId: parsed.subscriptionId,
      resourceGroup: parsed.resourceGroup,
      name: parsed.name,
      location: seed.location,
      appSettings: { ...seed.appSettings },
      connectionStrings: Object.fromEntries(Object.entries(seed.connectionStrings ?? {}).map(([name, c]) => [name, { value: c.value, type: c.type }])),
    };
    this.sites.set(key(seed.id), site);
    return site;
  }

  private addVault(seed: SeedVault, now: number): void {
    const vault = this.vault(parseArmId(seed.id).name);
    this.region(seed.location);
    vault.location ??= seed.location;
    vault.id ??= seed.id;
    for (const secret of seed.secrets ?? []) {
      if (vault.secrets.has(secret.name.toLowerCase())) continue;
      const created = now - secret.createdDaysAgo * DAY_MS;
      vault.secrets.set(secret.name.toLowerCase(), {
        name: secret.name,
        versions: [
          {
            version: randomUUID().replace(/-/g, ""),
            value: this.seededSecretValue(secret),
            enabled: true,
            created,
            updated: created,
            ...(secret.expiresInDays !== undefined ? { exp: now + secret.expiresInDays * DAY_MS } : {}),
            ...(secret.tags !== undefined ? { tags: { ...secret.tags } } : {}),
          },
        ],
      });
    }
  }

  /** A seeded secret's value: as given, a storage account's current key (checkSeed found the account), or random. */
  private seededSecretValue(secret: SeedSecret): string {
    if (secret.value !== undefined) return secret.value;
    const from = secret.valueFrom?.storageAccountKey;
    if (!from) return randomBytes(32).toString("base64url");
    const storageKey = this.storageAccount(from.account)?.keys.find((k) => k.keyName === from.keyName);
    if (!storageKey) throw new SeedError(`storage account ${from.account} has no key ${from.keyName}`);
    return storageKey.value;
  }
}

/** A site's connection strings' values, by name. */
function connectionStringValues(site: Site): Record<string, string> {
  return Object.fromEntries(Object.entries(site.connectionStrings).map(([name, c]) => [name, c.value]));
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

/** A classic Front Door as Azure shows one: one frontend, one routing rule (`/*` to the first pool), default probe and load-balancing settings. */
function classicFrontDoorBody(id: string, name: string, pools: readonly { name: string; backends: unknown[] }[]): Record<string, unknown> {
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
              backendPool: { id: `${id}/backendPools/${pools[0]!.name}` },
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
      backendPools: pools.map((p) => classicPool(id, p.name, p.backends)),
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

/** The references a seed makes resolve, in the seed itself or in what the estate holds already. */
function checkSeed(seed: EstateSeed, state: EstateState): void {
  const problems: string[] = [];
  const parse = (id: string, where: string) => {
    try {
      return parseArmId(id);
    } catch (error) {
      problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };
  const lists = { sqlServers: seed.sqlServers, storageAccounts: seed.storageAccounts, afdOriginGroups: seed.afdOriginGroups, frontDoors: seed.frontDoors, sites: seed.sites, vaults: seed.vaults };
  for (const [where, items] of Object.entries(lists)) (items ?? []).forEach((item, i) => parse(item.id, `${where}[${i}]`));
  (seed.sqlServers ?? []).forEach((server, i) => {
    const names = new Set<string>();
    (server.logins ?? []).forEach((login, j) => {
      const where = `sqlServers[${i}].logins[${j}]`;
      if (login.name.length === 0 || login.name.length > 128) problems.push(`${where}: a login name has 1 to 128 characters`);
      if (names.has(login.name.toLowerCase())) problems.push(`${where}: the server has another login named '${login.name}'`);
      names.add(login.name.toLowerCase());
      // Azure SQL Database creates no login whose password fails its policy (the password itself is never quoted).
      const policy = passwordPolicyError(login.name, login.password);
      if (policy) problems.push(`${where}: the password does not meet Azure SQL Database's password policy (error ${policy.number}: 8 to 128 characters from three of uppercase, lowercase, digits and symbols, without the login's name)`);
    });
  });
  (seed.frontDoors ?? []).forEach((fd, i) => {
    if (fd.backendPools.length === 0) problems.push(`frontDoors[${i}]: a Front Door has at least one backend pool`);
  });

  const seeded = (items: readonly { id: string }[] | undefined) => new Set((items ?? []).map((item) => key(item.id)));
  const servers = seeded(seed.sqlServers);
  const serverKnown = (id: string) => servers.has(key(id)) || state.sqlServers.get(parseArmId(id).subscriptionId.toLowerCase())?.has(key(id)) === true;
  (seed.failoverGroups ?? []).forEach((g, i) => {
    const group = parse(g.id, `failoverGroups[${i}]`);
    const partner = parse(g.partnerServerId, `failoverGroups[${i}].partnerServerId`);
    if (group && !serverKnown(ancestorId(group, 1))) problems.push(`failoverGroups[${i}]: its server ${ancestorId(group, 1)} is not seeded`);
    if (partner && !serverKnown(g.partnerServerId)) problems.push(`failoverGroups[${i}]: its partner server ${g.partnerServerId} is not seeded`);
  });

  const originGroups = seeded(seed.afdOriginGroups);
  (seed.afdEndpoints ?? []).forEach((e, i) => {
    const endpoint = parse(e.id, `afdEndpoints[${i}]`);
    e.routes.forEach((r, j) => {
      const where = `afdEndpoints[${i}].routes[${j}]`;
      const group = parse(r.originGroupId, where);
      if (!endpoint || !group) return;
      if (!originGroups.has(key(r.originGroupId)) && !state.afdOriginGroups.has(key(r.originGroupId))) problems.push(`${where}: origin group ${r.originGroupId} is not seeded`);
      else if (key(ancestorId(group, 1)) !== key(ancestorId(endpoint, 1))) problems.push(`${where}: origin group ${r.originGroupId} is not in the endpoint's profile`);
    });
  });

  // A secret's value may come from a storage account's key: the account is seeded (here or before). Values are never quoted.
  const accounts = seeded(seed.storageAccounts);
  (seed.vaults ?? []).forEach((v, i) => {
    (v.secrets ?? []).forEach((secret, j) => {
      const where = `vaults[${i}].secrets[${j}]`;
      if (secret.value !== undefined && secret.valueFrom !== undefined) problems.push(`${where}: give either value or valueFrom, not both`);
      const from = secret.valueFrom?.storageAccountKey;
      if (!from) return;
      if (from.keyName !== "key1" && from.keyName !== "key2") problems.push(`${where}: valueFrom.storageAccountKey.keyName is key1 or key2`);
      if (parse(from.account, `${where}.valueFrom.storageAccountKey.account`) && !accounts.has(key(from.account)) && !state.storageAccount(from.account)) {
        problems.push(`${where}: its value comes from storage account ${from.account}, which is not seeded`);
      }
    });
  });
  if (problems.length > 0) throw new SeedError(problems.join("; "));
}

/**
 * The subscription (lower-case) of an ARM id, or undefined when the string is no ARM id. Lookups take
 * ids from requests (a path, a partner server in a body), so a malformed one must mean "not found".
 */
function subscriptionOf(id: string): string | undefined {
  try {
    return parseArmId(id).subscriptionId.toLowerCase();
  } catch (error) {
    if (error instanceof ArmIdError) return undefined;
    throw error;
  }
}
