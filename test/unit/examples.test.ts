import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { classifyAlert, parseAlertText, type AlertKind } from "../../src/core/alerts/index.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { newRunId, planOfRunId } from "../../src/core/run/model.ts";

const ROOT = join(import.meta.dirname, "../..");
const EXAMPLES = join(ROOT, "examples");
const ALERTS = join(EXAMPLES, "alerts");
const CORPUS = join(import.meta.dirname, "../fixtures/azure-corpus/alerts");
const NOW = new Date("2030-01-01T00:00:00Z");

/** What each example alert must mean to the example plan: the README walkthrough relies on it. */
const EXPECTED: Record<string, { kind: AlertKind; region: string; status: "down" | "up"; corpus: string; notShared?: string[] }> = {
  "metric-alert-fired.json": { kind: "metric-static", region: "eastus2", status: "down", corpus: "common-schema-metric-alert-resolved.full.json" },
  "metric-alert-resolved.json": { kind: "metric-static", region: "eastus2", status: "up", corpus: "common-schema-metric-alert-resolved.full.json" },
  "log-search-alert.json": { kind: "log-search-v2", region: "eastus2", status: "down", corpus: "log-search-alert-v2.alertContext.json", notShared: [".properties.name1", ".properties.name2"] },
  "resource-health-alert.json": { kind: "resource-health", region: "eastus2", status: "down", corpus: "resource-health-alert.alertContext.json" },
  "service-health-incident.json": { kind: "service-health", region: "eastus2", status: "down", corpus: "service-health-alert.alertContext.json", notShared: [".properties.maintenanceId"] },
};

const jsonFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const readJson = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, any>;

/** Every key path of a JSON value (array items collapse to []), to compare shapes, not values. */
function keyPaths(value: unknown, prefix = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item) => keyPaths(item, `${prefix}[]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, child]) => [`${prefix}.${key}`, ...keyPaths(child, `${prefix}.${key}`)]);
}

describe("examples/alerts", () => {
  it("holds exactly the alerts the README and this test describe", () => {
    expect(jsonFiles(ALERTS)).toEqual(Object.keys(EXPECTED).sort());
    const readme = readFileSync(join(ALERTS, "README.md"), "utf8");
    for (const [file, { corpus }] of Object.entries(EXPECTED)) {
      expect(readme, file).toContain(file);
      expect(readme, `${file}'s source`).toContain(corpus);
    }
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(`${file} parses and speaks for contoso-orders ${expected.region} (${expected.kind}, ${expected.status})`, async () => {
      const plan = await loadPlanFile(join(EXAMPLES, "contoso.plan.yaml"));

      const parsed = parseAlertText(readFileSync(join(ALERTS, file), "utf8"));
      if (!parsed.ok) throw new Error(`${file}: ${parsed.reason}`);
      const decision = classifyAlert(parsed.alert, [plan], NOW);

      expect(decision.ignoredReason).toBeUndefined();
      expect(decision.kind).toBe(expected.kind);
      expect(decision.matches.map((m) => [m.plan, m.region])).toEqual([["contoso-orders", expected.region]]);
      expect(decision.signals.map((s) => [s.plan, s.region, s.source, s.status])).toEqual([["contoso-orders", expected.region, "alert", expected.status]]);
    });

    it(`${file} keeps the shape of its corpus sample ${expected.corpus}`, () => {
      const example = readJson(join(ALERTS, file));
      const sample = readJson(join(CORPUS, expected.corpus));
      const exampleContext = new Set(keyPaths(example.data.alertContext));
      const sampleContext = expected.corpus.endsWith(".full.json") ? sample.data.alertContext : sample.alertContext;

      expect(example.schemaId).toBe("azureMonitorCommonAlertSchema");
      // Every field of the documented sample is still there (values are the example plan's), except the
      // rule's own custom properties (log search) and fields of another event kind (the corpus's Service
      // Health sample is a maintenance event, not an incident).
      for (const path of keyPaths(sampleContext)) {
        if (!expected.notShared?.includes(path)) expect(exampleContext.has(path), `alertContext${path}`).toBe(true);
      }
    });
  }

  it("the metric alert's Fired and Resolved notifications are one alert (same id and rule), as Azure sends them", () => {
    const fired = readJson(join(ALERTS, "metric-alert-fired.json")).data.essentials;
    const resolved = readJson(join(ALERTS, "metric-alert-resolved.json")).data.essentials;

    expect(resolved.alertId).toBe(fired.alertId);
    expect(resolved.alertRule).toBe(fired.alertRule);
    expect([fired.monitorCondition, resolved.monitorCondition]).toEqual(["Fired", "Resolved"]);
    expect(Date.parse(resolved.resolvedDateTime)).toBeGreaterThan(Date.parse(fired.firedDateTime));
  });
});

describe("run ids quoted in the documentation", () => {
  it("have the format Switchyard makes (newRunId), so a reader can use them as they are", () => {
    const docs = ["README.md", "examples/alerts/README.md", "estate/README.md"].map((f) => readFileSync(join(ROOT, f), "utf8")).join("\n");
    // Anything that starts like a run id (plan, dot, a UTC stamp), up to the end of the word.
    // A notification's event id is its run id, the notice's number and its kind (`{runId}.2.approval-needed`).
    const quoted = [...docs.matchAll(/\b[a-z][a-z0-9-]*[a-z0-9]\.\d{8}T\d{4,}Z?[\w.-]*/g)].map((m) => m[0].replace(/\.(md|json)$/, "").replace(/\.+$/, "").replace(/\.\d+\.[a-z-]+$/, ""));

    expect(quoted.length).toBeGreaterThan(0);
    for (const id of new Set(quoted)) expect(planOfRunId(id), id).toBeDefined();
  });

  it("the check itself tells a real id from a malformed one", () => {
    expect(planOfRunId(newRunId("contoso-orders", "auto-failover", new Date("2026-12-03T07:33:13Z"), () => 0.5))).toBe("contoso-orders");
    expect(planOfRunId("contoso-orders.20261203T0733Z.failover-1")).toBeUndefined();
  });
});
