/**
 * Secret rotation end to end on a plan no code was tuned to (harbor: South Africa North → West, with a
 * SQL failover group and a SQL login secret added here): the real orchestration on the local durable
 * host, the real activities, the real @azure/* clients against the local estate, Azurite for the
 * journals, histories and state. What the tests read back, they read as an operator would: Key Vault
 * through SecretClient, the account's keys through the storage client, App Service's Key Vault
 * references through the web client, SQL logins over TDS, and the estate's request log.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { SecretProperties } from "@azure/keyvault-secrets";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { trySqlLogin } from "../../src/azure/sqlLogins.ts";
import type { Logger } from "../../src/core/logger.ts";
import type { ArmResourceId } from "../../src/core/plan/armId.ts";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { RotationActivities, RotationTags, rotationInstanceId, secretOf, type PlanSecret, type RotationOutput } from "../../src/core/rotation/model.ts";
import { instanceIdFor, newRunId, type NotifyInput, type RunInput } from "../../src/core/run/model.ts";
import { OPERATOR_ROLE } from "../../src/http/auth.ts";
import { matchRoute } from "../../src/http/routes.ts";
import { startLocalApp, type LocalApp, type LocalAppOptions } from "../../src/local/app.ts";
import type { Notifier } from "../../src/notify/notifier.ts";
import { loginOfConnectionString, sqlLoginOps } from "../../src/rotation/strategies.ts";

const STORAGE = "bookings-storage-key";
const GENERATED = "partner-api-token";
const SQL = "bookings-sql";
const DAY_MS = 86_400_000;
const CORPUS = new URL("../fixtures/azure-corpus/eventgrid/", import.meta.url);

/** test/fixtures/harbor.plan.yaml with a SQL failover group and a SQL login secret in the same two vaults. */
function harborPlan(): Plan {
  const doc = parse(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8")) as { secrets: { vaults: string[] }[] } & Record<string, unknown>;
  const rg = "/subscriptions/3d2c1b0a-9f8e-4d7c-a6b5-4c3d2e1f0a9b/resourceGroups";
  const servers = [`${rg}/harbor-san/providers/Microsoft.Sql/servers/harbor-sql-san`, `${rg}/harbor-saw/providers/Microsoft.Sql/servers/harbor-sql-saw`];
  doc.sql = [{ failoverGroup: `${servers[0]}/failoverGroups/harbor-fog`, partnerServer: servers[1], databases: ["bookings"] }];
  doc.secrets.push({ name: SQL, vaults: doc.secrets[0]!.vaults, source: { kind: "sqlLogin", servers, logins: ["bookings_a", "bookings_b"], database: "bookings" } } as never);
  return parsePlanText(stringify(doc), "harbor + SQL login");
}

const plan = harborPlan();
const secretNamed = (name: string): PlanSecret => secretOf(plan, name)!;
const storageSource = () => secretNamed(STORAGE).source as Extract<PlanSecret["source"], { kind: "storageAccountKey" }>;
const sqlSource = () => secretNamed(SQL).source as Extract<PlanSecret["source"], { kind: "sqlLogin" }>;
const sha = (value: string) => createHash("sha256").update(value).digest("hex");

// ---- the app under test ---------------------------------------------------------------------------

/** Everything the app says: log lines (as JSON) and notifications. */
interface Said {
  readonly lines: string[];
  readonly notes: NotifyInput[];
  readonly log: Logger;
  readonly notifier: Notifier;
}

function said(): Said {
  const lines: string[] = [];
  const notes: NotifyInput[] = [];
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(JSON.stringify({ level, message, ...fields }));
  return { lines, notes, log: { info: line("info"), warn: line("warn"), error: line("error") }, notifier: { name: "test", notify: async (n) => void notes.push(n) } };
}

/**
 * Points the secondary region's site at its own region's vault. The estate's seed references, from each
 * site, the vault of the site's region, telling a vault's region from its name; harbor names its vaults
 * by abbreviation (`-san`, `-saw`), so both sites start on the first vault. A regional deployment
 * references its own region's vault: so does each site here, and every vault is referenced.
 */
async function referenceOwnRegionVaults(app: LocalApp): Promise<void> {
  const [first, second] = secretNamed(STORAGE).vaults;
  const site = plan.appService.find((s) => s.region === plan.regions.secondary.name)!.site;
  const web = app.clients.web(site.subscriptionId).webApps;
  const move = (value: string) => value.replace(`//${first!.name}.vault.azure.net/`, `//${second!.name}.vault.azure.net/`);
  const settings = (await web.listApplicationSettings(site.resourceGroup, site.name)).properties ?? {};
  await web.updateApplicationSettings(site.resourceGroup, site.name, { properties: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, move(v)])) });
  const strings = (await web.listConnectionStrings(site.resourceGroup, site.name)).properties ?? {};
  await web.updateConnectionStrings(site.resourceGroup, site.name, { properties: Object.fromEntries(Object.entries(strings).map(([k, v]) => [k, { ...v, value: move(v.value) }])) });
}

/** One app for a describe block: started before its tests, stopped after them. */
function useApp(options: Partial<LocalAppOptions> = {}): { app: LocalApp; said: Said } {
  const world = { said: said() } as { app: LocalApp; said: Said };
  beforeAll(async () => {
    world.app = await startLocalApp({ plans: [plan], log: world.said.log, notifier: world.said.notifier, ...options });
    await referenceOwnRegionVaults(world.app);
  });
  afterAll(async () => {
    await world.app?.stop();
  });
  return world;
}

