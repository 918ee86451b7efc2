/**
 * The rotation's step activities (core/rotation/model.ts). Each holds its plan's step lease while it
 * changes Azure (gate.ts), runs at least once and is idempotent by the rotation id (versions it
 * writes carry the id in a tag, and every step looks for them first), reads what it needs from Key
 * Vault itself, and hands the orchestration ids and names only. Values never leave the function that
 * holds them: errors are scrubbed of them, the journal gets ids, versions and request ids.
 */
import { createHash } from "node:crypto";
import { createDefaultHttpClient, createPipelineRequest } from "@azure/core-rest-pipeline";
import type { SecretClient, SecretProperties } from "@azure/keyvault-secrets";
import type { ClientFactory } from "../azure/clients.ts";
import { withBudget } from "../azure/budget.ts";
import { normaliseAzureError } from "../activities/azureErrors.ts";
import { withoutSecrets } from "../activities/azureCall.ts";
import { captureRequestIds } from "../activities/writes.ts";
import { AzureRequestError, PreconditionError, SwitchyardError } from "../core/errors.ts";
import type { Journal } from "../core/journal.ts";
import type { Logger } from "../core/logger.ts";
import type { ArmResourceId } from "../core/plan/armId.ts";
import type { Plan } from "../core/plan/index.ts";
import {
  credentialsOf,
  nextCredential,
  RotationErrors,
  RotationTags,
  secretOf,
  STEP_BUDGET_MS,
  type CreatedVersion,
  type PlanSecret,
  type RotationStepInput,
  type StepReport,
  type VaultVersion,
} from "../core/rotation/model.ts";
import type { RunPlanStore } from "../journal/runPlans.ts";
import { holdRotationStep, type RotationGateDeps } from "./gate.ts";
import { sqlConnectionString } from "../azure/sqlLogins.ts";
import { contentTypeOf, loginOfConnectionString, randomSecret, sqlHostOf, type SqlLoginOps } from "./strategies.ts";

export interface RotationDeps extends RotationGateDeps {
  readonly clients: ClientFactory;
  /** The rotations' journal (its own folder: a listing of runs never shows a rotation). */
  readonly journal: Journal;
  /** The plan each rotation started with, by rotation id. */
  readonly runPlans: Pick<RunPlanStore, "get">;
  readonly log: Logger;
  /** SQL login operations (absent: plans with SQL login secrets cannot be rotated here). */
  readonly sql?: SqlLoginOps;
  /** Each step's own time budget (default STEP_BUDGET_MS; its lease outlives it). */
  readonly stepBudgetMs?: number;
}

/** App Service's refresh of Key Vault references (not in the SDK): the api-version Azure's docs give. */
const REFRESH_API_VERSION = "2022-03-01";

const sha = (value: string) => createHash("sha256").update(value).digest("hex");

/** The secret of the rotation's plan snapshot, and the plan. */
async function planSecret(deps: RotationDeps, input: RotationStepInput): Promise<{ plan: Plan; secret: PlanSecret }> {
  const plan = await deps.runPlans.get(input.rotationId);
  if (!plan) throw new SwitchyardError(`the plan of rotation ${input.rotationId} is not stored (a rotation keeps its plan when it starts)`, { code: "RunPlanMissing" });
  const secret = secretOf(plan, input.secret);
  if (!secret) throw new PreconditionError(`plan ${plan.name} names no secret ${input.secret}`, "SecretNotInPlan");
  return { plan, secret };
}

async function journal(deps: RotationDeps, input: RotationStepInput, kind: "write" | "observation" | "decision", message: string, data: Record<string, unknown>): Promise<void> {
  await deps.journal.append({ runId: input.rotationId, at: deps.clock().toISOString(), kind, step: input.step, activity: `rotation-${input.step}`, message, data } as never);
}

/**
 * An Azure call of a rotation step: failures name the operation and resource, and carry no value. An
 * error answer (4xx, 5xx) keeps Azure's message with `values` cut out; anything else (a body that could
 * not be read, a network failure) keeps only its code: such messages quote the response body, which
 * here holds keys, secret values or app settings.
 */
async function kvCall<T>(operation: string, resource: ArmResourceId, call: () => Promise<T>, values: readonly string[] = []): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw opaque(error, operation, resource, values);
  }
}

/**
 * A write to Azure: as kvCall, and a failure is journaled too (with the request ids Azure sent), so that
 * every write a rotation attempted is in its journal, done or not.
 */
