import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  alertKind,
  classifyAlert,
  NO_MATCH_REASON,
  parseAlert,
  parseAlertText,
  type AlertDecision,
  type AlertKind,
  type ParsedAlert,
} from "../../src/core/alerts/index.ts";
import { parsePlan, parsePlanText, PlanValidationError, type Plan } from "../../src/core/plan/index.ts";

const CORPUS = join(import.meta.dirname, "../fixtures/azure-corpus/alerts");
const EXAMPLE = join(import.meta.dirname, "../../examples/contoso.plan.yaml");
const NOW = new Date("2030-01-01T00:00:00Z");

const readJson = (file: string) => JSON.parse(readFileSync(join(CORPUS, file), "utf8")) as Record<string, any>;
const RESOLVED_SAMPLE = "common-schema-metric-alert-resolved.full.json";

// Plan resources (examples/contoso.plan.yaml).
const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const SQL_PRIMARY = `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Sql/servers/contoso-orders-sql-eastus2`;
const SQL_PARTNER = `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Sql/servers/contoso-orders-sql-centralus`;
const STORAGE = `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata`;
const AFD_PROFILE = `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Cdn/profiles/contoso-orders-afd`;
const CLASSIC_FD = `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Network/frontDoors/contoso-orders-legacy`;
const SITE_CENTRAL = `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Web/sites/contoso-orders-centralus`;
const SITE_EAST = `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Web/sites/contoso-orders-eastus2`;
const WORKSPACE = `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.OperationalInsights/workspaces/contoso-logs`;

/** The example plan, with `alertRules` added when given. */
function contoso(alertRules: { rule: string; region: string }[] = []): Plan {
  const doc = parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
  return parsePlanText(stringify({ ...doc, alertRules }), "contoso.plan.yaml");
}

function otherPlan(): Plan {
  const doc = parse(readFileSync(EXAMPLE, "utf8")) as Record<string, any>;
  return parsePlan({
    name: "fabrikam-web",
    regions: {
      primary: { name: "westeurope", healthEndpoints: [{ url: "https://fabrikam-weu.example.com/healthz" }] },
      secondary: { name: "northeurope", healthEndpoints: [{ url: "https://fabrikam-neu.example.com/healthz" }] },
    },
    objectives: doc.objectives,
    storage: [{ account: `${SUB}/resourceGroups/fabrikam/providers/Microsoft.Storage/storageAccounts/fabrikamdata` }],
  });
}

/**
 * A full body around a corpus `alertContext` fragment: the essentials of the documented Resolved metric
 * alert, adjusted to the kind (Fired unless told, no resolvedDateTime then).
 */
function wrap(fragmentFile: string, essentials: Record<string, unknown> = {}, context?: (ctx: Record<string, any>) => void): Record<string, any> {
  const base = readJson(RESOLVED_SAMPLE);
  const fragment = readJson(fragmentFile);
  const alertContext = structuredClone(fragmentFile.endsWith(".full.json") ? fragment.data.alertContext : fragment.alertContext);
  context?.(alertContext);
  const e: Record<string, unknown> = { ...base.data.essentials, monitorCondition: "Fired", ...essentials };
  if (e.monitorCondition === "Fired" && !("resolvedDateTime" in essentials)) delete e.resolvedDateTime;
  return { schemaId: base.schemaId, data: { essentials: e, alertContext } };
}

function parsed(body: unknown): ParsedAlert {
  const result = parseAlert(body);
  if (!result.ok) throw new Error(`expected a valid alert, got: ${result.reason}`);
  return result.alert;
}

const classify = (body: unknown, plans: readonly Plan[] = [contoso()], now = NOW): AlertDecision => classifyAlert(parsed(body), plans, now);

/** Essentials per kind, as the Azure Monitor docs show them ("Common alert schema definitions", "Sample alert payloads"). */
const METRIC = { monitoringService: "Platform", signalType: "Metric" };
const activity = (source: string) => ({ monitoringService: `Activity Log - ${source}`, signalType: "Activity Log" });

