import { describe, expect, it } from "vitest";
import {
  assertNoSecrets,
  assertRunId,
  assertStorableEntry,
  InvalidEntryError,
  InvalidRunIdError,
  SecretInJournalError,
  storableEntry,
} from "../../src/journal/guard.ts";
import type { DecisionEntry, JournalEntry } from "../../src/core/journal.ts";

const base: DecisionEntry = { runId: "run-1", at: "2025-03-01T10:00:00.000Z", kind: "decision", step: "switch-settings", message: "settings switched" };
const entry = (patch: Partial<DecisionEntry>): JournalEntry => ({ ...base, ...patch });

/** The SecretInJournalError an entry raises (fails the test when it raises nothing). */
function refusal(e: JournalEntry): SecretInJournalError {
  try {
    assertNoSecrets(e);
  } catch (error) {
    expect(error).toBeInstanceOf(SecretInJournalError);
    return error as SecretInJournalError;
  }
  throw new Error("expected the entry to be refused");
}

const STORAGE_KEY = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk==";

describe("assertNoSecrets: refuses secret-looking values", () => {
  it.each([
    ["a string under 'password'", { data: { password: "hunter2" } }, "data.password"],
    ["a string under 'value' (an app setting's value)", { data: { setting: "DB", value: "orders-db.database.windows.net" } }, "data.value"],
    ["a string under 'secret'", { data: { secret: "s3cr3t" } }, "data.secret"],
    ["a string under 'key'", { data: { key: STORAGE_KEY } }, "data.key"],
    ["a string under 'connectionString'", { data: { connectionString: "Server=tcp:x;Database=y" } }, "data.connectionString"],
    ["names compared without case or separators", { data: { Connection_String: "Server=tcp:x" } }, "data.Connection_String"],
    ["secret-bearing suffixes", { data: { dbPassword: "x1", webhookSecret: "x2" } }, "data.dbPassword"],
    ["clientSecret", { data: { clientSecret: "abc" } }, "data.clientSecret"],
    ["nested paths are precise", { data: { settings: [{ name: "A", target: "ok" }, { name: "B", value: "x" }] } }, "data.settings[1].value"],
    ["an array under a secret name", { data: { passwords: "n/a", keys: ["a"], password: ["p1"] } }, "data.password[0]"],
    ["AccountKey= anywhere", { data: { target: `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${STORAGE_KEY}` } }, "data.target"],
    ["SharedAccessSignature", { data: { endpoint: "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sig=abc" } }, "data.endpoint"],
    ["SharedAccessKey= (Service Bus)", { data: { to: "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abc" } }, "data.to"],
    ["sig= in a URL", { data: { url: "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sig=abcDEF%2B123" } }, "data.url"],
    ["a bearer token in the message", { message: "called with Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123456789" }, "message"],
    ["a JWT", { data: { detail: "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl" } }, "data.detail"],
    ["a password in a SQL connection string", { data: { to: "Server=tcp:x.database.windows.net;User ID=app;Password=P@ss;" } }, "data.to"],
    ["a PEM private key", { data: { cert: "-----BEGIN RSA PRIVATE KEY-----\nMIIE..." } }, "data.cert"],
    ["the step too", { step: "Bearer abcdefghijklmnopqrstuvwxyz0123" }, "step"],
  ] as const)("%s", (_name, patch, path) => {
    const error = refusal(entry(patch as Partial<DecisionEntry>));
    expect(error.path).toBe(path);
  });

  it("never repeats the secret value in its error", () => {
    const error = refusal(entry({ data: { nested: { password: "correct-horse-battery-staple" } } }));
    expect(error.message).toContain("data.nested.password");
    expect(error.message).not.toContain("correct-horse");
  });

  it("quotes keys that are not identifiers in the path", () => {
    expect(refusal(entry({ data: { "app settings": { "my-password": "x" } } })).path).toBe('data["app settings"]["my-password"]');
  });
});

