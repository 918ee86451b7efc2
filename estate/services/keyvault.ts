import { randomUUID } from "node:crypto";
import type { EstateContext } from "../context.ts";
import { EstateHttpError, type ArmErrorBody } from "../errors.ts";
import { isObject, numberAt, type Json } from "../json.ts";
import type { EstateRequest, EstateResponse, Route } from "../router.ts";
import type { SecretVersion, Vault } from "../state.ts";
import { ok } from "./common.ts";

/**
 * The Key Vault secrets data plane, under `/keyvault/{vaultName}/...` (the client factory's routing
 * policy rewrites `https://{vault}.vault.azure.net/...` to that path after authentication; a
 * SecretClient can also be pointed at `{estate}/keyvault/{vault}` directly).
 *
 * Bodies follow the SecretBundle / SecretItem shapes of the 7.x REST examples. Ids name the Azure host
 * (`https://{vault}.vault.azure.net/secrets/{name}/{version}`) so the SDK's identifier parsing works;
 * `nextLink`s name the estate, so paging works for both kinds of client.
 */

const VAULT = "/keyvault/{vaultName}";
const SECRET = `${VAULT}/secrets/{secretName}`;
const VAULT_SUFFIX = "vault.azure.net";
/** Key Vault's default and maximum page size for the list operations. */
const PAGE_SIZE = 25;
/** Key Vault's limit on a secret value (25 KB). */
const MAX_VALUE_BYTES = 25 * 1024;
/** What a vault with soft delete on (the default since 2020) and purge protection off reports. */
const RECOVERY_LEVEL = "Recoverable+Purgeable";
const RECOVERABLE_DAYS = 90;
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** Key Vault's error body, which may carry an `innererror` (as the 403 for a disabled secret does). */
class KeyVaultError extends EstateHttpError {
  constructor(status: number, code: string, message: string, private readonly innerCode?: string) {
    super(status, code, message);
  }
  override body(): ArmErrorBody & { error: { innererror?: { code: string } } } {
    return { error: { code: this.code, message: this.message, ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}) } };
  }
}

const badParameter = (message: string) => new KeyVaultError(400, "BadParameter", message);

/**
 * A vault whose region is down takes no writes. Key Vault replicates a vault in a paired region to the
 * pair and, in a prolonged outage, Microsoft may fail it over; from then on "the key vault becomes
 * read-only": list and get secrets are served, nothing is set or changed (Reliability in Azure Key
 * Vault, "Read-only after failover"). A write then answers 503 `ServiceUnavailable`, as users have
 * reported for `SecretSet` ("the service is currently in a read-only state"). The estate serves reads
 * throughout the outage: the hours before Microsoft's failover, when Azure serves nothing, are not
 * modelled (estate/README.md).
 */
function assertVaultWritable(req: EstateRequest, ctx: EstateContext, operation: "SecretSet" | "SecretUpdate"): void {
  const vault = findVault(req, ctx);
  if (vault?.location !== undefined && ctx.state.isDown(vault.location)) {
    throw new KeyVaultError(503, "ServiceUnavailable", `Operation "${operation}" is unavailable: the service is currently in a read-only state.`);
  }
}

const secretNotFound = (nameOrId: string) =>
  new KeyVaultError(
    404,
    "SecretNotFound",
    `A secret with (name/id) ${nameOrId} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182`,
  );

/** Every operation names its api-version; the SDK (4.12) sends 2026-04-01, older ones 7.x. Any value is accepted. */
function requireApiVersion(req: EstateRequest): string {
  const version = req.url.searchParams.get("api-version");
  if (!version) throw badParameter("The request URI does not contain the api-version query parameter. Specify an api-version, for example api-version=7.5.");
  return version;
}

