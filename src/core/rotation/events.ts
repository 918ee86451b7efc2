/**
 * Key Vault's secret events as an Azure Functions Event Grid trigger hands them over, and which plan
 * secret they concern. Pure: no I/O.
 *
 * What the handler receives. With the Node v4 programming model (`app.eventGrid`), the Event Grid
 * extension of the Functions host splits a delivery into single events (one invocation each: the
 * trigger's default single dispatch), serialises each JSON object as received, and the worker
 * JSON-parses it (`fromRpcTypedData`; only timer triggers are re-cased). So the handler gets the raw
 * event object of whichever schema the subscription delivers, whatever `EventGridEvent` type the
 * library declares:
 * - Event Grid schema: `id`, `topic`, `subject`, `eventType`, `eventTime`, `data`, `dataVersion`,
 *   `metadataVersion`;
 * - CloudEvents 1.0: `id`, `source`, `subject`, `type`, `time`, `data`, `specversion`.
 * The host reads the body with Newtonsoft's default date handling, so a time may come back with its
 * trailing zero fraction digits dropped or with an offset instead of `Z`: any ISO 8601 date-time is read.
 *
 * The data object. Every Key Vault event type carries the same data (`Id`, `VaultName`, `ObjectType`,
 * `ObjectName`, `Version`, `NBF`, `EXP`; the Event Grid system event specs define one shape for all of
 * them), in PascalCase as delivered, while the documentation's table writes `id` and its samples write
 * `"ObjectName "` (trailing space) and a Version with a leading space. Data keys are therefore matched
 * without case and surrounding spaces (two keys that then coincide are refused), and string values are
 * trimmed before they are checked. `NBF` and `EXP` are documented as numbers of seconds since 1970 and
 * delivered as numbers (or null when the secret has no such date), while the documentation's samples
 * hold strings of digits: both are read, null and absent mean "not set".
 *
 * Anything quoted from an event in an error is cut to a few dozen characters and made inert (escaped,
 * no address a reader's client would turn into a link).
 */
import { parseAlertTime } from "../alerts/schema.ts";
import { parseArmIdOfType, sameArmId } from "../plan/armId.ts";
import type { Plan } from "../plan/schema.ts";

/** The secret events Key Vault publishes to Event Grid. */
export const KEY_VAULT_SECRET_EVENT_TYPES = [
  "Microsoft.KeyVault.SecretNewVersionCreated",
  "Microsoft.KeyVault.SecretNearExpiry",
  "Microsoft.KeyVault.SecretExpired",
] as const;
export type KeyVaultSecretEventType = (typeof KEY_VAULT_SECRET_EVENT_TYPES)[number];

/**
 * The events that start a rotation. A new version never does: Switchyard's own rotations create new
 * versions, so reacting to them would loop.
 */
export const ROTATING_EVENT_TYPES: readonly KeyVaultSecretEventType[] = ["Microsoft.KeyVault.SecretNearExpiry", "Microsoft.KeyVault.SecretExpired"];

export type EventSchema = "EventGrid" | "CloudEvents";

export interface KeyVaultSecretEvent {
  readonly schema: EventSchema;
  readonly id: string;
  /** The event type; one of KEY_VAULT_SECRET_EVENT_TYPES spelt canonically, or another `Microsoft.KeyVault.Secret…` type as given. */
  readonly type: string;
  readonly subject?: string;
  /** When the event happened, ISO 8601 UTC with milliseconds. */
  readonly time: string;
  /** The vault's name, lower-case (Key Vault names are case-insensitive). */
  readonly vaultName: string;
  /** The vault's ARM id from `topic`/`source`, when that is a full id (not a documentation placeholder). */
  readonly vaultId?: string;
  readonly secretName: string;
  readonly version?: string;
  /** The version's not-before date, ISO 8601 UTC. */
  readonly notBefore?: string;
  /** The version's expiry, ISO 8601 UTC. */
  readonly expires?: string;
}

export type ParseKeyVaultEventResult = { ok: true; event: KeyVaultSecretEvent } | { ok: false; error: string; path: string };

/** A plan secret an event concerns. */
export interface PlanSecretMatch {
  readonly plan: string;
  readonly secret: string;
}

export type EventDecision = { action: "rotate"; targets: PlanSecretMatch[] } | { action: "ignore"; reason: string };

/** At most this many characters of an event's own text are quoted in an error. */
export const QUOTE_MAX_CHARS = 40;
/** No error message is longer than this. */
export const ERROR_MAX_CHARS = 400;

