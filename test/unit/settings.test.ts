import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { appServiceAuthEnabled, readSettings, SETTINGS, SettingsError } from "../../src/config/settings.ts";
import { isReservedSettingName } from "../../src/core/plan/schema.ts";

describe("settings", () => {
  it("defaults to Azure's public cloud with a managed identity", () => {
    const settings = readSettings({ SWITCHYARD_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net", AZURE_CLIENT_ID: "2f3c6a0e-8b1d-4c5e-9f7a-1b2c3d4e5f60" });
    expect(settings.clients.target).toEqual({ kind: "azure", cloud: "AzurePublicCloud", managedIdentityClientId: "2f3c6a0e-8b1d-4c5e-9f7a-1b2c3d4e5f60" });
    expect(settings).toMatchObject({ plansContainer: "switchyard-plans", journalContainer: "switchyard-journal", taskHub: "switchyard" });
  });

  it("aims at the local estate with its certificate", () => {
    const dir = mkdtempSync(join(tmpdir(), "settings-"));
    writeFileSync(join(dir, "ca.pem"), "PEM");
    const settings = readSettings({
      SWITCHYARD_TARGET: "estate",
      SWITCHYARD_ESTATE_URL: "https://127.0.0.1:7443",
      SWITCHYARD_ESTATE_CA_FILE: join(dir, "ca.pem"),
      SWITCHYARD_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
    });
    expect(settings.clients.target).toEqual({ kind: "estate", url: "https://127.0.0.1:7443", ca: "PEM" });
  });

  it("names every bad setting and never echoes a value", () => {
    const secret = "AccountKey=c2VjcmV0LXZhbHVl";
    let error: unknown;
    try {
      readSettings({ SWITCHYARD_TARGET: "estate", SWITCHYARD_AZURE_CLOUD: "Mars", SWITCHYARD_STORAGE_CONNECTION_STRING: secret, SWITCHYARD_JOURNAL_CONTAINER: "Bad_Name" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SettingsError);
    const message = (error as Error).message;
    for (const name of ["SWITCHYARD_AZURE_CLOUD", "SWITCHYARD_ESTATE_URL", "SWITCHYARD_ESTATE_CA_FILE", "SWITCHYARD_JOURNAL_CONTAINER"]) expect(message).toContain(name);
    expect(message).not.toContain(secret);
  });

  const AZURE = { SWITCHYARD_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net" };
  const SECURE = { ...AZURE, SWITCHYARD_ALERT_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47", SWITCHYARD_ALERT_AUDIENCE: "api://switchyard-alerts" };
  const failure = (env: Record<string, string>): string => {
    try {
      readSettings(env);
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      return (error as Error).message;
    }
    throw new Error("the settings were accepted");
  };

  it("checks the secure webhook's token in the configured cloud, for the ActionGroupsSecureWebhook role and at most 24 h by default", () => {
    expect(readSettings(SECURE).alertToken).toEqual({
      tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
      audience: "api://switchyard-alerts",
      cloud: "AzurePublicCloud",
      allowedRoles: ["ActionGroupsSecureWebhook"],
      allowedApps: [],
      maxLifetimeSeconds: 86_400,
    });
    expect(
      readSettings({
        ...SECURE,
        SWITCHYARD_AZURE_CLOUD: "AzureChinaCloud",
        SWITCHYARD_ALERT_ALLOWED_ROLES: " Alerts.Send , ActionGroupsSecureWebhook,",
        SWITCHYARD_ALERT_ALLOWED_APPS: "461e8683-5575-4561-ac7f-899cc907d62a",
        SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES: "90",
      }).alertToken,
    ).toMatchObject({ cloud: "AzureChinaCloud", allowedRoles: ["Alerts.Send", "ActionGroupsSecureWebhook"], allowedApps: ["461e8683-5575-4561-ac7f-899cc907d62a"], maxLifetimeSeconds: 5400 });
    // No role, only apps: a choice; neither: refused.
    expect(readSettings({ ...SECURE, SWITCHYARD_ALERT_ALLOWED_ROLES: ",", SWITCHYARD_ALERT_ALLOWED_APPS: "461e8683-5575-4561-ac7f-899cc907d62a" }).alertToken?.allowedRoles).toEqual([]);
    expect(failure({ ...SECURE, SWITCHYARD_ALERT_ALLOWED_ROLES: " , " })).toContain("SWITCHYARD_ALERT_ALLOWED_ROLES: name at least one app role");
  });

  it("names a bad allowed app, role or lifetime", () => {
    expect(failure({ ...SECURE, SWITCHYARD_ALERT_ALLOWED_APPS: "action-groups" })).toContain("SWITCHYARD_ALERT_ALLOWED_APPS: client application ids are GUIDs");
    expect(failure({ ...SECURE, SWITCHYARD_ALERT_ALLOWED_ROLES: "Action Groups" })).toContain("SWITCHYARD_ALERT_ALLOWED_ROLES");
    expect(failure({ ...SECURE, SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES: "forever" })).toContain("SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES");
    expect(failure({ ...SECURE, SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES: "100000" })).toContain("SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES");
  });

  it("takes App Service authentication as on only when WEBSITE_AUTH_ENABLED is true", () => {
    expect(readSettings(AZURE).appServiceAuthOn).toBe(false);
    expect(readSettings({ ...AZURE, WEBSITE_AUTH_ENABLED: "True" }).appServiceAuthOn).toBe(true);
    expect(readSettings({ ...AZURE, WEBSITE_AUTH_ENABLED: "false" }).appServiceAuthOn).toBe(false);
    expect(appServiceAuthEnabled({ WEBSITE_AUTH_ENABLED: "TRUE" })).toBe(true);
    expect(appServiceAuthEnabled({ WEBSITE_AUTH_ENABLED: "1" })).toBe(false);
    expect(appServiceAuthEnabled({})).toBe(false);
  });

  it("checks operators' tokens in the app when SWITCHYARD_OPERATOR_AUDIENCE names audiences, for the alert tenant; refuses it without a tenant", () => {
    expect(readSettings(AZURE).operatorToken).toBeUndefined();
    expect(readSettings({ ...SECURE, SWITCHYARD_OPERATOR_AUDIENCE: " api://switchyard-ops , 0b8a1f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b ," }).operatorToken).toEqual({
      tenantId: SECURE.SWITCHYARD_ALERT_TENANT_ID,
      audience: ["api://switchyard-ops", "0b8a1f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"],
      cloud: "AzurePublicCloud",
    });
    expect(readSettings({ ...SECURE, SWITCHYARD_OPERATOR_AUDIENCE: "" }).operatorToken).toBeUndefined();
    // Set, but naming no audience: an error, not the check quietly off.
    expect(() => readSettings({ ...SECURE, SWITCHYARD_OPERATOR_AUDIENCE: " , " })).toThrow(/SWITCHYARD_OPERATOR_AUDIENCE: names no audience/);
    expect(() => readSettings({ ...AZURE, SWITCHYARD_OPERATOR_AUDIENCE: "api://switchyard-ops" })).toThrow(/SWITCHYARD_OPERATOR_AUDIENCE: operators' tokens are checked for the tenant in SWITCHYARD_ALERT_TENANT_ID/);
  });

  it("takes Switchyard's address for notification links from SWITCHYARD_PUBLIC_URL, else WEBSITE_HOSTNAME; a bad one is dropped with a warning", () => {
    expect(readSettings({ ...AZURE, SWITCHYARD_PUBLIC_URL: "https://dr.contoso.com/" }).publicUrl).toBe("https://dr.contoso.com");
    expect(readSettings({ ...AZURE, WEBSITE_HOSTNAME: "switchyard-prod.azurewebsites.net" }).publicUrl).toBe("https://switchyard-prod.azurewebsites.net");
    // Core Tools under `func start` serves http on localhost.
    expect(readSettings({ ...AZURE, WEBSITE_HOSTNAME: "localhost:7071" }).publicUrl).toBe("http://localhost:7071");
    const bad = readSettings({ ...AZURE, SWITCHYARD_PUBLIC_URL: "https://user:pw@dr.contoso.com/?x=1", WEBSITE_HOSTNAME: "switchyard-prod.azurewebsites.net" });
    expect(bad.publicUrl).toBeUndefined();
    expect(bad.warnings.join("\n")).toMatch(/SWITCHYARD_PUBLIC_URL: not an https URL/);
    expect(bad.warnings.join("\n")).not.toContain("pw@");
    expect(readSettings(AZURE).publicUrl).toBeUndefined();
  });

  it("keeps every setting Switchyard reads out of a plan's channels: a channel cannot send one of them anywhere", () => {
    expect(Object.values(SETTINGS).filter((name) => !isReservedSettingName(name))).toEqual([]);
    expect(["AzureWebJobsStorage", "azurewebjobsstorage__accountName", "FUNCTIONS_WORKER_RUNTIME", "IDENTITY_HEADER"].filter((name) => !isReservedSettingName(name))).toEqual([]);
    expect(isReservedSettingName("SWITCHYARD_SLACK_WEBHOOK_URL")).toBe(false);
  });
});
