import { secretRule } from "../../journal/guard.ts";
import { AZURE_REGIONS, isAzureRegion } from "./regions.ts";
import { signalCount } from "./schema.ts";

type Path = (string | number)[];
export interface RawIssue {
  readonly path: Path;
  readonly message: string;
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Checks that span fields (region keys, duplicates, quorum against signals). They read the raw
 * document defensively so that they report alongside field errors instead of after them are fixed.
 */
export function crossChecks(document: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: Path, message: string) => issues.push({ path, message });
  const plan = obj(document);
  if (!plan) return issues;
  const regionsNode = obj(plan.regions);
  const primary = str(obj(regionsNode?.primary)?.name);
  const secondary = str(obj(regionsNode?.secondary)?.name);
  const regions = [primary, secondary].filter((r): r is string => r !== undefined);
  if (primary !== undefined && primary === secondary) add(["regions", "secondary", "name"], "must differ from the primary region");

  const perRegion = (value: unknown, path: Path) => {
    const map = obj(value);
    // A misspelt region is reported once, where it is named, not again under every per-region map.
    if (!map || regions.length < 2 || !regions.every(isAzureRegion)) return;
    for (const key of Object.keys(map)) {
      if (!regions.includes(key)) add([...path, key], `"${key}" is not one of the plan's regions (${regions.join(", ")})`);
    }
    for (const name of regions) if (!(name in map)) add(path, `missing a value for region "${name}"`);
  };
  const frontDoor = obj(plan.frontDoor);
  arr(frontDoor?.standard).forEach((g, i) => perRegion(obj(g)?.origins, ["frontDoor", "standard", i, "origins"]));
  arr(frontDoor?.classic).forEach((f, i) => perRegion(obj(f)?.backends, ["frontDoor", "classic", i, "backends"]));
  arr(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      arr(obj(site)?.[list]).forEach((s, j) => perRegion(obj(s)?.values, ["appService", i, list, j, "values"]));
    }
  });
  // Values the plan switches are written to Durable history and journals: no credentials in them.
  arr(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      arr(obj(site)?.[list]).forEach((setting, j) => {
        for (const [region, value] of Object.entries(obj(obj(setting)?.values) ?? {})) {
          if (typeof value === "string" && secretRule(undefined, value)) {
            add(["appService", i, list, j, "values", region], "looks like it holds a credential: name a Key Vault reference (@Microsoft.KeyVault(SecretUri=...)) instead, plans hold no secrets");
          }
        }
      });
    }
  });
  arr(plan.appService).forEach((site, i) => {
    const region = str(obj(site)?.region);
    if (region && regions.length === 2 && regions.every(isAzureRegion) && isAzureRegion(region) && !regions.includes(region)) {
      add(["appService", i, "region"], `"${region}" is not one of the plan's regions (${regions.join(", ")})`);
    }
  });

  arr(plan.alertRules).forEach((r, i) => {
    const region = str(obj(r)?.region);
    if (region && regions.length === 2 && regions.every(isAzureRegion) && isAzureRegion(region) && !regions.includes(region)) {
      add(["alertRules", i, "region"], `"${region}" is not one of the plan's regions (${regions.join(", ")})`);
    }
  });

  arr(plan.sql).forEach((g, i) => {
    const group = str(obj(g)?.failoverGroup)?.split("/");
    const partner = str(obj(g)?.partnerServer)?.split("/");
    const groupServer = group?.[8];
    const partnerServer = partner?.[8];
    if (groupServer && partnerServer && groupServer.toLowerCase() === partnerServer.toLowerCase()) {
      add(["sql", i, "partnerServer"], "must be a different server from the failover group's own");
    }
  });

  const unique = (list: unknown[], key: (item: Record<string, unknown>) => string | undefined, field: string, what: string, section: Path) => {
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const k = key(obj(item) ?? {})?.toLowerCase();
      if (k === undefined) return;
      const first = seen.get(k);
      if (first !== undefined) add([...section, i, field], `duplicate ${what} (same as entry ${first})`);
      else seen.set(k, i);
    });
  };
  unique(arr(plan.sql), (g) => str(g.failoverGroup), "failoverGroup", "failover group", ["sql"]);
  unique(arr(plan.storage), (s) => str(s.account), "account", "storage account", ["storage"]);
  unique(arr(plan.secrets), (s) => (str(s.vault) && str(s.name) ? `${str(s.vault)}|${str(s.name)}` : undefined), "name", "secret", ["secrets"]);
  unique(arr(plan.notifications), (n) => str(n.name), "name", "notification channel name", ["notifications"]);
  unique(arr(plan.appService), (s) => str(s.site), "site", "site", ["appService"]);
  unique(arr(plan.alertRules), (r) => str(r.rule)?.trim(), "rule", "alert rule (a rule speaks for one region)", ["alertRules"]);

  // Regions of one cloud: a failover between clouds is not something Azure offers.
  if (primary && secondary && isAzureRegion(primary) && isAzureRegion(secondary)) {
    const cloudOf = (r: string) => Object.entries(AZURE_REGIONS).find(([, list]) => (list as readonly string[]).includes(r))?.[0];
    if (cloudOf(primary) !== cloudOf(secondary)) add(["regions", "secondary", "name"], `must be in the same Azure cloud as the primary (${primary} is in ${cloudOf(primary)}, ${secondary} in ${cloudOf(secondary)})`);
  }

  // Health endpoints: distinct per region, and no credentials in them (plans hold no secrets).
  const urlsOf = (role: string) => arr(obj(regionsNode?.[role])?.healthEndpoints).map((e) => str(obj(e)?.url));
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
    const values = Object.values(obj(map) ?? {}).map((v) => (typeof v === "string" ? v.toLowerCase() : v));
    if (values.length === 2 && values[0] === values[1]) add(path, `both regions name the same ${what}, so a failover would switch nothing`);
  };
  arr(frontDoor?.standard).forEach((g, i) => distinctValues(obj(g)?.origins, ["frontDoor", "standard", i, "origins"], "origin"));
  arr(frontDoor?.classic).forEach((f, i) => distinctValues(obj(f)?.backends, ["frontDoor", "classic", i, "backends"], "backend"));

  arr(plan.appService).forEach((site, i) => {
    for (const list of ["appSettings", "connectionStrings"] as const) {
      unique(arr(obj(site)?.[list]), (s) => str(s.name), "name", list === "appSettings" ? "app setting" : "connection string", ["appService", i, list]);
    }
  });
  arr(plan.sql).forEach((g, i) => {
    const dbs = arr(obj(g)?.databases).map((d, j) => ({ name: str(d), j }));
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
  arr(plan.sql).forEach((g, i) => {
    const s = serverOf(str(obj(g)?.failoverGroup));
    if (s) primaries.set(s, i);
  });
  arr(plan.sql).forEach((g, i) => {
    const partner = serverOf(str(obj(g)?.partnerServer));
    const clash = partner ? primaries.get(partner) : undefined;
    if (clash !== undefined) add(["sql", i, "partnerServer"], `is the primary-region server of sql[${clash}]: a server cannot be on both sides`);
  });

  arr(plan.secrets).forEach((s, i) => {
    const rotate = obj(s)?.rotateDaysBeforeExpiry ?? 30;
    const validity = obj(s)?.validityDays ?? 90;
    if (typeof rotate === "number" && typeof validity === "number" && rotate >= validity) {
      add(["secrets", i, "rotateDaysBeforeExpiry"], `must be less than validityDays (${validity}), or every new version would be due for rotation at once`);
    }
  });

  const quorum = obj(plan.autoFailover)?.quorum;
  if (typeof quorum === "number") {
    const endpoints = Math.min(
      arr(obj(regionsNode?.primary)?.healthEndpoints).length,
      arr(obj(regionsNode?.secondary)?.healthEndpoints).length,
    );
    const available = signalCount(endpoints, arr(frontDoor?.standard).length);
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