function secretName(req: EstateRequest): string {
  const name = req.params.secretName!;
  if (!SECRET_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
  return name;
}

/** The vault, if anything was ever stored in it (reads never create one). */
function findVault(req: EstateRequest, ctx: EstateContext): Vault | undefined {
  return ctx.state.vaults.get(req.params.vaultName!.toLowerCase());
}

type StoredSecret = Vault["secrets"] extends Map<string, infer S> ? S : never;

function findSecret(req: EstateRequest, ctx: EstateContext): StoredSecret | undefined {
  return findVault(req, ctx)?.secrets.get(secretName(req).toLowerCase());
}

/** The named version, or the latest (last created) when the path names none. */
function findVersion(req: EstateRequest, ctx: EstateContext): { secret: StoredSecret; version: SecretVersion } {
  const name = secretName(req);
  const secret = findSecret(req, ctx);
  const wanted = req.params.secretVersion;
  if (!secret || secret.versions.length === 0) throw secretNotFound(wanted ? `${name}/${wanted}` : name);
  const version = wanted ? secret.versions.find((v) => v.version.toLowerCase() === wanted.toLowerCase()) : secret.versions.at(-1);
  if (!version) throw secretNotFound(`${name}/${wanted}`);
  return { secret, version };
}

const seconds = (ms: number) => Math.floor(ms / 1000);

function baseId(req: EstateRequest, secret: StoredSecret): string {
  return `https://${req.params.vaultName!.toLowerCase()}.${VAULT_SUFFIX}/secrets/${secret.name}`;
}

function attributes(v: SecretVersion) {
  return {
    enabled: v.enabled,
    ...(v.nbf !== undefined ? { nbf: seconds(v.nbf) } : {}),
    ...(v.exp !== undefined ? { exp: seconds(v.exp) } : {}),
    created: seconds(v.created),
    updated: seconds(v.updated),
    recoveryLevel: RECOVERY_LEVEL,
    recoverableDays: RECOVERABLE_DAYS,
  };
}

/** A SecretBundle; `value` only where Key Vault returns it (set and get, not update). */
function bundle(req: EstateRequest, secret: StoredSecret, v: SecretVersion, withValue: boolean) {
  return {
    ...(withValue ? { value: v.value } : {}),
    id: `${baseId(req, secret)}/${v.version}`,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: { ...v.tags } } : {}),
  };
}

/** A SecretItem (lists carry no values). */
function item(id: string, v: SecretVersion) {
  return {
    id,
    ...(v.contentType !== undefined ? { contentType: v.contentType } : {}),
    attributes: attributes(v),
    ...(v.tags !== undefined ? { tags: { ...v.tags } } : {}),
  };
}

// ---- request bodies ---------------------------------------------------------------------------

interface AttributeInput {
  enabled?: boolean;
  nbf?: number | null;
  exp?: number | null;
}

function object(value: unknown, what: string): Json {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw badParameter(`${what} must be a JSON object.`);
  return value;
}

function parseAttributes(value: unknown): AttributeInput {
  const raw = object(value, "attributes");
  const out: AttributeInput = {};
  if (raw.enabled !== undefined) {
    if (typeof raw.enabled !== "boolean") throw badParameter("attributes.enabled must be a boolean.");
    out.enabled = raw.enabled;
  }
  for (const field of ["nbf", "exp"] as const) {
    const v = raw[field];
    if (v === undefined) continue;
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v))) throw badParameter(`attributes.${field} must be a number of seconds since 1970-01-01 UTC.`);
    out[field] = v;
  }
  return out;
}

function parseTags(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  const raw = object(value, "tags");
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw badParameter(`The value of tag '${k}' must be a string.`);
    tags[k] = v;
  }
  return tags;
}

function parseContentType(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badParameter("contentType must be a string.");
  return value;
}

function applyAttributes(v: SecretVersion, attrs: AttributeInput): void {
  if (attrs.enabled !== undefined) v.enabled = attrs.enabled;
  if (attrs.nbf !== undefined) v.nbf = attrs.nbf === null ? undefined : attrs.nbf * 1000;
  if (attrs.exp !== undefined) v.exp = attrs.exp === null ? undefined : attrs.exp * 1000;
}

// ---- paging -----------------------------------------------------------------------------------

function pageSize(req: EstateRequest): number {
  const raw = req.url.searchParams.get("maxresults");
  if (raw === null || raw === "") return PAGE_SIZE;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > PAGE_SIZE) throw badParameter(`maxresults must be an integer between 1 and ${PAGE_SIZE}.`);
  return n;
}

function offset(req: EstateRequest): number {
  const token = req.url.searchParams.get("$skiptoken");
  if (!token) return 0;
  // The token is the estate's own, but it comes back from the client: anything may be in it.
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const start = numberAt(parsed, "offset");
  if (start !== undefined && Number.isSafeInteger(start) && start >= 0) return start;
  throw badParameter("The $skiptoken is invalid.");
}

/** One page of `items`, with a `nextLink` back to the same path on the estate when more remain. */
function page<T>(req: EstateRequest, items: T[]) {
  const size = pageSize(req);
  const start = offset(req);
  const value = items.slice(start, start + size);
  const next = start + size;
  if (next >= items.length) return { value, nextLink: null };
  const link = new URL(`${req.origin}${req.url.pathname}`);
  link.searchParams.set("api-version", requireApiVersion(req));
  link.searchParams.set("$skiptoken", Buffer.from(JSON.stringify({ offset: next })).toString("base64url"));
  link.searchParams.set("maxresults", String(size));
  return { value, nextLink: link.toString() };
}

