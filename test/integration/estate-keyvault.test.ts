import { request } from "node:https";
import { SecretClient } from "@azure/keyvault-secrets";
import { describe, expect, it } from "vitest";
import { ClientFactory, EstateCredential } from "../../src/azure/clients.ts";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { collect, useEstate, type EstateFixture } from "../helpers/estate.ts";

const vaultOf = (fx: EstateFixture) => fx.plan.secrets[0]!.vaults[0]!.name;
const keyVaultRequests = (fx: EstateFixture) => fx.estate.requests().filter((r) => r.api === "keyvault");

/** A request straight to the estate, for what the SDK never sends (e.g. no api-version). */
function rawRequest(fx: EstateFixture, method: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${fx.estate.url}${path}`, { method, ca: fx.estate.ca.cert, headers: { Authorization: "Bearer any-token" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("estate: Key Vault secrets through @azure/keyvault-secrets", () => {
  const fx = useEstate();

  it("answers a new client's first call with the 401 challenge, then serves the retried call", async () => {
    const client = new ClientFactory({ target: fx.estate.clientTarget(), maxRetries: 0 }).secrets(vaultOf(fx));
    const name = fx.plan.secrets[0]!.name;

    const secret = await client.getSecret(name);

    const calls = keyVaultRequests(fx);
    expect(calls.map((r) => r.status)).toEqual([401, 200]);
    expect(calls[0]!.path).toBe(calls[1]!.path);
    expect(calls[0]!.path).toBe(`/keyvault/${vaultOf(fx)}/secrets/${name}/`);
    expect(secret.name).toBe(name);
    // The example plan's first secret is a storage account key: the account's key1, as the estate is seeded.
    expect(secret.value).toMatch(/^[A-Za-z0-9+/]{86}==$/);
  });

  it("stores a secret with its properties and reads it back", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    const expiresOn = new Date("2031-01-02T03:04:05Z");

    const set = await client.setSecret("db-password", "s3cret-value", { contentType: "text/plain", tags: { rotatedBy: "switchyard" }, expiresOn });
    const got = await client.getSecret("db-password");

    expect(got.value).toBe("s3cret-value");
    expect(got.properties).toMatchObject({
      version: set.properties.version,
      contentType: "text/plain",
      tags: { rotatedBy: "switchyard" },
      enabled: true,
      expiresOn,
      recoveryLevel: "Recoverable+Purgeable",
      vaultUrl: `https://${vaultOf(fx)}.vault.azure.net`,
    });
    expect(got.properties.version).toMatch(/^[0-9a-f]{32}$/);
  });

  it("serves the latest version after two sets, and each version by its id", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    const first = await client.setSecret("api-key", "one");
    const second = await client.setSecret("api-key", "two");

    const latest = await client.getSecret("api-key");
    const older = await client.getSecret("api-key", { version: first.properties.version! });

    expect(latest.value).toBe("two");
    expect(latest.properties.version).toBe(second.properties.version);
    expect(older.value).toBe("one");
    expect(second.properties.version).not.toBe(first.properties.version);
  });

  it("lists a secret's versions and the vault's secrets, without values", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    const a = await client.setSecret("listed", "v1");
    const b = await client.setSecret("listed", "v2");

    const versions = await collect(client.listPropertiesOfSecretVersions("listed"));
    const secrets = await collect(client.listPropertiesOfSecrets());

    expect(versions.map((v) => v.version).sort()).toEqual([a.properties.version, b.properties.version].sort());
    expect(secrets.map((s) => s.name).sort()).toEqual([...fx.plan.secrets.map((s) => s.name), "listed"].sort());
    expect(secrets.find((s) => s.name === "listed")?.id).toBe(`https://${vaultOf(fx)}.vault.azure.net/secrets/listed`);
  });

  it("pages with nextLink and $skiptoken when the page size is smaller than the list", async () => {
    const client = fx.clients.secrets("paging-kv");
    for (const name of ["s1", "s2", "s3"]) await client.setSecret(name, `value-${name}`);
    const since = fx.estate.requests().at(-1)!.seq;

    const pages: string[][] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) pages.push(page.map((p) => p.name));

    expect(pages).toEqual([["s1", "s2"], ["s3"]]);
    const listCalls = fx.estate.requests({ since }).filter((r) => r.operationId === "GetSecrets");
    expect(listCalls).toHaveLength(2);
    expect(listCalls[1]!.query).toContain("%24skiptoken=");
  });

  it("updates a version's properties, and then refuses to return a disabled version's value", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    const created = await client.setSecret("to-disable", "hidden");
    const expiresOn = new Date("2030-06-01T00:00:00Z");

    const updated = await client.updateSecretProperties("to-disable", created.properties.version!, {
      enabled: false,
      contentType: "application/x-pem-file",
      tags: { state: "retired" },
      expiresOn,
    });

    expect(updated).toMatchObject({ enabled: false, contentType: "application/x-pem-file", tags: { state: "retired" }, expiresOn });
    await expect(client.getSecret("to-disable")).rejects.toMatchObject({
      statusCode: 403,
      code: "Forbidden",
      details: { error: { innerError: { code: "SecretDisabled" } } },
    });
    const [listed] = await collect(client.listPropertiesOfSecretVersions("to-disable"));
    expect(listed?.enabled).toBe(false);
  });

  it("answers an unknown secret with 404 SecretNotFound", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    await expect(client.getSecret("no-such-secret")).rejects.toMatchObject({ statusCode: 404, code: "SecretNotFound" });
    await expect(client.getSecret(fx.plan.secrets[0]!.name, { version: "0123456789abcdef0123456789abcdef" })).rejects.toMatchObject({
      statusCode: 404,
      code: "SecretNotFound",
    });
  });

  it("answers a request without api-version with 400 BadParameter", async () => {
    const res = await rawRequest(fx, "GET", `/keyvault/${vaultOf(fx)}/secrets/${fx.plan.secrets[0]!.name}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: "BadParameter" } });
  });

  it("throttles with 429 as planted", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    fx.estate.addFault({ kind: "throttle", operationId: "GetSecret", count: 1, retryAfterSeconds: 0 });
    await expect(client.getSecret(fx.plan.secrets[0]!.name)).rejects.toMatchObject({ statusCode: 429 });
    await expect(client.getSecret(fx.plan.secrets[0]!.name)).resolves.toMatchObject({ name: fx.plan.secrets[0]!.name });
  });

  it("never shows a secret value in the state snapshot or the request log", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    const written = "do-not-leak-7f3a9c1e";
    await client.setSecret("leak-check", written);
    const seeded = await Promise.all(fx.plan.secrets.map((s) => client.getSecret(s.name)));
    const values = [written, ...seeded.map((s) => s.value!)];

    const snapshot = JSON.stringify(fx.estate.snapshot());
    const log = JSON.stringify(fx.estate.requests());

    expect(snapshot).toContain("leak-check");
    for (const value of values) {
      expect(snapshot).not.toContain(value);
      expect(log).not.toContain(value);
    }
  });
});

describe("estate: a SecretClient pointed at the estate directly (path-prefixed vault URL)", () => {
  const fx = useEstate();
  const direct = (options: { disableChallengeResourceVerification?: boolean } = {}) =>
    new SecretClient(`${fx.estate.url}/keyvault/myvault`, new EstateCredential(), { tlsOptions: { ca: fx.estate.ca.cert }, retryOptions: { maxRetries: 0 }, ...options });

  it("sets, reads and pages through secrets when the challenge resource check is off", async () => {
    const client = direct({ disableChallengeResourceVerification: true });
    await client.setSecret("one", "1");
    await client.setSecret("two", "2");

    const got = await client.getSecret("two");
    const pages: number[] = [];
    for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 1 })) pages.push(page.length);

    expect(got.value).toBe("2");
    expect(got.properties.id).toBe(`https://myvault.vault.azure.net/secrets/two/${got.properties.version}`);
    expect(pages).toEqual([1, 1]);
    expect(fx.estate.snapshot().vaults.map((v) => v.name)).toContain("myvault");
  });

  it("fails the SDK's challenge resource check without disableChallengeResourceVerification", async () => {
    await expect(direct().getSecret("one")).rejects.toThrow(/does not match the requested domain/);
  });
});