async function writing<T>(deps: RotationDeps, input: RotationStepInput, operation: string, resource: ArmResourceId, ids: readonly string[], call: () => Promise<T>, values: readonly string[] = []): Promise<T> {
  try {
    return await kvCall(operation, resource, call, values);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await journal(deps, input, "write", `${operation} on ${resource.id}: failed: ${message}`, { resourceId: resource.id, operation, requestIds: [...ids], result: `failed: ${message}` }).catch(() => undefined);
    throw error;
  }
}

function opaque(error: unknown, operation: string, resource: ArmResourceId, values: readonly string[] = []): SwitchyardError {
  const failure = normaliseAzureError(error, operation, resource.id);
  if (!(failure instanceof AzureRequestError)) return failure;
  const status = failure.details.status;
  if (status !== undefined && status >= 400) return withoutSecrets(failure, values.filter((v) => v.length >= 8));
  const raw = (error as { code?: unknown } | undefined)?.code;
  const code = typeof raw === "string" && /^[A-Z_]{2,40}$/.test(raw) ? raw : error instanceof Error ? error.name : "an unreadable answer";
  return new AzureRequestError(`${operation} on ${resource.name} failed (${status !== undefined ? `HTTP ${status}, ` : ""}${code})`, failure.details, {
    retryable: failure.retryable,
    ...(failure.retryAfterSeconds !== undefined ? { retryAfterSeconds: failure.retryAfterSeconds } : {}),
  });
}

async function versionsOf(kv: SecretClient, vault: ArmResourceId, name: string): Promise<SecretProperties[]> {
  return kvCall("GetSecretVersions", vault, async () => {
    const all: SecretProperties[] = [];
    for await (const p of kv.listPropertiesOfSecretVersions(name)) all.push(p);
    return all;
  });
}

/** The version this rotation wrote in a vault, if it did. */
function ownVersion(versions: readonly SecretProperties[], rotationId: string): SecretProperties | undefined {
  return versions.find((v) => v.tags?.[RotationTags.rotation] === rotationId);
}

/**
 * The vault's current version (what a versionless read returns): the latest created. Key Vault's
 * timestamps are whole seconds, so versions of one second are told apart by a versionless read.
 */
async function currentOf(kv: SecretClient, vault: ArmResourceId, name: string): Promise<Current | undefined> {
  try {
    const secret = await kv.getSecret(name);
    return { vault: vault.name, version: secret.properties.version ?? "", tags: { ...secret.properties.tags }, value: secret.value ?? "" };
  } catch (error) {
    const failure = opaque(error, "GetSecret", vault);
    const status = failure instanceof AzureRequestError ? failure.details.status : undefined;
    if (status === 404) return undefined;
    // Key Vault answers 403 to a versionless read of a secret whose current version is disabled.
    if (status === 403) return { vault: vault.name, version: "", tags: {}, value: "", unreadable: true };
    throw failure;
  }
}

/** A vault's current version of the secret (its value stays in the step that read it). */
interface Current {
  readonly vault: string;
  readonly version: string;
  readonly tags: Record<string, string>;
  readonly value: string;
  /** The versionless read was refused (a disabled current version, as a rule). */
  readonly unreadable?: boolean;
}

/** The storage account's keys by name (values stay here). */
async function storageKeys(deps: RotationDeps, account: ArmResourceId): Promise<Map<string, string>> {
  const client = deps.clients.storage(account.subscriptionId);
  const result = await kvCall("StorageAccounts_ListKeys", account, () => client.storageAccounts.listKeys(account.resourceGroup, account.name));
  return new Map((result.keys ?? []).map((k) => [String(k.keyName).toLowerCase(), k.value ?? ""]));
}

/** Which credential a vault's current version holds: its tag, else recognised from its value. */
async function credentialOfValue(deps: RotationDeps, secret: PlanSecret, current: { tags: Record<string, string>; value: string }, keys: () => Promise<Map<string, string>>): Promise<string | undefined> {
  if ((current as Partial<Current>).unreadable) return "a current version that cannot be read (disabled)";
  const tagged = current.tags[RotationTags.credential];
  // A storage key's tag is believed only when the value is that key: regenerating on a wrong tag would
  // replace the key in use.
  if (tagged && secret.source.kind === "storageAccountKey") {
    return (await keys()).get(tagged.toLowerCase()) === current.value ? tagged : `a version tagged ${tagged} whose value is not that key`;
  }
  // A SQL login's tag likewise only when the connection string names that login.
  if (tagged && secret.source.kind === "sqlLogin") {
    const named = loginOfConnectionString(current.value)?.login;
    return named !== undefined && named.toLowerCase() === tagged.toLowerCase() ? tagged : `a version tagged ${tagged} whose connection string names ${named ?? "no login"}`;
  }
  if (tagged) return tagged;
  switch (secret.source.kind) {
    case "storageAccountKey":
      for (const [name, value] of await keys()) if (value !== "" && value === current.value) return name;
      return `none of the account's keys`;
    case "sqlLogin":
      return loginOfConnectionString(current.value)?.login ?? "an unreadable connection string";
    case "generated":
      return "generated";
  }
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
}

