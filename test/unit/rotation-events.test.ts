import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import {
  decideEvent,
  ERROR_MAX_CHARS,
  isDue,
  KEY_VAULT_SECRET_EVENT_TYPES,
  matchPlanSecrets,
  parseKeyVaultEvent,
  QUOTE_MAX_CHARS,
  ROTATING_EVENT_TYPES,
  type KeyVaultSecretEvent,
} from "../../src/core/rotation/events.ts";

const CORPUS = join(import.meta.dirname, "../fixtures/azure-corpus/eventgrid");

type Json = Record<string, any>;

/** Every JSON file of the Event Grid corpus (the documentation's `_source` aside). */
function corpusFiles(dir = CORPUS): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name.startsWith("_") ? [] : corpusFiles(path);
    return entry.name.endsWith(".json") ? [relative(CORPUS, path)] : [];
  });
}

const readCorpus = (file: string): unknown => JSON.parse(readFileSync(join(CORPUS, file), "utf8"));
/** The single events of the corpus: files holding one event, and each event of the documentation's arrays. */
const corpusEvents = (): { file: string; event: Json }[] =>
  corpusFiles().flatMap((file) => {
    const value = readCorpus(file);
    return Array.isArray(value) ? value.map((event, i) => ({ file: `${file}[${i}]`, event })) : [{ file, event: value as Json }];
  });

const EVENT_GRID_SAMPLE = "event-grid-schema/secret_new_version_created.json";
const CLOUD_EVENTS_SAMPLE = "cloud-events-schema/secret_new_version_created.json";
const eventGrid = () => structuredClone(readCorpus(EVENT_GRID_SAMPLE)) as Json;
const cloudEvent = () => structuredClone(readCorpus(CLOUD_EVENTS_SAMPLE)) as Json;

const NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry";
const EXPIRED = "Microsoft.KeyVault.SecretExpired";
const NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated";

function parsed(raw: unknown): KeyVaultSecretEvent {
  const result = parseKeyVaultEvent(raw);
  if (!result.ok) throw new Error(`refused at ${result.path}: ${result.error}`);
  return result.event;
}

function refused(raw: unknown): { error: string; path: string } {
  const result = parseKeyVaultEvent(raw);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result.event)}`);
  return result;
}

/** An event of the given schema about `secret` in `vault`, shaped as the corpus samples are. */
function eventFor(schema: "EventGrid" | "CloudEvents", opts: { vault: string; vaultId?: string; secret: string; type?: string; version?: string }): Json {
  const event = schema === "EventGrid" ? eventGrid() : cloudEvent();
  const version = opts.version ?? "0123456789abcdef0123456789abcdef";
  const sourceKey = schema === "EventGrid" ? "topic" : "source";
  event[sourceKey] = opts.vaultId ?? `/subscriptions/{subscription-id}/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/${opts.vault}`;
  event[schema === "EventGrid" ? "eventType" : "type"] = opts.type ?? NEAR_EXPIRY;
  event.subject = opts.secret;
  event.data = { ...event.data, Id: `https://${opts.vault.toLowerCase()}.vault.azure.net/secrets/${opts.secret}/${version}`, VaultName: opts.vault, ObjectName: opts.secret, Version: version };
  return event;
}

