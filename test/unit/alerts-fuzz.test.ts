import { readdirSync, readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { describe, it } from "vitest";
import { parse, stringify } from "yaml";
import { ALERT_KINDS, classifyAlert, parseAlert, parseAlertText, type ParseAlertResult } from "../../src/core/alerts/index.ts";
import { parsePlan, parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { mutate, mutationOf } from "../helpers/mutate.ts";

const CORPUS = join(import.meta.dirname, "../fixtures/azure-corpus/alerts");
const EXAMPLE = join(import.meta.dirname, "../../examples/contoso.plan.yaml");
const NOW = new Date("2030-01-01T00:00:00Z");
const RUNS = { numRuns: 1_000, seed: 20_240_601 } as const;

const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const PLAN_TARGETS = [
  `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Sql/servers/contoso-orders-sql-eastus2/databases/orders`,
  `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Sql/servers/contoso-orders-sql-centralus`,
  `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata`,
  `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Cdn/profiles/contoso-orders-afd`,
  `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Cdn/profiles/contoso-orders-afd/originGroups/web/origins/web-centralus`,
  `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Network/frontDoors/contoso-orders-legacy`,
  `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Web/sites/contoso-orders-centralus/slots/staging`,
  SUB,
];

const readJson = (file: string) => JSON.parse(readFileSync(join(CORPUS, file), "utf8")) as Record<string, any>;
const base = readJson("common-schema-metric-alert-resolved.full.json");

const SERVICES: Record<string, string> = {
  "metric-alert": "Platform",
  "log-search-alert-v1-platform": "Log Analytics",
  "log-search-alert-v1-application-insights": "Application Insights",
  "log-search-alert-v2": "Log Alerts V2",
  "activity-log-alert-administrative": "Activity Log - Administrative",
  "activity-log-alert-policy": "Activity Log - Policy",
  "activity-log-alert-autoscale": "Activity Log - Autoscale",
  "activity-log-alert-security": "Activity Log - Security",
  "service-health-alert": "ServiceHealth",
  "resource-health-alert": "Resource Health",
  "prometheus-alert": "Prometheus",
};

/** Every corpus payload as a full, valid body (fragments wrapped in the resolved metric alert's essentials). */
const VALID: Record<string, any>[] = readdirSync(CORPUS)
  .filter((f) => f.endsWith(".json"))
  .map((f) => {
    if (f.endsWith(".full.json")) return readJson(f);
    const service = Object.entries(SERVICES).find(([prefix]) => f.startsWith(prefix))![1];
    const essentials = { ...base.data.essentials, monitoringService: service, monitorCondition: "Fired" };
    delete essentials.resolvedDateTime;
    return { schemaId: base.schemaId, data: { essentials, alertContext: readJson(f).alertContext } };
  });

function contoso(): Plan {
  const doc = parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
  const alertRules = [
    { rule: "WCUS-R2-Gen2", region: "centralus" },
    { rule: "rule-b", region: "eastus2" },
  ];
  return parsePlanText(stringify({ ...doc, alertRules }));
}
const PLANS: readonly Plan[] = [
  contoso(),
  parsePlan({
    name: "fabrikam-web",
    regions: {
      primary: { name: "eastus2", healthEndpoints: [{ url: "https://fabrikam-a.example.com/healthz" }] },
      secondary: { name: "westus3", healthEndpoints: [{ url: "https://fabrikam-b.example.com/healthz" }] },
    },
    objectives: { rpoSeconds: 60, rtoMinutes: 15 },
    storage: [{ account: `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata` }],
  }),
];

/** parseAlert's contract: never throws, and says why (and usually where) when it refuses. (Plain asserts: fast in a 1,000-run loop.) */
function checkParse(body: unknown): ParseAlertResult {
  const result = parseAlert(body);
  assert.equal(typeof result.ok, "boolean");
  if (!result.ok) {
    assert.equal(typeof result.reason, "string");
    assert.ok(result.reason.length > 0 && result.reason.length < 1_000, result.reason);
    if (result.path !== undefined) assert.ok(result.reason.startsWith(`${result.path}: `), result.reason);
  } else {
    checkClassify(result);
  }
  return result;
}

/** classifyAlert's contract on any parsed alert: never throws, and its decision is consistent. */
function checkClassify(result: Extract<ParseAlertResult, { ok: true }>) {
  const decision = classifyAlert(result.alert, PLANS, NOW);
  assert.ok((ALERT_KINDS as readonly string[]).includes(decision.kind), decision.kind);
  assert.equal(decision.dedupeKey, `${result.alert.essentials.alertId}:${result.alert.essentials.monitorCondition}`);
  if (decision.ignoredReason !== undefined) {
    assert.deepEqual(decision.signals, []);
    assert.ok(decision.ignoredReason.length > 0);
  } else {
    assert.equal(decision.signals.length, decision.matches.length);
    assert.ok(decision.signals.length > 0);
  }
  const nowIso = NOW.toISOString();
  for (const s of decision.signals) {
    assert.ok(decision.matches.some((m) => m.plan === s.plan && m.region === s.region));
    assert.ok(s.status === "up" || s.status === "down");
    assert.equal(s.source, "alert");
    assert.equal(new Date(s.at).toISOString(), s.at);
    assert.ok(s.at <= nowIso, s.at);
    assert.ok(!/[\n\r]/.test(s.detail ?? ""), s.detail);
  }
}

// ---- mutations of valid payloads ----------------------------------------------------------------

const hugeString = fc.oneof(
  fc.constant("x".repeat(300_000)),
  fc.string({ minLength: 2_049, maxLength: 5_000 }),
  fc.constant(`/subscriptions/${"a/".repeat(20_000)}`),
);
const replacement = fc.oneof(fc.jsonValue({ maxDepth: 3 }), hugeString, fc.constantFrom(null, "", 0, -1, true, [], {}, "Fired", "Resolved", "Sev9", "not a date"));

const mutation = mutationOf(replacement);

describe("alert parsing under fuzzing", () => {
  it("never throws on arbitrary values (fc.anything), and refuses what is not an alert with a reason", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true }), (value) => {
        assert.equal(checkParse(value).ok, false);
      }),
      RUNS,
    );
  });

  it("never throws on arbitrary JSON, as a value or as text", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.equal(checkParse(value).ok, false);
        assert.equal(parseAlertText(JSON.stringify(value) ?? "null").ok, false);
      }),
      RUNS,
    );
  });

  it("never throws on arbitrary JSON in every field of the common schema's shape", () => {
    const loose = fc.record(
      {
        schemaId: fc.oneof(fc.constant("azureMonitorCommonAlertSchema"), fc.jsonValue()),
        data: fc.record(
          {
            essentials: fc.record(
              {
                alertId: fc.oneof(fc.string(), fc.jsonValue()),
                alertRule: fc.oneof(fc.constantFrom("WCUS-R2-Gen2", "rule-b"), fc.string(), fc.jsonValue()),
                severity: fc.oneof(fc.constantFrom("Sev0", "Sev4"), fc.jsonValue()),
                monitorCondition: fc.oneof(fc.constantFrom("Fired", "Resolved"), fc.jsonValue()),
                monitoringService: fc.oneof(fc.constantFrom(...Object.values(SERVICES), "CostAlerts", "SmartDetector"), fc.jsonValue()),
                alertTargetIDs: fc.oneof(fc.array(fc.oneof(fc.constantFrom(...PLAN_TARGETS), fc.string())), fc.jsonValue()),
                firedDateTime: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string(), fc.jsonValue()),
                resolvedDateTime: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.jsonValue()),
              },
              { requiredKeys: [] },
            ),
            alertContext: fc.oneof(fc.object(), fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(loose, (body) => void checkParse(body)), RUNS);
  });

  it("handles mutated corpus payloads (deleted fields, swapped types, huge strings): a reason when refused, a consistent decision when accepted", () => {
    fc.assert(
      fc.property(fc.constantFrom(...VALID), fc.array(mutation, { minLength: 1, maxLength: 4 }), (body, mutations) => {
        void checkParse(mutate(body, mutations));
      }),
      RUNS,
    );
  });

  it("refuses a corpus payload without one of the fields Switchyard depends on, naming that field", () => {
    const strict = ["schemaId", "data.essentials.alertId", "data.essentials.alertRule", "data.essentials.monitorCondition", "data.essentials.monitoringService", "data.essentials.firedDateTime"];
    fc.assert(
      fc.property(fc.constantFrom(...VALID), fc.constantFrom(...strict), fc.constantFrom("delete", "null", "number"), (body, field, how) => {
        const copy = structuredClone(body);
        const path = field.split(".");
        let parent: any = copy;
        for (const key of path.slice(0, -1)) parent = parent[key];
        const key = path[path.length - 1]!;
        if (how === "delete") delete parent[key];
        else parent[key] = how === "null" ? null : 12;
        const result = parseAlert(copy);
        assert.equal(result.ok, false);
        if (!result.ok) assert.equal(result.path, field, result.reason);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it("classifies any valid alert without throwing: arbitrary contexts, targets, rules and times", () => {
    const alert = fc.record({
      schemaId: fc.constant("azureMonitorCommonAlertSchema"),
      data: fc.record({
        essentials: fc.record({
          alertId: fc.string({ minLength: 1 }).filter((s) => s.trim().length > 0),
          alertRule: fc.oneof(fc.constantFrom("WCUS-R2-Gen2", "RULE-B", "other"), fc.string({ minLength: 1 }).filter((s) => s.trim().length > 0)),
          monitorCondition: fc.constantFrom("Fired", "Resolved"),
          monitoringService: fc.oneof(fc.constantFrom(...Object.values(SERVICES), "CostAlerts", "SmartDetector", "Budget"), fc.string({ minLength: 1 }).filter((s) => s.trim().length > 0)),
          alertTargetIDs: fc.array(fc.oneof(fc.constantFrom(...PLAN_TARGETS), fc.string()), { maxLength: 5 }),
          firedDateTime: fc.date({ min: new Date("1990-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString()),
        }),
        alertContext: fc.oneof(
          fc.object(),
          fc.constantFrom(...VALID.map((v) => v.data.alertContext)),
          fc.record({
            conditionType: fc.constantFrom("SingleResourceMultipleMetricCriteria", "DynamicThresholdCriteria", "LogQueryCriteria"),
            condition: fc.record({ allOf: fc.array(fc.record({ dimensions: fc.array(fc.record({ name: fc.constantFrom("Origin", "Backend", "OriginGroup", "BackendPool"), value: fc.oneof(fc.constantFrom("web-eastus2", "web", "api-pool", "contoso-orders-api-centralus.azurewebsites.net"), fc.string()) })) })) }),
          }),
          fc.record({
            properties: fc.record({
              incidentType: fc.constantFrom("Incident", "Maintenance", 3),
              currentHealthStatus: fc.constantFrom("Available", "Unavailable", "Degraded", "Unknown", null),
              stage: fc.constantFrom("Active", "Resolved", null),
              impactedServices: fc.oneof(
                fc.array(fc.record({ ImpactedRegions: fc.array(fc.record({ RegionName: fc.constantFrom("East US 2", "Central US", "West US 3", "Global") })), ServiceName: fc.string() })).map((v) => JSON.stringify(v)),
                fc.jsonValue(),
              ),
            }),
          }),
        ),
      }),
    });
    fc.assert(
      fc.property(alert, fc.date({ noInvalidDate: false }), (body, now) => {
        const result = parseAlert(body);
        assert.ok(result.ok, result.ok ? "" : result.reason);
        checkClassify(result);
        // Any clock, even an invalid one, is no reason to throw.
        classifyAlert(result.alert, PLANS, now);
      }),
      RUNS,
    );
  });
});
