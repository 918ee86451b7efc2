import { isObject } from "../core/guards.ts";
import type { JournalEntry } from "./journal.ts";

/**
 * The journal's last line of defence: checks made on every entry before it is stored. Activities are
 * meant never to hand a secret to the journal; these checks make a mistake fail loudly (at the call
 * that made it, in tests and drills) instead of persisting a key into an audit record that many people
 * read. Errors name where the problem is (`data.details.password`), never the value.
 */

/** A run id names a blob and a file: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class InvalidRunIdError extends Error {
  constructor(
    /** Where the bad run id was found: `runId`, `entry.runId`. */
    readonly path: string,
    readonly runId: unknown,
  ) {
    super(
      `${path}: ${typeof runId === "string" ? `'${runId.slice(0, 140)}'` : typeof runId} is not a run id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit${typeof runId === "string" && runId.includes("..") ? ", without '..'" : ""}`,
    );
    this.name = "InvalidRunIdError";
  }
}

/** Throws InvalidRunIdError unless `runId` is safe to use as a blob or file name. */
export function assertRunId(runId: unknown, path = "runId"): asserts runId is string {
  if (typeof runId !== "string" || !RUN_ID.test(runId) || runId.includes("..")) throw new InvalidRunIdError(path, runId);
}

export function isValidRunId(runId: unknown): runId is string {
  return typeof runId === "string" && RUN_ID.test(runId) && !runId.includes("..");
}

export class SecretInJournalError extends Error {
  constructor(
    /** Path of the offending value inside the entry: `data.settings[2].value`, `message`. */
    readonly path: string,
    /** Which rule matched (never the value). */
    readonly rule: string,
  ) {
    super(`journal entry refused: ${path} looks like a secret (${rule}); journal names and ids, never secret values`);
    this.name = "SecretInJournalError";
  }
}

/**
 * Property names whose string values are treated as secrets whatever they contain. Compared
 * case-insensitively with `-`, `_` and spaces removed. A name such as `secretName`, `keyVault` or
 * `settingName` is fine: only these exact names and the suffixes below are.
 */
const SECRET_KEYS = new Set(
  [
    "value",
    "password",
    "pwd",
    "passwd",
    "secret",
    "connectionString",
    "key",
    "accountKey",
    "apiKey",
    "accessKey",
    "primaryKey",
    "secondaryKey",
    "sharedAccessKey",
    "clientSecret",
    "sasToken",
    "sas",
    "accessToken",
    "refreshToken",
    "idToken",
    "bearerToken",
    "authorization",
    "privateKey",
    "credential",
    "credentials",
  ].map(normaliseKey),
);
/** Suffixes that make any property name secret-bearing: `dbPassword`, `sqlConnectionString`, `webhookSecret`. */
const SECRET_KEY_SUFFIXES = ["password", "connectionstring", "secret", "accountkey", "apikey", "accesskey", "sastoken", "accesstoken", "privatekey"];

/** Patterns that give a secret away inside any string, whatever its property is called. */
const SECRET_PATTERNS: readonly { rule: string; test: RegExp }[] = [
  { rule: "a storage account key (AccountKey=)", test: /AccountKey\s*=/i },
  { rule: "a shared access signature (SharedAccessSignature)", test: /SharedAccessSignature/i },
  { rule: "a shared access key (SharedAccessKey=)", test: /SharedAccessKey\s*=/i },
  { rule: "a password in a connection string (Password=)", test: /(?:^|[;,\s])(?:Password|Pwd)\s*=\s*[^;,\s]/i },
  { rule: "a SAS signature in a URL (sig=)", test: /[?&]sig=[^&\s]/i },
  { rule: "a bearer token", test: /\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*/i },
  { rule: "a JSON web token", test: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/ },
  { rule: "a private key (PEM)", test: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
];

/** Placeholders an activity may write where a secret was: `***`, `[redacted]`, `<redacted>`. */
const REDACTED = /^(?:\*+|\[redacted\]|<redacted>|redacted)$/i;

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, "");
}

function isSecretKey(key: string): boolean {
  const k = normaliseKey(key);
  return SECRET_KEYS.has(k) || SECRET_KEY_SUFFIXES.some((suffix) => k.endsWith(suffix));
}

/**
 * Why a string under property `key` (undefined for array items and top-level strings) looks like a
 * secret, or undefined when it does not.
 */
export function secretRule(key: string | undefined, value: string): string | undefined {
  if (value === "" || REDACTED.test(value)) return undefined;
  if (key !== undefined && isSecretKey(key)) return `a string under a secret-bearing name '${key}'`;
  return SECRET_PATTERNS.find((p) => p.test.test(value))?.rule;
}

/** Every secret-looking string in `value`, with its path (`data.a.b[1]`) and the rule that matched. */
export function findSecrets(value: unknown, path: string, key?: string): { path: string; rule: string }[] {
  const found: { path: string; rule: string }[] = [];
  const seen = new Set<object>();
  const walk = (v: unknown, p: string, k: string | undefined) => {
    if (typeof v === "string") {
      const rule = secretRule(k, v);
      if (rule) found.push({ path: p, rule });
      return;
    }
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      // An array under a secret-bearing name holds secrets too (`passwords: [...]`).
      v.forEach((item, i) => walk(item, `${p}[${i}]`, k));
      return;
    }
    for (const [childKey, child] of Object.entries(v)) walk(child, /^[A-Za-z_$][\w$]*$/.test(childKey) ? `${p}.${childKey}` : `${p}[${JSON.stringify(childKey)}]`, childKey);
  };
  walk(value, path, key);
  return found;
}

/** Throws SecretInJournalError (naming the first offending path) if the entry carries anything secret-looking. */
export function assertNoSecrets(entry: JournalEntry): void {
  const found = [...findSecrets(entry.message, "message"), ...(entry.step !== undefined ? findSecrets(entry.step, "step") : []), ...findSecrets(entry.data, "data")];
  const first = found[0];
  if (first) throw new SecretInJournalError(first.path, first.rule);
}

export class InvalidEntryError extends Error {
  constructor(readonly path: string, problem: string) {
    super(`journal entry refused: ${path}: ${problem}`);
    this.name = "InvalidEntryError";
  }
}

const KINDS = new Set(["run-started", "run-finished", "step-started", "step-finished", "decision", "write", "wait", "notification", "operation"]);

/** Checks an entry before it is stored: its shape, its run id, and that it holds no secrets. */
export function assertStorableEntry(entry: JournalEntry): void {
  if (entry === null || typeof entry !== "object") throw new InvalidEntryError("entry", "not an object");
  assertRunId(entry.runId, "entry.runId");
  if (typeof entry.at !== "string" || Number.isNaN(Date.parse(entry.at))) throw new InvalidEntryError("entry.at", "an ISO date-time is required");
  if (!KINDS.has(entry.kind)) throw new InvalidEntryError("entry.kind", `'${String(entry.kind)}' is not one of ${[...KINDS].join(", ")}`);
  if (typeof entry.message !== "string") throw new InvalidEntryError("entry.message", "a string is required");
  if (entry.step !== undefined && typeof entry.step !== "string") throw new InvalidEntryError("entry.step", "a string is required when present");
  if (entry.data !== undefined && !isObject(entry.data)) throw new InvalidEntryError("entry.data", "an object is required when present");
  assertNoSecrets(entry);
}