describe("parseKeyVaultEvent: the corpus", () => {
  it("finds both schemas and both documentation samples", () => {
    const files = corpusFiles();
    expect(files).toEqual(expect.arrayContaining([EVENT_GRID_SAMPLE, CLOUD_EVENTS_SAMPLE, "docs-event-grid-schema-SecretNewVersionCreated.json", "docs-cloud-event-schema-SecretNewVersionCreated.json"]));
  });

  it.each(corpusEvents().map(({ file, event }) => [file, event] as const))("reads %s", (file, raw) => {
    // Arrange
    const expectedSchema = "specversion" in raw ? "CloudEvents" : "EventGrid";

    // Act
    const event = parsed(raw);

    // Assert
    expect(event).toEqual({
      schema: expectedSchema,
      id: "00eccf70-95a7-4e7c-8299-2eb17ee9ad64",
      type: NEW_VERSION,
      subject: "newsecret",
      time: "2019-07-25T01:08:33.103Z",
      vaultName: "sample-kv",
      secretName: "newsecret",
      version: "ee059b2bb5bc48398a53b168c6cdcb10",
      notBefore: new Date(1559081980 * 1000).toISOString(),
      expires: new Date(1559082102 * 1000).toISOString(),
    });
    // The `{subscription-id}` placeholder is tolerated, but it is no vault id to compare plans by.
    expect(event.vaultId, file).toBeUndefined();
  });

  it("reads the documentation's `\"ObjectName \"` key and its Version with a leading space", () => {
    // Arrange
    const [raw] = readCorpus("docs-event-grid-schema-SecretNewVersionCreated.json") as Json[];
    expect(Object.keys(raw!.data)).toContain("ObjectName ");
    expect(raw!.data.Version).toMatch(/^ /);

    // Act
    const event = parsed(raw);

    // Assert
    expect(event.secretName).toBe("newsecret");
    expect(event.version).toBe("ee059b2bb5bc48398a53b168c6cdcb10");
  });

  it.each(["docs-event-grid-schema-SecretNewVersionCreated.json", "docs-cloud-event-schema-SecretNewVersionCreated.json"])(
    "refuses the documentation's array %s as a whole: one event per invocation",
    (file) => {
      // Act
      const result = refused(readCorpus(file));

      // Assert
      expect(result.path).toBe("");
      expect(result.error).toMatch(/a list of 1 event, not one event/);
      expect(result.error).toMatch(/one event per invocation/);
    },
  );

  it.each([NEAR_EXPIRY, EXPIRED])("reads %s events, which carry the same data as a new version's", (type) => {
    for (const { file, event: raw } of corpusEvents()) {
      // Arrange
      const derived = structuredClone(raw);
      derived["specversion" in derived ? "type" : "eventType"] = type;

      // Act
      const event = parsed(derived);

      // Assert
      expect(event.type, file).toBe(type);
      expect(event.secretName, file).toBe("newsecret");
      expect(event.expires, file).toBe("2019-05-28T22:21:42.000Z");
    }
  });
});