// ---- handlers ---------------------------------------------------------------------------------

function setSecret(req: EstateRequest, ctx: EstateContext): EstateResponse {
  requireApiVersion(req);
  const name = secretName(req);
  const body = object(req.body, "The request body");
  if (typeof body.value !== "string") throw badParameter("The request body must name the secret's value: { \"value\": \"...\" }.");
  if (Buffer.byteLength(body.value, "utf8") > MAX_VALUE_BYTES) throw badParameter(`The secret value exceeds the maximum size of ${MAX_VALUE_BYTES} bytes.`);
  const attrs = parseAttributes(body.attributes);
  assertVaultWritable(req, ctx, "SecretSet");
  const version: SecretVersion = {
    version: randomUUID().replace(/-/g, ""),
    value: body.value,
    contentType: parseContentType(body.contentType),
    enabled: true,
    created: ctx.now,
    updated: ctx.now,
    tags: parseTags(body.tags),
  };
  applyAttributes(version, attrs);
  const vault = ctx.state.vault(req.params.vaultName!);
  let secret = vault.secrets.get(name.toLowerCase());
  if (!secret) {
    secret = { name, versions: [] };
    vault.secrets.set(name.toLowerCase(), secret);
  }
  secret.versions.push(version);
  return ok(bundle(req, secret, version, true));
}

function getSecret(req: EstateRequest, ctx: EstateContext): EstateResponse {
  requireApiVersion(req);
  const { secret, version } = findVersion(req, ctx);
  if (!version.enabled) throw new KeyVaultError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled");
  return ok(bundle(req, secret, version, true));
}

function updateSecret(req: EstateRequest, ctx: EstateContext): EstateResponse {
  requireApiVersion(req);
  const { secret, version } = findVersion(req, ctx);
  const body = object(req.body, "The request body");
  const attrs = parseAttributes(body.attributes);
  const contentType = parseContentType(body.contentType);
  const tags = parseTags(body.tags);
  assertVaultWritable(req, ctx, "SecretUpdate");
  applyAttributes(version, attrs);
  if (contentType !== undefined) version.contentType = contentType;
  if (tags !== undefined) version.tags = tags;
  version.updated = ctx.now;
  return ok(bundle(req, secret, version, false));
}

function getSecretVersions(req: EstateRequest, ctx: EstateContext): EstateResponse {
  requireApiVersion(req);
  const secret = findSecret(req, ctx);
  // A name with no versions lists as empty (200), not 404.
  if (!secret) return ok(page(req, []));
  // Key Vault lists versions in the order of their (random) version ids, not by creation time.
  const versions = [...secret.versions].sort((a, b) => a.version.localeCompare(b.version));
  return ok(page(req, versions.map((v) => item(`${baseId(req, secret)}/${v.version}`, v))));
}

function getSecrets(req: EstateRequest, ctx: EstateContext): EstateResponse {
  requireApiVersion(req);
  const secrets = [...(findVault(req, ctx)?.secrets.values() ?? [])]
    .filter((s) => s.versions.length > 0)
    .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
  return ok(page(req, secrets.map((s) => item(baseId(req, s), s.versions.at(-1)!))));
}

export function keyVaultRoutes(): Route[] {
  const route = (method: Route["method"], path: string, operationId: string, handler: Route["handler"], write = false): Route => ({
    method,
    path,
    operationId,
    api: "keyvault",
    ...(write ? { write } : {}),
    handler,
  });
  return [
    route("GET", `${VAULT}/secrets`, "GetSecrets", getSecrets),
    // Before `{secretVersion}`: a version id is 32 hex digits, never the word "versions".
    route("GET", `${SECRET}/versions`, "GetSecretVersions", getSecretVersions),
    route("GET", `${SECRET}/{secretVersion}`, "GetSecret", getSecret),
    // The SDK asks for the latest version as `/secrets/{name}/` (an empty version segment).
    route("GET", SECRET, "GetSecret", getSecret),
    route("PUT", SECRET, "SetSecret", setSecret, true),
    route("PATCH", `${SECRET}/{secretVersion}`, "UpdateSecret", updateSecret, true),
    route("PATCH", SECRET, "UpdateSecret", updateSecret, true),
  ];
}
