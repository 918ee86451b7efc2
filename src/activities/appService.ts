import type { ConnStringValueTypePair } from "@azure/arm-appservice";
import { PreconditionError, type SwitchyardError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Activities, type SwitchInput, type SwitchResult } from "../core/run/model.ts";
import { normaliseAzureError } from "./azureErrors.ts";
import { requestIdOf, withoutSecrets } from "./azureCall.ts";
import type { ActivityDeps } from "./deps.ts";
import { otherRegion, planRegion, sameRegion } from "./health.ts";
import { captureRequestIds, journalWrite } from "./writes.ts";

/*
 * Configuration: the plan's app settings and connection strings of a site take their values for the
 * region `to`, merged into the site's settings (Azure's PUT replaces the whole set, so the activity
 * reads the set, changes only the plan's names, and writes the set back, and only when something
 * differs). Values may be secrets: nothing here logs, journals, returns or throws a value, only names.
 */

type AppServiceSpec = Plan["appService"][number];

/** The key under which `name` is stored (App Service names are case-insensitive), if any. */
function storedKey(stored: Readonly<Record<string, unknown>>, name: string): string | undefined {
  if (name in stored) return name;
  return Object.keys(stored).find((k) => k.toLowerCase() === name.toLowerCase());
}

function valueFor(setting: { name: string; values: Readonly<Record<string, string>> }, to: string, what: string): string {
  const value = setting.values[to];
  if (value === undefined) throw new PreconditionError(`${what} '${setting.name}' has no value for region '${to}'`, "RegionNotMapped");
  return value;
}

/** Merges `targets` into `stored`; returns the merged set and the names whose values differ. */
function merge<T>(stored: Readonly<Record<string, T>>, targets: ReadonlyMap<string, T>, same: (a: T, b: T) => boolean): { merged: Record<string, T>; changed: string[] } {
  const merged: Record<string, T> = { ...stored };
  const changed: string[] = [];
  for (const [name, target] of targets) {
    const key = storedKey(stored, name);
    if (key !== undefined && key === name && same(stored[key]!, target)) continue;
    if (key !== undefined && key !== name) delete merged[key];
    merged[name] = target;
    changed.push(name);
  }
  return { merged, changed };
}

/** Every value this activity handles for `spec`, to cut out of any error message. */
function secretsOf(spec: AppServiceSpec, ...stores: Readonly<Record<string, unknown>>[]): string[] {
  const values = [...spec.appSettings, ...spec.connectionStrings].flatMap((s) => Object.values(s.values));
  for (const store of stores) {
    for (const v of Object.values(store)) values.push(typeof v === "string" ? v : String((v as ConnStringValueTypePair | undefined)?.value ?? ""));
  }
  // Longest first, so that a value containing another is cut out whole.
  return [...new Set(values)].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
}

/**
 * Activity: sets the plan's app settings and connection strings of site `plan.appService[index]` to
 * their values for `input.to`. At most one PUT of the app settings and one of the connection strings,
 * each only when a value (or a connection string's type) differs (each write restarts the app). With `disableOther` (the region being
 * left is down), a site located in that region is skipped (a journaled decision): it cannot be written.
 */