// Azure's naming rules (Microsoft.KeyVault): a vault is 3-24 alphanumerics and hyphens, starting with a
// letter, ending with a letter or digit, without consecutive hyphens; a secret is 1-127 alphanumerics and dashes.
const VAULT_NAME = /^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){1,22}[A-Za-z0-9]$/;
const SECRET_NAME = /^[0-9A-Za-z-]{1,127}$/;
/** A Key Vault object version: 32 hexadecimal digits. */
const VERSION = /^[0-9A-Fa-f]{32}$/;
const EVENT_TYPE = /^[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)+$/;
/** The vault data plane hosts of the Azure clouds: `vault.azure.net`, `vault.azure.cn`, `vault.usgovcloudapi.net`... */
const VAULT_DNS_SUFFIX = /^vault(?:\.[a-z0-9-]+)+$/;
/** The placeholder Azure's documentation samples carry instead of a subscription id. */
const DOCS_SUBSCRIPTION_PLACEHOLDER = "{subscription-id}";
const PLACEHOLDER_GUID = "00000000-0000-0000-0000-000000000000";
const VAULT_TYPE = "Microsoft.KeyVault/vaults";
/** 9999-12-31T23:59:59Z: the last second a Date can print as a four-digit year. */
const MAX_EPOCH_SECONDS = 253_402_300_799;
const DAY_MS = 86_400_000;

const LIMITS = { id: 256, type: 128, time: 64, source: 1024, subject: 1024, specversion: 16, dataId: 2048, name: 256 } as const;

/** Escapes every character outside a plain allow-list and breaks `scheme://` and `www.` so no client links them. */
function inertText(text: string): string {
  let out = "";
  for (const ch of text) {
    out += /^[A-Za-z0-9 .,:;/_+=()[\]{}?#%-]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
  }
  return out.replace(/:(?=\/\/)/g, "[:]").replace(/\bwww\./gi, (w) => `${w.slice(0, 3)}[.]`);
}

/** A value from an event as an error may quote it: strings cut and inert, anything else by its kind. */
export function quote(value: unknown): string {
  if (typeof value !== "string") return kindOf(value);
  const chars = Array.from(value);
  const cut = chars.length > QUOTE_MAX_CHARS;
  return `"${inertText(cut ? chars.slice(0, QUOTE_MAX_CHARS).join("") : value)}"${cut ? ` (cut, ${chars.length} characters)` : ""}`;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return Number.isFinite(value) ? `the number ${value}` : "a non-finite number";
  if (typeof value === "boolean") return `${value}`;
  return `a ${typeof value}`;
}

class Refusal {
  constructor(readonly path: string, readonly message: string) {}
}

function refuse(path: string, message: string): never {
  throw new Refusal(path, message);
}

function bounded(message: string): string {
  const chars = Array.from(message);
  return chars.length > ERROR_MAX_CHARS ? `${chars.slice(0, ERROR_MAX_CHARS - 3).join("")}...` : message;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A required string field, trimmed, non-empty and at most `max` characters. */
function requiredString(value: unknown, path: string, max: number): string {
  if (value === undefined) refuse(path, "missing");
  if (typeof value !== "string") refuse(path, `must be a string, not ${kindOf(value)}`);
  const text = value.trim();
  if (text === "") refuse(path, "must not be empty");
  if (text.length > max) refuse(path, `longer than ${max} characters (${quote(text)})`);
  return text;
}

/**
 * The data object's fields by their documented names, matched without case and surrounding spaces
 * (the documentation's own samples hold `"ObjectName "`).
 */
const DATA_FIELDS = ["Id", "VaultName", "ObjectType", "ObjectName", "Version", "NBF", "EXP"] as const;
type DataField = (typeof DATA_FIELDS)[number];

function dataFields(data: Record<string, unknown>): Partial<Record<DataField, unknown>> {
  const out: Partial<Record<DataField, unknown>> = {};
  const seen = new Map<DataField, string>();
  for (const key of Object.keys(data)) {
    const name = DATA_FIELDS.find((f) => f.toLowerCase() === key.trim().toLowerCase());
    if (name === undefined) continue;
    const earlier = seen.get(name);
    if (earlier !== undefined) refuse(`data.${name}`, `named twice (${quote(earlier)} and ${quote(key)}): which one holds the value is ambiguous`);
    seen.set(name, key);
    out[name] = data[key];
  }
  return out;
}

/** NBF/EXP: whole seconds since 1970 as a number or a string of digits; null or absent when not set. */
function epochSeconds(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  let seconds: number;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) refuse(path, "must be a finite number of seconds since 1970-01-01");
    if (!Number.isInteger(value)) refuse(path, `must be whole seconds since 1970-01-01, not ${value}`);
    seconds = value;
  } else if (typeof value === "string") {
    const text = value.trim();
    const m = /^(-?\d{1,15})(?:\.(\d{1,9}))?$/.exec(text);
    if (!m) refuse(path, `must be seconds since 1970-01-01 (a number or a string of digits), not ${quote(value)}`);
    if (m[2] !== undefined && /[1-9]/.test(m[2])) refuse(path, `must be whole seconds since 1970-01-01, not ${quote(text)}`);
    seconds = Number(m[1]);
  } else {
    refuse(path, `must be seconds since 1970-01-01 (a number or a string of digits), not ${kindOf(value)}`);
  }
  if (seconds < 0 || seconds > MAX_EPOCH_SECONDS) refuse(path, `${seconds} seconds since 1970-01-01 is out of range (0 to ${MAX_EPOCH_SECONDS})`);
  return new Date(seconds * 1000).toISOString();
}