function tagsFor(plan: Plan, rotationId: string, credential: string, expiresAt: Date): Record<string, string> {
  return { [RotationTags.rotation]: rotationId, [RotationTags.credential]: credential, [RotationTags.expires]: expiresAt.toISOString(), [RotationTags.plan]: plan.name };
}

/** Runs a step under its lease and budget, and reports how long it took. */
async function step<T extends Omit<StepReport, "durationMs" | "step">>(deps: RotationDeps, input: RotationStepInput, work: () => Promise<T>): Promise<StepReport> {
  const started = deps.clock().getTime();
  const report = await holdRotationStep(deps, input, () => withBudget(deps.stepBudgetMs ?? STEP_BUDGET_MS, work));
  return { step: input.step, ...report, durationMs: deps.clock().getTime() - started };
}

// ---- create -------------------------------------------------------------------------------------

export function createStep(input: RotationStepInput, deps: RotationDeps): Promise<StepReport> {
  return step(deps, input, async () => {
    const { plan, secret } = await planSecret(deps, input);
    const first = secret.vaults[0]!;
    const kv = deps.clients.secrets(first.name);
    const mine = ownVersion(await versionsOf(kv, first, secret.name), input.rotationId);
    if (mine) {
      const created: CreatedVersion = { credential: mine.tags?.[RotationTags.credential] ?? "unknown", vault: first.name, version: mine.version ?? "", expiresAt: mine.tags?.[RotationTags.expires] ?? "", created: false };
      return { summary: `version ${created.version} of ${secret.name} (${created.credential}) was already stored in ${first.name}`, created };
    }
    // What every vault's current version holds: the credential to replace is the one none of them uses.
    const keys = once(() => (secret.source.kind === "storageAccountKey" ? storageKeys(deps, secret.source.account) : Promise.resolve(new Map<string, string>())));
    const inUse: (string | undefined)[] = [];
    const currents: { credential: string | undefined; rotation?: string; value: string }[] = [];
    const currentVersions = new Map<string, string>();
    /** Vaults where an earlier version is still enabled: the rotation that wrote the current one has not retired it. */
    const unretired = new Set<string>();
    for (const vault of secret.vaults) {
      const current = await currentOf(deps.clients.secrets(vault.name), vault, secret.name);
      if (!current) continue;
      const credential = await credentialOfValue(deps, secret, current, keys);
      inUse.push(credential);
      currentVersions.set(vault.name.toLowerCase(), current.version);
      if (secret.source.kind !== "generated" && (await versionsOf(deps.clients.secrets(vault.name), vault, secret.name)).some((v) => v.enabled && v.version !== current.version)) unretired.add(vault.name.toLowerCase());
      currents.push({ credential, value: current.value, ...(current.tags[RotationTags.rotation] ? { rotation: current.tags[RotationTags.rotation] } : {}) });
    }
    // And what the apps use: a reference still on an earlier version (an earlier rotation stopped
    // before its apps fetched the new one, or a pinned version) keeps that version's credential in use.
    if (secret.source.kind !== "generated") {
      for (const ref of await referencesTo(deps, plan, secret)) {
        // A reference that resolves to nothing holds no credential.
        if (!ref.secretVersion && ref.status !== "Resolved") continue;
        const used = ref.secretVersion ?? ref.activeVersion;
        if (used === undefined) {
          // App Service did not say which version it fetched: the current one, if the rotation that
          // wrote it finished (it retires earlier versions only once every reference is on it).
          if (unretired.has(ref.vaultName)) inUse.push(`an unreported version of ${ref.site.name}'s ${ref.setting}`);
          continue;
        }
        if (used === currentVersions.get(ref.vaultName)) continue;
        const vault = secret.vaults.find((v) => v.name.toLowerCase() === ref.vaultName)!;
        const kvOf = deps.clients.secrets(vault.name);
        const held = await kvCall("GetSecret", vault, () => kvOf.getSecret(secret.name, { version: used })).catch(() => undefined);
        inUse.push(held ? await credentialOfValue(deps, secret, { tags: { ...held.properties.tags }, value: held.value ?? "" }, keys) : `version ${used}, which cannot be read`);
      }
    }
    const expiresAt = new Date(deps.clock().getTime() + secret.validityDays * 86_400_000);
    let next = nextCredential(secret, inUse);
    let made: { value: string; wrote: string } | undefined;
    if ("refused" in next) {
      // An earlier rotation that stopped part-way (some vaults on its new credential, some on the old)
      // is finished instead: both credentials are in use, so neither may be replaced; this rotation
      // takes the newer one to every vault, and the next rotation replaces the older one.
      const adopted = await unfinishedRotation(deps, secret, currents, keys);
      if (!adopted) throw new PreconditionError(`${secret.name} cannot be rotated safely: ${next.refused}. Tag the current version with ${RotationTags.credential}=<the credential in use> and rotate again.`, "RotationCredentialUnknown");
      next = { credential: adopted.credential, ...(adopted.replaced ? { replaced: adopted.replaced } : {}) };
      made = { value: adopted.value, wrote: `took ${adopted.credential} of the unfinished rotation ${adopted.rotation} to every vault (nothing regenerated)` };
    }
    const { value, wrote } = made ?? (await makeCredential(deps, input, plan, secret, next.credential));
    const tags = tagsFor(plan, input.rotationId, next.credential, expiresAt);
    const capture = captureRequestIds();
    const stored = await writing(deps, input, "SetSecret", first, capture.ids, () => kv.setSecret(secret.name, value, { tags, expiresOn: expiresAt, contentType: contentTypeOf(secret), ...capture.options }), [value]);
    const version = stored.properties.version ?? "";
    await journal(deps, input, "write", `SetSecret on ${first.id}: version ${version} of ${secret.name} holds ${next.credential}`, {
      resourceId: first.id,
      operation: "SetSecret",
      requestIds: capture.ids,
      result: `version ${version}`,
      secret: secret.name,
      version,
      credentialName: next.credential,
      expires: expiresAt.toISOString(),
    });
    const created: CreatedVersion = { credential: next.credential, ...(next.replaced ? { replaced: next.replaced } : {}), vault: first.name, version, expiresAt: expiresAt.toISOString(), created: true };
    return { summary: `${wrote}; stored as version ${version} in ${first.name}`, created };
  });
}

