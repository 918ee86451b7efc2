import { readFileSync } from "node:fs";
import { z } from "zod";
import type { ClientFactoryOptions } from "../azure/clients.ts";
import { CLOUDS, type CloudName } from "../azure/clouds.ts";
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, SECURE_WEBHOOK_ROLE } from "../core/alerts/secureWebhook.ts";

/**
 * Every app setting Switchyard reads (Functions app settings in Azure, `local.settings.json` or the
 * environment locally). Plans may name more settings: the ones holding notification URLs.
 */
export const SETTINGS = {
  target: "SWITCHYARD_TARGET",
  cloud: "SWITCHYARD_AZURE_CLOUD",
  managedIdentityClientId: "AZURE_CLIENT_ID",
  estateUrl: "SWITCHYARD_ESTATE_URL",
  estateCaFile: "SWITCHYARD_ESTATE_CA_FILE",
  storageConnectionString: "SWITCHYARD_STORAGE_CONNECTION_STRING",
  storageAccountUrl: "SWITCHYARD_STORAGE_ACCOUNT_URL",
  plansContainer: "SWITCHYARD_PLANS_CONTAINER",
  journalContainer: "SWITCHYARD_JOURNAL_CONTAINER",
  taskHub: "SWITCHYARD_TASK_HUB",
  stateContainer: "SWITCHYARD_STATE_CONTAINER",
  alertTenantId: "SWITCHYARD_ALERT_TENANT_ID",
  alertAudience: "SWITCHYARD_ALERT_AUDIENCE",
  /** Secure webhook: app roles of which a token must carry one (comma-separated; default ActionGroupsSecureWebhook; "" with apps set: none). */
  alertAllowedRoles: "SWITCHYARD_ALERT_ALLOWED_ROLES",
  /** Secure webhook: client application ids (azp/appid) accepted without a role (comma-separated GUIDs; default none). */
  alertAllowedApps: "SWITCHYARD_ALERT_ALLOWED_APPS",
  /** Secure webhook: longest token lifetime (exp − iat) accepted, in minutes (default 1440: 24 h). */
  alertMaxTokenLifetimeMinutes: "SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES",
  /**
   * The override API checks operators' tokens itself: accepted audiences of the app registration
   * (comma-separated: its Application ID URI and/or client id), with SWITCHYARD_ALERT_TENANT_ID's tenant.
   * Set: override routes need `Authorization: Bearer` with the Switchyard.Operator role, whatever
   * App Service authentication does in front. Unset: App Service authentication's principal decides.
   */
  operatorAudience: "SWITCHYARD_OPERATOR_AUDIENCE",
  /** Set by App Service when its authentication is on: the override API then needs the operator role. */
  appServiceAuth: "WEBSITE_AUTH_ENABLED",
  /** The replicationLag timer's NCRONTAB schedule (six fields; default every minute). */
  lagSchedule: "SWITCHYARD_LAG_SCHEDULE",
  /** The secretSweep timer's NCRONTAB schedule (six fields; default daily at 03:00 UTC). */
  secretSweepSchedule: "SWITCHYARD_SECRET_SWEEP_SCHEDULE",
  /** The readiness timer's NCRONTAB schedule (six fields; default every 30 minutes). */
  readinessSchedule: "SWITCHYARD_READINESS_SCHEDULE",
  /** The scheduledDrill timer's NCRONTAB schedule (six fields; unset: no scheduled drills). */
  drillSchedule: "SWITCHYARD_DRILL_SCHEDULE",
  /** Lag samples kept per resource (default 60: an hour at one a minute). */
  lagRetention: "SWITCHYARD_LAG_RETENTION",
  /** Set by the Functions host when Application Insights is connected: lag metrics go there. */
  appInsightsConnectionString: "APPLICATIONINSIGHTS_CONNECTION_STRING",
  /** Switchyard's own https address, for the approve/abort links in notifications (default: https://{WEBSITE_HOSTNAME}). */
  publicUrl: "SWITCHYARD_PUBLIC_URL",
  /** Set by App Service: the app's default host name. */
  websiteHostname: "WEBSITE_HOSTNAME",
} as const;