describe("parseKeyVaultEvent: events as delivered", () => {
  it("reads NBF and EXP delivered as numbers (azure-sdk-for-net#22932)", () => {
    // Arrange
    const raw = eventGrid();
    raw.data.NBF = 1627491993;
    raw.data.EXP = 1690563970;

    // Act
    const event = parsed(raw);

    // Assert
    expect(event.notBefore).toBe("2021-07-28T17:06:33.000Z");
    expect(event.expires).toBe("2023-07-28T17:06:10.000Z");
  });

  it("reads NBF and EXP delivered as null as not set (azure-docs#75866)", () => {
    // Arrange
    const raw = cloudEvent();
    raw.data.NBF = null;
    raw.data.EXP = null;

    // Act
    const event = parsed(raw);

    // Assert
    expect(event).not.toHaveProperty("notBefore");
    expect(event).not.toHaveProperty("expires");
  });

  it("keeps a full vault id from topic or source, and lower-cases the vault name", () => {
    // Arrange
    const id = "/subscriptions/8d2f6a31-4b7c-4e9d-a1f0-5c3b2e7d9a64/resourceGroups/Wingtip-Secrets/providers/Microsoft.KeyVault/vaults/Wingtip-KV-AUE";
    const grid = eventFor("EventGrid", { vault: "Wingtip-KV-AUE", vaultId: id, secret: "wingtip-api-signing-key" });
    const cloud = eventFor("CloudEvents", { vault: "Wingtip-KV-AUE", vaultId: `${id}/`, secret: "wingtip-api-signing-key" });

    // Act
    const fromGrid = parsed(grid);
    const fromCloud = parsed(cloud);

    // Assert
    expect(fromGrid.vaultId).toBe(id);
    expect(fromCloud.vaultId).toBe(id);
    expect(fromGrid.vaultName).toBe("wingtip-kv-aue");
    expect(fromCloud.schema).toBe("CloudEvents");
  });

  it("reads a time the Functions host re-wrote (fraction digits dropped, an offset instead of Z)", () => {
    // Arrange
    const grid = eventGrid();
    grid.eventTime = "2019-07-25T01:08:33.1Z";
    const cloud = cloudEvent();
    cloud.time = "2019-07-25T03:08:33+02:00";

    // Act / Assert
    expect(parsed(grid).time).toBe("2019-07-25T01:08:33.100Z");
    expect(parsed(cloud).time).toBe("2019-07-25T01:08:33.000Z");
  });

  it("spells a known event type canonically whatever its case, and keeps another secret event type as given", () => {
    // Arrange
    const lower = eventGrid();
    lower.eventType = "microsoft.keyvault.secretnearexpiry";
    const other = cloudEvent();
    other.type = "Microsoft.KeyVault.SecretSomethingNew";

    // Act / Assert
    expect(parsed(lower).type).toBe(NEAR_EXPIRY);
    expect(parsed(other).type).toBe("Microsoft.KeyVault.SecretSomethingNew");
  });

  it("takes the version from data.Id when data.Version is absent", () => {
    // Arrange
    const raw = eventGrid();
    delete raw.data.Version;

    // Act / Assert
    expect(parsed(raw).version).toBe("ee059b2bb5bc48398a53b168c6cdcb10");
  });

  it("matches data keys without case (the documentation's table writes `id`)", () => {
    // Arrange
    const raw = eventGrid();
    raw.data = { id: raw.data.Id, vaultname: "sample-kv", objecttype: "Secret", objectname: "newsecret", version: raw.data.Version };

    // Act / Assert
    expect(parsed(raw).secretName).toBe("newsecret");
  });
});