async function rotated(app: LocalApp, secret: string): Promise<RotationOutput> {
  const status = await app.host.waitForCompletion(rotationInstanceId(plan.name, secret));
  expect(status.runtimeStatus, status.error).toBe("Completed");
  return status.output as RotationOutput;
}

/** Polls `check` until it gives a value (the test's timeout bounds it). */
async function until<T>(check: () => Promise<T | undefined | false>): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- what Azure holds, read with the real clients ------------------------------------------------

interface VaultView {
  readonly vault: ArmResourceId;
  readonly current: { readonly version: string; readonly value: string; readonly tags: Record<string, string>; readonly expiresOn?: Date };
  readonly versions: readonly SecretProperties[];
}

async function vaultsOf(app: LocalApp, name: string): Promise<VaultView[]> {
  return Promise.all(
    secretNamed(name).vaults.map(async (vault) => {
      const kv = app.clients.secrets(vault.name);
      const current = await kv.getSecret(name);
      const versions: SecretProperties[] = [];
      for await (const p of kv.listPropertiesOfSecretVersions(name)) versions.push(p);
      return {
        vault,
        current: { version: current.properties.version!, value: current.value!, tags: { ...current.properties.tags }, ...(current.properties.expiresOn ? { expiresOn: current.properties.expiresOn } : {}) },
        versions,
      };
    }),
  );
}

async function accountKeys(app: LocalApp): Promise<Record<string, string>> {
  const account = storageSource().account;
  const result = await app.clients.storage(account.subscriptionId).storageAccounts.listKeys(account.resourceGroup, account.name);
  return Object.fromEntries((result.keys ?? []).map((k) => [String(k.keyName), k.value!]));
}

interface Reference {
  readonly site: string;
  readonly vault: string;
  readonly status?: string;
  readonly activeVersion?: string;
  readonly secretVersion?: string;
}

/** The sites' Key Vault references to `name` (app settings and connection strings), as App Service reports them. */
async function referencesTo(app: LocalApp, name: string): Promise<Reference[]> {
  const found: Reference[] = [];
  for (const { site } of plan.appService) {
    const web = app.clients.web(site.subscriptionId).webApps;
    for (const list of [web.listAppSettingsKeyVaultReferences(site.resourceGroup, site.name), web.listSiteConnectionStringKeyVaultReferences(site.resourceGroup, site.name)]) {
      for await (const ref of list) {
        if (ref.secretName?.toLowerCase() !== name.toLowerCase()) continue;
        found.push({ site: site.name, vault: ref.vaultName!.toLowerCase(), status: ref.status, activeVersion: ref.activeVersion, secretVersion: ref.secretVersion });
      }
    }
  }
  return found;
}

/** Every site resolved its reference to the current version of its own vault, and the references cover every vault. */
async function expectReferencesOnCurrent(app: LocalApp, name: string, vaults: readonly VaultView[]): Promise<void> {
  const refs = await referencesTo(app, name);
  const current = new Map(vaults.map((v) => [v.vault.name.toLowerCase(), v.current.version]));
  expect(refs.length, `references to ${name}`).toBe(plan.appService.length);
  expect(new Set(refs.map((r) => r.vault))).toEqual(new Set(current.keys()));
  for (const r of refs) expect(r, `${r.site} → ${r.vault}`).toEqual({ site: r.site, vault: r.vault, status: "Resolved", activeVersion: current.get(r.vault), secretVersion: undefined });
}

/** After a rotation: every vault's current version is the rotation's (once), one value everywhere, the earlier versions disabled. */
function expectRotatedVaults(vaults: readonly VaultView[], rotationId: string): void {
  for (const v of vaults) {
    expect(v.current.tags[RotationTags.rotation], `${v.vault.name} current version`).toBe(rotationId);
    expect(v.versions.filter((p) => p.tags?.[RotationTags.rotation] === rotationId).map((p) => p.version), `${v.vault.name}: one version of the rotation`).toEqual([v.current.version]);
    expect(v.versions.filter((p) => p.version !== v.current.version && p.enabled !== false).map((p) => p.version), `${v.vault.name}: earlier versions disabled`).toEqual([]);
  }
  expect(new Set(vaults.map((v) => sha(v.current.value))).size, "one value in every vault").toBe(1);
}

// ---- Key Vault events, from the corpus samples ----------------------------------------------------

type Schema = "event-grid-schema" | "cloud-events-schema";

/** The corpus's SecretNewVersionCreated sample of `schema`, made about `name` in `vault` and given `type` (Key Vault gives every secret event one data shape). */
function corpusEvent(schema: Schema, type: string, vault: ArmResourceId, name: string, version: string, expires?: Date): Record<string, any> {
  const raw = JSON.parse(readFileSync(new URL(`${schema}/secret_new_version_created.json`, CORPUS), "utf8")) as Record<string, any>;
  const grid = schema === "event-grid-schema";
  raw[grid ? "eventType" : "type"] = type;
  raw[grid ? "topic" : "source"] = vault.id;
  raw[grid ? "eventTime" : "time"] = new Date().toISOString();
  raw.id = randomUUID();
  raw.subject = name;
  raw.data = {
    ...raw.data,
    Id: `https://${vault.name}.vault.azure.net/secrets/${name}/${version}`,
    VaultName: vault.name,
    ObjectName: name,
    Version: version,
    EXP: expires ? String(Math.floor(expires.getTime() / 1000)) : null,
  };
  return raw;
}