/** The replicationLag timer's schedule when SWITCHYARD_LAG_SCHEDULE is not set: second 0 of every minute. */
export const DEFAULT_LAG_SCHEDULE = "0 */1 * * * *";

/** The secretSweep timer's schedule when SWITCHYARD_SECRET_SWEEP_SCHEDULE is not set: 03:00:00 UTC every day. */
export const DEFAULT_SECRET_SWEEP_SCHEDULE = "0 0 3 * * *";

/** The readiness timer's schedule when SWITCHYARD_READINESS_SCHEDULE is not set: minutes 0 and 30 of every hour. */
export const DEFAULT_READINESS_SCHEDULE = "0 */30 * * * *";

/** An NCRONTAB expression as the Functions timer trigger takes it: six fields, second first. */
export const ncrontab = z
  .string()
  .trim()
  .regex(/^[0-9A-Za-z*/,\-?]+( [0-9A-Za-z*/,\-?]+){5}$/, "an NCRONTAB expression of six fields ({second} {minute} {hour} {day} {month} {day-of-week}), e.g. 0 */1 * * * *");

/**
 * The replicationLag timer's schedule, read where the timer is registered (the worker's start). A value
 * that is not NCRONTAB falls back to the default with a warning: it must not stop the module that also
 * registers the alert webhook and the override API.
 */
export function lagSchedule(env: Readonly<Record<string, string | undefined>> = process.env): { schedule: string; warning?: string } {
  const raw = env[SETTINGS.lagSchedule];
  if (raw === undefined || raw.trim() === "") return { schedule: DEFAULT_LAG_SCHEDULE };
  const parsed = ncrontab.safeParse(raw);
  if (!parsed.success) return { schedule: DEFAULT_LAG_SCHEDULE, warning: `${SETTINGS.lagSchedule}: ${parsed.error.issues[0]?.message}; the lag timer runs every minute` };
  return { schedule: parsed.data };
}

/** The secretSweep timer's schedule (as lagSchedule: a value that is not NCRONTAB falls back with a warning). */
export function secretSweepSchedule(env: Readonly<Record<string, string | undefined>> = process.env): { schedule: string; warning?: string } {
  const raw = env[SETTINGS.secretSweepSchedule];
  if (raw === undefined || raw.trim() === "") return { schedule: DEFAULT_SECRET_SWEEP_SCHEDULE };
  const parsed = ncrontab.safeParse(raw);
  if (!parsed.success) return { schedule: DEFAULT_SECRET_SWEEP_SCHEDULE, warning: `${SETTINGS.secretSweepSchedule}: ${parsed.error.issues[0]?.message}; the secret sweep runs daily at 03:00 UTC` };
  return { schedule: parsed.data };
}

/** The readiness timer's schedule (as lagSchedule: a value that is not NCRONTAB falls back with a warning). */
export function readinessSchedule(env: Readonly<Record<string, string | undefined>> = process.env): { schedule: string; warning?: string } {
  const raw = env[SETTINGS.readinessSchedule];
  if (raw === undefined || raw.trim() === "") return { schedule: DEFAULT_READINESS_SCHEDULE };
  const parsed = ncrontab.safeParse(raw);
  if (!parsed.success) return { schedule: DEFAULT_READINESS_SCHEDULE, warning: `${SETTINGS.readinessSchedule}: ${parsed.error.issues[0]?.message}; readiness is evaluated every 30 minutes` };
  return { schedule: parsed.data };
}

/**
 * The scheduledDrill timer's schedule, read where the timer is registered: undefined when
 * SWITCHYARD_DRILL_SCHEDULE is not set (drills are off by default: a planned drill moves production
 * traffic, so it is scheduled only on purpose). A value that is not NCRONTAB registers no timer and says
 * why: it must not stop the module that registers the other functions, nor drill on a guessed schedule.
 */
export function drillSchedule(env: Readonly<Record<string, string | undefined>> = process.env): { schedule?: string; warning?: string } {
  const raw = env[SETTINGS.drillSchedule];
  if (raw === undefined || raw.trim() === "") return {};
  const parsed = ncrontab.safeParse(raw);
  if (!parsed.success) return { warning: `${SETTINGS.drillSchedule}: ${parsed.error.issues[0]?.message}; no drill is scheduled` };
  return { schedule: parsed.data };
}

