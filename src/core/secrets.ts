/**
 * What a secret looks like, wherever Switchyard records text: the journal's guard, the report, plan
 * checks and the operator API use these rules. Pure.
 */

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
const SECRET_PATTERNS: readonly { rule: string; test: RegExp; span: RegExp }[] = [
  { rule: "a storage account key (AccountKey=)", test: /AccountKey\s*(?:=|%3D)/i, span: /AccountKey\s*(?:=|%3D)[^;\s]*/gi },
  { rule: "a shared access signature (SharedAccessSignature)", test: /SharedAccessSignature/i, span: /SharedAccessSignature[^;]*/gi },
  { rule: "a shared access key (SharedAccessKey=)", test: /SharedAccessKey\s*(?:=|%3D)/i, span: /SharedAccessKey\s*(?:=|%3D)[^;\s]*/gi },
  // A password runs to the next `;` (it may hold spaces and commas), or to its closing quote.
  { rule: "a password (Password=)", test: /(?<![A-Za-z0-9])(?:Password|Pwd)\s*(?:=|%3D)\s*[^;,\s]/i, span: /(?<![A-Za-z0-9])(?:Password|Pwd)\s*(?:=|%3D)\s*(?:"[^"]*"?|'[^']*'?|[^;]*)/gi },
  { rule: "a client secret (client_secret=)", test: /client_secret\s*(?:=|%3D)\s*[^&;\s]/i, span: /client_secret\s*(?:=|%3D)\s*[^&;\s]*/gi },
  { rule: "a SAS signature (sig=)", test: /(?:^|[?&\s]|%26|%3F)sig(?:=|%3D)[^&\s]/i, span: /(?<=^|[?&\s]|%26|%3F)sig(?:=|%3D)[^&\s]*/gi },
  { rule: "a function key in a URL (code=)", test: /[?&]code=[^&\s]/i, span: /(?<=[?&])code=[^&\s]*/gi },
  { rule: "a bearer token", test: /\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*/i, span: /\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*/gi },
  { rule: "a JSON web token", test: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/, span: /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g },
  { rule: "a private key (PEM)", test: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, span: /-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|[\s\S]*$)/g },
  { rule: "a password in JSON text (\"password\": …)", test: /"(?:password|pwd|secret|client_?secret|access_?key|api_?key)"\s*:\s*"[^"]/i, span: /"(?:password|pwd|secret|client_?secret|access_?key|api_?key)"\s*:\s*"[^"]*"?/gi },
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

/** What stands where a secret-looking value or part of a text was. */
export const REDACTION = "[redacted]";

/**
 * `text` with every part that looks like a secret replaced by `[redacted]` (the whole text when it sits
 * under a secret-bearing name `key`). For untrusted text that is recorded: alert rule names, alert ids,
 * caller names, reasons, dimension values. The rest of the text stays readable.
 */
export function redactText(text: string, key?: string): string {
  if (text === "" || REDACTED.test(text)) return text;
  if (key !== undefined && isSecretKey(key)) return REDACTION;
  let out = text;
  for (const { span } of SECRET_PATTERNS) out = out.replace(span, REDACTION);
  // Whatever a span did not cover and a rule still finds: the whole text.
  return SECRET_PATTERNS.some((p) => p.test.test(out)) ? REDACTION : out;
}

/**
 * A copy of `value` with every secret-looking string redacted (redactText, keyed by its property name),
 * and the paths that were. Objects and arrays are copied; other values kept.
 */
export function redactSecrets<T>(value: T, path = "value", key?: string): { value: T; redacted: { path: string; rule: string }[] } {
  const redacted: { path: string; rule: string }[] = [];
  const walk = (v: unknown, p: string, k: string | undefined): unknown => {
    if (typeof v === "string") {
      const rule = secretRule(k, v);
      if (!rule) return v;
      redacted.push({ path: p, rule });
      return redactText(v, k);
    }
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map((item, i) => walk(item, `${p}[${i}]`, k));
    return Object.fromEntries(
      Object.entries(v).map(([childKey, child]) => [childKey, walk(child, /^[A-Za-z_$][\w$]*$/.test(childKey) ? `${p}.${childKey}` : `${p}[${JSON.stringify(childKey)}]`, childKey)]),
    );
  };
  // The walk copies plain data of T's shape and changes only strings.
  return { value: walk(value, path, key) as T, redacted };
}
