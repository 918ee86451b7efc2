import type { Plan } from "./schema.ts";
import type { PlanIssue } from "./load.ts";

/**
 * A storage endpoint host of an account's secondary: `<account>-secondary.<service>.core.windows.net`
 * (and the sovereign clouds' suffixes). After a storage failover the account's primary host names
 * move to the new region and the `-secondary` endpoints are read-only at best (RA-GRS/RA-GZRS) or gone
 * (the account is LRS after an unplanned failover), so a setting that switches to one breaks writes.
 */
const SECONDARY_HOST = /\b[a-z0-9]{3,24}-secondary\.(blob|dfs|file|queue|table|web)\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)\b/i;

/**
 * What in a valid plan is likely a mistake but not certainly one: reported by `plan validate`, never a
 * reason to refuse the plan. Each names the field by path, like validation errors.
 */
export function planWarnings(plan: Plan): PlanIssue[] {
  const warnings: PlanIssue[] = [];
  plan.appService.forEach((site, i) => {
    const check = (kind: "appSettings" | "connectionStrings", j: number, values: Readonly<Record<string, string>>) => {
      for (const [region, value] of Object.entries(values)) {
        const host = SECONDARY_HOST.exec(value)?.[0];
        if (!host) continue;
        warnings.push({
          path: `appService[${i}].${kind}[${j}].values.${region}`,
          message: `names the storage secondary endpoint ${host}: after a storage failover the account's primary host name serves from the new region and the -secondary endpoint is read-only or gone; use the primary host name for every region`,
        });
      }
    };
    site.appSettings.forEach((s, j) => check("appSettings", j, s.values));
    site.connectionStrings.forEach((s, j) => check("connectionStrings", j, s.values));
  });
  return warnings;
}
