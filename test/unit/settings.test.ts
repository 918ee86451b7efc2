import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSettings, SettingsError } from "../../src/config/settings.ts";

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
});
