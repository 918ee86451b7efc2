import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parsePlan, parsePlanText, planWarnings, PlanValidationError, type PlanIssue } from "../../src/core/plan/index.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

const exampleDoc = () => parse(readFileSync(EXAMPLE_PLAN, "utf8")) as Record<string, any>;

function issuesOf(document: unknown): PlanIssue[] {
  try {
    parsePlan(document);
  } catch (error) {
    if (error instanceof PlanValidationError) return [...error.issues];
    throw error;
  }
  throw new Error("the plan was accepted");
}

describe("plan validation", () => {
  it("accepts the example plan and parses its ARM ids into typed parts", () => {
    const plan = parsePlan(exampleDoc());
    expect(plan.regions.primary.name).toBe("eastus2");
    expect(plan.regions.secondary.name).toBe("centralus");
    expect(plan.sql).toHaveLength(2);
    expect(plan.sql[0]!.failoverGroup).toMatchObject({
      subscriptionId: "6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
      resourceGroup: "contoso-orders-eastus2",
      namespace: "Microsoft.Sql",
      type: "Microsoft.Sql/servers/failoverGroups",
      names: ["contoso-orders-sql-eastus2", "contoso-orders-fog"],
      name: "contoso-orders-fog",
    });
    expect(plan.storage).toHaveLength(2);
    expect(plan.frontDoor.standard).toHaveLength(1);
    expect(plan.frontDoor.classic).toHaveLength(1);
    expect(plan.appService).toHaveLength(2);
    expect(plan.secrets).toHaveLength(2);
    expect(plan.notifications.map((c) => c.kind)).toEqual(["teams", "slack", "pagerduty", "email", "webhook"]);
  });

  it("reports three planted errors at once, each with the path of its field", () => {
    const doc = exampleDoc();
    doc.sql[1].failoverGroup = doc.sql[1].failoverGroup.replace("/failoverGroups/", "/databases/");
    doc.regions.secondary.name = "centralus2";
    doc.objectives.rpoSeconds = "five minutes";
    const issues = issuesOf(doc);
    expect(issues.map((i) => i.path).sort()).toEqual(["objectives.rpoSeconds", "regions.secondary.name", "sql[1].failoverGroup"]);
    expect(issues.find((i) => i.path === "regions.secondary.name")?.message).toMatch(/not an Azure region name \(did you mean "centralus"\?\)/);
  });

  it("reports cross-field errors together with field errors", () => {
    const doc = exampleDoc();
    doc.objectives.rtoMinutes = 0;
    doc.frontDoor.standard[0].origins = { eastus2: "web-eastus2", westus: "web-westus" };
    const paths = issuesOf(doc).map((i) => i.path);
    expect(paths).toContain("objectives.rtoMinutes");
    expect(paths).toContain("frontDoor.standard[0].origins.westus");
    expect(paths).toContain("frontDoor.standard[0].origins");
  });

  it("names unknown fields instead of ignoring them", () => {
    const doc = exampleDoc();
    doc.storage[0].skuName = "Standard_LRS";
    expect(issuesOf(doc)).toContainEqual({ path: "storage[0]", message: 'unknown field "skuName"' });
  });

  it("rejects the same region twice, duplicate resources and a quorum the signals cannot reach", () => {
    const doc = exampleDoc();
    doc.regions.secondary.name = "eastus2";
    doc.storage.push({ ...doc.storage[0] });
    doc.autoFailover.quorum = 9;
    const paths = issuesOf(doc).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["regions.secondary.name", "storage[2].account", "autoFailover.quorum"]));
  });

  it("checks each ARM id's shape", () => {
    const doc = exampleDoc();
    doc.storage[0].account = "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x";
    doc.storage[1].account = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts";
    const issues = issuesOf(doc);
    expect(issues.find((i) => i.path === "storage[0].account")?.message).toMatch(/not a GUID/);
    expect(issues.find((i) => i.path === "storage[1].account")?.message).toMatch(/type\}\/\{name\} pairs/);
  });

  it("refuses a channel that names a setting of the platform or of Switchyard itself, by its path", () => {
    const doc = exampleDoc();
    doc.notifications[2].routingKeySetting = "AzureWebJobsStorage";
    doc.notifications[3].endpointSetting = "SWITCHYARD_STORAGE_CONNECTION_STRING";
    const issues = issuesOf(doc);
    expect(issues.map((i) => i.path).sort()).toEqual(["notifications[2].routingKeySetting", "notifications[3].endpointSetting"]);
    expect(issues[0]!.message).toMatch(/a setting of the platform or of Switchyard itself/);
  });

  it("keeps secrets out of plans: a webhook channel names an app setting, not a URL", () => {
    const doc = exampleDoc();
    doc.notifications[0].url = "https://contoso.webhook.office.com/webhookb2/secret";
    delete doc.notifications[0].urlSetting;
    const paths = issuesOf(doc).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["notifications[0]", "notifications[0].urlSetting"]));
  });

  it("reads JSON as well as YAML, and reports syntax errors", () => {
    const json = JSON.stringify(exampleDoc());
    expect(parsePlanText(json, "plan.json").name).toBe("contoso-orders");
    expect(() => parsePlanText("name: [unclosed", "plan.yaml")).toThrow(/YAML syntax/);
  });

  it("applies safe defaults: auto-failover off unless the plan turns it on", () => {
    const doc = exampleDoc();
    delete doc.autoFailover;
    const plan = parsePlanText(stringify(doc));
    expect(plan.autoFailover).toMatchObject({ enabled: false, cooldownMinutes: 60, maxPerDay: 1 });
  });
});