describe("parseKeyVaultEvent: refusals", () => {
  const OTHER_SUB = "/subscriptions/8d2f6a31-4b7c-4e9d-a1f0-5c3b2e7d9a64/resourceGroups/sample-rg/providers";
  type Case = [name: string, make: () => unknown, path: string, message: RegExp];
  const grid = (change: (e: Json) => void) => () => {
    const e = eventGrid();
    change(e);
    return e;
  };
  const cloud = (change: (e: Json) => void) => () => {
    const e = cloudEvent();
    change(e);
    return e;
  };
  const cases: Case[] = [
    ["a string", () => "Microsoft.KeyVault.SecretNearExpiry", "", /not a string/],
    ["a number", () => 42, "", /not the number 42/],
    ["null", () => null, "", /not null/],
    ["an array of events", () => [eventGrid(), cloudEvent()], "", /a list of 2 events.*one event per invocation/],
    ["both eventType and specversion", grid((e) => (e.specversion = "1.0")), "specversion", /not both/],
    ["neither eventType nor specversion", grid((e) => delete e.eventType), "eventType", /neither an Event Grid event/],
    ["a CloudEvent without specversion", cloud((e) => delete e.specversion), "specversion", /missing/],
    ["a CloudEvents version other than 1.0", cloud((e) => (e.specversion = "0.3")), "specversion", /not a CloudEvents version/],
    ["no id", grid((e) => delete e.id), "id", /missing/],
    ["an empty id", cloud((e) => (e.id = "  ")), "id", /empty/],
    ["no CloudEvents type", cloud((e) => delete e.type), "type", /missing/],
    ["an eventType that is not a string", grid((e) => (e.eventType = 42)), "eventType", /must be a string/],
    ["an eventType that is no event type", grid((e) => (e.eventType = "rotate me please")), "eventType", /not an event type/],
    ["an event of another service", grid((e) => (e.eventType = "Microsoft.Storage.BlobCreated")), "eventType", /not a Key Vault event/],
    ["a key event", cloud((e) => (e.type = "Microsoft.KeyVault.KeyNearExpiry")), "type", /not about a secret/],
    ["a vault event", grid((e) => (e.eventType = "Microsoft.KeyVault.VaultAccessPolicyChanged")), "eventType", /not about a secret/],
    ["an eventTime that is no date-time", grid((e) => (e.eventTime = "yesterday")), "eventTime", /not an ISO 8601 date-time/],
    ["a time that is no calendar date", cloud((e) => (e.time = "2019-02-30T00:00:00Z")), "time", /not an ISO 8601 date-time/],
    ["no topic", grid((e) => delete e.topic), "topic", /missing/],
    ["a topic that is a storage account", grid((e) => (e.topic = `${OTHER_SUB}/Microsoft.Storage/storageAccounts/samplekv`)), "topic", /Microsoft\.KeyVault\/vaults/],
    ["a topic that is a custom Event Grid topic", grid((e) => (e.topic = `${OTHER_SUB}/Microsoft.EventGrid/topics/kv-events`)), "topic", /Microsoft\.KeyVault\/vaults/],
    ["a source whose subscription is not a GUID", cloud((e) => (e.source = "/subscriptions/my-sub/resourceGroups/sample-rg/providers/Microsoft.KeyVault/vaults/sample-kv")), "source", /ARM id of a Microsoft\.KeyVault\/vaults resource/],
    ["a source naming an invalid vault", cloud((e) => (e.source = `${OTHER_SUB}/Microsoft.KeyVault/vaults/kv--x`)), "source", /ARM id of a Microsoft\.KeyVault\/vaults resource/],
    ["a topic naming another vault than data.VaultName", grid((e) => (e.topic = `${OTHER_SUB}/Microsoft.KeyVault/vaults/other-kv`)), "topic", /names vault "other-kv", data.VaultName names "sample-kv"/],
    ["a subject that is not a string", grid((e) => (e.subject = 42)), "subject", /must be a string/],
    ["no data", grid((e) => delete e.data), "data", /missing/],
    ["data that is a list", cloud((e) => (e.data = [])), "data", /not a list/],
    ["an ObjectType that is not Secret", grid((e) => (e.data.ObjectType = "Key")), "data.ObjectType", /is "Key", not Secret/],
    ["no ObjectType", grid((e) => delete e.data.ObjectType), "data.ObjectType", /missing/],
    ["a vault name of 2 characters", grid((e) => (e.data.VaultName = "kv")), "data.VaultName", /not a Key Vault name/],
    ["a vault name of 25 characters", grid((e) => (e.data.VaultName = `k${"v".repeat(24)}`)), "data.VaultName", /not a Key Vault name/],
    ["a vault name starting with a digit", grid((e) => (e.data.VaultName = "1-sample-kv")), "data.VaultName", /not a Key Vault name/],
    ["a vault name ending with a dash", grid((e) => (e.data.VaultName = "sample-kv-")), "data.VaultName", /not a Key Vault name/],
    ["a vault name with two dashes in a row", grid((e) => (e.data.VaultName = "sample--kv")), "data.VaultName", /not a Key Vault name/],
    ["a vault name with an underscore", grid((e) => (e.data.VaultName = "sample_kv")), "data.VaultName", /not a Key Vault name/],
    ["no ObjectName", cloud((e) => delete e.data.ObjectName), "data.ObjectName", /missing/],
    ["a secret name with a dot", grid((e) => (e.data.ObjectName = "new.secret")), "data.ObjectName", /not a Key Vault secret name/],
    ["a secret name of 128 characters", grid((e) => (e.data.ObjectName = "s".repeat(128))), "data.ObjectName", /not a Key Vault secret name/],
    ["a secret name with a space inside", cloud((e) => (e.data.ObjectName = "new secret")), "data.ObjectName", /not a Key Vault secret name/],
    ["ObjectName named twice", grid((e) => (e.data["ObjectName "] = "othersecret")), "data.ObjectName", /named twice \("ObjectName" and "ObjectName "\)/],
    ["a version that is not 32 hex digits", grid((e) => (e.data.Version = "v2")), "data.Version", /not a Key Vault version/],
    ["a data.Id of another vault", grid((e) => (e.data.Id = e.data.Id.replace("sample-kv", "other-kv"))), "data.Id", /names vault "other-kv"/],
    ["a data.Id of another secret", cloud((e) => (e.data.Id = e.data.Id.replace("newsecret", "oldsecret"))), "data.Id", /names secret "oldsecret"/],
    ["a data.Id of another version", grid((e) => (e.data.Id = e.data.Id.replace("ee059b2b", "ff059b2b"))), "data.Id", /names version "ff059b2b/],
    ["a data.Id over http", grid((e) => (e.data.Id = e.data.Id.replace("https:", "http:"))), "data.Id", /Key Vault secret URL/],
    ["a data.Id of a key", grid((e) => (e.data.Id = e.data.Id.replace("/secrets/", "/keys/"))), "data.Id", /Key Vault secret URL/],
    ["a data.Id on another host", grid((e) => (e.data.Id = e.data.Id.replace("vault.azure.net", "example.com"))), "data.Id", /Key Vault secret URL/],
    ["a data.Id that is no URL", cloud((e) => (e.data.Id = "newsecret")), "data.Id", /Key Vault secret URL/],
    ["an NBF with a fraction", grid((e) => (e.data.NBF = 1559081980.5)), "data.NBF", /whole seconds/],
    ["an EXP string with a fraction", cloud((e) => (e.data.EXP = "1559082102.25")), "data.EXP", /whole seconds/],
    ["an EXP that is a word", grid((e) => (e.data.EXP = "soon")), "data.EXP", /seconds since 1970/],
    ["an EXP that is a boolean", grid((e) => (e.data.EXP = true)), "data.EXP", /not true/],
    ["a negative EXP", grid((e) => (e.data.EXP = -1)), "data.EXP", /out of range/],
    ["an EXP past year 9999", grid((e) => (e.data.EXP = 1e15)), "data.EXP", /out of range/],
  ];

  it.each(cases)("refuses %s", (_name, make, path, message) => {
    // Act
    const result = refused(make());

    // Assert
    expect(result.path).toBe(path);
    expect(result.error).toMatch(message);
  });

  it("accepts a string EXP with a zero fraction and the documentation's strings of digits", () => {
    // Arrange
    const raw = cloudEvent();
    raw.data.EXP = "1559082102.000";

    // Act / Assert
    expect(parsed(raw).expires).toBe("2019-05-28T22:21:42.000Z");
  });

  it("quotes an event's text cut, escaped and without links", () => {
    // Arrange
    const hostile = `https://evil.example/\u202e${"A".repeat(10_000)}\n<!channel> www.evil.example`;
    const raw = eventGrid();
    raw.data.ObjectName = hostile;

    // Act
    const result = refused(raw);

    // Assert
    expect(result.path).toBe("data.ObjectName");
    expect(result.error.length).toBeLessThanOrEqual(ERROR_MAX_CHARS);
    expect(result.error).toContain("https[:]//evil.example/\\u{202e}");
    expect(result.error).toContain("(cut, 10050 characters)");
    expect(result.error).not.toContain("A".repeat(QUOTE_MAX_CHARS));
    expect(result.error).not.toContain("://");
    expect(result.error).toMatch(/^[\x20-\x7e]*$/);
  });
});

describe("parseKeyVaultEvent: arbitrary input", () => {
  const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
  const checkRefusal = (result: ReturnType<typeof parseKeyVaultEvent>) => {
    if (result.ok) return;
    expect(typeof result.path).toBe("string");
    expect(result.error.length).toBeGreaterThan(0);
    expect(result.error.length).toBeLessThanOrEqual(ERROR_MAX_CHARS);
    expect(result.error).toMatch(ASCII_PRINTABLE);
    expect(result.error).not.toContain("://");
  };

  it("never throws on arbitrary values, and keeps refusals bounded and inert", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withBoxedValues: true }), (value) => {
        checkRefusal(parseKeyVaultEvent(value));
      }),
      { numRuns: 500 },
    );
  });

  it("never throws when any field of a real event is replaced by arbitrary JSON or long text", () => {
    const replacement = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ unit: "binary", maxLength: 3_000 }), fc.constant(`https://x.example/${"a".repeat(5_000)}`));
    const topKeys = ["id", "topic", "source", "subject", "eventType", "type", "eventTime", "time", "specversion", "data"];
    const dataKeys = ["Id", "VaultName", "ObjectType", "ObjectName", "ObjectName ", "Version", "NBF", "EXP", "id", "VERSION"];
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.dictionary(fc.constantFrom(...topKeys), replacement, { maxKeys: 3 }),
        fc.dictionary(fc.constantFrom(...dataKeys), replacement, { maxKeys: 4 }),
        (grid, top, data) => {
          const raw = grid ? eventGrid() : cloudEvent();
          Object.assign(raw, top);
          if (raw.data !== null && typeof raw.data === "object" && !Array.isArray(raw.data)) Object.assign(raw.data, data);
          const result = parseKeyVaultEvent(raw);
          checkRefusal(result);
          if (result.ok) {
            expect(result.event.vaultName).toMatch(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/);
            expect(result.event.secretName).toMatch(/^[0-9A-Za-z-]{1,127}$/);
            expect(new Date(result.event.time).toISOString()).toBe(result.event.time);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("reads every valid vault, secret and version in both schemas", () => {
    const vault = fc.stringMatching(/^[a-z][a-z0-9-]{1,22}[a-z0-9]$/).filter((v) => !v.includes("--"));
    const secret = fc.stringMatching(/^[0-9A-Za-z-]{1,127}$/);
    const version = fc.stringMatching(/^[0-9a-f]{32}$/);
    fc.assert(
      fc.property(fc.constantFrom("EventGrid" as const, "CloudEvents" as const), vault, secret, version, fc.constantFrom(...KEY_VAULT_SECRET_EVENT_TYPES), (schema, v, s, ver, type) => {
        const event = parsed(eventFor(schema, { vault: v.toUpperCase(), secret: s, version: ver, type }));
        expect(event).toMatchObject({ schema, vaultName: v, secretName: s, version: ver, type });
      }),
      { numRuns: 300 },
    );
  });
});