/** A comma-separated list whose items each pass `item` (blank items are dropped). */
function commaList<T>(item: z.ZodType<T>) {
  return z.string().transform((text, ctx) => {
    const items: T[] = [];
    for (const part of text.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
      const result = item.safeParse(part);
      if (result.success) items.push(result.data);
      else ctx.addIssue({ code: "custom", message: result.error.issues[0]?.message ?? "invalid item" });
    }
    return items;
  });
}

export const containerName = z.string().regex(/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "a blob container name: 3-63 lower-case letters, digits and single dashes");

const settingsSchema = z
  .object({
    [SETTINGS.target]: z.enum(["azure", "estate"]).default("azure"),
    [SETTINGS.cloud]: z.enum(Object.keys(CLOUDS) as [CloudName, ...CloudName[]]).default("AzurePublicCloud"),
    [SETTINGS.managedIdentityClientId]: z.guid("a managed identity client id is a GUID").optional(),
    [SETTINGS.estateUrl]: z.url({ protocol: /^https$/, error: "the estate's https URL" }).optional(),
    [SETTINGS.estateCaFile]: z.string().min(1).optional(),
    [SETTINGS.storageConnectionString]: z.string().min(1).optional(),
    [SETTINGS.storageAccountUrl]: z.url({ protocol: /^https?$/ }).optional(),
    [SETTINGS.plansContainer]: containerName.default("switchyard-plans"),
    [SETTINGS.journalContainer]: containerName.default("switchyard-journal"),
    [SETTINGS.taskHub]: z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,49}$/, "3-50 letters and digits, starting with a letter").default("switchyard"),
    [SETTINGS.stateContainer]: containerName.default("switchyard-state"),
    [SETTINGS.alertTenantId]: z.guid("a tenant id is a GUID").optional(),
    [SETTINGS.alertAudience]: z.string().min(1).optional(),
    [SETTINGS.operatorAudience]: z.string().optional(),
    [SETTINGS.alertAllowedRoles]: commaList(z.string().regex(/^[^\s,]{1,120}$/, "app role values: no spaces, at most 120 characters")).optional(),
    [SETTINGS.alertAllowedApps]: commaList(z.guid("client application ids are GUIDs")).optional(),
    [SETTINGS.alertMaxTokenLifetimeMinutes]: z.coerce.number().int("whole minutes").min(5).max(2 * 24 * 60).default(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS / 60),
    [SETTINGS.appServiceAuth]: z.enum(["true", "True", "TRUE", "false", "False", "FALSE"]).optional(),
    [SETTINGS.appInsightsConnectionString]: z.string().min(1).optional(),
  });

/** Checks between settings, on the raw values so that they report together with the field checks. */
function crossIssues(raw: Record<string, string | undefined>): string[] {
  const issues: string[] = [];
  if (raw[SETTINGS.target] === "estate") {
    for (const name of [SETTINGS.estateUrl, SETTINGS.estateCaFile]) if (!raw[name]) issues.push(`${name}: required when SWITCHYARD_TARGET is estate`);
  }
  if (!!raw[SETTINGS.alertTenantId] !== !!raw[SETTINGS.alertAudience]) {
    issues.push(`${SETTINGS.alertAudience}: the secure webhook needs both ${SETTINGS.alertTenantId} and ${SETTINGS.alertAudience}`);
  }
  // An empty role list is a choice only beside allowed apps: with neither, any app in the tenant would pass.
  if (raw[SETTINGS.alertAllowedRoles] !== undefined && raw[SETTINGS.alertAllowedRoles]!.replace(/[\s,]/g, "") === "" && !raw[SETTINGS.alertAllowedApps]?.replace(/[\s,]/g, "")) {
    issues.push(`${SETTINGS.alertAllowedRoles}: name at least one app role, or set ${SETTINGS.alertAllowedApps}`);
  }
  const operatorAudience = raw[SETTINGS.operatorAudience];
  if (operatorAudience !== undefined && operatorAudience.trim() !== "" && operatorAudience.split(",").every((a) => a.trim() === "")) {
    // Set but naming no audience: it must not quietly turn the check off.
    issues.push(`${SETTINGS.operatorAudience}: names no audience (comma-separated identifier URI and/or client id)`);
  }
  if (operatorAudience?.trim() && !raw[SETTINGS.alertTenantId]) {
    issues.push(`${SETTINGS.operatorAudience}: operators' tokens are checked for the tenant in ${SETTINGS.alertTenantId}, which is not set`);
  }
  if (!raw[SETTINGS.storageConnectionString] && !raw[SETTINGS.storageAccountUrl]) {
    issues.push(`${SETTINGS.storageAccountUrl}: set this or ${SETTINGS.storageConnectionString}`);
  }
  return issues;
}