describe("plan validation: cross-field checks", () => {
  it.each([
    ["the same health URL for both regions", (d: any) => (d.regions.secondary.healthEndpoints[0].url = d.regions.primary.healthEndpoints[0].url), "regions.secondary.healthEndpoints[0].url"],
    ["a function key in a health URL", (d: any) => (d.regions.primary.healthEndpoints[0].url += "?code=abc123"), "regions.primary.healthEndpoints[0].url"],
    ["the same AFD origin for both regions", (d: any) => (d.frontDoor.standard[0].origins.centralus = "web-eastus2"), "frontDoor.standard[0].origins"],
    ["the same classic backend for both regions", (d: any) => (d.frontDoor.classic[0].backends.centralus = d.frontDoor.classic[0].backends.eastus2), "frontDoor.classic[0].backends"],
    ["a duplicate app setting", (d: any) => d.appService[0].appSettings.push({ ...d.appService[0].appSettings[0] }), "appService[0].appSettings[2].name"],
    ["a duplicate database", (d: any) => d.sql[0].databases.push("orders"), "sql[0].databases[2]"],
    ["a server on both sides", (d: any) => (d.sql[1].partnerServer = d.sql[0].failoverGroup.split("/failoverGroups/")[0]), "sql[1].partnerServer"],
    ["rotation due before the secret is even valid", (d: any) => (d.secrets[1].rotateDaysBeforeExpiry = 60), "secrets[1].rotateDaysBeforeExpiry"],
    ["regions of two clouds", (d: any) => (d.regions.secondary.name = "usgovvirginia"), "regions.secondary.name"],
  ])("rejects %s", (_what, plant, path) => {
    const doc = exampleDoc();
    plant(doc);
    expect(issuesOf(doc).map((i) => i.path)).toContain(path);
  });
});

describe("plan validation: App Service regions", () => {
  it("accepts a site region that is one of the plan's and rejects another", () => {
    const doc = exampleDoc();
    expect(parsePlan(doc).appService[1]!.region).toBe("centralus");
    doc.appService[1].region = "westus";
    expect(issuesOf(doc)).toContainEqual(expect.objectContaining({ path: "appService[1].region" }));
  });
});

describe("plan validation: no credentials in switched values", () => {
  it("rejects a connection string with a password and accepts a Key Vault reference", () => {
    const doc = exampleDoc();
    doc.appService[0].connectionStrings[0].values.centralus = "contoso-orders-cache-centralus.redis.cache.windows.net:6380,password=abc123,ssl=True";
    doc.appService[0].appSettings[0].values.eastus2 = "@Microsoft.KeyVault(SecretUri=https://contoso-orders-kv.vault.azure.net/secrets/x)";
    const issues = issuesOf(doc);
    expect(issues.map((i) => i.path)).toEqual(["appService[0].connectionStrings[0].values.centralus"]);
    expect(JSON.stringify(issues)).not.toContain("abc123");
  });
});

describe("plan warnings", () => {
  const base = () => parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));

  it("has none for the example plan", () => {
    expect(planWarnings(base())).toEqual([]);
  });

  it("names an app setting that switches to a storage -secondary host, by path, without the rest of the value", () => {
    const plan = base();
    const site = plan.appService[0]!;
    const changed = {
      ...plan,
      appService: [{ ...site, appSettings: [...site.appSettings, { name: "BLOBS", values: { eastus2: "https://acct1.blob.core.windows.net/x?sig=abc", centralus: "https://acct1-secondary.blob.core.windows.net/x?sig=abc" } }] }, ...plan.appService.slice(1)],
    };
    const warnings = planWarnings(changed);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.path).toBe(`appService[0].appSettings[${site.appSettings.length}].values.centralus`);
    expect(warnings[0]!.message).toContain("acct1-secondary.blob.core.windows.net");
    expect(warnings[0]!.message).not.toContain("sig=abc");
  });
});
