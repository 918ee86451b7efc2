import { z } from "zod";
import { isObject } from "../guards.ts";

/**
 * The Azure Monitor common alert schema (`schemaId: "azureMonitorCommonAlertSchema"`), as action
 * groups post it to a webhook. Sources: the Azure Monitor docs pages "Common alert schema" and
 * "Sample alert payloads" (test/fixtures/azure-corpus/alerts holds the verbatim samples).
 *
 * Strict where Switchyard depends on a field: `alertId` (deduplication), `monitorCondition`
 * (down/up), `monitoringService` (the alert's kind), `alertRule` (the signal's name, rules in the
 * plan) and `firedDateTime` (when). Lenient where Azure varies: extra fields are allowed everywhere,
 * optional fields may be missing or null, `alertTargetIDs` may be absent (budget alerts send null),
 * timestamps carry 0-9 fraction digits and sometimes no zone (Service Health test payloads), and
 * `alertContext` is any object, read by the classifier field by field.
 *
 * One documented exception to the strict fields: Cost Management budget alerts
 * (`monitoringService: "CostAlerts"`) send `alertRule`, `severity`, `signalType`, `monitorCondition`
 * and `alertTargetIDs` as null (the "Actual Cost Budget" / "Forecasted Budget" test payloads). They
 * are accepted as one-shot `Fired` notifications named after their budget, so that a real budget
 * alert is answered "ignored" rather than "invalid".
 */

export const COMMON_ALERT_SCHEMA_ID = "azureMonitorCommonAlertSchema";

/** The most an alert body may weigh; Azure caps common-schema alerts at 256 KB. Enforced by the caller. */
export const MAX_ALERT_BODY_BYTES = 256 * 1024;

/** Sanity bounds: generous for anything Azure sends, small enough to keep a hostile body cheap. */
export const ALERT_LIMITS = {
  /** ARM ids (alertId, target ids): ARM itself stays well under this. */
  id: 2_048,
  /** Names (alert rules, configuration items, services, versions). */
  name: 1_024,
  /** Free text (the rule's description). */
  text: 65_536,
  /** Target ids / configuration items per alert. */
  items: 1_000,
} as const;

export const SEVERITIES = ["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"] as const;
export type AlertSeverity = (typeof SEVERITIES)[number];
export type MonitorCondition = "Fired" | "Resolved";

/** monitoringService values of Cost Management budget alerts (CostAlerts is what Azure sends; the rest are its doc labels). */
const COST_SERVICES = new Set(["costalerts", "budget", "budgets", "actual cost budget", "forecasted budget"]);
export const isCostService = (service: string): boolean => COST_SERVICES.has(service.trim().toLowerCase());


const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses an ISO 8601 date-time as Azure Monitor writes it (`2019-03-22T13:58:24.3713213Z`, 7 fraction
 * digits; Service Health test payloads omit the zone, which is UTC) into a normalised ISO string with
 * milliseconds. Undefined when it is not such a time or not a real calendar date.
 */