// ---- looking for values where none may be -----------------------------------------------------------

/** Adds every value the secrets and the storage account hold now (a SQL login's password on its own too). */
async function collectValues(app: LocalApp, names: readonly string[], into: Set<string>): Promise<void> {
  for (const key of Object.values(await accountKeys(app))) into.add(key);
  for (const name of names) {
    for (const v of await vaultsOf(app, name)) {
      into.add(v.current.value);
      // A connection string's password on its own (the rest of it is host and login names).
      if (secretNamed(name).source.kind === "sqlLogin") into.add(loginOfConnectionString(v.current.value)!.password);
    }
  }
}

/**
 * Looks for every value, and every 12 characters of each, as written raw, JSON-escaped (once and twice)
 * and URL-encoded, in what the app keeps and says: the rotation and run journals, every blob in
 * Azurite (durable histories, outbox, state), log lines, notifications, rotation views, the estate's
 * request log, and `extra`.
 */
async function scanForValues(app: LocalApp, voice: Said, values: ReadonlySet<string>, extra: readonly { name: string; text: string }[] = []) {
  const needles = new Set<string>();
  for (const value of values) {
    const parts = [value, ...Array.from({ length: Math.max(0, value.length - 11) }, (_, i) => value.slice(i, i + 12))];
    for (const p of parts) for (const form of [p, JSON.stringify(p).slice(1, -1), JSON.stringify(JSON.stringify(p)).slice(3, -3), encodeURIComponent(p)]) needles.add(form);
  }
  const sources: { name: string; text: string }[] = [...extra];
  for (const id of await app.rotationJournal.listRuns()) sources.push({ name: `rotation journal ${id}`, text: JSON.stringify(await app.rotationJournal.read(id)) });
  for (const id of await app.journal.listRuns()) sources.push({ name: `run journal ${id}`, text: JSON.stringify(await app.journal.read(id)) });
  const blobs = app.clients.blobService();
  for await (const container of blobs.listContainers()) {
    const client = blobs.getContainerClient(container.name);
    for await (const blob of client.listBlobsFlat()) sources.push({ name: `blob ${container.name}/${blob.name}`, text: (await client.getBlobClient(blob.name).downloadToBuffer()).toString("utf8") });
  }
  sources.push({ name: "log lines", text: voice.lines.join("\n") });
  sources.push({ name: "notifications", text: JSON.stringify(voice.notes) });
  sources.push({ name: "rotation views", text: JSON.stringify(await Promise.all(plan.secrets.map((s) => app.rotations.get(plan.name, s.name)))) });
  sources.push({ name: "estate request log", text: JSON.stringify(app.estate.requests()) });
  const found = (text: string) => [...needles].filter((n) => text.includes(n));
  // A control: the search finds a value where it is.
  expect(found(JSON.stringify([...values])).length, "the search finds what is there").toBeGreaterThan(0);
  return {
    sources: sources.map((s) => s.name),
    bytes: sources.reduce((sum, s) => sum + Buffer.byteLength(s.text), 0),
    needles: needles.size,
    hits: sources.flatMap((s) => found(s.text).map((n) => `${s.name}: ${n.length} characters`)),
  };
}

// ---- HTTP -------------------------------------------------------------------------------------------

function principal(name: string, roles: readonly string[]): Record<string, string> {
  const claims = [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))];
  return { "x-ms-client-principal": Buffer.from(JSON.stringify({ auth_typ: "aad", claims })).toString("base64") };
}

async function call(app: LocalApp, method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResponseInit & { jsonBody?: any }> {
  const match = matchRoute(app.routes, method, path);
  if (!match || !("route" in match)) throw new Error(`no route for ${method} ${path}`);
  const request = new HttpRequest({
    method,
    url: `http://localhost${path}`,
    params: match.params,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: { string: typeof body === "string" ? body : JSON.stringify(body) } } : {}),
  });
  return match.route.handler(request);
}

const rotatePath = (p: string, s: string) => `/api/plans/${encodeURIComponent(p)}/secrets/${encodeURIComponent(s)}/rotate`;
const secretPath = (p: string, s: string) => `/api/plans/${encodeURIComponent(p)}/secrets/${encodeURIComponent(s)}`;

/** Writes Switchyard must never make while a run holds the plan. */
const ROTATION_WRITES = new Set([
  "SetSecret",
  "UpdateSecret",
  "StorageAccounts_RegenerateKey",
  "WebApps_UpdateApplicationSettings",
  "WebApps_UpdateConnectionStrings",
  "WebApps_RefreshAppSettingsKeyVaultReferences",
]);

// =====================================================================================================