/**
 * The credential of the latest Switchyard rotation that some vaults hold and others do not, when that
 * is why the vaults disagree, and it is still good (a storage key: the account's key of that name).
 */
async function unfinishedRotation(
  deps: RotationDeps,
  secret: PlanSecret,
  currents: readonly { credential: string | undefined; rotation?: string; value: string }[],
  keys: () => Promise<Map<string, string>>,
): Promise<{ credential: string; replaced?: string; rotation: string; value: string } | undefined> {
  const pair = credentialsOf(secret);
  if (!pair) return undefined;
  const lower = pair.map((c) => c.toLowerCase());
  if (!currents.every((c) => c.credential !== undefined && lower.includes(c.credential.toLowerCase()))) return undefined;
  // Rotation ids begin with the plan and a UTC stamp: the greatest is the latest.
  const latest = currents.filter((c) => c.rotation !== undefined).sort((a, b) => (a.rotation! < b.rotation! ? 1 : -1))[0];
  if (!latest?.credential) return undefined;
  if (secret.source.kind === "storageAccountKey" && (await keys()).get(latest.credential.toLowerCase()) !== latest.value) return undefined;
  // A SQL login's password is taken on only if every server accepts it now (apps move before verify).
  if (secret.source.kind === "sqlLogin") {
    const login = loginOfConnectionString(latest.value);
    if (!deps.sql || !login || login.login.toLowerCase() !== latest.credential.toLowerCase()) return undefined;
    const { servers, database } = secret.source;
    const sql = deps.sql;
    if ((await Promise.all(servers.map((server) => sql.test(server, login.login, login.password, database)))).some((r) => !r.ok)) return undefined;
  }
  const credential = pair[lower.indexOf(latest.credential.toLowerCase())]!;
  const replaced = pair.find((c) => c !== credential);
  return { credential, ...(replaced ? { replaced } : {}), rotation: latest.rotation!, value: latest.value };
}