function eventType(value: unknown, path: string): string {
  const text = requiredString(value, path, LIMITS.type);
  if (!EVENT_TYPE.test(text)) refuse(path, `${quote(text)} is not an event type (dot-separated letters and digits)`);
  const known = KEY_VAULT_SECRET_EVENT_TYPES.find((t) => t.toLowerCase() === text.toLowerCase());
  if (known) return known;
  const lower = text.toLowerCase();
  if (!lower.startsWith("microsoft.keyvault.")) {
    refuse(path, `${quote(text)} is not a Key Vault event: subscribe the trigger to ${KEY_VAULT_SECRET_EVENT_TYPES.join(", ")}`);
  }
  if (!lower.startsWith("microsoft.keyvault.secret")) {
    refuse(path, `${quote(text)} is not about a secret (a key, certificate or vault event): Switchyard rotates secrets only`);
  }
  return text;
}

/** The vault named by `topic`/`source`: its name, and its id unless the subscription is the documentation's placeholder. */
function vaultOfSource(value: unknown, path: string): { name: string; id?: string } {
  const text = requiredString(value, path, LIMITS.source).replace(/\/+$/, "");
  const wrong = () => refuse(path, `must be the ARM id of a ${VAULT_TYPE} resource, not ${quote(text)}`);
  const segments = text.split("/");
  const placeholder = segments[1]?.toLowerCase() === "subscriptions" && segments[2] === DOCS_SUBSCRIPTION_PLACEHOLDER;
  let parsed;
  try {
    parsed = parseArmIdOfType(placeholder ? [...segments.slice(0, 2), PLACEHOLDER_GUID, ...segments.slice(3)].join("/") : text, VAULT_TYPE);
  } catch {
    return wrong();
  }
  if (parsed.names.length !== 1 || !VAULT_NAME.test(parsed.name)) return wrong();
  return placeholder ? { name: parsed.name } : { name: parsed.name, id: text };
}

/** Checks that `data.Id` (`https://{vault}.vault.azure.net/secrets/{name}[/{version}]`) names the same vault, secret and version. */
function checkDataId(value: unknown, vaultName: string, secretName: string, version: string | undefined): string | undefined {
  const path = "data.Id";
  if (value === undefined || value === null) return version;
  const text = requiredString(value, path, LIMITS.dataId);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse(path, `must be a Key Vault secret URL, not ${quote(text)}`);
  }
  const host = url.hostname.toLowerCase();
  const dot = host.indexOf(".");
  const suffix = dot < 0 ? "" : host.slice(dot + 1);
  const segments = url.pathname.split("/").slice(1);
  if (segments.at(-1) === "") segments.pop();
  if (url.protocol !== "https:" || dot < 0 || !VAULT_DNS_SUFFIX.test(suffix) || segments[0]?.toLowerCase() !== "secrets" || segments.length < 2 || segments.length > 3) {
    refuse(path, `must be a Key Vault secret URL (https, {vault}.vault.azure.net/secrets/{name}/{version}), not ${quote(text)}`);
  }
  const idVault = host.slice(0, dot);
  if (idVault !== vaultName) refuse(path, `names vault ${quote(idVault)}, data.VaultName names "${vaultName}"`);
  let idName: string;
  let idVersion: string | undefined;
  try {
    idName = decodeURIComponent(segments[1]!);
    idVersion = segments[2] === undefined ? undefined : decodeURIComponent(segments[2]);
  } catch {
    return refuse(path, `must be a Key Vault secret URL, not ${quote(text)}`);
  }
  if (idName.toLowerCase() !== secretName.toLowerCase()) refuse(path, `names secret ${quote(idName)}, data.ObjectName names "${secretName}"`);
  if (idVersion !== undefined) {
    if (!VERSION.test(idVersion)) refuse(path, `names version ${quote(idVersion)}, not 32 hexadecimal digits`);
    if (version !== undefined && idVersion.toLowerCase() !== version.toLowerCase()) refuse(path, `names version ${quote(idVersion)}, data.Version is "${version}"`);
  }
  return version ?? idVersion;
}