export interface Settings {
  readonly clients: ClientFactoryOptions;
  readonly plansContainer: string;
  readonly journalContainer: string;
  readonly stateContainer: string;
  readonly taskHub: string;
  /** Secure webhook: validate Azure Monitor's Entra token for this tenant and audience, in the configured cloud. */
  readonly alertToken?: AlertTokenSettings;
  readonly appServiceAuthOn: boolean;
  /** The override API validates operators' bearer tokens itself (SWITCHYARD_OPERATOR_AUDIENCE). */
  readonly operatorToken?: { readonly tenantId: string; readonly audience: readonly string[]; readonly cloud: CloudName };
  /** Lag samples kept per resource. */
  readonly lagRetention: number;
  /**
   * Settings of the lag measurement only that were not usable and fell back to their default: a bad
   * value there must not stop the alert webhook, detection or the override API (logged at start).
   */
  readonly warnings: readonly string[];
  /** Application Insights, for the lag metrics (absent: metrics are logged). Never logged itself. */
  readonly appInsightsConnectionString?: string;
  /** Switchyard's https address for links in notifications (absent: messages give API paths alone). */
  readonly publicUrl?: string;
}

/**
 * SWITCHYARD_PUBLIC_URL (an https origin), else https://{WEBSITE_HOSTNAME}; a value that is not usable
 * is dropped with a warning (links in messages are a convenience, not a reason to stop the app).
 */
export function publicUrl(env: Readonly<Record<string, string | undefined>>): { publicUrl?: string; warnings: string[] } {
  const raw = env[SETTINGS.publicUrl]?.trim();
  if (raw) {
    try {
      const url = new URL(raw);
      if (url.protocol === "https:" && url.username === "" && url.password === "" && url.search === "" && url.hash === "") return { publicUrl: `${url.origin}${url.pathname.replace(/\/+$/, "")}`, warnings: [] };
    } catch {
      // reported below
    }
    return { warnings: [`${SETTINGS.publicUrl}: not an https URL without credentials, query or fragment; notifications give API paths alone`] };
  }
  const host = env[SETTINGS.websiteHostname]?.trim().toLowerCase();
  // Core Tools sets WEBSITE_HOSTNAME to localhost:7071 under `func start`, which serves http.
  if (host && /^[a-z0-9.-]+(:\d+)?$/.test(host)) return { publicUrl: `${/^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host) ? "http" : "https"}://${host}`, warnings: [] };
  return { warnings: [] };
}

export interface AlertTokenSettings {
  readonly tenantId: string;
  readonly audience: string;
  readonly cloud: CloudName;
  readonly allowedRoles: readonly string[];
  readonly allowedApps: readonly string[];
  readonly maxLifetimeSeconds: number;
}

export class SettingsError extends Error {}

/** Whether App Service authentication is on: WEBSITE_AUTH_ENABLED, which App Service sets to True when it is. */
/**
 * Whether the secure webhook is configured (its tenant and audience both set): the alert webhook then
 * checks Azure Monitor's token itself and is registered without a function key. Read where the routes
 * are registered (the worker's start).
 */
export function secureWebhookConfigured(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return (env[SETTINGS.alertTenantId] ?? "").trim() !== "" && (env[SETTINGS.alertAudience] ?? "").trim() !== "";
}

export function appServiceAuthEnabled(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return (env[SETTINGS.appServiceAuth] ?? "").trim().toLowerCase() === "true";
}

const retention = z.coerce.number().int("a whole number of samples").min(5, "at least 5").max(1440, "at most 1440");