/** Makes the new credential in Azure (or draws it) and returns its value, which only the caller holds. */
async function makeCredential(deps: RotationDeps, input: RotationStepInput, plan: Plan, secret: PlanSecret, credential: string): Promise<{ value: string; wrote: string }> {
  const source = secret.source;
  switch (source.kind) {
    case "generated":
      return { value: randomSecret(source.length, source.alphabet), wrote: `drew ${source.length} random characters` };
    case "storageAccountKey": {
      const account = source.account;
      const client = deps.clients.storage(account.subscriptionId);
      const capture = captureRequestIds();
      const result = await writing(deps, input, "StorageAccounts_RegenerateKey", account, capture.ids, () => client.storageAccounts.regenerateKey(account.resourceGroup, account.name, { keyName: credential }, capture.options));
      await journal(deps, input, "write", `StorageAccounts_RegenerateKey on ${account.id}: ${credential} regenerated (the key not in use)`, {
        resourceId: account.id,
        operation: "StorageAccounts_RegenerateKey",
        requestIds: capture.ids,
        result: `${credential} regenerated`,
        keyName: credential,
      });
      const value = result.keys?.find((k) => String(k.keyName).toLowerCase() === credential.toLowerCase())?.value;
      if (!value) throw new SwitchyardError(`StorageAccounts_RegenerateKey on ${account.name} returned no ${credential}`, { code: "UnexpectedResponse", retryable: true });
      return { value, wrote: `regenerated ${credential} of ${account.name}` };
    }
    case "sqlLogin": {
      if (!deps.sql) throw new PreconditionError("SQL login secrets need a connection to the SQL servers (TDS), which this host does not have", "SqlLoginsUnavailable");
      const password = deps.sql.password(source.length);
      // Every server at once: the step's time is one login's, however many servers (its lease is 60 s).
      const changed = await Promise.allSettled(source.servers.map((server) => deps.sql!.change(server, credential, password)));
      let failed: SwitchyardError | undefined;
      for (const [i, outcome] of changed.entries()) {
        const server = source.servers[i]!;
        const failure = outcome.status === "rejected" ? withoutSecrets(normaliseAzureError(outcome.reason, "ALTER LOGIN", server.id), [password]) : undefined;
        const result = failure ? `failed: ${failure.message}` : "password changed";
        await journal(deps, input, "write", `ALTER LOGIN ${credential} on ${server.id}: ${result}`, { resourceId: server.id, operation: "ALTER LOGIN", requestIds: [], result, login: credential });
        failed ??= failure;
      }
      if (failed) throw failed;
      return { value: sqlConnectionString({ serverHost: sqlHostOf(plan, source), database: source.database ?? "master", login: credential, password }), wrote: `changed the password of ${credential} on ${source.servers.length} server(s)` };
    }
  }
}

// ---- replicate ----------------------------------------------------------------------------------

export function replicateStep(input: RotationStepInput, deps: RotationDeps): Promise<StepReport> {
  return step(deps, input, async () => {
    const { secret } = await planSecret(deps, input);
    const first = secret.vaults[0]!;
    const kv = deps.clients.secrets(first.name);
    const mine = ownVersion(await versionsOf(kv, first, secret.name), input.rotationId);
    if (!mine?.version) throw new SwitchyardError(`rotation ${input.rotationId} has stored no version of ${secret.name} in ${first.name}`, { code: "RotationVersionMissing" });
    const source = await kvCall("GetSecret", first, () => kv.getSecret(secret.name, { version: mine.version! }));
    const value = source.value ?? "";
    const versions: VaultVersion[] = [{ vault: first.name, version: mine.version, written: false }];
    for (const vault of secret.vaults.slice(1)) {
      const other = deps.clients.secrets(vault.name);
      const found = ownVersion(await versionsOf(other, vault, secret.name), input.rotationId);
      if (found?.version) {
        versions.push({ vault: vault.name, version: found.version, written: false });
        continue;
      }
      const capture = captureRequestIds();
      const stored = await writing(
        deps,
        input,
        "SetSecret",
        vault,
        capture.ids,
        () => other.setSecret(secret.name, value, { tags: { ...mine.tags }, ...(mine.expiresOn ? { expiresOn: mine.expiresOn } : {}), contentType: contentTypeOf(secret), ...capture.options }),
        [value],
      );
      const version = stored.properties.version ?? "";
      await journal(deps, input, "write", `SetSecret on ${vault.id}: version ${version} of ${secret.name} (copy of ${first.name}'s ${mine.version})`, {
        resourceId: vault.id,
        operation: "SetSecret",
        requestIds: capture.ids,
        result: `version ${version}`,
        secret: secret.name,
        version,
        copyOf: mine.version,
      });
      versions.push({ vault: vault.name, version, written: true });
    }
    const written = versions.filter((v) => v.written).length;
    return { summary: `${secret.name} is in ${versions.length} vault(s) (${written} written now)`, versions };
  });
}

