import { isAzureRegion } from "./regions.ts";
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