const CORPUS_KINDS: Record<string, { essentials: Record<string, unknown>; kind: AlertKind }> = {
  [RESOLVED_SAMPLE]: { essentials: {}, kind: "metric-static" },
  "common-schema-sample-with-customProperties.full.json": { essentials: {}, kind: "metric-static" },
  "metric-alert-static-threshold.alertContext.json": { essentials: METRIC, kind: "metric-static" },
  "metric-alert-dynamic-threshold.alertContext.json": { essentials: METRIC, kind: "metric-dynamic" },
  "metric-alert-availability-test.alertContext.json": { essentials: METRIC, kind: "availability-test" },
  "log-search-alert-v1-platform.alertContext.json": { essentials: { monitoringService: "Log Analytics", signalType: "Log" }, kind: "log-search-v1" },
  "log-search-alert-v1-application-insights.alertContext.json": { essentials: { monitoringService: "Application Insights", signalType: "Log" }, kind: "log-search-v1" },
  "log-search-alert-v2.alertContext.json": { essentials: { monitoringService: "Log Alerts V2", signalType: "Log" }, kind: "log-search-v2" },
  "activity-log-alert-administrative.alertContext.json": { essentials: activity("Administrative"), kind: "activity-log-administrative" },
  "activity-log-alert-policy.alertContext.json": { essentials: activity("Policy"), kind: "activity-log-policy" },
  "activity-log-alert-autoscale.alertContext.json": { essentials: activity("Autoscale"), kind: "activity-log-autoscale" },
  "activity-log-alert-security.alertContext.json": { essentials: activity("Security"), kind: "activity-log-security" },
  "service-health-alert.alertContext.json": { essentials: { monitoringService: "ServiceHealth", signalType: "Activity Log", alertTargetIDs: [SUB] }, kind: "service-health" },
  "resource-health-alert.alertContext.json": { essentials: { monitoringService: "Resource Health", signalType: "Activity Log" }, kind: "resource-health" },
  "prometheus-alert.alertContext.json": { essentials: { monitoringService: "Prometheus", signalType: "Metric" }, kind: "prometheus" },
};

const bodyOf = (file: string) => (file.endsWith(".full.json") ? readJson(file) : wrap(file, CORPUS_KINDS[file]!.essentials));

/** Budget alerts as Cost Management sends them: most essentials null (docs, "Actual Cost Budget" test payload). */
const budgetAlert = () => ({
  schemaId: "azureMonitorCommonAlertSchema",
  data: {
    essentials: {
      monitoringService: "CostAlerts",
      firedDateTime: "2022-12-07T21:13:20.645Z",
      description: "Your spend for budget orders-monthly is now $11,111.00 exceeding your specified threshold $25.00.",
      essentialsVersion: "1.0",
      alertContextVersion: "1.0",
      alertId: "/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.CostManagement/alerts/orders-monthly",
      alertRule: null,
      severity: null,
      signalType: null,
      monitorCondition: null,
      alertTargetIDs: null,
      configurationItems: ["budgets"],
      originAlertId: null,
    },
    alertContext: { AlertCategory: "budgets", AlertData: { BudgetName: "orders-monthly", ThresholdType: "Actual", SpentAmount: "$11,111.00" } },
  },
});

/** A smart detection alert (docs, "Smart Alert" test payload, abbreviated). */
const smartDetectionAlert = () => ({
  schemaId: "azureMonitorCommonAlertSchema",
  data: {
    essentials: {
      alertId: "/subscriptions/11111111-1111-1111-1111-111111111111/providers/Microsoft.AlertsManagement/alerts/12345678-1234-1234-1234-1234567890ab",
      alertRule: "Failure Anomalies - contoso-orders-ai",
      severity: "Sev3",
      signalType: "Log",
      monitorCondition: "Fired",
      monitoringService: "SmartDetector",
      alertTargetIDs: [`${SUB}/resourcegroups/contoso-orders-global/providers/microsoft.insights/components/contoso-orders-ai`],
      configurationItems: ["contoso-orders-ai"],
      firedDateTime: "2021-10-28T19:09:09.1115084Z",
      essentialsVersion: "1.0",
      alertContextVersion: "1.0",
    },
    alertContext: { DetectionSummary: "An abnormal rise in failed requests", SmartDetectorId: "FailureAnomaliesDetector", SmartDetectorName: "Failure Anomalies" },
  },
});