// Plans of other names and regions than the examples, through the real plan parser.
const SUB = "/subscriptions/8d2f6a31-4b7c-4e9d-a1f0-5c3b2e7d9a64";
const KV_AUE = `${SUB}/resourceGroups/wingtip-aue/providers/Microsoft.KeyVault/vaults/wingtip-kv-aue`;
const KV_AUSE = `${SUB}/resourceGroups/wingtip-ause/providers/Microsoft.KeyVault/vaults/wingtip-kv-ause`;
const WINGTIP_YAML = `
name: wingtip-tickets
regions:
  primary:
    name: australiaeast
    healthEndpoints: [{ url: "https://tickets-aue.wingtip.example/healthz" }]
  secondary:
    name: australiasoutheast
    healthEndpoints: [{ url: "https://tickets-ause.wingtip.example/healthz" }]
objectives: { rpoSeconds: 120, rtoMinutes: 15 }
secrets:
  - vaults: [${KV_AUE}, ${KV_AUSE}]
    name: wingtip-api-signing-key
    source: { kind: generated, length: 48 }
  - vaults: [${KV_AUE}, ${KV_AUSE}]
    name: wingtip-data-storage-key
    source: { kind: storageAccountKey, account: ${SUB}/resourceGroups/wingtip-aue/providers/Microsoft.Storage/storageAccounts/wingtipdata }
  - vaults: [${KV_AUE}, ${KV_AUSE}]
    name: wingtip-sql-login
    source:
      kind: sqlLogin
      servers: [${SUB}/resourceGroups/wingtip-aue/providers/Microsoft.Sql/servers/wingtip-sql-aue, ${SUB}/resourceGroups/wingtip-ause/providers/Microsoft.Sql/servers/wingtip-sql-ause]
      logins: [tickets_app_a, tickets_app_b]
`;
/** A second plan (JSON) that shares the Australia East vault and the signing key's name. */
const LITWARE_JSON = JSON.stringify({
  name: "litware-portal",
  regions: {
    primary: { name: "koreacentral", healthEndpoints: [{ url: "https://portal-krc.litware.example/healthz" }] },
    secondary: { name: "koreasouth", healthEndpoints: [{ url: "https://portal-krs.litware.example/healthz" }] },
  },
  objectives: { rpoSeconds: 60, rtoMinutes: 10 },
  secrets: [
    { vault: KV_AUE, name: "Wingtip-API-Signing-Key", source: { kind: "generated" } },
    { vaults: [`${SUB}/resourceGroups/litware/providers/Microsoft.KeyVault/vaults/litware-kv`], name: "portal-session-key", source: { kind: "generated" } },
  ],
});