describe("Key Vault events from both Event Grid schemas", () => {
  const world = useApp();

  it("ignores a new-version event and an event for a secret no plan names (with the reason), refuses a malformed event with its path, and starts nothing", async () => {
    const { app } = world;
    const storage = secretNamed(STORAGE);
    const [san] = await vaultsOf(app, STORAGE);

    // A new version (what Switchyard's own writes produce in Azure), in both schemas.
    for (const schema of ["event-grid-schema", "cloud-events-schema"] as const) {
      const created = await app.handleKeyVaultEvent(corpusEvent(schema, "Microsoft.KeyVault.SecretNewVersionCreated", storage.vaults[0]!, STORAGE, san!.current.version));
      expect(created, schema).toEqual({ outcome: "ignored", reason: expect.stringMatching(/new version.*never start a rotation/) });
    }
    // A secret no plan names, in a vault the plan does name.
    const stranger = await app.handleKeyVaultEvent(corpusEvent("event-grid-schema", "Microsoft.KeyVault.SecretNearExpiry", storage.vaults[0]!, "not-in-any-plan", "ee059b2bb5bc48398a53b168c6cdcb10"));
    expect(stranger).toEqual({ outcome: "ignored", reason: expect.stringMatching(/no plan names secret "not-in-any-plan" in vault "harbor-kv-san"/) });

    // Malformed: the path of the field at fault.
    const noVault = corpusEvent("event-grid-schema", "Microsoft.KeyVault.SecretNearExpiry", storage.vaults[0]!, STORAGE, san!.current.version);
    delete noVault.data.VaultName;
    const otherVaultId = corpusEvent("cloud-events-schema", "Microsoft.KeyVault.SecretExpired", storage.vaults[0]!, STORAGE, san!.current.version);
    otherVaultId.data.Id = `https://harbor-kv-saw.vault.azure.net/secrets/${STORAGE}/${san!.current.version}`;
    const noSchema = corpusEvent("cloud-events-schema", "Microsoft.KeyVault.SecretExpired", storage.vaults[0]!, STORAGE, san!.current.version);
    delete noSchema.specversion;
    for (const [event, path] of [
      [noVault, "data.VaultName"],
      [otherVaultId, "data.Id"],
      [noSchema, "specversion"],
    ] as const) {
      const refused = await app.handleKeyVaultEvent(event);
      expect(refused, path).toEqual({ outcome: "refused", path, reason: expect.any(String) });
    }

    // Nothing started: no rotation instance of any plan secret.
    for (const s of plan.secrets) expect(await app.rotations.get(plan.name, s.name), s.name).toBeUndefined();
    expect(world.said.lines.filter((l) => /Key Vault event .* ignored/.test(l))).toHaveLength(3);
    expect(world.said.lines.filter((l) => /Key Vault event refused/.test(l))).toHaveLength(3);
  });

  it("a NearExpiry event (Event Grid schema) rotates the storage key and an Expired CloudEvent the generated secret: new versions everywhere, key2 in use, references on the new versions", async () => {
    const { app } = world;
    const [storage, generated] = [secretNamed(STORAGE), secretNamed(GENERATED)];
    const keysBefore = await accountKeys(app);
    const [storageSan] = await vaultsOf(app, STORAGE);
    const [generatedSan, generatedSaw] = await vaultsOf(app, GENERATED);
    expect(storageSan!.current.value, "the estate starts with key1 in use").toBe(keysBefore.key1);
    const startedAt = Date.now();

    // Act: one event per schema, each from one of the secret's vaults (Key Vault sends one per vault).
    const nearExpiry = await app.handleKeyVaultEvent(corpusEvent("event-grid-schema", "Microsoft.KeyVault.SecretNearExpiry", storage.vaults[0]!, STORAGE, storageSan!.current.version, storageSan!.current.expiresOn));
    const expired = await app.handleKeyVaultEvent(corpusEvent("cloud-events-schema", "Microsoft.KeyVault.SecretExpired", generated.vaults[1]!, GENERATED, generatedSaw!.current.version, generatedSaw!.current.expiresOn));
    const outputs: Record<string, RotationOutput> = { [STORAGE]: await rotated(app, STORAGE), [GENERATED]: await rotated(app, GENERATED) };
    const finishedAt = Date.now();

    // Assert: each event started one rotation of its secret, triggered by that event.
    for (const [outcome, name, type] of [
      [nearExpiry, STORAGE, "Microsoft.KeyVault.SecretNearExpiry"],
      [expired, GENERATED, "Microsoft.KeyVault.SecretExpired"],
    ] as const) {
      expect(outcome.outcome, name).toBe("rotating");
      const started = outcome.outcome === "rotating" ? outcome.started : [];
      expect(started.map((s) => [s.plan, s.secret, s.start?.outcome])).toEqual([[plan.name, name, "started"]]);
      const output = outputs[name]!;
      expect(output, name).toMatchObject({ outcome: "rotated", rotationId: started[0]!.start!.rotation.rotationId, deferrals: 0 });
      expect(output.steps.map((s) => s.step)).toEqual(["create", "replicate", "apply", "verify", "retire"]);
      const first = (await app.rotationJournal.read(output.rotationId))[0]!;
      expect(first.data).toMatchObject({ trigger: { kind: "event", eventType: type } });
    }
    expect(outputs[STORAGE]!.credential).toBe("key2");

    for (const name of [STORAGE, GENERATED]) {
      const vaults = await vaultsOf(app, name);
      expectRotatedVaults(vaults, outputs[name]!.rotationId);
      const validity = secretNamed(name).validityDays * DAY_MS;
      for (const v of vaults) {
        // Key Vault keeps whole seconds.
        expect(v.current.expiresOn!.getTime(), `${v.vault.name} exp`).toBeGreaterThanOrEqual(Math.floor((startedAt + validity) / 1000) * 1000);
        expect(v.current.expiresOn!.getTime(), `${v.vault.name} exp`).toBeLessThanOrEqual(finishedAt + validity);
        expect(Math.floor(Date.parse(v.current.tags[RotationTags.expires]!) / 1000) * 1000, `${v.vault.name} ${RotationTags.expires} tag`).toBe(v.current.expiresOn!.getTime());
      }
      await expectReferencesOnCurrent(app, name, vaults);
    }

    // The storage key: the vaults hold the account's new key2; key1 (in use before) was left alone.
    const keysAfter = await accountKeys(app);
    const [storageNow] = await vaultsOf(app, STORAGE);
    expect(storageNow!.current.value).toBe(keysAfter.key2);
    expect(keysAfter.key2).not.toBe(keysBefore.key2);
    expect(keysAfter.key1).toBe(keysBefore.key1);
    // The generated secret: a new value of the plan's length and alphabet.
    const [generatedNow] = await vaultsOf(app, GENERATED);
    const source = generated.source as Extract<PlanSecret["source"], { kind: "generated" }>;
    expect(generatedNow!.current.value).not.toBe(generatedSan!.current.value);
    expect(generatedNow!.current.value).toHaveLength(source.length);
    expect([...generatedNow!.current.value].every((c) => source.alphabet!.includes(c))).toBe(true);

    console.info(
      `rotation step durations (ms): ${[STORAGE, GENERATED].map((n) => `${n}: ${outputs[n]!.steps.map((s) => `${s.step} ${s.durationMs}`).join(", ")}`).join("; ")}`,
    );
  });
});