// ---- apply and verify: App Service Key Vault references ------------------------------------------

interface Reference {
  readonly site: ArmResourceId;
  readonly setting: string;
  readonly list: "appsettings" | "connectionstrings";
  readonly vaultName: string;
  readonly secretVersion?: string;
  readonly activeVersion?: string;
  readonly status?: string;
}

/** Every Key Vault reference of the plan's sites to this secret (in any of its vaults). */
async function referencesTo(deps: RotationDeps, plan: Plan, secret: PlanSecret): Promise<Reference[]> {
  const vaults = new Set(secret.vaults.map((v) => v.name.toLowerCase()));
  const found: Reference[] = [];
  for (const { site } of plan.appService) {
    const web = deps.clients.web(site.subscriptionId);
    const lists = [
      { list: "appsettings" as const, read: () => web.webApps.listAppSettingsKeyVaultReferences(site.resourceGroup, site.name) },
      { list: "connectionstrings" as const, read: () => web.webApps.listSiteConnectionStringKeyVaultReferences(site.resourceGroup, site.name) },
    ];
    for (const { list, read } of lists) {
      await kvCall(`WebApps_List${list === "appsettings" ? "AppSettings" : "SiteConnectionString"}KeyVaultReferences`, site, async () => {
        for await (const ref of read()) {
          const props = ref as { name?: string; vaultName?: string; secretName?: string; secretVersion?: string; activeVersion?: string; status?: string };
          if (!props.vaultName || !props.secretName) continue;
          if (!vaults.has(props.vaultName.toLowerCase()) || props.secretName.toLowerCase() !== secret.name.toLowerCase()) continue;
          found.push({
            site,
            setting: String(props.name ?? "").split("/").pop() ?? "",
            list,
            vaultName: props.vaultName.toLowerCase(),
            ...(props.secretVersion ? { secretVersion: props.secretVersion } : {}),
            ...(props.activeVersion ? { activeVersion: props.activeVersion } : {}),
            ...(props.status ? { status: props.status } : {}),
          });
        }
      });
    }
  }
  return found;
}

/** POST …/config/configreferences/appsettings/refresh: App Service fetches every reference of the site again. */
async function refreshReferences(deps: RotationDeps, site: ArmResourceId): Promise<string[]> {
  const web = deps.clients.web(site.subscriptionId);
  const url = `${deps.clients.resourceManagerUrl}${site.id}/config/configreferences/appsettings/refresh?api-version=${REFRESH_API_VERSION}`;
  const operation = "WebApps_RefreshKeyVaultReferences";
  const response = await kvCall(operation, site, () => web.pipeline.sendRequest(createDefaultHttpClient(), createPipelineRequest({ url, method: "POST" })));
  const requestId = response.headers.get("x-ms-request-id");
  if (response.status >= 300) {
    throw normaliseAzureError(Object.assign(new Error(`${operation} on ${site.name} answered ${response.status}`), { statusCode: response.status, response }), operation, site.id);
  }
  return requestId ? [requestId] : [];
}

/** The app setting a rotation writes on a site whose connection strings reference the secret (its value: the rotation id). */
export const REFRESH_SETTING = "SWITCHYARD_KEY_VAULT_REFRESH";

/**
 * Sets REFRESH_SETTING to the rotation's id: a configuration change, after which App Service restarts
 * the app and fetches every reference again. Written once per rotation (a re-run finds it set). The
 * other settings are written back as they are (App Service takes the whole set).
 */
async function markRotation(deps: RotationDeps, input: RotationStepInput, site: ArmResourceId): Promise<void> {
  const web = deps.clients.web(site.subscriptionId);
  const stored = (await kvCall("WebApps_ListApplicationSettings", site, () => web.webApps.listApplicationSettings(site.resourceGroup, site.name))).properties ?? {};
  if (stored[REFRESH_SETTING] === input.rotationId) return;
  const capture = captureRequestIds();
  const values = Object.values(stored).filter((v): v is string => typeof v === "string");
  await writing(deps, input, "WebApps_UpdateApplicationSettings", site, capture.ids, () => web.webApps.updateApplicationSettings(site.resourceGroup, site.name, { properties: { ...stored, [REFRESH_SETTING]: input.rotationId } }, capture.options), values);
  await journal(deps, input, "write", `WebApps_UpdateApplicationSettings on ${site.id}: ${REFRESH_SETTING} set (the app restarts and fetches its connection strings' references)`, {
    resourceId: site.id,
    operation: "WebApps_UpdateApplicationSettings",
    requestIds: capture.ids,
    result: `${REFRESH_SETTING} set`,
    settings: [REFRESH_SETTING],
  });
}