function plans(): Plan[] {
  return [parsePlanText(WINGTIP_YAML, "wingtip.plan.yaml"), parsePlanText(LITWARE_JSON, "litware.plan.json")];
}

describe("matchPlanSecrets", () => {
  it("matches a secret held in either of its two vaults, by name when the topic is the documentation's placeholder", () => {
    // Arrange
    const fromAue = parsed(eventFor("EventGrid", { vault: "wingtip-kv-aue", secret: "wingtip-sql-login" }));
    const fromAuse = parsed(eventFor("CloudEvents", { vault: "WINGTIP-KV-AUSE", secret: "wingtip-sql-login" }));

    // Act / Assert
    expect(matchPlanSecrets(fromAue, plans())).toEqual([{ plan: "wingtip-tickets", secret: "wingtip-sql-login" }]);
    expect(matchPlanSecrets(fromAuse, plans())).toEqual([{ plan: "wingtip-tickets", secret: "wingtip-sql-login" }]);
  });

  it("compares secret names without case, and returns every plan naming the secret in that vault", () => {
    // Arrange
    const event = parsed(eventFor("EventGrid", { vault: "wingtip-kv-aue", vaultId: KV_AUE.toUpperCase(), secret: "WINGTIP-api-signing-key" }));

    // Act
    const matches = matchPlanSecrets(event, plans());

    // Assert
    expect(matches).toEqual([
      { plan: "wingtip-tickets", secret: "wingtip-api-signing-key" },
      { plan: "litware-portal", secret: "Wingtip-API-Signing-Key" },
    ]);
  });

  it("compares by full id when the event carries one: the same vault name under another id does not match", () => {
    // Arrange
    const elsewhere = `/subscriptions/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0/resourceGroups/wingtip-aue/providers/Microsoft.KeyVault/vaults/wingtip-kv-aue`;
    const event = parsed(eventFor("CloudEvents", { vault: "wingtip-kv-aue", vaultId: elsewhere, secret: "wingtip-api-signing-key" }));

    // Act / Assert
    expect(matchPlanSecrets(event, plans())).toEqual([]);
  });

  it("matches nothing for a secret the vault holds but no plan names, or a vault no plan names", () => {
    // Arrange
    const otherSecret = parsed(eventFor("EventGrid", { vault: "wingtip-kv-ause", secret: "portal-session-key" }));
    const otherVault = parsed(eventFor("EventGrid", { vault: "fabrikam-kv", secret: "wingtip-sql-login" }));

    // Act / Assert
    expect(matchPlanSecrets(otherSecret, plans())).toEqual([]);
    expect(matchPlanSecrets(otherVault, plans())).toEqual([]);
  });
});