// =====================================================================================================

describe("the key in use is never regenerated", () => {
  const world = useApp();
  /** What each RegenerateKey request asked for, and which keys the vaults held at that moment. */
  const seen: { requestId: string; keyName: string; held: { vault: string; tag?: string; key?: string }[] }[] = [];

  beforeAll(() => {
    const { app } = world;
    const account = storageSource().account;
    // After the retry policy: one record per request sent (each is one line of the estate's log).
    const spy: PipelinePolicy = {
      name: "regenerate-key-witness",
      async sendRequest(request, next) {
        if (!/\/regenerateKey$/i.test(new URL(request.url).pathname)) return next(request);
        const keys = await accountKeys(app);
        const held = await Promise.all(
          secretNamed(STORAGE).vaults.map(async (vault) => {
            const current = await app.clients.secrets(vault.name).getSecret(STORAGE);
            const key = Object.entries(keys).find(([, value]) => value === current.value)?.[0];
            return { vault: vault.name, tag: current.properties.tags?.[RotationTags.credential], ...(key ? { key } : {}) };
          }),
        );
        const keyName = (JSON.parse(String(request.body)) as { keyName: string }).keyName;
        const response = await next(request);
        seen.push({ requestId: response.headers.get("x-ms-request-id") ?? "", keyName, held });
        return response;
      },
    };
    app.clients.storage(account.subscriptionId).pipeline.addPolicy(spy, { afterPhase: "Retry" });
  });

  /** Every RegenerateKey the estate logged since `since` was seen with its body, and named a key no vault held at that moment. */
  function expectNoHeldKeyRegenerated(app: LocalApp, since: number): string[] {
    const logged = app.estate.requests({ since }).filter((r) => r.operationId === "StorageAccounts_RegenerateKey");
    for (const request of logged) {
      const witnessed = seen.find((s) => s.requestId === request.requestId);
      expect(witnessed, `RegenerateKey ${request.requestId} was seen with its body`).toBeDefined();
      for (const held of witnessed!.held) {
        expect(held.key, `${held.vault} held one of the account's keys`).toBeDefined();
        expect(held.tag, `${held.vault}'s tag says which`).toBe(held.key);
        expect(witnessed!.keyName, `${held.vault} held ${held.key}`).not.toBe(held.key);
      }
    }
    return logged.map((r) => seen.find((s) => s.requestId === r.requestId)?.keyName ?? "unseen");
  }

  it("rotating twice regenerates key2, then key1: each request names the key no vault held at that moment", async () => {
    const { app } = world;
    const since = app.estate.requests().at(-1)?.seq ?? 0;
    const credentials: string[] = [];
    for (const round of [1, 2]) {
      await app.rotations.start(plan, STORAGE, { kind: "cli", by: `round ${round}` });
      const output = await rotated(app, STORAGE);
      expect(output.outcome, output.error).toBe("rotated");
      credentials.push(output.credential!);
      const [san] = await vaultsOf(app, STORAGE);
      expect(san!.current.value, `round ${round}: the vault holds the account's ${output.credential}`).toBe((await accountKeys(app))[output.credential!]);
    }

    expect(credentials).toEqual(["key2", "key1"]);
    expect(app.estate.requests({ since }).filter((r) => r.operationId === "StorageAccounts_RegenerateKey").map((r) => r.status)).toEqual([200, 200]);
    expect(expectNoHeldKeyRegenerated(app, since)).toEqual(["key2", "key1"]);
  });

  /*
   * FAILS (a product bug): a rotation that fails after `create` leaves the first vault on the new key and
   * the other vaults on the old one; every later rotation is then refused at create ("the vaults
   * disagree: some hold key1, some key2"), although the failure notice tells the operator to rotate
   * again once the cause is fixed. Nothing but a hand-made write to the vaults gets the secret rotating
   * again.
   */
  it("a rotation that failed at replicate (the second vault refused writes) does not stop the next one once the cause is gone", async () => {
    const { app } = world;
    const [, saw] = secretNamed(STORAGE).vaults;
    const since = app.estate.requests().at(-1)!.seq;
    app.estate.addFault({ kind: "serverError", operationId: "SetSecret", count: 1000, status: 503, resourceId: `/keyvault/${saw!.name}` });
    await app.rotations.start(plan, STORAGE, { kind: "cli", by: "during a vault outage" });
    const failed = await rotated(app, STORAGE);
    app.estate.faults.reset();
    expect(failed).toMatchObject({ outcome: "failed", failedStep: "replicate" });
    expect(world.said.notes.at(-1)?.message).toMatch(/rotate again once the cause is fixed/);

    await app.rotations.start(plan, STORAGE, { kind: "cli", by: "after the outage" });
    const again = await rotated(app, STORAGE);

    expect(again.outcome, again.error).toBe("rotated");
    const vaults = await vaultsOf(app, STORAGE);
    expectRotatedVaults(vaults, again.rotationId);
    expect(vaults[0]!.current.value).toBe((await accountKeys(app))[again.credential!]);
    expectNoHeldKeyRegenerated(app, since);
  });

  it("refuses a rotation when the vaults disagree on the key in use, without regenerating any key", async () => {
    const { app } = world;
    const [san, saw] = secretNamed(STORAGE).vaults;
    const keys = await accountKeys(app);
    await app.clients.secrets(san!.name).setSecret(STORAGE, keys.key1!, { tags: { [RotationTags.credential]: "key1" } });
    await app.clients.secrets(saw!.name).setSecret(STORAGE, keys.key2!, { tags: { [RotationTags.credential]: "key2" } });
    const since = app.estate.requests().at(-1)!.seq;
    const before = await vaultsOf(app, STORAGE);

    await app.rotations.start(plan, STORAGE, { kind: "cli", by: "disagreeing vaults" });
    const output = await rotated(app, STORAGE);

    expect(output).toMatchObject({ outcome: "failed", failedStep: "create" });
    expect(output.error).toMatch(/the vaults disagree: some hold key1, some key2/);
    expect(app.estate.requests({ since, writesOnly: true }).map((r) => r.operationId)).toEqual([]);
    expect(await accountKeys(app)).toEqual(keys);
    expect((await vaultsOf(app, STORAGE)).map((v) => v.current.version)).toEqual(before.map((v) => v.current.version));
    expect(world.said.notes.at(-1)).toMatchObject({ kind: "secret-rotation-failed", severity: "critical" });
  });
});

