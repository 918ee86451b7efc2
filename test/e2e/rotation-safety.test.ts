/**
 * Secret rotation where it could hurt: a rotation after one that stopped before its apps moved, a
 * response body that cannot be parsed (the SDK quotes it), a late Key Vault event, a version whose tag
 * lies, a disabled current version. On harbor (South Africa North / West), the real SDK clients and
 * the local estate.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { rotationInstanceId, type RotationOutput } from "../../src/core/rotation/model.ts";
import { startLocalApp, type LocalApp } from "../../src/local/app.ts";

const plan: Plan = parsePlanText(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8"), "harbor");
const KEY = "bookings-storage-key";
const TOKEN = "partner-api-token";
const sub = plan.storage[0]!.account.subscriptionId;
const lines: string[] = [];
const keep = (m: string, f?: unknown) => void lines.push(`${m} ${f === undefined ? "" : JSON.stringify(f)}`);
const notices: unknown[] = [];
let app: LocalApp;

beforeAll(async () => {
  app = await startLocalApp({ plans: [plan], log: { info: keep, warn: keep, error: keep }, notifier: { name: "test", notify: async (n) => void notices.push(n) } });
});
afterAll(async () => {
  await app?.stop();
});

async function rotate(secret: string): Promise<RotationOutput> {
  await app.rotations.start(plan, secret, { kind: "cli", by: "test" });
  return (await app.host.waitForCompletion(rotationInstanceId(plan.name, secret))).output as RotationOutput;
}
const keys = async () => Object.fromEntries(((await app.clients.storage(sub).storageAccounts.listKeys("harbor-san", "harborbookings")).keys ?? []).map((k) => [k.keyName!, k.value!]));
async function activeValues(secret: string): Promise<string[]> {
  const values: string[] = [];
  for (const [rg, site] of [["harbor-san", "harbor-book-san"], ["harbor-saw", "harbor-book-saw"]] as const) {
    for await (const ref of app.clients.web(sub).webApps.listAppSettingsKeyVaultReferences(rg, site)) {
      const r = ref as { secretName?: string; vaultName?: string; activeVersion?: string };
      if (r.secretName === secret) values.push((await app.clients.secrets(r.vaultName!).getSecret(secret, { version: r.activeVersion! })).value!);
    }
  }
  return values;
}
const regenerations = () => app.estate.requests().filter((r) => r.operationId === "StorageAccounts_RegenerateKey").length;

describe("secret rotation where it could hurt", () => {
  it("after a rotation that stopped before its apps moved (App Service's refresh refused), the next one regenerates nothing the apps hold", async () => {
    const appsHold = await activeValues(KEY);
    app.estate.addFault({ kind: "serverError", operationId: "WebApps_RefreshAppSettingsKeyVaultReferences", count: 1000, status: 503 });
    const first = await rotate(KEY);
    expect(first).toMatchObject({ outcome: "failed", failedStep: "apply", credential: "key2" });
    // Every write it attempted is journaled, the refused ones too.
    const writes = (await app.rotationJournal.read(first.rotationId)).filter((e) => e.kind === "write").map((e) => [e.data.operation, String(e.data.result).split(":")[0]]);
    expect(writes).toContainEqual(["StorageAccounts_RegenerateKey", "key2 regenerated"]);
    expect(writes).toContainEqual(["WebApps_RefreshKeyVaultReferences", "failed"]);
    const before = regenerations();

    const second = await rotate(KEY);

    // Still refused: the second rotation fails at apply too, but it took key2 to the vaults and regenerated nothing.
    expect(second).toMatchObject({ outcome: "failed", failedStep: "apply", credential: "key2" });
    expect(regenerations()).toBe(before);
    const now = await keys();
    for (const value of appsHold) expect([now.key1, now.key2]).toContain(value);
    app.estate.faults.reset();
    const third = await rotate(KEY);
    expect(third).toMatchObject({ outcome: "rotated", credential: "key2" });
    expect(third.steps[0]!.summary).toContain("nothing regenerated");
    expect(await activeValues(KEY)).toEqual([now.key2, now.key2]);
  });

  it("when App Service does not report which version a reference resolved to, a rotation after one that stopped before its apps moved still regenerates nothing", async () => {
    const unreported: PipelinePolicy = {
      name: "no-active-version",
      async sendRequest(request, next) {
        const response = await next(request);
        if (request.url.includes("/configreferences/") && response.bodyAsText) response.bodyAsText = JSON.stringify(JSON.parse(response.bodyAsText), (k, v: unknown) => (k === "activeVersion" ? undefined : v));
        return response;
      },
    };
    const web = app.clients.web(sub);
    web.pipeline.addPolicy(unreported, { afterPhase: "Sign" });
    try {
      const appsHold = await keys();
      app.estate.addFault({ kind: "serverError", operationId: "WebApps_RefreshAppSettingsKeyVaultReferences", count: 1000, status: 503 });
      const first = await rotate(KEY);
      expect(first, JSON.stringify(first.error)).toMatchObject({ outcome: "failed", failedStep: "apply" });
      const before = regenerations();
      const second = await rotate(KEY);
      expect(second.steps[0]?.summary ?? second.error).toMatch(/nothing regenerated|cannot be rotated safely/);
      expect(regenerations()).toBe(before);
      // Whatever the apps held before the first rotation is still a key of the account.
      const now = await keys();
      expect([now.key1, now.key2]).toEqual(expect.arrayContaining([first.credential === "key2" ? appsHold.key1 : appsHold.key2]));
    } finally {
      app.estate.faults.reset();
      web.pipeline.removePolicy({ name: "no-active-version" });
    }
    // With the refresh back, a rotation finishes (the apps then on its version).
    expect(await rotate(KEY)).toMatchObject({ outcome: "rotated" });
  });

  it("a response body that cannot be parsed fails the step with its status and code only: no key reaches the output, journal, log or notices", async () => {
    let corrupted = 0;
    const corrupt: PipelinePolicy = {
      name: "corrupt-regenerate",
      async sendRequest(request, next) {
        const response = await next(request);
        if (request.url.includes("/regenerateKey?") && corrupted === 0 && response.bodyAsText) {
          corrupted++;
          response.bodyAsText = response.bodyAsText.slice(0, -1);
        }
        return response;
      },
    };
    app.clients.storage(sub).pipeline.addPolicy(corrupt, { afterPhase: "Sign" });
    try {
      const output = await rotate(KEY);
      expect(corrupted).toBe(1);
      // Azure did regenerate the key (not the one in use); the step cannot know the value, so it stops.
      expect(output).toMatchObject({ outcome: "failed", failedStep: "create", error: "StorageAccounts_RegenerateKey on harborbookings failed (HTTP 200, PARSE_ERROR)" });
      const journal = JSON.stringify(await app.rotationJournal.read(output.rotationId));
      expect(journal).toContain("StorageAccounts_RegenerateKey on harborbookings failed (HTTP 200, PARSE_ERROR)");
      const everything = [JSON.stringify(output), journal, lines.join("\n"), JSON.stringify(notices)].join("\n");
      expect(everything.match(/[A-Za-z0-9+/]{86}==/g) ?? []).toEqual([]);
    } finally {
      app.clients.storage(sub).pipeline.removePolicy({ name: "corrupt-regenerate" });
    }
  });

  it("a Key Vault event about a version that is no longer current starts nothing", async () => {
    const vault = plan.secrets[1]!.vaults[0]!;
    const old = (await app.clients.secrets(vault.name).getSecret(TOKEN)).properties.version!;
    await rotate(TOKEN);
    const event = {
      id: "9c3f1b7e-2d4a-4e8f-b1a0-5c6d7e8f9a0b",
      topic: vault.id,
      subject: TOKEN,
      eventType: "Microsoft.KeyVault.SecretNearExpiry",
      eventTime: new Date().toISOString(),
      data: { Id: `https://${vault.name}.vault.azure.net/secrets/${TOKEN}/${old}`, VaultName: vault.name, ObjectType: "Secret", ObjectName: TOKEN, Version: old, NBF: null, EXP: Math.floor(Date.now() / 1000) + 86_400 },
      dataVersion: "1",
      metadataVersion: "1",
    };

    const outcome = await app.handleKeyVaultEvent(event);

    expect(outcome).toEqual({ outcome: "ignored", reason: expect.stringContaining(`version ${old} of ${TOKEN} in ${vault.name} is no longer current`) });
  });

  it("believes a storage key's credential tag only when the value is that key", async () => {
    const now = await keys();
    // Both vaults say key1, but hold key2's value: regenerating key2 would cut off whoever reads them.
    for (const vault of plan.secrets[0]!.vaults) await app.clients.secrets(vault.name).setSecret(KEY, now.key2!, { tags: { "switchyard-credential": "key1" } });
    const before = regenerations();

    const output = await rotate(KEY);

    expect(output).toMatchObject({ outcome: "failed", failedStep: "create", error: expect.stringContaining("whose value is not that key") });
    expect(regenerations()).toBe(before);
    expect(await keys()).toEqual(now);
  });

  it("the sweep rotates a generated secret whose current version is disabled, and leaves a disabled storage key to a person", async () => {
    for (const [secret, vault] of [[TOKEN, plan.secrets[1]!.vaults[0]!], [KEY, plan.secrets[0]!.vaults[0]!]] as const) {
      const kv = app.clients.secrets(vault.name);
      const current = (await kv.getSecret(secret)).properties.version!;
      await kv.updateSecretProperties(secret, current, { enabled: false });
    }

    const findings = await app.sweepSecrets();
    await app.host.waitForCompletion(rotationInstanceId(plan.name, TOKEN));

    expect(findings.find((f) => f.secret === TOKEN)).toMatchObject({ due: true, reason: expect.stringContaining("disabled"), start: { outcome: "started" } });
    expect(findings.find((f) => f.secret === KEY)).toMatchObject({ due: false, reason: expect.stringContaining("enable it") });
    expect((await app.rotations.get(plan.name, TOKEN))?.output).toMatchObject({ outcome: "rotated" });
  });
});

describe("a SQL login secret whose version's tag names another login than its connection string", () => {
  it("changes no password: the login the connection string names may be the one in use", async () => {
    const doc = parse(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8")) as Record<string, any>;
    const rg = "/subscriptions/3d2c1b0a-9f8e-4d7c-a6b5-4c3d2e1f0a9b/resourceGroups";
    const servers = [`${rg}/harbor-san/providers/Microsoft.Sql/servers/harbor-sql-san`, `${rg}/harbor-saw/providers/Microsoft.Sql/servers/harbor-sql-saw`];
    doc.sql = [{ failoverGroup: `${servers[0]}/failoverGroups/harbor-fog`, partnerServer: servers[1], databases: ["bookings"] }];
    doc.secrets = [{ name: "bookings-sql", vaults: doc.secrets[0].vaults, source: { kind: "sqlLogin", servers, logins: ["bookings_a", "bookings_b"], database: "bookings" } }];
    const sqlPlan = parsePlanText(stringify(doc), "harbor + SQL login");
    const local = await startLocalApp({ plans: [sqlPlan], log: { info: keep, warn: keep, error: keep }, notifier: { name: "test", notify: async () => undefined } });
    try {
      const vaults = sqlPlan.secrets[0]!.vaults;
      const seeded = (await local.clients.secrets(vaults[0]!.name)).getSecret("bookings-sql");
      const value = (await seeded).value!;
      // bookings_a's connection string, labelled bookings_b in both vaults.
      for (const vault of vaults) await local.clients.secrets(vault.name).setSecret("bookings-sql", value, { tags: { "switchyard-credential": "bookings_b" } });
      const password = /Password=([^;]+);/.exec(value)![1]!;

      await local.rotations.start(sqlPlan, "bookings-sql", { kind: "cli", by: "test" });
      const output = (await local.host.waitForCompletion(rotationInstanceId(sqlPlan.name, "bookings-sql"))).output as RotationOutput;

      expect(output).toMatchObject({ outcome: "failed", failedStep: "create", error: expect.stringContaining("whose connection string names bookings_a") });
      for (const server of servers) expect(local.estate.state.checkSqlLogin(server, "bookings_a", password)).toBe(true);
    } finally {
      await local.stop();
    }
  });
});