describe("estate: Key Vault responses match the public REST examples", () => {
  const fx = useEstate();

  it("SetSecret has the example's fields and types", async () => {
    const raw = captureRaw();
    await fx.clients.secrets(vaultOf(fx)).setSecret("crpsecret", "mysecretvalue", raw.options);
    const diff = shapeDiff(raw.last.body, corpusExample("keyvault/SetSecret-example.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual(["attributes.recoverableDays"]);
  });

  it("GetSecret has the example's fields and types", async () => {
    const raw = captureRaw();
    await fx.clients.secrets(vaultOf(fx)).getSecret(fx.plan.secrets[0]!.name, raw.options);
    const diff = shapeDiff(raw.last.body, corpusExample("keyvault/GetSecret-example.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
  });

  it("a GetSecretVersions page has the example's fields and types, nextLink included", async () => {
    const client = fx.clients.secrets(vaultOf(fx));
    await client.setSecret("listsecretversionstest", "a");
    await client.setSecret("listsecretversionstest", "b");
    const raw = captureRaw();
    const pages = client.listPropertiesOfSecretVersions("listsecretversionstest", raw.options).byPage({ maxPageSize: 1 });
    await pages.next();
    const diff = shapeDiff(raw.last.body, corpusExample("keyvault/GetSecretVersions-example.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(JSON.stringify(raw.last.body)).not.toMatch(/"value":"[ab]"/);
  });
});