function parse(raw: unknown): KeyVaultSecretEvent {
  if (Array.isArray(raw)) {
    refuse("", `a list of ${raw.length} event${raw.length === 1 ? "" : "s"}, not one event: the Event Grid trigger hands one event per invocation (a webhook delivery's batch is split by the host)`);
  }
  if (!isPlainObject(raw)) refuse("", `must be one event (a JSON object), not ${typeof raw === "string" ? `a string (${quote(raw)})` : kindOf(raw)}`);

  const hasEventType = Object.hasOwn(raw, "eventType");
  const hasSpecversion = Object.hasOwn(raw, "specversion");
  if (hasEventType && hasSpecversion) refuse("specversion", "present together with eventType: an event is in the Event Grid schema (eventType) or in CloudEvents (specversion), not both");
  if (!hasEventType && !hasSpecversion) {
    if (Object.hasOwn(raw, "type")) refuse("specversion", "missing: a CloudEvent names its specversion (1.0)");
    refuse("eventType", "missing: neither an Event Grid event (eventType) nor a CloudEvent (type, specversion)");
  }
  const schema: EventSchema = hasEventType ? "EventGrid" : "CloudEvents";
  const keys = schema === "EventGrid" ? { type: "eventType", time: "eventTime", source: "topic" } : { type: "type", time: "time", source: "source" };
  if (schema === "CloudEvents") {
    const specversion = requiredString(field(raw, "specversion"), "specversion", LIMITS.specversion);
    if (specversion !== "1.0") refuse("specversion", `${quote(specversion)} is not a CloudEvents version Event Grid delivers (1.0)`);
  }

  const id = requiredString(field(raw, "id"), "id", LIMITS.id);
  const type = eventType(field(raw, keys.type), keys.type);
  const timeText = requiredString(field(raw, keys.time), keys.time, LIMITS.time);
  const time = parseAlertTime(timeText);
  if (time === undefined) refuse(keys.time, `${quote(timeText)} is not an ISO 8601 date-time`);
  const source = vaultOfSource(field(raw, keys.source), keys.source);
  const subjectValue = field(raw, "subject");
  const subject = subjectValue === undefined || subjectValue === null ? undefined : requiredString(subjectValue, "subject", LIMITS.subject);

  const dataValue = field(raw, "data");
  if (dataValue === undefined) refuse("data", "missing: a Key Vault event carries the vault and secret in data");
  if (!isPlainObject(dataValue)) refuse("data", `must be an object, not ${kindOf(dataValue)}`);
  const data = dataFields(dataValue);

  const objectType = requiredString(data.ObjectType, "data.ObjectType", LIMITS.name);
  if (objectType.toLowerCase() !== "secret") refuse("data.ObjectType", `is ${quote(objectType)}, not Secret`);
  const vaultText = requiredString(data.VaultName, "data.VaultName", LIMITS.name);
  if (!VAULT_NAME.test(vaultText)) refuse("data.VaultName", `${quote(vaultText)} is not a Key Vault name (3-24 letters, digits and single dashes, starting with a letter, ending with a letter or digit)`);
  const vaultName = vaultText.toLowerCase();
  const secretName = requiredString(data.ObjectName, "data.ObjectName", LIMITS.name);
  if (!SECRET_NAME.test(secretName)) refuse("data.ObjectName", `${quote(secretName)} is not a Key Vault secret name (1-127 letters, digits and dashes)`);
  const versionValue = data.Version;
  let version = versionValue === undefined || versionValue === null ? undefined : requiredString(versionValue, "data.Version", LIMITS.name);
  if (version !== undefined && !VERSION.test(version)) refuse("data.Version", `${quote(version)} is not a Key Vault version (32 hexadecimal digits)`);
  if (source.name.toLowerCase() !== vaultName) refuse(keys.source, `names vault "${source.name}", data.VaultName names "${vaultName}"`);
  version = checkDataId(data.Id, vaultName, secretName, version);
  const notBefore = epochSeconds(data.NBF, "data.NBF");
  const expires = epochSeconds(data.EXP, "data.EXP");

  return {
    schema,
    id,
    type,
    ...(subject !== undefined ? { subject } : {}),
    time,
    vaultName,
    ...(source.id !== undefined ? { vaultId: source.id } : {}),
    secretName,
    ...(version !== undefined ? { version } : {}),
    ...(notBefore !== undefined ? { notBefore } : {}),
    ...(expires !== undefined ? { expires } : {}),
  };
}