describe("decideEvent", () => {
  it.each(ROTATING_EVENT_TYPES.map((t) => [t]))("rotates the matching plan secrets on %s", (type) => {
    // Arrange
    const event = parsed(eventFor("CloudEvents", { vault: "wingtip-kv-ause", secret: "wingtip-data-storage-key", type }));
    const matches = matchPlanSecrets(event, plans());

    // Act
    const decision = decideEvent(event, matches);

    // Assert
    expect(decision).toEqual({ action: "rotate", targets: [{ plan: "wingtip-tickets", secret: "wingtip-data-storage-key" }] });
  });

  it("ignores a new version even of a plan secret: Switchyard's own rotations create them", () => {
    // Arrange
    const event = parsed(eventFor("EventGrid", { vault: "wingtip-kv-aue", secret: "wingtip-data-storage-key", type: NEW_VERSION }));
    const matches = matchPlanSecrets(event, plans());
    expect(matches).toHaveLength(1);

    // Act
    const decision = decideEvent(event, matches);

    // Assert
    expect(decision.action).toBe("ignore");
    expect(decision.action === "ignore" && decision.reason).toMatch(/new version of secret "wingtip-data-storage-key" in vault "wingtip-kv-aue".*never start a rotation/);
  });

  it("ignores a secret event type that does not start a rotation", () => {
    // Arrange
    const event = parsed(eventFor("EventGrid", { vault: "wingtip-kv-aue", secret: "wingtip-sql-login", type: "Microsoft.KeyVault.SecretSomethingNew" }));

    // Act
    const decision = decideEvent(event, matchPlanSecrets(event, plans()));

    // Assert
    expect(decision).toEqual({ action: "ignore", reason: expect.stringMatching(/^Microsoft\.KeyVault\.SecretSomethingNew for secret "wingtip-sql-login" .*does not start a rotation/) });
  });

  it("ignores a near-expiry event no plan secret matches, naming the vault and secret", () => {
    // Arrange
    const event = parsed(eventFor("CloudEvents", { vault: "Contoso-KV", secret: "Unplanned-Secret", type: EXPIRED }));

    // Act
    const decision = decideEvent(event, matchPlanSecrets(event, plans()));

    // Assert
    expect(decision).toEqual({ action: "ignore", reason: 'no plan names secret "Unplanned-Secret" in vault "contoso-kv"' });
  });
});