export async function switchAppService(input: SwitchInput, deps: ActivityDeps): Promise<SwitchResult> {
  const step = Activities.switchAppService;
  const spec = input.plan.appService[input.index];
  if (!spec) throw new PreconditionError(`the plan has no appService entry at index ${input.index} (it has ${input.plan.appService.length})`, "PlanIndexOutOfRange");
  planRegion(input.plan, input.to);
  const site = spec.site;
  const client = deps.clients.web(site.subscriptionId);
  const settingTargets = new Map(spec.appSettings.map((s) => [s.name, valueFor(s, input.to, "app setting")] as const));
  const stringTargets = new Map(
    spec.connectionStrings.map((s) => [s.name, { value: valueFor(s, input.to, "connection string"), type: s.type } as ConnStringValueTypePair] as const),
  );

  const stores: Record<string, unknown>[] = [];
  /** Runs one call; its error loses the cause (the request body holds values) and any value in its message. */
  const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw withoutSecrets(normaliseAzureError(error, operation, site.id), secretsOf(spec, ...stores));
    }
  };
  const requestIds: string[] = [];
  const write = async (operation: string, names: string[], send: (options: ReturnType<typeof captureRequestIds>["options"]) => Promise<unknown>) => {
    const capture = captureRequestIds();
    try {
      await call(operation, () => send(capture.options));
    } catch (error) {
      const ids = [...capture.ids, ...[requestIdOf(error)].filter((id): id is string => id !== undefined && !capture.ids.includes(id))];
      requestIds.push(...ids);
      await journalWrite(deps, { runId: input.runId, step, resourceId: site.id, operation, requestIds: ids, result: `failed: ${(error as SwitchyardError).code}`, details: { region: input.to, names } });
      throw error;
    }
    requestIds.push(...capture.ids);
    await journalWrite(deps, { runId: input.runId, step, resourceId: site.id, operation, requestIds: capture.ids, result: "succeeded", details: { region: input.to, names } });
    deps.log.info(`${operation} on ${site.name}: set ${names.join(", ")} for ${input.to}`, { runId: input.runId, resourceId: site.id, names });
  };

  // A site in the region being left, while that region is down, cannot take a write (its control plane
  // may be down with it) and takes no traffic: it keeps its settings, and the failback run, which
  // switches every site back, finds them already right. Where the site runs comes from the plan: the
  // run never asks the down region.
  const leaving = otherRegion(input.plan, input.to);
  if (input.disableOther && sameRegion(spec.region, leaving) && (settingTargets.size > 0 || stringTargets.size > 0)) {
    const message = `site ${site.name} is in ${leaving}, which is down: its settings stay as they are until failback`;
    await deps.journal.append({ runId: input.runId, at: deps.clock().toISOString(), kind: "decision", step, message, data: { resourceId: site.id, skipped: true, siteRegion: leaving, names: [...settingTargets.keys(), ...stringTargets.keys()] } });
    deps.log.warn(message, { runId: input.runId, resourceId: site.id });
    return { resourceId: site.id, changed: false, requestIds };
  }

  let changed = false;
  if (settingTargets.size > 0) {
    const stored = (await call("WebApps_ListApplicationSettings", () => client.webApps.listApplicationSettings(site.resourceGroup, site.name))).properties ?? {};
    stores.push(stored);
    const { merged, changed: names } = merge(stored, settingTargets, (a, b) => a === b);
    if (names.length > 0) {
      await write("WebApps_UpdateApplicationSettings", names, (options) => client.webApps.updateApplicationSettings(site.resourceGroup, site.name, { properties: merged }, options));
      changed = true;
    }
  }
  if (stringTargets.size > 0) {
    const stored = (await call("WebApps_ListConnectionStrings", () => client.webApps.listConnectionStrings(site.resourceGroup, site.name))).properties ?? {};
    stores.push(stored);
    const { merged, changed: names } = merge(stored, stringTargets, (a, b) => a.value === b.value && a.type.toLowerCase() === b.type.toLowerCase());
    if (names.length > 0) {
      await write("WebApps_UpdateConnectionStrings", names, (options) => client.webApps.updateConnectionStrings(site.resourceGroup, site.name, { properties: merged }, options));
      changed = true;
    }
  }
  if (!changed) deps.log.info(`site ${site.name} already has its settings for ${input.to}`, { runId: input.runId, resourceId: site.id });
  // App Service restarts the app after a settings or connection strings write: the run waits for the
  // site's region to answer healthy before it sends traffic there.
  return { resourceId: site.id, changed, requestIds, ...(changed ? { restarts: true } : {}) };
}