describe("the Azure Monitor alert corpus", () => {
  const files = readdirSync(CORPUS).filter((f) => f.endsWith(".json"));

  it("covers every payload in the corpus", () => {
    expect(files.sort()).toEqual(Object.keys(CORPUS_KINDS).sort());
  });

  it.each(Object.keys(CORPUS_KINDS))("%s parses, is classified to its kind and classifies without throwing", (file) => {
    const result = parseAlert(bodyOf(file));
    expect(result.ok, result.ok ? "" : result.reason).toBe(true);
    if (!result.ok) return;
    expect(alertKind(result.alert)).toBe(CORPUS_KINDS[file]!.kind);
    const decision = classifyAlert(result.alert, [contoso(), otherPlan()], NOW);
    expect(decision.kind).toBe(CORPUS_KINDS[file]!.kind);
    expect(decision.dedupeKey).toBe(`${result.alert.essentials.alertId}:${result.alert.essentials.monitorCondition}`);
    // Their targets are placeholders no plan names: each is ignored, with a reason.
    expect(decision.signals).toEqual([]);
    expect(decision.ignoredReason).toBeTruthy();
  });

  it("classifies the budget and smart detection payloads the docs show (not in the corpus)", () => {
    const budget = parseAlert(budgetAlert());
    expect(budget.ok).toBe(true);
    if (!budget.ok) return;
    expect(budget.alert.essentials).toMatchObject({ alertRule: "orders-monthly", monitorCondition: "Fired", alertTargetIDs: [] });
    expect(alertKind(budget.alert)).toBe("budget");
    expect(alertKind(parsed(smartDetectionAlert()))).toBe("smart-detection");
  });

  it("tells v1 log alerts from metric alerts by their context when monitoringService says Platform", () => {
    // The docs title the v1 Log Analytics sample "Log alert with monitoringService = Platform".
    expect(alertKind(parsed(wrap("log-search-alert-v1-platform.alertContext.json", METRIC)))).toBe("log-search-v1");
    // ...and classify activity log alerts by eventSource when the service name is not one Switchyard knows.
    expect(alertKind(parsed(wrap("activity-log-alert-policy.alertContext.json", { monitoringService: "Activity Log" })))).toBe("activity-log-policy");
    expect(alertKind(parsed(wrap("resource-health-alert.alertContext.json", { monitoringService: "Activity Log" })))).toBe("resource-health");
    expect(alertKind(parsed(wrap("prometheus-alert.alertContext.json", { monitoringService: "Managed Prometheus" })))).toBe("prometheus");
    expect(alertKind(parsed(wrap("metric-alert-static-threshold.alertContext.json", { monitoringService: "Something New" }, (c) => void delete c.conditionType)))).toBe("unknown");
  });
});

describe("parseAlert", () => {
  it("normalises times to ISO with milliseconds, and reads a zone-less time as UTC", () => {
    const alert = parsed(readJson(RESOLVED_SAMPLE));
    expect(alert.essentials.firedDateTime).toBe("2019-03-22T13:58:24.371Z");
    expect(alert.essentials.resolvedDateTime).toBe("2019-03-22T14:03:16.224Z");
    // The Service Health test payload's firedDateTime has no zone.
    expect(parsed(wrap(RESOLVED_SAMPLE, { firedDateTime: "2021-11-17T05:34:48.0623172" })).essentials.firedDateTime).toBe("2021-11-17T05:34:48.062Z");
    expect(parsed(wrap(RESOLVED_SAMPLE, { firedDateTime: "2019-08-21T16:17:47.1551167+02:00" })).essentials.firedDateTime).toBe("2019-08-21T14:17:47.155Z");
  });

  it.each([
    [{ schemaId: "AzureMonitorMetricAlert", data: { status: "Activated" } }, "schemaId", /enable the common alert schema/],
    [{ data: {} }, "schemaId", /required/],
    [wrap(RESOLVED_SAMPLE, { alertId: "" }), "data.essentials.alertId", /must not be empty/],
    [wrap(RESOLVED_SAMPLE, { alertId: 42 }), "data.essentials.alertId", /expected string/],
    [wrap(RESOLVED_SAMPLE, { monitorCondition: "Activated" }), "data.essentials.monitorCondition", /"Fired" or "Resolved"/],
    [wrap(RESOLVED_SAMPLE, { monitorCondition: null }), "data.essentials.monitorCondition", /required/],
    [wrap(RESOLVED_SAMPLE, { monitoringService: undefined }), "data.essentials.monitoringService", /required/],
    [wrap(RESOLVED_SAMPLE, { alertRule: null }), "data.essentials.alertRule", /required/],
    [wrap(RESOLVED_SAMPLE, { firedDateTime: "yesterday" }), "data.essentials.firedDateTime", /not an ISO 8601 date-time/],
    [wrap(RESOLVED_SAMPLE, { firedDateTime: "2021-02-30T00:00:00Z" }), "data.essentials.firedDateTime", /not an ISO 8601 date-time/],
    [wrap(RESOLVED_SAMPLE, { severity: "Critical" }), "data.essentials.severity", /Sev0/],
    [wrap(RESOLVED_SAMPLE, { alertTargetIDs: ["/subscriptions/x", 7] }), "data.essentials.alertTargetIDs[1]", /expected string/],
    [wrap(RESOLVED_SAMPLE, { alertTargetIDs: [`${SUB}/${"x".repeat(3000)}`] }), "data.essentials.alertTargetIDs[0]", /longer than/],
    [wrap(RESOLVED_SAMPLE, { configurationItems: "vm1" }), "data.essentials.configurationItems", /array/],
    [{ schemaId: "azureMonitorCommonAlertSchema", data: { essentials: readJson(RESOLVED_SAMPLE).data.essentials, alertContext: [1] } }, "data.alertContext", /must be an object/],
  ])("rejects an invalid body with the path of the problem (%#)", (body, path, message) => {
    const result = parseAlert(body);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.path).toBe(path);
    expect(result.reason.startsWith(`${path}: `)).toBe(true);
    expect(result.reason).toMatch(message);
  });

  it("rejects what is not an object, and raw text that is too large or not JSON", () => {
    for (const body of [null, undefined, 42, "text", [readJson(RESOLVED_SAMPLE)]]) {
      const result = parseAlert(body);
      expect(result.ok).toBe(false);
      expect(result.ok ? "" : result.reason).toMatch(/must be a JSON object/);
    }
    expect(parseAlertText("{not json")).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid JSON/) });
    expect(parseAlertText(JSON.stringify({ ...readJson(RESOLVED_SAMPLE), pad: "x".repeat(300 * 1024) }))).toMatchObject({ ok: false, reason: expect.stringMatching(/larger than 256 KiB/) });
    expect(parseAlertText(JSON.stringify(readJson(RESOLVED_SAMPLE))).ok).toBe(true);
  });

  it("tolerates what Azure varies: extra fields, missing optional ones, null targets", () => {
    const body = wrap(RESOLVED_SAMPLE, { alertTargetIDs: undefined, configurationItems: null, originAlertId: undefined, description: null, investigationLink: "x" });
    (body as any).extra = { anything: true };
    const alert = parsed(body);
    expect(alert.essentials.alertTargetIDs).toEqual([]);
    expect(alert.essentials.configurationItems).toEqual([]);
  });
});