// =====================================================================================================

/**
 * Crash after each activity: the host stops dead right after the activity returned and before its
 * result was kept (src/durable/durableHost.ts CrashPoint); a new app on the same state folder resumes
 * the rotation and runs that activity again.
 */
const CRASH_ACTIVITIES = [
  RotationActivities.record,
  RotationActivities.create,
  RotationActivities.replicate,
  RotationActivities.apply,
  RotationActivities.verify,
  RotationActivities.retire,
  RotationActivities.notify,
] as const;

/*
 * FAILS for the five step activities (a product bug in src/local/app.ts): startLocalApp resumes the
 * durable host (`await host.resume()`) before it sets the run port the rotation activities read
 * (`runPort = runs`), so a step activity run again at resume calls `runPort!.get` on undefined, fails
 * with "Cannot read properties of undefined (reading 'get')" (not retryable), and the rotation ends
 * failed at that step. Resuming the host after the run port is set makes every case pass.
 */
describe.each([
  { label: "storage key", name: STORAGE },
  { label: "generated secret", name: GENERATED },
  { label: "SQL login", name: SQL },
])("a rotation of the $label killed after an activity resumes on a new app and completes once", ({ name }) => {
  it.each(CRASH_ACTIVITIES)("killed after %s", async (activity) => {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-rotation-crash-"));
    const voice = said();
    const apps: LocalApp[] = [];
    try {
      // Arrange / Act: the first app dies after the activity; the second, on the same folder, resumes.
      const first = await startLocalApp({ plans: [plan], log: voice.log, notifier: voice.notifier, stateDir: dir, crashAt: (p) => p.afterActivity === activity });
      apps.push(first);
      await referenceOwnRegionVaults(first);
      const { rotation } = await first.rotations.start(plan, name, { kind: "cli", by: "crash test" });
      const crashed = await until(async () => first.host.crashPoint);
      expect(crashed.afterActivity).toBe(activity);
      apps.pop();
      await first.stop();
      const second = await startLocalApp({ plans: [plan], log: voice.log, notifier: voice.notifier, stateDir: dir });
      apps.push(second);
      const output = await rotated(second, name);

      // Assert: one rotation's version, current in every vault, the credential works, apps on it.
      expect(output.outcome, output.error).toBe("rotated");
      expect(output.rotationId).toBe(rotation.rotationId);
      const vaults = await vaultsOf(second, name);
      expectRotatedVaults(vaults, rotation.rotationId);
      const value = vaults[0]!.current.value;
      if (name === STORAGE) {
        expect(value).toBe((await accountKeys(second))[output.credential!]);
        expect(output.credential).toBe("key2");
        // The estate's request log is kept in the folder: one regeneration over both apps.
        expect(second.estate.requests().filter((r) => r.operationId === "StorageAccounts_RegenerateKey").map((r) => r.status)).toEqual([200]);
      } else if (name === GENERATED) {
        expect(value).toHaveLength((secretNamed(GENERATED).source as { length: number }).length);
      } else {
        const login = loginOfConnectionString(value)!;
        expect(login.login).toBe(output.credential);
        for (const server of sqlSource().servers) {
          expect(await trySqlLogin(second.clients.target, { server: server.name, login: login.login, password: login.password, database: "bookings", timeoutMs: 10_000 }), server.name).toEqual({ ok: true });
        }
        const altered = (await second.rotationJournal.read(rotation.rotationId)).filter((e) => e.kind === "write" && e.data?.operation === "ALTER LOGIN");
        expect(altered, "one password change per server").toHaveLength(sqlSource().servers.length);
      }
      await expectReferencesOnCurrent(second, name, vaults);
    } finally {
      for (const app of apps) await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// =====================================================================================================

describe("a rotation requested during a failover waits for the run to end", () => {
  const world = useApp();

  it("answers deferredBy, journals a wait, changes nothing in Azure while the run holds the plan, and completes after the run is aborted", async () => {
    const { app } = world;
    const [primary, secondary] = [plan.regions.primary.name, plan.regions.secondary.name];
    const values = new Set<string>();
    await collectValues(app, [STORAGE], values);
    // A failover with the primary down: SQL lag cannot be measured, so the run waits for a person.
    await app.estate.setRegion(primary, { down: true });
    const since = app.estate.requests().at(-1)?.seq ?? 0;
    const input: RunInput = {
      runId: newRunId(plan.name, "failover", new Date()),
      kind: "failover",
      mode: "auto",
      plan,
      from: primary,
      to: secondary,
      trigger: { source: "manual", by: "e2e", reason: "region outage", detectedAt: new Date().toISOString() },
      options: { approvalTimeoutSeconds: 600, timeScale: 1000 },
    };
    await app.runs.start(input);
    await until(async () => (await app.runs.get(plan.name))?.progress?.waitingFor === "approval");

    // Act: an operator asks for a rotation while the run waits.
    const response = await call(app, "POST", rotatePath(plan.name, STORAGE), { reason: "key shared by mistake" });
    expect(response.status).toBe(202);
    expect(response.jsonBody).toMatchObject({ secret: STORAGE, deferredBy: input.runId });
    const rotationId = response.jsonBody.rotationId as string;
    const waits = await until(async () => {
      const entries = (await app.rotationJournal.read(rotationId)).filter((e) => e.kind === "wait");
      return entries.length > 0 && entries;
    });
    expect(waits[0]).toMatchObject({ step: "create", message: expect.stringContaining(`run ${input.runId} holds plan ${plan.name}`) });
    // The orchestration shows the deferral from its next poll of the run on.
    await until(async () => (await app.rotations.get(plan.name, STORAGE))?.progress?.deferrals === 1);
    expect(await app.rotations.get(plan.name, STORAGE)).toMatchObject({ rotationId, status: "running", progress: { step: "create", deferrals: 1 } });
    expect(world.said.notes.find((n) => n.runId === rotationId)).toMatchObject({ kind: "secret-rotation-deferred" });
    // Nothing written while the run holds the plan.
    expect(app.estate.requests({ since, writesOnly: true }).filter((r) => ROTATION_WRITES.has(r.operationId)).map((r) => r.operationId)).toEqual([]);

    // The run ends (aborted, the region back); the rotation goes on.
    await app.estate.setRegion(primary, { down: false });
    await app.runs.approve(plan.name, { approve: false, by: "oncall@harbor.example", reason: "drill over" });
    const run = await app.runs.waitFor(plan.name);
    const runEnded = Date.parse((await app.host.getStatus(instanceIdFor(plan.name)))!.lastUpdatedTime);
    const output = await rotated(app, STORAGE);

    // Assert
    expect(run.status).not.toBe("running");
    expect(output).toMatchObject({ rotationId, outcome: "rotated", deferrals: 1 });
    const writes = app.estate.requests({ since, writesOnly: true }).filter((r) => ROTATION_WRITES.has(r.operationId));
    expect(writes.map((r) => r.operationId)).toContain("StorageAccounts_RegenerateKey");
    expect(writes.filter((r) => Date.parse(r.time) < runEnded).map((r) => `${r.time} ${r.operationId}`), `run ended ${new Date(runEnded).toISOString()}`).toEqual([]);
    expectRotatedVaults(await vaultsOf(app, STORAGE), rotationId);
    // Neither the run's journal nor the rotation's holds a value.
    await collectValues(app, [STORAGE], values);
    const scan = await scanForValues(app, world.said, values, [{ name: "HTTP responses", text: JSON.stringify(response) }]);
    console.info(`secret scan (deferred by a run): ${scan.sources.length} sources, ${scan.bytes} bytes, ${values.size} values, ${scan.needles} strings searched, ${scan.hits.length} hits`);
    expect(scan.sources).toContain(`run journal ${input.runId}`);
    expect(scan.hits).toEqual([]);
  });
});

// =====================================================================================================

describe("no secret value anywhere", () => {
  const world = useApp();

  it("after a rotation of each kind, no value (nor any 12 characters of one) is in the journals, blobs, logs, notifications, HTTP answers or the estate's request log", async () => {
    const { app } = world;
    const names = [STORAGE, GENERATED, SQL];
    const values = new Set<string>();
    await collectValues(app, names, values);
    const before = values.size;
    const responses: unknown[] = [];

    for (const name of names) {
      const r = await call(app, "POST", rotatePath(plan.name, name), { reason: `scheduled rotation of ${name}` });
      responses.push(r);
      expect(r.status, name).toBe(202);
    }
    for (const name of names) expect((await rotated(app, name)).outcome, name).toBe("rotated");
    for (const name of names) responses.push(await call(app, "GET", secretPath(plan.name, name)));
    await collectValues(app, names, values);
    // 2 keys + 2 generated + (connection string, password) × 2, then one new key, one new generated, one new pair.
    expect(values.size - before, "new values to look for").toBe(4);

    const scan = await scanForValues(app, world.said, values, [{ name: "HTTP responses", text: JSON.stringify(responses) }]);

    console.info(`secret scan (each kind): ${scan.sources.length} sources, ${scan.bytes} bytes, ${values.size} values, ${scan.needles} strings searched, ${scan.hits.length} hits`);
    expect(scan.sources.filter((s) => s.startsWith("rotation journal ")).length).toBeGreaterThanOrEqual(names.length);
    expect(scan.sources.some((s) => s.startsWith("blob switchyard-durable/"))).toBe(true);
    expect(scan.hits).toEqual([]);
  });
});

// =====================================================================================================

describe("the rotation HTTP API with App Service authentication on", () => {
  /** The SQL login's password change waits for the test (a rotation held under way). */
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const world = useApp({
    appServiceAuthOn: true,
    sqlLogins: (clients) => {
      const real = sqlLoginOps(clients);
      return { ...real, change: async (server, login, password) => (await held, real.change(server, login, password)) };
    },
  });
  const operator = principal("oncall@harbor.example", [OPERATOR_ROLE]);
  const reader = principal("auditor@harbor.example", ["Reader"]);

  it("refuses a caller without the operator role and starts nothing", async () => {
    const { app } = world;
    const anonymous = await call(app, "POST", rotatePath(plan.name, STORAGE), { reason: "routine rotation" });
    const readerOnly = await call(app, "POST", rotatePath(plan.name, STORAGE), { reason: "routine rotation" }, reader);
    expect([anonymous.status, anonymous.jsonBody.error.code]).toEqual([401, "Unauthenticated"]);
    expect([readerOnly.status, readerOnly.jsonBody.error.code]).toEqual([403, "Forbidden"]);
    expect(await app.rotations.get(plan.name, STORAGE)).toBeUndefined();
  });

  it("answers 404 for an unknown secret or plan and 400 for a missing or short reason (with the field's path)", async () => {
    const { app } = world;
    const unknownSecret = await call(app, "POST", rotatePath(plan.name, "no-such-secret"), { reason: "routine rotation" }, operator);
    const unknownPlan = await call(app, "POST", rotatePath("no-such-plan", STORAGE), { reason: "routine rotation" }, operator);
    const missing = await call(app, "POST", rotatePath(plan.name, STORAGE), {}, operator);
    const short = await call(app, "POST", rotatePath(plan.name, STORAGE), { reason: " x " }, operator);

    expect([unknownSecret.status, unknownSecret.jsonBody.error.code]).toEqual([404, "SecretNotFound"]);
    expect([unknownPlan.status, unknownPlan.jsonBody.error.code]).toEqual([404, "PlanNotFound"]);
    for (const bad of [missing, short]) {
      expect(bad.status).toBe(400);
      expect(bad.jsonBody.error.details.map((d: { path: string }) => d.path)).toEqual(["reason"]);
    }
    expect((await call(app, "GET", secretPath(plan.name, "no-such-secret"), undefined, reader)).status).toBe(404);
    expect(await app.rotations.get(plan.name, STORAGE)).toBeUndefined();
  });

  it("starts a rotation for an operator (202), answers 409 while it runs, and GET shows it as the last rotation", async () => {
    const { app } = world;
    const empty = await call(app, "GET", secretPath(plan.name, SQL), undefined, reader);
    expect(empty.status).toBe(200);
    expect(empty.jsonBody).toMatchObject({ secret: SQL, source: "sqlLogin", vaults: ["harbor-kv-san", "harbor-kv-saw"], lastRotation: null });

    const first = await call(app, "POST", rotatePath(plan.name, SQL), { reason: "password seen in a ticket" }, operator);
    expect(first.status).toBe(202);
    const rotationId = first.jsonBody.rotationId as string;
    expect(first.jsonBody).toMatchObject({ plan: plan.name, secret: SQL, statusUrl: secretPath(plan.name, SQL) });
    expect(first.jsonBody.deferredBy).toBeUndefined();
    // The rotation is under way (its password change waits): a second request is refused.
    await until(async () => (await app.rotations.get(plan.name, SQL))?.progress?.step === "create");
    const second = await call(app, "POST", rotatePath(plan.name, SQL), { reason: "once more" }, operator);
    expect(second.status).toBe(409);
    expect(second.jsonBody.error).toMatchObject({ code: "RotationInProgress", details: { rotationId } });

    release();
    expect((await rotated(app, SQL)).outcome).toBe("rotated");
    const shown = await call(app, "GET", secretPath(plan.name, SQL), undefined, reader);
    expect(shown.status).toBe(200);
    expect(shown.jsonBody.lastRotation).toMatchObject({ rotationId, status: "completed", output: { outcome: "rotated", credential: "bookings_b" } });
  });
});