describe("assertNoSecrets: accepts what a journal should hold", () => {
  it.each([
    ["names of secrets and keys", { data: { secretName: "orders-data-storage-key", keyName: "key1", keyVault: "/subscriptions/x/providers/Microsoft.KeyVault/vaults/kv" } }],
    ["non-string values under secret-looking names", { data: { value: 42, key: 1, secret: false, password: null } }],
    ["empty or redacted placeholders", { data: { password: "", value: "***", secret: "[redacted]", key: "<redacted>" } }],
    ["resource ids, request ids and results", { data: { resourceId: "/subscriptions/6b1f/resourceGroups/rg/providers/Microsoft.Sql/servers/s/failoverGroups/fog", requestIds: ["4f1c-aa", "77de-bb"], result: "Succeeded" } }],
    ["URLs without a signature", { data: { url: "https://contoso-orders-centralus.azurewebsites.net/healthz?sigma=1&design=2" } }],
    ["words that only mention secrets", { message: "rotated the storage key; Bearer token expired; SharedAccess policy unchanged" }],
    ["connection strings without credentials", { data: { to: "contoso-orders-cache-centralus.redis.cache.windows.net:6380,ssl=True" } }],
    ["an LRO resume token", { data: { resumeToken: JSON.stringify({ state: { config: { operationLocation: "https://management.azure.com/subscriptions/x/providers/Microsoft.Sql/locations/eastus/failoverGroupOperationResults/abc?api-version=2021-11-01" } } }) } }],
    ["decision inputs", { kind: "decision", data: { quorum: 2, probes: [{ url: "https://a/healthz", ok: false, status: 503, ms: 12 }], maxLagSeconds: 12, rpoSeconds: 300 } }],
  ] as const)("%s", (_name, patch) => {
    expect(() => assertNoSecrets(entry(patch as Partial<DecisionEntry>))).not.toThrow();
  });
});