describe("classifyAlert: mapping to plans and regions", () => {
  const metric = (targets: string[], essentials: Record<string, unknown> = {}, context?: (ctx: Record<string, any>) => void) =>
    wrap("metric-alert-static-threshold.alertContext.json", { ...METRIC, alertTargetIDs: targets, ...essentials }, context);

  it("maps a database under the plan's primary SQL server to that server's region, Fired → down, dated at its receipt", () => {
    const decision = classify(metric([`${SQL_PRIMARY.toLowerCase()}/databases/orders`], { alertRule: "orders-dtu" }));
    expect(decision.ignoredReason).toBeUndefined();
    expect(decision.matches).toEqual([{ plan: "contoso-orders", region: "eastus2", why: expect.stringContaining("contoso-orders-sql-eastus2") }]);
    expect(decision.signals).toEqual([
      {
        plan: "contoso-orders",
        region: "eastus2",
        source: "alert",
        name: "alert:orders-dtu",
        status: "down",
        at: NOW.toISOString(),
        detail: expect.stringContaining('metric-static alert "orders-dtu" Fired at 2019-03-22T13:58:24.371Z (Sev3)'),
        alertKind: "metric-static",
      },
    ]);
  });

  it("maps the partner server, and a failover group under it, to the secondary region", () => {
    expect(classify(metric([`${SQL_PARTNER}/databases/orders`])).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(metric([`${SQL_PARTNER}/failoverGroups/contoso-orders-fog`])).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(metric([`${SQL_PRIMARY}/failoverGroups/contoso-orders-fog`])).signals.map((s) => s.region)).toEqual(["eastus2"]);
  });

  it("compares ids case-insensitively and ignores a trailing slash, but not a prefix that is another resource", () => {
    expect(classify(metric([`${SQL_PRIMARY.toUpperCase()}/`])).signals.map((s) => s.region)).toEqual(["eastus2"]);
    expect(classify(metric([`${SQL_PRIMARY}-old/databases/orders`])).ignoredReason).toBe(NO_MATCH_REASON);
  });

  it("maps a storage account (and its services) to the plan's primary region", () => {
    const decision = classify(wrap("metric-alert-dynamic-threshold.alertContext.json", { ...METRIC, alertTargetIDs: [`${STORAGE}/blobServices/default`] }));
    expect(decision.kind).toBe("metric-dynamic");
    expect(decision.signals.map((s) => [s.region, s.status])).toEqual([["eastus2", "down"]]);
  });

  it("maps a site, or a slot under it, to the site's region", () => {
    expect(classify(metric([`${SITE_CENTRAL}/slots/staging`])).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(metric([SITE_EAST])).signals.map((s) => s.region)).toEqual(["eastus2"]);
  });

  it("maps a Front Door Standard alert through its Origin dimension, and nothing without one", () => {
    const withOrigin = (origin: string, group = "web") =>
      metric([AFD_PROFILE], {}, (c) => {
        c.condition.allOf[0].dimensions = [
          { name: "Origin", value: origin },
          { name: "Origin Group", value: group },
        ];
      });
    expect(classify(withOrigin("web-centralus")).signals.map((s) => s.region)).toEqual(["centralus"]);
    // A host name the plan knows: a site's default host name.
    expect(classify(withOrigin("contoso-orders-centralus.azurewebsites.net")).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(withOrigin("web-centralus", "api")).ignoredReason).toBe(NO_MATCH_REASON);
    expect(classify(withOrigin("web-westus")).ignoredReason).toBe(NO_MATCH_REASON);
    expect(classify(metric([`${AFD_PROFILE}/originGroups/web`])).ignoredReason).toBe(NO_MATCH_REASON);
    expect(classify(metric([`${AFD_PROFILE}/originGroups/web/origins/web-eastus2`])).signals.map((s) => s.region)).toEqual(["eastus2"]);
  });

  it("maps a classic Front Door alert through its Backend dimension, in the plan's backend pool only", () => {
    const withBackend = (backend: string, pool: string) =>
      metric([CLASSIC_FD], {}, (c) => {
        c.condition.allOf[0].dimensions = [
          { name: "Backend", value: backend },
          { name: "BackendPool", value: pool },
        ];
      });
    expect(classify(withBackend("CONTOSO-ORDERS-API-CENTRALUS.azurewebsites.net", "api-pool")).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(withBackend("contoso-orders-api-centralus.azurewebsites.net", "other-pool")).ignoredReason).toBe(NO_MATCH_REASON);
  });

  it("gives one signal per (plan, region), however many targets it names", () => {
    const decision = classify(metric([`${SQL_PRIMARY}/databases/orders`, `${SQL_PRIMARY}/databases/customers`, STORAGE, `${SQL_PARTNER}/databases/orders`]));
    expect(decision.signals.map((s) => s.region)).toEqual(["eastus2", "centralus"]);
    expect(decision.matches).toHaveLength(2);
  });

  it("only the plan that names the resource gets a signal", () => {
    const decision = classify(metric([`${SUB}/resourceGroups/fabrikam/providers/Microsoft.Storage/storageAccounts/fabrikamdata`]), [contoso(), otherPlan()]);
    expect(decision.signals.map((s) => [s.plan, s.region])).toEqual([["fabrikam-web", "westeurope"]]);
  });

  it("ignores an alert no plan names, with the reason", () => {
    const decision = classify(readJson(RESOLVED_SAMPLE));
    expect(decision).toMatchObject({ kind: "metric-static", matches: [], signals: [], ignoredReason: NO_MATCH_REASON });
  });

  it("maps by rule name (case-insensitive) whatever the target, and a rule wins over the resource mapping", () => {
    const plan = contoso([{ rule: "wcus-r2-gen2", region: "centralus" }]);
    const decision = classify(readJson(RESOLVED_SAMPLE), [plan]);
    expect(decision.signals).toEqual([
      expect.objectContaining({ plan: "contoso-orders", region: "centralus", name: "alert:WCUS-R2-Gen2", status: "up", at: NOW.toISOString() }),
    ]);
    expect(decision.matches[0]!.why).toMatch(/alertRules\[0\]/);
    const overriding = classify(metric([`${SQL_PRIMARY}/databases/orders`], { alertRule: "WCUS-R2-Gen2" }), [plan]);
    expect(overriding.signals.map((s) => s.region)).toEqual(["centralus"]);
  });

  it("maps log search, availability test, Prometheus and smart detection alerts (by target or rule)", () => {
    const v2 = classify(wrap("log-search-alert-v2.alertContext.json", { monitoringService: "Log Alerts V2", signalType: "Log", alertTargetIDs: [SITE_EAST] }));
    expect(v2.signals.map((s) => [s.region, s.status])).toEqual([["eastus2", "down"]]);
    const v2Resolved = classify(
      wrap("log-search-alert-v2.alertContext.json", {
        monitoringService: "Log Alerts V2",
        alertTargetIDs: [SITE_EAST],
        monitorCondition: "Resolved",
        resolvedDateTime: "2020-07-09T14:20:00Z",
      }),
    );
    expect(v2Resolved.signals.map((s) => [s.status, s.at])).toEqual([["up", NOW.toISOString()]]);
    expect(v2Resolved.signals[0]!.detail).toContain("Resolved at 2020-07-09T14:20:00.000Z");
    expect(v2Resolved.dedupeKey).not.toBe(v2.dedupeKey);

    const rules = contoso([
      { rule: "heartbeat-eastus2", region: "eastus2" },
      { rule: "myAvailabilityTest-myApplication", region: "centralus" },
      { rule: "sql-up", region: "centralus" },
      { rule: "Failure Anomalies - contoso-orders-ai", region: "eastus2" },
    ]);
    const v1 = wrap("log-search-alert-v1-platform.alertContext.json", { monitoringService: "Log Analytics", signalType: "Log", alertRule: "heartbeat-eastus2", alertTargetIDs: [WORKSPACE] });
    expect(classify(v1).ignoredReason).toBe(NO_MATCH_REASON);
    expect(classify(v1, [rules]).signals.map((s) => [s.region, s.status])).toEqual([["eastus2", "down"]]);
    const availability = wrap("metric-alert-availability-test.alertContext.json", { ...METRIC, alertRule: "myAvailabilityTest-myApplication" });
    expect(classify(availability, [rules]).signals.map((s) => s.region)).toEqual(["centralus"]);
    const prometheus = wrap("prometheus-alert.alertContext.json", { monitoringService: "Prometheus", alertRule: "SQL-UP", alertTargetIDs: [] });
    expect(classify(prometheus, [rules]).signals.map((s) => [s.region, s.name])).toEqual([["centralus", "alert:SQL-UP"]]);
    expect(classify(smartDetectionAlert(), [rules]).signals.map((s) => [s.region, s.status])).toEqual([["eastus2", "down"]]);
  });
});

