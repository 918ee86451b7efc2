/**
 * Azure Monitor alert webhook bodies for end-to-end tests and benchmarks: the public corpus payloads
 * (`*.full.json` verbatim; `*.alertContext.json` fragments wrapped in a full body the way
 * test/unit/alerts.test.ts does it: the essentials of the documented Resolved metric alert, adjusted
 * to the fragment's kind, Fired, without resolvedDateTime), and fresh alerts built the same way.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const CORPUS_ALERTS = fileURLToPath(new URL("../fixtures/azure-corpus/alerts/", import.meta.url));
/** The documented Resolved metric alert: its essentials are the base of every wrapped body. */
export const RESOLVED_SAMPLE = "common-schema-metric-alert-resolved.full.json";
/** The alert rule every corpus payload names (they all share the sample's essentials). */
export const CORPUS_RULE = "WCUS-R2-Gen2";

const readJson = (file: string) => JSON.parse(readFileSync(join(CORPUS_ALERTS, file), "utf8")) as Record<string, any>;

/** Essentials per fragment, as the Azure Monitor docs show them for the kind (same table as test/unit/alerts.test.ts). */
const METRIC = { monitoringService: "Platform", signalType: "Metric" };
const activity = (source: string) => ({ monitoringService: `Activity Log - ${source}`, signalType: "Activity Log" });
export const FRAGMENT_ESSENTIALS: Readonly<Record<string, Record<string, unknown>>> = {
  "metric-alert-static-threshold.alertContext.json": METRIC,
  "metric-alert-dynamic-threshold.alertContext.json": METRIC,
  "metric-alert-availability-test.alertContext.json": METRIC,
  "log-search-alert-v1-platform.alertContext.json": { monitoringService: "Log Analytics", signalType: "Log" },
  "log-search-alert-v1-application-insights.alertContext.json": { monitoringService: "Application Insights", signalType: "Log" },
  "log-search-alert-v2.alertContext.json": { monitoringService: "Log Alerts V2", signalType: "Log" },
  "activity-log-alert-administrative.alertContext.json": activity("Administrative"),
  "activity-log-alert-policy.alertContext.json": activity("Policy"),
  "activity-log-alert-autoscale.alertContext.json": activity("Autoscale"),
  "activity-log-alert-security.alertContext.json": activity("Security"),
  "service-health-alert.alertContext.json": { monitoringService: "ServiceHealth", signalType: "Activity Log" },
  "resource-health-alert.alertContext.json": { monitoringService: "Resource Health", signalType: "Activity Log" },
  "prometheus-alert.alertContext.json": { monitoringService: "Prometheus", signalType: "Metric" },
};

/** Every alert payload file of the corpus, sorted (full bodies and fragments). */
export function corpusAlertFiles(): string[] {
  return readdirSync(CORPUS_ALERTS)
    .filter((f) => f.endsWith(".json"))
    .sort();
}

/**
 * The webhook body of a corpus file: a `.full.json` verbatim; a fragment wrapped (Fired). Fragments
 * all share the sample's alertId, so `alertId` replaces it when given (Azure's ids are unique per alert).
 */
export function corpusBody(file: string, options: { alertId?: string } = {}): Record<string, any> {
  if (file.endsWith(".full.json")) return readJson(file);
  const essentials = FRAGMENT_ESSENTIALS[file];
  if (!essentials) throw new Error(`no essentials known for corpus fragment ${file}: add it to FRAGMENT_ESSENTIALS`);
  const base = readJson(RESOLVED_SAMPLE);
  const e: Record<string, unknown> = { ...base.data.essentials, monitorCondition: "Fired", ...essentials, ...(options.alertId ? { alertId: options.alertId } : {}) };
  delete e.resolvedDateTime;
  return { schemaId: base.schemaId, data: { essentials: e, alertContext: structuredClone(readJson(file).alertContext) } };
}

export interface AlertSpec {
  readonly alertId: string;
  readonly rule: string;
  readonly condition?: "Fired" | "Resolved";
  /** Default: now. */
  readonly firedAt?: Date;
  /** For Resolved (default: now). */
  readonly resolvedAt?: Date;
  readonly targets?: readonly string[];
}

/** A static-threshold metric alert (the corpus sample's shape) for `rule`, fired or resolved at the given times. */
export function metricAlert(spec: AlertSpec): Record<string, any> {
  const base = readJson(RESOLVED_SAMPLE);
  const condition = spec.condition ?? "Fired";
  const e: Record<string, unknown> = {
    ...base.data.essentials,
    alertId: spec.alertId,
    alertRule: spec.rule,
    monitorCondition: condition,
    firedDateTime: (spec.firedAt ?? new Date()).toISOString(),
    ...(spec.targets ? { alertTargetIDs: [...spec.targets] } : {}),
  };
  if (condition === "Fired") delete e.resolvedDateTime;
  else e.resolvedDateTime = (spec.resolvedAt ?? new Date()).toISOString();
  return { schemaId: base.schemaId, data: { essentials: e, alertContext: structuredClone(base.data.alertContext) } };
}

/** An Azure-style alert id (the AlertsManagement resource of one alert). */
export function alertIdOf(suffix: string): string {
  return `/subscriptions/00000000-0000-4000-8000-000000000001/providers/Microsoft.AlertsManagement/alerts/${suffix}`;
}