export function parseAlertTime(value: string): string | undefined {
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = Number((m[7] ?? "0").padEnd(3, "0").slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  let utc = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const check = new Date(Date.UTC(year, month - 1, day));
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined; // 31 February
  const zone = m[8];
  if (zone && zone.toUpperCase() !== "Z") {
    const digits = zone.replace(":", "");
    const hours = Number(digits.slice(1, 3));
    const minutes = Number(digits.slice(3, 5));
    if (hours > 14 || minutes > 59) return undefined;
    utc -= (zone.startsWith("-") ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  if (year < 1970 || !Number.isFinite(utc)) return undefined;
  return new Date(utc).toISOString();
}

const bounded = (max: number) => z.string().max(max, `longer than ${max} characters`);
const required = (max: number) => bounded(max).refine((s) => s.trim().length > 0, "must not be empty");
const timestamp = z.string().max(64, "not a date-time").transform((value, ctx) => {
  const iso = parseAlertTime(value);
  if (iso === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value.slice(0, 40)}" is not an ISO 8601 date-time` });
    return z.NEVER;
  }
  return iso;
});
const stringList = (max: number) =>
  z
    .array(bounded(max), { error: (iss) => (iss.input === undefined ? "required" : "expected an array of strings") })
    .max(ALERT_LIMITS.items, `more than ${ALERT_LIMITS.items} entries`)
    .nullish()
    .transform((list) => list ?? []);

const essentials = z.object({
  alertId: required(ALERT_LIMITS.id),
  /** Nullable only for budget alerts: checked below. */
  alertRule: required(ALERT_LIMITS.name).nullish(),
  severity: z.enum(SEVERITIES, { error: "must be one of Sev0, Sev1, Sev2, Sev3, Sev4" }).nullish(),
  signalType: bounded(ALERT_LIMITS.name).nullish(),
  /** Nullable only for budget alerts: checked below. */
  monitorCondition: z.enum(["Fired", "Resolved"], { error: 'must be "Fired" or "Resolved"' }).nullish(),
  monitoringService: required(ALERT_LIMITS.name),
  alertTargetIDs: stringList(ALERT_LIMITS.id),
  configurationItems: stringList(ALERT_LIMITS.name),
  originAlertId: bounded(ALERT_LIMITS.id).nullish(),
  firedDateTime: timestamp,
  resolvedDateTime: timestamp.nullish(),
  description: bounded(ALERT_LIMITS.text).nullish(),
  essentialsVersion: bounded(ALERT_LIMITS.name).nullish(),
  alertContextVersion: bounded(ALERT_LIMITS.name).nullish(),
});

const anyObject = (what: string) =>
  z.custom<Record<string, unknown>>(isObject, { error: `${what} must be an object` });

export const commonAlertSchema = z
  .object({
    schemaId: z.string({ error: "required" }).refine((id) => id === COMMON_ALERT_SCHEMA_ID, {
      error: (iss) =>
        `is "${String(iss.input).slice(0, 60)}", not "${COMMON_ALERT_SCHEMA_ID}": enable the common alert schema on the action group's webhook`,
    }),
    data: z.object({
      essentials,
      /** Absent or null in no documented payload; tolerated as empty. */
      alertContext: anyObject("alertContext").nullish(),
      customProperties: anyObject("customProperties").nullish(),
    }),
  })
  .superRefine((body, ctx) => {
    const e = body.data.essentials;
    if (isCostService(e.monitoringService)) return;
    if (e.monitorCondition == null) {
      ctx.addIssue({ code: "custom", path: ["data", "essentials", "monitorCondition"], message: 'required: "Fired" or "Resolved"' });
    }
    if (e.alertRule == null) {
      ctx.addIssue({ code: "custom", path: ["data", "essentials", "alertRule"], message: "required: the alert rule's name" });
    }
  })
  .transform((body): ParsedAlert => {
    const e = body.data.essentials;
    const alertContext = body.data.alertContext ?? {};
    const alertData = isObject(alertContext.AlertData) ? alertContext.AlertData : undefined;
    const budgetName = typeof alertData?.BudgetName === "string" && alertData.BudgetName.trim() ? alertData.BudgetName.trim() : undefined;
    return {
      schemaId: COMMON_ALERT_SCHEMA_ID,
      essentials: {
        alertId: e.alertId.trim(),
        // Only budget alerts get here without a rule name (checked above).
        alertRule: (e.alertRule ?? budgetName ?? e.monitoringService).trim().slice(0, ALERT_LIMITS.name),
        severity: e.severity ?? undefined,
        signalType: e.signalType ?? undefined,
        monitorCondition: e.monitorCondition ?? "Fired",
        monitoringService: e.monitoringService.trim(),
        alertTargetIDs: e.alertTargetIDs,
        configurationItems: e.configurationItems,
        originAlertId: e.originAlertId ?? undefined,
        firedDateTime: e.firedDateTime,
        resolvedDateTime: e.resolvedDateTime ?? undefined,
        description: e.description ?? undefined,
        essentialsVersion: e.essentialsVersion ?? undefined,
        alertContextVersion: e.alertContextVersion ?? undefined,
      },
      alertContext,
      customProperties: body.data.customProperties ?? undefined,
    };
  });

/** An alert that passed the schema, with its times normalised to ISO strings (UTC, milliseconds). */
export interface ParsedAlert {
  readonly schemaId: typeof COMMON_ALERT_SCHEMA_ID;
  readonly essentials: {
    readonly alertId: string;
    /** The rule's name; for budget alerts (which send none) the budget's name. */
    readonly alertRule: string;
    readonly severity?: AlertSeverity;
    /** Metric, Log, Activity Log (null for budgets). */
    readonly signalType?: string;
    /** Budget alerts (which send none) count as Fired. */
    readonly monitorCondition: MonitorCondition;
    readonly monitoringService: string;
    readonly alertTargetIDs: readonly string[];
    readonly configurationItems: readonly string[];
    readonly originAlertId?: string;
    readonly firedDateTime: string;
    readonly resolvedDateTime?: string;
    readonly description?: string;
    readonly essentialsVersion?: string;
    readonly alertContextVersion?: string;
  };
  /** The kind-specific part, as sent (read defensively: any field may be missing or of another type). */
  readonly alertContext: Readonly<Record<string, unknown>>;
  readonly customProperties?: Readonly<Record<string, unknown>>;
}
