/**
 * Every app setting the Function App's code reads is either set by the deployment
 * (infra/app/function.bicep) or listed below with why it is left unset; nothing in that list is set
 * after all; no setting Flex Consumption does not allow is set; the values that must agree with the
 * code (containers, secure webhook role, app roles) do.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { readSettings, SETTINGS } from "../../src/config/settings.ts";
import { ACTION_GROUPS_APP_ID, SECURE_WEBHOOK_ROLE } from "../../src/core/alerts/secureWebhook.ts";
import { OPERATOR_ROLE } from "../../src/http/auth.ts";
import { read, ROOT, stripComments, varObjectKeys } from "./bicepText.ts";

/** Settings the code reads that the deployment leaves unset on purpose, and why. */
const LEFT_UNSET: Readonly<Record<string, string>> = {
  SWITCHYARD_ESTATE_URL: "local only: the local estate (SWITCHYARD_TARGET=estate)",
  SWITCHYARD_ESTATE_CA_FILE: "local only: the local estate's certificate",
  SWITCHYARD_STORAGE_CONNECTION_STRING: "local only (Azurite); in Azure the account URL with the managed identity",
  WEBSITE_AUTH_ENABLED: "set by the platform when App Service authentication (authsettingsV2) is on",
  WEBSITE_HOSTNAME: "set by the platform: the app's host name",
  WEBSITE_SITE_NAME: "set by the platform: the app's name (telemetry's service name)",
  SWITCHYARD_PUBLIC_URL: "optional: defaults to https://{WEBSITE_HOSTNAME}",
  SWITCHYARD_LAG_SCHEDULE: "optional with a default (every minute)",
  SWITCHYARD_SECRET_SWEEP_SCHEDULE: "optional with a default (daily at 03:00 UTC)",
  SWITCHYARD_READINESS_SCHEDULE: "optional with a default (every 30 minutes)",
  SWITCHYARD_LAG_RETENTION: "optional with a default (60 samples)",
  SWITCHYARD_ALERT_ALLOWED_APPS: "optional: the secure webhook is checked by app role (SWITCHYARD_ALERT_ALLOWED_ROLES)",
  SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES: "optional with a default (1440)",
};

/** Settings a Flex Consumption app must not have: the plan takes them from functionAppConfig, or has no content share. */
const NOT_ON_FLEX = ["FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_NODE_DEFAULT_VERSION", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "AzureWebJobsStorage"];

/** Source files of the Function App (not the command line tool, not the local emulation). */
function appSources(dir = join(ROOT, "src")): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    const rel = relative(ROOT, path);
    if (e.isDirectory()) return rel === "src/cli" || rel === "src/local" ? [] : appSources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/** Names the app reads from the environment: SETTINGS, and literal names read anywhere else. */