describe("run ids and entry shape", () => {
  it.each(["run-1", "contoso-orders.20250301T100000Z", "A_b-9", "a".repeat(128)])("accepts run id %s", (id) => {
    expect(() => assertRunId(id)).not.toThrow();
  });

  it.each(["", "../etc", "a/b", "a..b", "-lead", " x", "a:b", "a\\b", "a".repeat(129)])("refuses run id '%s' with the path", (id) => {
    expect(() => assertRunId(id, "entry.runId")).toThrow(InvalidRunIdError);
    expect(() => assertRunId(id, "entry.runId")).toThrow(/^entry\.runId: /);
  });

  it("refuses an entry with a bad run id, time, kind or data, naming the field", () => {
    expect(() => assertStorableEntry(entry({ runId: "a/b" }))).toThrow(/^entry\.runId:/);
    expect(() => assertStorableEntry(entry({ at: "yesterday" }))).toThrow(InvalidEntryError);
    expect(() => assertStorableEntry(entry({ at: "yesterday" }))).toThrow(/entry\.at/);
    expect(() => assertStorableEntry(entry({ kind: "gossip" as DecisionEntry["kind"] }))).toThrow(/entry\.kind/);
    expect(() => assertStorableEntry(entry({ data: [] as unknown as Record<string, unknown> }))).toThrow(/entry\.data/);
    expect(() => assertStorableEntry(entry({ data: { password: "x" } }))).not.toThrow();
    expect(() => assertStorableEntry(base)).not.toThrow();
  });

  it("stores secret-looking values redacted instead of refusing the entry, and names where", () => {
    const given = entry({ message: "alert rule Bearer TokenValidationFailuresHigh fired", data: { password: "x", rule: "db;Password=hunter2;x=1", ok: "orders" } });
    const { entry: stored, redacted } = storableEntry(given);
    expect(stored.message).toBe("alert rule [redacted] fired");
    expect(stored.data).toEqual({ password: "[redacted]", rule: "db;[redacted];x=1", ok: "orders" });
    expect(redacted.map((r) => r.path)).toEqual(["entry.message", "entry.data.password", "entry.data.rule"]);
    expect(JSON.stringify(redacted)).not.toContain("hunter2");
    // The given entry is not changed, and a clean entry is stored as it is.
    expect(given.data).toMatchObject({ password: "x" });
    expect(storableEntry(base)).toEqual({ entry: base, redacted: [] });
    // Shape errors are still refused.
    expect(() => storableEntry(entry({ at: "yesterday" }))).toThrow(InvalidEntryError);
  });

  it("redacts secrets however they are written: quoted or spaced passwords, URL queries, URL-encoding, function keys, client secrets, JSON text", () => {
    const cases: [string, string][] = [
      ['Server=x;User ID=a;Password="p@ss word;x y";Other=1', "Server=x;User ID=a;[redacted];Other=1"],
      ["Password=abc def", "[redacted]"],
      ["Password=abc,def;x=1", "[redacted];x=1"],
      ["https://h/login?user=a&password=hunter2", "https://h/login?user=a&[redacted]"],
      ["AccountKey%3Dabc123", "[redacted]"],
      ["https://h/x?a=1%26sig%3Dabcdef", "https://h/x?a=1%26[redacted]"],
      ["sig=abcdef&se=1", "[redacted]&se=1"],
      ["https://f.azurewebsites.net/api/x?code=KEY123==", "https://f.azurewebsites.net/api/x?[redacted]"],
      ["client_secret=s3cr3t&x=1", "[redacted]&x=1"],
      ['{"password": "hunter2"}', "{[redacted]}"],
      // Not secrets: left as they are.
      ["MyPassword=1", "MyPassword=1"],
      ["the sig of it; see code=review", "the sig of it; see code=review"],
    ];
    for (const [given, stored] of cases) expect(storableEntry(entry({ message: given })).entry.message, given).toBe(stored);
  });

  it("checks the data of each kind, naming the bad field", () => {
    const write = { ...base, kind: "write", data: { resourceId: "/subscriptions/x", operation: "Op", requestIds: ["a"], result: "accepted" } };
    expect(() => assertStorableEntry(write as JournalEntry)).not.toThrow();
    expect(() => assertStorableEntry({ ...write, data: { ...write.data, requestIds: ["a", 7] } } as unknown as JournalEntry)).toThrow(/^journal entry refused: entry\.data\.requestIds\[1\]: a string is required/);
    expect(() => assertStorableEntry({ ...write, data: { resourceId: "/x" } } as unknown as JournalEntry)).toThrow(/entry\.data\.operation/);
    expect(() => assertStorableEntry({ ...base, kind: "operation", data: { resourceId: "/x", operation: "Op", status: "paused" } } as unknown as JournalEntry)).toThrow(/entry\.data\.status: one of sending, running, succeeded, failed/);
    expect(() => assertStorableEntry({ ...base, kind: "step-finished", data: { outcome: "maybe" } } as unknown as JournalEntry)).toThrow(/entry\.data\.outcome/);
    expect(() => assertStorableEntry({ ...base, kind: "step-started", step: undefined } as unknown as JournalEntry)).toThrow(/entry\.step/);
    expect(() => assertStorableEntry({ ...base, kind: "run-finished", data: { outcome: "completed", output: { runId: "run-1" } } } as unknown as JournalEntry)).toThrow(/entry\.data\.output\./);
  });
});

describe("secret guard: connection string forms", () => {
  it("finds a password in a Redis-style connection string (comma separated)", async () => {
    const { secretRule } = await import("../../src/journal/guard.ts");
    expect(secretRule(undefined, "contoso.redis.cache.windows.net:6380,password=abc123,ssl=True")).toMatch(/password/i);
    expect(secretRule(undefined, "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x)")).toBeUndefined();
  });
});