export function applyStep(input: RotationStepInput, deps: RotationDeps): Promise<StepReport> {
  return step(deps, input, async () => {
    const { plan, secret } = await planSecret(deps, input);
    const refs = await referencesTo(deps, plan, secret);
    const sites = new Map<string, ArmResourceId>();
    for (const r of refs) if (!r.secretVersion) sites.set(r.site.id.toLowerCase(), r.site);
    for (const site of sites.values()) {
      const requestIds = await refreshReferences(deps, site).catch(async (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        await journal(deps, input, "write", `Key Vault references of ${site.id} not refreshed: ${message}`, { resourceId: site.id, operation: "WebApps_RefreshKeyVaultReferences", requestIds: [], result: `failed: ${message}` }).catch(() => undefined);
        throw error;
      });
      await journal(deps, input, "write", `Key Vault references of ${site.id} refreshed (${secret.name})`, { resourceId: site.id, operation: "WebApps_RefreshKeyVaultReferences", requestIds, result: "refreshed" });
    }
    // The refresh Azure documents fetches app settings' references; a connection string's is fetched
    // again at a configuration change (which restarts the app): one app setting names the rotation.
    const restarted = new Map<string, ArmResourceId>();
    for (const r of refs) if (!r.secretVersion && r.list === "connectionstrings") restarted.set(r.site.id.toLowerCase(), r.site);
    for (const site of restarted.values()) await markRotation(deps, input, site);
    const pinned = refs.filter((r) => r.secretVersion);
    return {
      summary: `${refs.length} reference(s) to ${secret.name} on ${new Set(refs.map((r) => r.site.id)).size} site(s); ${sites.size} site(s) refreshed${restarted.size > 0 ? `, ${restarted.size} restarted by a settings change` : ""}${pinned.length > 0 ? `; ${pinned.length} pinned to a version` : ""}`,
    };
  });
}

export function verifyStep(input: RotationStepInput, deps: RotationDeps): Promise<StepReport> {
  return step(deps, input, async () => {
    const { plan, secret } = await planSecret(deps, input);
    const problems: string[] = [];
    // 1. Every vault's current version is this rotation's, with one value across vaults.
    const versions: VaultVersion[] = [];
    const hashes = new Set<string>();
    let value: string | undefined;
    let credential: string | undefined;
    for (const vault of secret.vaults) {
      const kv = deps.clients.secrets(vault.name);
      const current = await currentOf(kv, vault, secret.name);
      if (!current || current.tags[RotationTags.rotation] !== input.rotationId) {
        throw new PreconditionError(`${vault.name}'s current version of ${secret.name} is ${current ? current.version : "missing"}, not this rotation's: something else wrote the secret since`, "RotationOverwritten");
      }
      versions.push({ vault: vault.name, version: current.version, written: false });
      hashes.add(sha(current.value));
      value ??= current.value;
      credential ??= current.tags[RotationTags.credential];
    }
    if (hashes.size !== 1) throw new PreconditionError(`the vaults of ${secret.name} hold different values for this rotation`, "RotationVaultsDiffer");
    // 2. The credential works.
    const tested = await testCredential(deps, secret, credential ?? "", value ?? "");
    if (!tested.ok) throw withoutSecrets(new PreconditionError(`the new ${credential} of ${secret.name} does not work: ${tested.detail}`, "RotationCredentialFailed"), [value ?? ""]);
    // 3. Every app that references the secret uses its new version.
    const byVault = new Map(versions.map((v) => [v.vault.toLowerCase(), v.version]));
    const refs = await referencesTo(deps, plan, secret);
    const late: string[] = [];
    const unreported: string[] = [];
    for (const r of refs) {
      const wanted = byVault.get(r.vaultName);
      const where = `${r.site.name} ${r.list === "appsettings" ? "app setting" : "connection string"} ${r.setting}`;
      if (r.secretVersion) {
        if (r.secretVersion !== wanted) problems.push(`${where} is pinned to version ${r.secretVersion}: it would stay on the old credential (reference the secret without a version)`);
      } else if (r.status !== "Resolved" || (r.activeVersion !== undefined && r.activeVersion !== wanted)) {
        late.push(`${where} uses ${r.activeVersion ?? "nothing"} (${r.status ?? "no status"})`);
      } else if (r.activeVersion === undefined) {
        // App Service does not always say which version a versionless reference resolved to: resolved
        // after the apply step's refresh is the most it tells.
        unreported.push(where);
      }
    }
    if (problems.length > 0) throw new PreconditionError(problems.join("; "), "RotationReferencePinned");
    await journal(deps, input, "observation", `${secret.name}: ${versions.length} vault(s) current, ${tested.detail}, ${refs.length - late.length} of ${refs.length} reference(s) on the new version`, {
      versions: versions.map((v) => `${v.vault}/${v.version}`),
      credentialName: credential,
      test: tested.detail,
      references: refs.length,
      late,
      ...(unreported.length > 0 ? { resolvedWithoutVersion: unreported } : {}),
    });
    if (late.length > 0) throw new SwitchyardError(`not every app uses the new version yet: ${late.join("; ")}`, { code: RotationErrors.notYetInUse, retryable: true });
    return { summary: `${tested.detail}; ${refs.length} reference(s) resolved to the new version`, versions };
  });
}