function settingsTheCodeReads(): Set<string> {
  const names = new Set<string>(Object.values(SETTINGS));
  for (const file of appSources()) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\b(?:process\.)?env(?:\.([A-Z][A-Z0-9_]+)|\[\s*["'`]([A-Z][A-Z0-9_]+)["'`]\s*\])/g)) names.add((m[1] ?? m[2])!);
  }
  return names;
}

const functionBicep = read("infra/app/function.bicep");
const setByInfra = new Map([...varObjectKeys(functionBicep, "appSettings"), ...varObjectKeys(functionBicep, "schedulerSettings")]);

describe("the Function App's settings", () => {
  it("set every setting the code reads, but those left unset on purpose", () => {
    const missing = [...settingsTheCodeReads()].filter((name) => !setByInfra.has(name) && !(name in LEFT_UNSET));
    expect(missing).toEqual([]);
  });

  it("leave unset only settings the code reads and the deployment does not set", () => {
    const reads = settingsTheCodeReads();
    expect(Object.keys(LEFT_UNSET).filter((name) => setByInfra.has(name) || !reads.has(name))).toEqual([]);
  });

  it("finds the settings read outside SETTINGS (the scan is not empty-handed)", () => {
    // AZURE_CLIENT_ID is also read directly by the lag command; the app reads it through SETTINGS.
    expect(settingsTheCodeReads().size).toBeGreaterThanOrEqual(Object.values(SETTINGS).length);
    expect(setByInfra.size).toBeGreaterThan(10);
  });

  it("set none of the settings Flex Consumption does not take, and host storage by identity only", () => {
    expect(NOT_ON_FLEX.filter((name) => setByInfra.has(name))).toEqual([]);
    expect(setByInfra.get("AzureWebJobsStorage__credential")).toBe("'managedidentity'");
    expect(setByInfra.get("AzureWebJobsStorage__clientId")).toBe("identityClientId");
    expect(setByInfra.get("AZURE_CLIENT_ID")).toBe("identityClientId");
    expect(setByInfra.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING")).toBe("'ClientId=${identityClientId};Authorization=AAD'");
    expect(stripComments(read("infra/app/function.bicep"))).not.toMatch(/AccountKey=|listKeys\(/);
  });

  it("add the plans' channel settings (notificationSettings) to the app settings", () => {
    expect(stripComments(functionBicep)).toMatch(/properties:\s*union\(appSettings,\s*schedulerSettings,\s*notificationSettings\)/);
    expect(stripComments(read("infra/main.bicep"))).toMatch(/@secure\(\)[^\n]*\n(@description[^\n]*\n)?param notificationSettings object = \{\}/);
  });

  it("name the containers Switchyard's storage module creates, which are the code's defaults", () => {
    const storage = stripComments(read("infra/core/storage.bicep"));
    const container = (v: string) => new RegExp(`^var ${v} = '([^']+)'`, "m").exec(storage)?.[1];
    const defaults = readSettings({ SWITCHYARD_STORAGE_ACCOUNT_URL: "https://example.blob.core.windows.net/" });
    expect([container("plansContainer"), container("journalContainer"), container("stateContainer")]).toEqual([defaults.plansContainer, defaults.journalContainer, defaults.stateContainer]);
    expect(setByInfra.get("SWITCHYARD_PLANS_CONTAINER")).toBe("plansContainer");
    expect(storage).toMatch(/for container in \[plansContainer, journalContainer, stateContainer, deploymentContainer\]/);
  });

  it("check the secure webhook's token with the role Azure Monitor's service principal is given", () => {
    expect(setByInfra.get("SWITCHYARD_ALERT_ALLOWED_ROLES")).toBe("secureWebhookRole");
    expect(functionBicep).toContain(`var secureWebhookRole = '${SECURE_WEBHOOK_ROLE}'`);
    expect(setByInfra.get("SWITCHYARD_ALERT_TENANT_ID")).toBe("tenant().tenantId");
    expect(setByInfra.get("SWITCHYARD_ALERT_AUDIENCE")).toBe("authIdentifierUri");
    const entra = stripComments(read("infra/app/entra.bicep"));
    expect(entra).toContain(`value: '${SECURE_WEBHOOK_ROLE}'`);
    expect(entra).toContain(`value: '${OPERATOR_ROLE}'`);
    expect(entra).toContain(`var actionGroupsAppId = '${ACTION_GROUPS_APP_ID}'`);
    expect(entra).toMatch(/resource secureWebhookAssignment 'Microsoft.Graph\/appRoleAssignedTo@v1.0' = \{\s*appRoleId: secureWebhookRoleId\s*principalId: actionGroups.id/);
  });

  it("select the Durable Task Scheduler by overriding host.json's storage provider, on the task hub the setting names", () => {
    expect(setByInfra.get("AzureFunctionsJobHost__extensions__durableTask__storageProvider__type")).toBe("'azureManaged'");
    expect(setByInfra.get("AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName")).toBe("'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'");
    expect(setByInfra.get("DURABLE_TASK_SCHEDULER_CONNECTION_STRING")).toMatch(/Authentication=ManagedIdentity;ClientID=\$\{identityClientId\}/);
    const host = JSON.parse(read("host.json")) as { extensions: { durableTask: { hubName: string } } };
    expect(host.extensions.durableTask.hubName).toBe(`%${SETTINGS.taskHub}%`);
    expect(setByInfra.get(SETTINGS.taskHub)).toBe("taskHubName");
    expect(stripComments(read("infra/core/durable-task-scheduler.bicep"))).toMatch(/resource taskHub [^\n]+\n\s*parent: scheduler\n\s*name: taskHubName/);
  });
});