describe("isDue", () => {
  const NOW = new Date("2031-03-10T12:00:00Z");
  const DAY = 86_400_000;
  const at = (ms: number) => new Date(NOW.getTime() + ms);

  it("is not due by date when the version has no expiry, and says so", () => {
    // Act
    const result = isDue(undefined, NOW, 30);

    // Assert
    expect(result).toEqual({ due: false, kind: "no-expiry", reason: "no expiry set: not due by date" });
  });

  it.each([
    ["expired 3 days ago", -3 * DAY - 1, true, "expired", /^expired 3 days ago \(2031-03-07T11:59:59\.999Z\)$/],
    ["expiring right now", 0, true, "expired", /^expired now/],
    ["expiring in 12 days", 12 * DAY + 5, true, "near-expiry", /^expires in 12 days .*within the 30-day rotation window/],
    ["expiring exactly 30 days out", 30 * DAY, true, "near-expiry", /within the 30-day rotation window/],
    ["expiring 30 days and 1 ms out", 30 * DAY + 1, false, "not-due", /^expires in 30 days .*due from 2031-03-10T12:00:00\.001Z, 30 days before$/],
    ["expiring in 200 days", 200 * DAY, false, "not-due", /^expires in 200 days/],
  ] as const)("%s with a 30-day window", (_name, offset, due, kind, reason) => {
    // Act
    const result = isDue(at(offset), NOW, 30);

    // Assert
    expect(result.due).toBe(due);
    expect(result.kind).toBe(kind);
    expect(result.reason).toMatch(reason);
  });

  it("follows the plan's window", () => {
    // Arrange
    const expires = at(10 * DAY);

    // Act / Assert
    expect(isDue(expires, NOW, 7).due).toBe(false);
    expect(isDue(expires, NOW, 14).due).toBe(true);
  });

  it("refuses an invalid date or window", () => {
    expect(() => isDue(new Date(Number.NaN), NOW, 30)).toThrow(RangeError);
    expect(() => isDue(at(DAY), new Date(Number.NaN), 30)).toThrow(RangeError);
    expect(() => isDue(at(DAY), NOW, -1)).toThrow(RangeError);
  });
});