/**
 * Reads one Key Vault secret event, in the Event Grid schema or CloudEvents 1.0, as the Functions
 * Event Grid trigger hands it to the handler. Never throws: anything else is refused with the path of
 * the first field at fault (`""` for the value itself).
 */
export function parseKeyVaultEvent(raw: unknown): ParseKeyVaultEventResult {
  try {
    return { ok: true, event: parse(raw) };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, error: bounded(error.message), path: error.path };
    throw error;
  }
}

/**
 * The plan secrets an event concerns: those named like the event's secret (Key Vault names are
 * case-insensitive) and held in the event's vault, compared by ARM id when the event carries one and
 * by name otherwise (vault names are globally unique DNS labels).
 */
export function matchPlanSecrets(event: KeyVaultSecretEvent, plans: readonly Plan[]): PlanSecretMatch[] {
  const secretName = event.secretName.toLowerCase();
  const inVault = (vault: { id: string; name: string }) =>
    event.vaultId !== undefined ? sameArmId(vault.id, event.vaultId) : vault.name.toLowerCase() === event.vaultName;
  return plans.flatMap((plan) =>
    plan.secrets.filter((s) => s.name.toLowerCase() === secretName && s.vaults.some(inVault)).map((s) => ({ plan: plan.name, secret: s.name })),
  );
}

/** Whether an event starts rotations, and of which plan secrets. */
export function decideEvent(event: KeyVaultSecretEvent, matches: readonly PlanSecretMatch[]): EventDecision {
  const where = `secret "${event.secretName}" in vault "${event.vaultName}"`;
  if (event.type === "Microsoft.KeyVault.SecretNewVersionCreated") {
    return { action: "ignore", reason: `a new version of ${where} was created: new versions never start a rotation (Switchyard's own rotations create them)` };
  }
  if (!ROTATING_EVENT_TYPES.includes(event.type as KeyVaultSecretEventType)) {
    return { action: "ignore", reason: `${event.type} for ${where} does not start a rotation (only ${ROTATING_EVENT_TYPES.join(" and ")} do)` };
  }
  if (matches.length === 0) return { action: "ignore", reason: `no plan names ${where}` };
  return { action: "rotate", targets: [...matches] };
}

export type DueKind = "no-expiry" | "expired" | "near-expiry" | "not-due";

/**
 * For the daily sweep: whether a secret whose current version expires at `expires` is due for
 * rotation at `now` — expired, or within `rotateDaysBeforeExpiry` days of expiry. A version without an
 * expiry is never due by date (`kind: "no-expiry"`, for the sweep to report). Throws a RangeError for
 * an invalid date or window (a caller's mistake, not data).
 */
export function isDue(expires: Date | undefined, now: Date, rotateDaysBeforeExpiry: number): { due: boolean; kind: DueKind; reason: string } {
  if (Number.isNaN(now.getTime())) throw new RangeError("now is not a valid date");
  if (!Number.isFinite(rotateDaysBeforeExpiry) || rotateDaysBeforeExpiry < 0) throw new RangeError(`rotateDaysBeforeExpiry must be a non-negative number of days, not ${rotateDaysBeforeExpiry}`);
  if (expires === undefined) return { due: false, kind: "no-expiry", reason: "no expiry set: not due by date" };
  if (Number.isNaN(expires.getTime())) throw new RangeError("expires is not a valid date");
  const left = expires.getTime() - now.getTime();
  const at = expires.toISOString();
  const days = (ms: number) => {
    const d = Math.floor(Math.abs(ms) / DAY_MS);
    return `${d} day${d === 1 ? "" : "s"}`;
  };
  if (left <= 0) return { due: true, kind: "expired", reason: `expired ${left === 0 ? "now" : `${days(left)} ago`} (${at})` };
  const windowMs = rotateDaysBeforeExpiry * DAY_MS;
  if (left <= windowMs) return { due: true, kind: "near-expiry", reason: `expires in ${days(left)} (${at}), within the ${rotateDaysBeforeExpiry}-day rotation window` };
  return { due: false, kind: "not-due", reason: `expires in ${days(left)} (${at}); due from ${new Date(expires.getTime() - windowMs).toISOString()}, ${rotateDaysBeforeExpiry} days before` };
}