function withWarnings(a: { lagRetention: number; warnings: string[] }, b: { publicUrl?: string; warnings: string[] }): { lagRetention: number; publicUrl?: string; warnings: string[] } {
  return { lagRetention: a.lagRetention, ...(b.publicUrl ? { publicUrl: b.publicUrl } : {}), warnings: [...a.warnings, ...b.warnings] };
}

/** SWITCHYARD_LAG_RETENTION, with the default (60) and a warning when it is not usable. */
function lagRetention(env: Readonly<Record<string, string | undefined>>): { lagRetention: number; warnings: string[] } {
  const raw = env[SETTINGS.lagRetention];
  if (raw === undefined || raw.trim() === "") return { lagRetention: 60, warnings: [] };
  const parsed = retention.safeParse(raw);
  return parsed.success ? { lagRetention: parsed.data, warnings: [] } : { lagRetention: 60, warnings: [`${SETTINGS.lagRetention}: ${parsed.error.issues[0]?.message}; 60 samples are kept`] };
}

/** Reads and checks the settings; the error names every bad or missing setting (never its value). */
export function readSettings(env: Readonly<Record<string, string | undefined>> = process.env): Settings {
  const raw = Object.fromEntries(Object.values(SETTINGS).map((name) => [name, env[name] === "" ? undefined : env[name]]));
  const result = settingsSchema.safeParse(raw);
  const issues = [...(result.success ? [] : result.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`)), ...crossIssues(raw)];
  if (issues.length > 0 || !result.success) throw new SettingsError(`invalid settings: ${issues.join("; ")}`);
  const s = result.data;
  const blobStore = {
    ...(s[SETTINGS.storageConnectionString] ? { connectionString: s[SETTINGS.storageConnectionString] } : {}),
    ...(s[SETTINGS.storageAccountUrl] ? { accountUrl: s[SETTINGS.storageAccountUrl] } : {}),
  };
  let clients: ClientFactoryOptions;
  if (s[SETTINGS.target] === "estate") {
    let ca: string;
    try {
      ca = readFileSync(s[SETTINGS.estateCaFile]!, "utf8");
    } catch {
      throw new SettingsError(`invalid settings: ${SETTINGS.estateCaFile}: cannot read the file it names`);
    }
    clients = { target: { kind: "estate", url: s[SETTINGS.estateUrl]!, ca }, blobStore };
  } else {
    clients = {
      target: {
        kind: "azure",
        cloud: s[SETTINGS.cloud],
        ...(s[SETTINGS.managedIdentityClientId] ? { managedIdentityClientId: s[SETTINGS.managedIdentityClientId] } : {}),
      },
      blobStore,
    };
  }
  const [alertTenantId, alertAudience] = [s[SETTINGS.alertTenantId], s[SETTINGS.alertAudience]];
  return {
    clients,
    plansContainer: s[SETTINGS.plansContainer],
    journalContainer: s[SETTINGS.journalContainer],
    stateContainer: s[SETTINGS.stateContainer],
    taskHub: s[SETTINGS.taskHub],
    ...withWarnings(lagRetention(env), publicUrl(env)),
    ...(s[SETTINGS.appInsightsConnectionString] ? { appInsightsConnectionString: s[SETTINGS.appInsightsConnectionString] } : {}),
    ...(alertTenantId && alertAudience
      ? {
          alertToken: {
            tenantId: alertTenantId,
            audience: alertAudience,
            cloud: s[SETTINGS.cloud],
            allowedRoles: s[SETTINGS.alertAllowedRoles] ?? [SECURE_WEBHOOK_ROLE],
            allowedApps: s[SETTINGS.alertAllowedApps] ?? [],
            maxLifetimeSeconds: s[SETTINGS.alertMaxTokenLifetimeMinutes] * 60,
          },
        }
      : {}),
    appServiceAuthOn: appServiceAuthEnabled(raw),
    ...operatorToken(s[SETTINGS.operatorAudience], alertTenantId, s[SETTINGS.cloud]),
  };
}

function operatorToken(audience: string | undefined, tenantId: string | undefined, cloud: CloudName): Pick<Settings, "operatorToken"> {
  const audiences = (audience ?? "").split(",").map((a) => a.trim()).filter((a) => a.length > 0);
  return audiences.length > 0 && tenantId ? { operatorToken: { tenantId, audience: audiences, cloud } } : {};
}
