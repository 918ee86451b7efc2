import { secretRule } from "../secrets.ts";
import { asArray, asObject, asString } from "../guards.ts";
import { AZURE_REGIONS, isAzureRegion } from "./regions.ts";
import { signalCount } from "./schema.ts";

type Path = (string | number)[];
export interface RawIssue {
  readonly path: Path;
  readonly message: string;
}


/**
 * Checks that span fields (region keys, duplicates, quorum against signals). They read the raw
 * document defensively so that they report alongside field errors instead of after them are fixed.
 */
export function crossChecks(document: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });
  const plan = asObject(document);
  if (!plan) return issues;
  const regionsNode = asObject(plan.regions);
  const primary = asString(asObject(regionsNode?.primary)?.name);
  const secondary = asString(asObject(regionsNode?.secondary)?.name);
  const regions = [primary, secondary].filter((r): r is string => r !== undefined);
  if (primary !== undefined && primary === secondary) add(["regions", "secondary", "name"], "must differ from the primary region");

  const perRegion = (value: unknown, path: Path) => {
    const map = asObject(value);
    // A misspelt region is reported once, where it is named, not again under every per-region map.
    if (!map || regions.length < 2 || !regions.every(isAzureRegion)) return;
    for (const key of Object.keys(map)) {
      if (!regions.includes(key)) add([...path, key], `"${key}" is not one of the plan's regions (${regions.join(", ")})`);
    }
    for (const name of regions) if (!(name in map)) add(path, `missing a value for region "${name}"`);
  };
  const frontDoor = asObject(plan.frontDoor);
  asArray(frontDoor?.standard).forEach((g, i) => perRegion(asObject(g)?.origins, ["frontDoor", "standard", i, "origins"]));
  asArray(frontDoor?.classic).forEach((f, i) => perRegion(asObject(f)?.backends, ["frontDoor", "classic", i, "backends"]));
  asArray(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      asArray(asObject(site)?.[list]).forEach((s, j) => perRegion(asObject(s)?.values, ["appService", i, list, j, "values"]));
    }
  });
  // Values the plan switches are written to Durable history and journals: no credentials in them.
  asArray(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      asArray(asObject(site)?.[list]).forEach((setting, j) => {
        for (const [region, value] of Object.entries(asObject(asObject(setting)?.values) ?? {})) {
          if (typeof value === "string" && secretRule(undefined, value)) {
            add(["appService", i, list, j, "values", region], "looks like it holds a credential: name a Key Vault reference (@Microsoft.KeyVault(SecretUri=...)) instead, plans hold no secrets");
          }
        }
      });
    }
  });
  asArray(plan.appService).forEach((site, i) => {
    const region = asString(asObject(site)?.region);
    if (region && regions.length === 2 && regions.every(isAzureRegion) && isAzureRegion(region) && !regions.includes(region)) {
      add(["appService", i, "region"], `"${region}" is not one of the plan's regions (${regions.join(", ")})`);
    }
  });

  asArray(plan.alertRules).forEach((r, i) => {
    const region = asString(asObject(r)?.region);
    if (region && regions.length === 2 && regions.every(isAzureRegion) && isAzureRegion(region) && !regions.includes(region)) {
      add(["alertRules", i, "region"], `"${region}" is not one of the plan's regions (${regions.join(", ")})`);
    }
  });

  asArray(plan.sql).forEach((g, i) => {
    const group = asString(asObject(g)?.failoverGroup)?.split("/");
    const partner = asString(asObject(g)?.partnerServer)?.split("/");
    const groupServer = group?.[8];
    const partnerServer = partner?.[8];
    if (groupServer && partnerServer && groupServer.toLowerCase() === partnerServer.toLowerCase()) {
      add(["sql", i, "partnerServer"], "must be a different server from the failover group's own");
    }
  });

  const unique = (list: unknown[], key: (item: Record<string, unknown>) => string | undefined, field: string, what: string, section: Path) => {
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const k = key(asObject(item) ?? {})?.toLowerCase();
      if (k === undefined) return;
      const first = seen.get(k);
      if (first !== undefined) add([...section, i, field], `duplicate ${what} (same as entry ${first})`);
      else seen.set(k, i);
    });
  };
  unique(asArray(plan.sql), (g) => asString(g.failoverGroup), "failoverGroup", "failover group", ["sql"]);
  unique(asArray(plan.storage), (s) => asString(s.account), "account", "storage account", ["storage"]);
  // A secret is addressed by its name (events name a vault and a name; the API /secrets/{name}).
  unique(asArray(plan.secrets), (s) => asString(s.name), "name", "secret name (a plan's secrets are addressed by name)", ["secrets"]);
  unique(asArray(plan.notifications), (n) => asString(n.name), "name", "notification channel name", ["notifications"]);
  unique(asArray(plan.appService), (s) => asString(s.site), "site", "site", ["appService"]);
  unique(asArray(plan.alertRules), (r) => asString(r.rule)?.trim(), "rule", "alert rule (a rule speaks for one region)", ["alertRules"]);

  // Regions of one cloud: a failover between clouds is not something Azure offers.
  if (primary && secondary && isAzureRegion(primary) && isAzureRegion(secondary)) {
    const cloudOf = (r: string) => Object.entries(AZURE_REGIONS).find(([, list]) => (list as readonly string[]).includes(r))?.[0];
    if (cloudOf(primary) !== cloudOf(secondary)) add(["regions", "secondary", "name"], `must be in the same Azure cloud as the primary (${primary} is in ${cloudOf(primary)}, ${secondary} in ${cloudOf(secondary)})`);
  }

  // Health endpoints: distinct per region, and no credentials in them (plans hold no secrets).
  const urlsOf = (role: string) => asArray(asObject(regionsNode?.[role])?.healthEndpoints).map((e) => asString(asObject(e)?.url));
  const primaryUrls = new Set(urlsOf("primary").filter((u): u is string => u !== undefined).map((u) => u.toLowerCase()));
  urlsOf("secondary").forEach((url, i) => {
    if (url && primaryUrls.has(url.toLowerCase())) add(["regions", "secondary", "healthEndpoints", i, "url"], "is also a primary health endpoint: each region needs its own");
  });
  for (const role of ["primary", "secondary"]) {
    urlsOf(role).forEach((url, i) => {
      if (url && hasCredentials(url)) add(["regions", role, "healthEndpoints", i, "url"], "carries a credential (a key, signature or password in the URL); plans hold no secrets");
    });
  }

  // A switch between two identical targets switches nothing.
  const distinctValues = (map: unknown, path: Path, what: string) => {
    const values = Object.values(asObject(map) ?? {}).map((v) => (typeof v === "string" ? v.toLowerCase() : v));
    if (values.length === 2 && values[0] === values[1]) add(path, `both regions name the same ${what}, so a failover would switch nothing`);
  };
  asArray(frontDoor?.standard).forEach((g, i) => distinctValues(asObject(g)?.origins, ["frontDoor", "standard", i, "origins"], "origin"));
  asArray(frontDoor?.classic).forEach((f, i) => distinctValues(asObject(f)?.backends, ["frontDoor", "classic", i, "backends"], "backend"));

  asArray(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      unique(asArray(asObject(site)?.[list]), (s) => asString(s.name), "name", list === "appSettings" ? "app setting" : "connection string", ["appService", i, list]);
    }
  });
  asArray(plan.sql).forEach((g, i) => {
    const dbs = asArray(asObject(g)?.databases).map((d, j) => ({ name: asString(d), j }));
    const seen = new Set<string>();
    for (const { name, j } of dbs) {
      if (!name) continue;
      if (seen.has(name.toLowerCase())) add(["sql", i, "databases", j], `duplicate database "${name}"`);
      seen.add(name.toLowerCase());
    }
  });

  // A server is primary-side in one entry and partner-side in another: the roles contradict each other.
  const serverOf = (id: string | undefined) => id?.split("/").slice(0, 9).join("/").toLowerCase();
  const primaries = new Map<string, number>();
  asArray(plan.sql).forEach((g, i) => {
    const s = serverOf(asString(asObject(g)?.failoverGroup));
    if (s) primaries.set(s, i);
  });
  asArray(plan.sql).forEach((g, i) => {
    const partner = serverOf(asString(asObject(g)?.partnerServer));
    const clash = partner ? primaries.get(partner) : undefined;
    if (clash !== undefined) add(["sql", i, "partnerServer"], `is the primary-region server of sql[${clash}]: a server cannot be on both sides`);
  });

  // Two secrets of one credential pair would each regenerate the key (or change the login) the other
  // holds: a storage account's keys, or a server's login, belong to one secret of the plan.
  const credentialOwners = new Map<string, number>();
  asArray(plan.secrets).forEach((s, i) => {
    const source = asObject(asObject(s)?.source);
    const claims: { key: string; path: Path; what: string }[] = [];
    if (source?.kind === "storageAccountKey" && asString(source.account)) claims.push({ key: `account|${asString(source.account)!.toLowerCase()}`, path: ["secrets", i, "source", "account"], what: "storage account" });
    if (source?.kind === "sqlLogin") {
      for (const server of asArray(source.servers)) {
        for (const login of asArray(source.logins)) {
          if (asString(server) && asString(login)) claims.push({ key: `login|${asString(server)!.toLowerCase()}|${asString(login)!.toLowerCase()}`, path: ["secrets", i, "source", "logins"], what: `login ${asString(login)} on that server` });
        }
      }
    }
    const told = new Set<string>();
    for (const claim of claims) {
      const owner = credentialOwners.get(claim.key);
      const once = `${owner}|${claim.what}`;
      if (owner !== undefined && owner !== i && !told.has(once) && told.add(once)) add(claim.path, `the ${claim.what} is already rotated by secrets[${owner}]: one secret per credential pair, or each rotation would replace the credential the other holds`);
      else credentialOwners.set(claim.key, i);
    }
  });

  asArray(plan.secrets).forEach((s, i) => {
    const rotate = asObject(s)?.rotateDaysBeforeExpiry ?? 30;
    const validity = asObject(s)?.validityDays ?? 90;
    if (typeof rotate === "number" && typeof validity === "number" && rotate >= validity) {
      add(["secrets", i, "rotateDaysBeforeExpiry"], `must be less than validityDays (${validity}), or every new version would be due for rotation at once`);
    }
  });

  const quorum = asObject(plan.autoFailover)?.quorum;
  if (typeof quorum === "number") {
    const endpoints = Math.min(
      asArray(asObject(regionsNode?.primary)?.healthEndpoints).length,
      asArray(asObject(regionsNode?.secondary)?.healthEndpoints).length,
    );
    const available = signalCount(endpoints, asArray(frontDoor?.standard).length);
    if (quorum > available) add(["autoFailover", "quorum"], `needs ${quorum} signals but a region of this plan has at most ${available}`);
  }
  return issues;
}

/** A URL that carries a credential: user info, or a query parameter that is a key or signature. */
function hasCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.username || u.password) return true;
    return [...u.searchParams.keys()].some((k) => /^(code|sig|key|apikey|api-key|token|access_token|password|secret)$/i.test(k));
  } catch {
    return false;
  }
}