describe("classifyAlert with many plans", () => {
  /** The example plan under another name and subscription: it maps none of the example's resources. */
  const copy = (i: number): Plan => {
    const doc = parse(readFileSync(EXAMPLE, "utf8").replaceAll("6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`)) as Record<string, unknown>;
    return parsePlanText(stringify({ ...doc, name: `copy-${i}`, alertRules: [{ rule: `rule-${i}`, region: "eastus2" }] }), `copy-${i}.plan.yaml`);
  };
  const many = [...Array.from({ length: 199 }, (_, i) => copy(i)), contoso([{ rule: "orders-dtu", region: "centralus" }]), otherPlan()];
  const alone = [contoso([{ rule: "orders-dtu", region: "centralus" }])];
  const metric = (targets: string[], alertRule = "cpu") => wrap("metric-alert-static-threshold.alertContext.json", { ...METRIC, alertTargetIDs: targets, alertRule });

  it("decides exactly as with the one plan that maps the alert, among 200 that do not", () => {
    for (const body of [metric([`${SQL_PARTNER}/databases/orders`]), metric([STORAGE]), metric([SITE_CENTRAL]), metric([WORKSPACE], "orders-dtu"), metric([`${SQL_PRIMARY}-old`])]) {
      expect(classify(body, many)).toEqual(classify(body, alone));
    }
  });

  it("finds every plan that maps a target or names the rule, whatever their order", () => {
    expect(classify(metric([`${SUB.replace("6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "00000000-0000-4000-8000-000000000042")}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata`]), many).matches.map((m) => m.plan)).toEqual(["copy-42"]);
    expect(classify(metric([WORKSPACE], "rule-7"), many).matches.map((m) => m.plan)).toEqual(["copy-7"]);
    expect(classify(metric([`${SUB}/resourceGroups/fabrikam/providers/Microsoft.Storage/storageAccounts/fabrikamdata/blobServices/default`]), [...many].reverse()).matches.map((m) => m.plan)).toEqual(["fabrikam-web"]);
  });
});

describe("classifyAlert: Resource Health and Service Health", () => {
  const resourceHealth = (properties: Record<string, unknown>, targets = [SQL_PARTNER]) =>
    wrap("resource-health-alert.alertContext.json", { monitoringService: "Resource Health", signalType: "Activity Log", alertTargetIDs: targets }, (c) => {
      Object.assign(c.properties, properties);
    });

  it("ignores the documented user-initiated stop, even on a plan resource", () => {
    const decision = classify(resourceHealth({}));
    expect(decision.kind).toBe("resource-health");
    expect(decision.signals).toEqual([]);
    expect(decision.ignoredReason).toMatch(/user-initiated/);
  });

  it("reads the health status: Unavailable/Degraded → down, Available → up, Unknown → ignored", () => {
    expect(classify(resourceHealth({ cause: "PlatformInitiated" })).signals.map((s) => [s.region, s.status])).toEqual([["centralus", "down"]]);
    expect(classify(resourceHealth({ cause: "PlatformInitiated", currentHealthStatus: "Degraded" })).signals.map((s) => s.status)).toEqual(["down"]);
    expect(classify(resourceHealth({ cause: "PlatformInitiated", currentHealthStatus: "Available", previousHealthStatus: "Unavailable" })).signals.map((s) => s.status)).toEqual(["up"]);
    expect(classify(resourceHealth({ cause: "PlatformInitiated", currentHealthStatus: "Unknown" })).ignoredReason).toMatch(/no evidence/);
  });

  const serviceHealth = (properties: Record<string, unknown>, status = "Active") =>
    wrap("service-health-alert.alertContext.json", { monitoringService: "ServiceHealth", signalType: "Activity Log", alertTargetIDs: [SUB], alertRule: "azure-incidents" }, (c) => {
      Object.assign(c.properties, properties);
      c.status = status;
    });
  const incident = (regions: string[], extra: Record<string, unknown> = {}) => ({
    incidentType: "Incident",
    stage: "Active",
    impactedServices: JSON.stringify([{ ImpactedRegions: regions.map((RegionName) => ({ RegionName })), ServiceName: "SQL Database" }]),
    ...extra,
  });

  it("ignores the documented planned maintenance: only incidents count", () => {
    const decision = classify(serviceHealth({}));
    expect(decision.kind).toBe("service-health");
    expect(decision.ignoredReason).toMatch(/"Maintenance" is not a service incident/);
  });

  it('maps an incident in "East US 2" to eastus2 (down), and its resolution to up', () => {
    const decision = classify(serviceHealth(incident(["East US 2", "West Europe"])), [contoso(), otherPlan()]);
    expect(decision.signals.map((s) => [s.plan, s.region, s.status])).toEqual([
      ["contoso-orders", "eastus2", "down"],
      ["fabrikam-web", "westeurope", "down"],
    ]);
    expect(decision.matches[0]!.why).toBe("Service Health names East US 2 for SQL Database");
    expect(classify(serviceHealth(incident(["East US 2"], { stage: "Resolved" }), "Resolved")).signals.map((s) => s.status)).toEqual(["up"]);
  });

  it("falls back to properties.region, and ignores regions no plan uses (East US is not East US 2) or Global", () => {
    expect(classify(serviceHealth({ incidentType: "Incident", impactedServices: "not json", region: "Central US" })).signals.map((s) => s.region)).toEqual(["centralus"]);
    expect(classify(serviceHealth(incident(["East US"]))).ignoredReason).toBe(NO_MATCH_REASON);
    expect(classify(serviceHealth(incident(["Global"]))).ignoredReason).toBe(NO_MATCH_REASON);
  });
});

describe("classifyAlert: kinds that are no health evidence", () => {
  it.each([
    ["activity-log-alert-administrative.alertContext.json", activity("Administrative"), /administrative operations/],
    ["activity-log-alert-policy.alertContext.json", activity("Policy"), /policy compliance/],
    ["activity-log-alert-autoscale.alertContext.json", activity("Autoscale"), /autoscale/],
    ["activity-log-alert-security.alertContext.json", activity("Security"), /security events/],
  ])("%s on a plan resource is ignored (listed, not counted)", (file, essentials, reason) => {
    const decision = classify(wrap(file, { ...essentials, alertTargetIDs: [SQL_PRIMARY] }));
    expect(decision.signals).toEqual([]);
    expect(decision.ignoredReason).toMatch(reason);
    expect(decision.ignoredReason).toMatch(/alertRules/);
    expect(decision.matches.map((m) => m.region)).toEqual(["eastus2"]);
  });

  it("an administrative alert counts when the plan names its rule, and only in the rule's region", () => {
    const body = wrap("activity-log-alert-administrative.alertContext.json", { ...activity("Administrative"), alertRule: "fog-deleted", alertTargetIDs: [SQL_PRIMARY] });
    const decision = classify(body, [contoso([{ rule: "FOG-DELETED", region: "centralus" }]), otherPlan()]);
    expect(decision.ignoredReason).toBeUndefined();
    expect(decision.signals.map((s) => [s.plan, s.region, s.status])).toEqual([["contoso-orders", "centralus", "down"]]);
  });

  it("a budget alert is ignored, and an unknown kind too", () => {
    const budget = classify(budgetAlert());
    expect(budget).toMatchObject({ kind: "budget", signals: [], dedupeKey: expect.stringMatching(/orders-monthly:Fired$/) });
    expect(budget.ignoredReason).toMatch(/budget/);
    const unknown = classify(wrap("metric-alert-static-threshold.alertContext.json", { monitoringService: "Something New", alertTargetIDs: [SQL_PRIMARY] }, (c) => void delete c.conditionType));
    expect(unknown.kind).toBe("unknown");
    expect(unknown.ignoredReason).toMatch(/does not recognise this kind of alert \(monitoringService "Something New"\)/);
  });
});

describe("classifyAlert: signals and deduplication", () => {
  it("keeps the dedupe key stable across retries and field order, and apart between Fired and Resolved", () => {
    const fired = wrap("metric-alert-static-threshold.alertContext.json", { ...METRIC, alertTargetIDs: [STORAGE] });
    const retried = JSON.parse(JSON.stringify({ data: { alertContext: fired.data.alertContext, essentials: { ...fired.data.essentials } }, schemaId: fired.schemaId }));
    retried.data.alertContext.condition.allOf[0].metricValue = 99; // a retry may carry a later value
    const a = classify(fired);
    const b = classify(retried);
    expect(a.dedupeKey).toBe("/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e:Fired");
    expect(b.dedupeKey).toBe(a.dedupeKey);
    expect(b.signals).toEqual(a.signals);
    const resolved = classify(wrap("metric-alert-static-threshold.alertContext.json", { ...METRIC, alertTargetIDs: [STORAGE], monitorCondition: "Resolved", resolvedDateTime: "2019-03-22T14:03:16Z" }));
    expect(resolved.dedupeKey).toBe(a.dedupeKey.replace(/:Fired$/, ":Resolved"));
    expect(resolved.signals.map((s) => [s.name, s.status])).toEqual([["alert:WCUS-R2-Gen2", "up"]]);
  });

  it("dates a signal at its receipt: never after now, never before it (a back-dated alert is not 'down for' longer than seen)", () => {
    const past = classify(wrap(RESOLVED_SAMPLE, { ...METRIC, alertTargetIDs: [STORAGE], monitorCondition: "Fired", resolvedDateTime: undefined, firedDateTime: new Date(NOW.getTime() - 200_000).toISOString() }));
    expect(past.signals[0]).toMatchObject({ status: "down", at: NOW.toISOString() });
    expect(past.signals[0]!.detail).toContain(`Fired at ${new Date(NOW.getTime() - 200_000).toISOString()}`);
  });

  it("redacts a secret-looking rule name in the signal's name and detail", () => {
    const plan = contoso([{ rule: "Bearer TokenValidationFailuresHigh", region: "eastus2" }]);
    const decision = classify(wrap(RESOLVED_SAMPLE, { alertRule: "Bearer TokenValidationFailuresHigh", monitorCondition: "Fired", resolvedDateTime: undefined }), [plan]);
    expect(decision.signals[0]!.name).toBe("alert:[redacted]");
    expect(decision.signals[0]!.detail).not.toContain("TokenValidation");
    expect(decision.signals[0]!.detail).toContain("[redacted]");
  });

  it("never dates a signal after now; a Resolved alert without resolvedDateTime counts as now", () => {
    const future = classify(wrap(RESOLVED_SAMPLE, { ...METRIC, alertTargetIDs: [STORAGE], firedDateTime: "2099-01-01T00:00:00Z" }));
    expect(future.signals[0]!.at).toBe(NOW.toISOString());
    const noTime = classify(wrap(RESOLVED_SAMPLE, { alertTargetIDs: [STORAGE], monitorCondition: "Resolved", resolvedDateTime: undefined }));
    expect(noTime.signals[0]).toMatchObject({ status: "up", at: NOW.toISOString() });
  });

  it("writes a one-line detail without URLs or the payload's free text", () => {
    const decision = classify(
      wrap("metric-alert-static-threshold.alertContext.json", {
        ...METRIC,
        alertRule: "cpu\nhigh https://evil.example/?sig=SECRET",
        description: "password=hunter2",
        alertTargetIDs: [STORAGE],
      }),
      [contoso([{ rule: "cpu\nhigh https://evil.example/?sig=SECRET", region: "eastus2" }])],
    );
    const detail = decision.signals[0]!.detail!;
    expect(detail).not.toMatch(/[\n\r]/);
    expect(detail).not.toMatch(/SECRET|hunter2|https?:/);
    expect(detail).toMatch(/metric-static alert "cpu high \[url\]" Fired/);
  });
});

describe("plan alertRules", () => {
  const issues = (alertRules: unknown) => {
    const doc = parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
    try {
      parsePlan({ ...doc, alertRules });
      return [];
    } catch (error) {
      if (error instanceof PlanValidationError) return error.issues.map((i) => `${i.path}: ${i.message}`);
      throw error;
    }
  };

  it("defaults to none", () => {
    expect(contoso().alertRules).toEqual([]);
  });

  it("checks each region against the plan's, rule names for duplicates, and the fields' shapes", () => {
    expect(issues([{ rule: "a", region: "centralus" }])).toEqual([]);
    expect(issues([{ rule: "a", region: "westus" }])).toEqual(['alertRules[0].region: "westus" is not one of the plan\'s regions (eastus2, centralus)']);
    expect(issues([{ rule: "a", region: "eastus2" }, { rule: "A", region: "centralus" }])).toEqual([expect.stringMatching(/^alertRules\[1\]\.rule: duplicate alert rule/)]);
    expect(issues([{ rule: "a", region: "east us 2" }])).toEqual([expect.stringMatching(/^alertRules\[0\]\.region: .*did you mean "eastus2"/)]);
    expect(issues([{ rule: "", region: "eastus2", extra: 1 }]).sort()).toEqual([expect.stringMatching(/^alertRules\[0\]\.rule: /), expect.stringMatching(/^alertRules\[0\]: unknown field "extra"/)]);
  });
});