async function testCredential(deps: RotationDeps, secret: PlanSecret, credential: string, value: string): Promise<{ ok: boolean; detail: string }> {
  const source = secret.source;
  switch (source.kind) {
    case "generated":
      return { ok: value.length === source.length, detail: `the same ${value.length}-character value in every vault` };
    case "storageAccountKey": {
      const keys = await storageKeys(deps, source.account);
      const key = keys.get(credential.toLowerCase());
      return key !== undefined && key === value ? { ok: true, detail: `${credential} of ${source.account.name} matches the account's key` } : { ok: false, detail: `${credential} of ${source.account.name} is not the stored value` };
    }
    case "sqlLogin": {
      if (!deps.sql) return { ok: false, detail: "no SQL connection on this host" };
      const login = loginOfConnectionString(value);
      if (!login || login.login.toLowerCase() !== credential.toLowerCase()) return { ok: false, detail: "the stored connection string names another login" };
      const results = await Promise.all(source.servers.map((server) => deps.sql!.test(server, login.login, login.password, source.database)));
      const refused = results.findIndex((r) => !r.ok);
      if (refused >= 0) return { ok: false, detail: `login ${login.login} refused by ${source.servers[refused]!.name}: ${(results[refused] as { message: string }).message}` };
      return { ok: true, detail: `login ${login.login} accepted by ${source.servers.length} server(s)` };
    }
  }
}

// ---- retire ---------------------------------------------------------------------------------------

export function retireStep(input: RotationStepInput, deps: RotationDeps): Promise<StepReport> {
  return step(deps, input, async () => {
    const { secret } = await planSecret(deps, input);
    let disabled = 0;
    for (const vault of secret.vaults) {
      const kv = deps.clients.secrets(vault.name);
      const versions = await versionsOf(kv, vault, secret.name);
      const mine = ownVersion(versions, input.rotationId);
      if (!mine) throw new SwitchyardError(`rotation ${input.rotationId} has no version of ${secret.name} in ${vault.name}`, { code: "RotationVersionMissing" });
      const since = mine.createdOn?.getTime() ?? Number.POSITIVE_INFINITY;
      for (const v of versions) {
        if (!v.enabled || v.version === mine.version || v.tags?.[RotationTags.rotation] === input.rotationId) continue;
        // Versions written after this rotation's (by someone else) are not this rotation's to retire.
        if ((v.createdOn?.getTime() ?? 0) > since) continue;
        const capture = captureRequestIds();
        await writing(deps, input, "UpdateSecret", vault, capture.ids, () => kv.updateSecretProperties(secret.name, v.version!, { enabled: false, ...capture.options }));
        await journal(deps, input, "write", `UpdateSecret on ${vault.id}: version ${v.version} of ${secret.name} disabled (retired)`, {
          resourceId: vault.id,
          operation: "UpdateSecret",
          requestIds: capture.ids,
          result: "disabled",
          secret: secret.name,
          version: v.version,
        });
        disabled++;
      }
    }
    return { summary: `${disabled} earlier version(s) of ${secret.name} disabled in ${secret.vaults.length} vault(s)` };
  });
}
