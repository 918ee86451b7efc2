import { createHmac, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  createEntraTokenValidator,
  MAX_TOKEN_LENGTH,
  type EntraTokenResult,
  type EntraTokenValidatorOptions,
  type Jwks,
} from "../../src/http/entraToken.ts";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUDIENCE = "api://switchyard-alerts";
const CLIENT_ID = "6a1f3c52-0000-4000-8000-00000000abcd";
const V2_ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;
const NOW_MS = Date.parse("2030-01-01T00:00:00Z");
const NOW = NOW_MS / 1000;

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JsonWebKey;
}

function makeKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, publicKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig" } };
}

const b64url = (value: unknown): string => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

function signToken(key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const signingInput = `${b64url({ typ: "JWT", alg: "RS256", kid: key.kid, ...header })}.${b64url(claims)}`;
  return `${signingInput}.${sign("RSA-SHA256", Buffer.from(signingInput), key.privateKey).toString("base64url")}`;
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: AUDIENCE,
    iss: V1_ISSUER,
    iat: NOW - 60,
    nbf: NOW - 60,
    exp: NOW + 3600,
    appid: "461e8683-5575-4561-ac7f-899cc907d62a",
    oid: "f8b3c0a4-1111-4222-8333-444455556666",
    tid: TENANT,
    roles: ["ActionGroupsSecureWebhook"],
    ...overrides,
  };
}

/** A JWKS endpoint stand-in: serves the current key list, counts calls, can be made to fail. */
function jwksServer(initial: SigningKey[]) {
  const server = {
    keys: initial,
    calls: 0,
    failing: false,
    uris: [] as string[],
    fetchJwks: async (uri: string): Promise<Jwks> => {
      server.calls++;
      server.uris.push(uri);
      if (server.failing) throw new Error("getaddrinfo ENOTFOUND login.microsoftonline.com");
      return { keys: server.keys.map((k) => k.jwk) };
    },
  };
  return server;
}

let keyA: SigningKey;
let keyB: SigningKey;

beforeAll(() => {
  keyA = makeKey("key-a");
  keyB = makeKey("key-b");
});

function setup(overrides: Partial<EntraTokenValidatorOptions> = {}, keys?: SigningKey[]) {
  const server = jwksServer(keys ?? [keyA]);
  const time = { now: NOW_MS };
  const validate = createEntraTokenValidator({
    tenantId: TENANT,
    audience: AUDIENCE,
    fetchJwks: server.fetchJwks,
    clock: () => time.now,
    ...overrides,
  });
  return { server, time, validate };
}

function expectFailure(result: EntraTokenResult, reason: RegExp, token?: string): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.status).toBe(401);
  expect(result.reason).toMatch(reason);
  if (token) {
    expect(result.reason).not.toContain(token);
    for (const part of token.split(".")) if (part.length > 8) expect(result.reason).not.toContain(part);
  }
}

describe("createEntraTokenValidator", () => {
  it("accepts a valid token and returns its claims", async () => {
    const { validate, server } = setup();
    const result = await validate(`Bearer ${signToken(keyA, claims())}`);
    expect(result).toEqual({ ok: true, claims: claims() });
    expect(server.uris).toEqual([`https://login.microsoftonline.com/${TENANT}/discovery/v2.0/keys`]);
  });

  it("accepts both default issuers, an aud array, any configured audience, and a lowercase scheme", async () => {
    const { validate } = setup({ audience: [AUDIENCE, CLIENT_ID] });
    expect((await validate(`Bearer ${signToken(keyA, claims({ iss: V2_ISSUER }))}`)).ok).toBe(true);
    expect((await validate(`bearer ${signToken(keyA, claims({ aud: CLIENT_ID }))}`)).ok).toBe(true);
    expect((await validate(`Bearer ${signToken(keyA, claims({ aud: ["other", AUDIENCE] }))}`)).ok).toBe(true);
  });

  it("rejects a wrong audience", async () => {
    const { validate } = setup();
    const token = signToken(keyA, claims({ aud: "api://someone-else" }));
    expectFailure(await validate(`Bearer ${token}`), /audience/, token);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ aud: ["a", "b"] }))}`), /audience/);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ aud: undefined }))}`), /audience/);
  });

  it("rejects a wrong issuer, including another tenant's", async () => {
    const { validate } = setup();
    const token = signToken(keyA, claims({ iss: "https://sts.windows.net/00000000-0000-0000-0000-000000000000/" }));
    expectFailure(await validate(`Bearer ${token}`), /issuer/, token);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iss: undefined }))}`), /issuer/);
  });

  it("honours allowedIssuers when given", async () => {
    const { validate } = setup({ allowedIssuers: [V2_ISSUER] });
    expect((await validate(`Bearer ${signToken(keyA, claims({ iss: V2_ISSUER }))}`)).ok).toBe(true);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iss: V1_ISSUER }))}`), /issuer/);
  });

  it("rejects an expired token, allowing the clock skew", async () => {
    const { validate } = setup();
    const token = signToken(keyA, claims({ exp: NOW - 301 }));
    expectFailure(await validate(`Bearer ${token}`), /expired/, token);
    expect((await validate(`Bearer ${signToken(keyA, claims({ exp: NOW - 299 }))}`)).ok).toBe(true);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ exp: undefined }))}`), /exp/);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ exp: "tomorrow" }))}`), /exp/);
  });

  it("rejects a token not yet valid (nbf or iat in the future), allowing the clock skew", async () => {
    const { validate } = setup({ clockSkewSeconds: 60 });
    const token = signToken(keyA, claims({ nbf: NOW + 120 }));
    expectFailure(await validate(`Bearer ${token}`), /not yet valid/, token);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iat: NOW + 120 }))}`), /iat/);
    expect((await validate(`Bearer ${signToken(keyA, claims({ nbf: NOW + 30, iat: NOW + 30 }))}`)).ok).toBe(true);
  });

  it("rejects alg none", async () => {
    const { validate, server } = setup();
    const token = `${b64url({ alg: "none", typ: "JWT", kid: keyA.kid })}.${b64url(claims())}.`;
    expectFailure(await validate(`Bearer ${token}`), /alg/, token);
    expect(server.calls).toBe(0);
  });

  it("rejects HS256, including one keyed with the public key (key confusion)", async () => {
    const { validate } = setup();
    const signingInput = `${b64url({ alg: "HS256", typ: "JWT", kid: keyA.kid })}.${b64url(claims())}`;
    const secret = keyA.publicKey.export({ format: "pem", type: "spki" });
    const token = `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
    expectFailure(await validate(`Bearer ${token}`), /alg/, token);
  });

  it("rejects a header without kid", async () => {
    const { validate } = setup();
    expectFailure(await validate(`Bearer ${signToken(keyA, claims(), { kid: undefined })}`), /kid/);
  });

  it("rejects a tampered payload or signature, and a token signed by a key not in the JWKS", async () => {
    const { validate } = setup();
    const [h, , s] = signToken(keyA, claims({ aud: "api://someone-else" })).split(".");
    const tampered = `${h}.${b64url(claims())}.${s}`;
    expectFailure(await validate(`Bearer ${tampered}`), /signature is invalid/, tampered);
    const good = signToken(keyA, claims());
    const flipped = good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA");
    expectFailure(await validate(`Bearer ${flipped}`), /signature/);
    const forged = signToken({ ...keyB, kid: keyA.kid }, claims());
    expectFailure(await validate(`Bearer ${forged}`), /signature is invalid/, forged);
  });

  it("refetches the JWKS once on an unknown kid and accepts the token after a key rotation", async () => {
    const { validate, server, time } = setup();
    expect((await validate(`Bearer ${signToken(keyA, claims())}`)).ok).toBe(true);
    expect(server.calls).toBe(1);
    time.now += 5 * 60_000;
    server.keys = [keyA, keyB]; // rotation: Entra publishes key-b
    const result = await validate(`Bearer ${signToken(keyB, claims())}`);
    expect(result.ok).toBe(true);
    expect(server.calls).toBe(2);
    expect((await validate(`Bearer ${signToken(keyB, claims())}`)).ok).toBe(true);
    expect(server.calls).toBe(2);
  });

  it("fails an unknown kid after one refetch, and rate-limits further refetches", async () => {
    const { validate, server, time } = setup();
    expect((await validate(`Bearer ${signToken(keyA, claims())}`)).ok).toBe(true);
    const unknown = signToken(keyB, claims());
    expectFailure(await validate(`Bearer ${unknown}`), /unknown signing key/, unknown);
    expect(server.calls).toBe(2);
    // A burst of tokens with made-up kids within the minute: no more fetches.
    for (let i = 0; i < 20; i++) expectFailure(await validate(`Bearer ${signToken({ ...keyB, kid: `made-up-${i}` }, claims())}`), /unknown signing key/);
    expect(server.calls).toBe(2);
    // A minute later a rotation is picked up again.
    time.now += 61_000;
    server.keys = [keyA, keyB];
    expect((await validate(`Bearer ${unknown}`)).ok).toBe(true);
    expect(server.calls).toBe(3);
  });

  it("does not refetch for an unknown kid when the keys were just fetched for the same request", async () => {
    const { validate, server } = setup();
    expectFailure(await validate(`Bearer ${signToken(keyB, claims())}`), /unknown signing key/);
    expect(server.calls).toBe(1);
  });

  it("rejects a missing, empty, non-Bearer or garbage Authorization header", async () => {
    const { validate, server } = setup();
    expectFailure(await validate(null), /missing/);
    expectFailure(await validate(undefined), /missing/);
    expectFailure(await validate(""), /missing/);
    expectFailure(await validate("Basic dXNlcjpwYXNz"), /Bearer/);
    expectFailure(await validate("Bearer"), /Bearer/);
    expectFailure(await validate("Bearer a b"), /Bearer/);
    expectFailure(await validate("Bearer not-a-jwt"), /3 dot-separated parts/);
    expectFailure(await validate("Bearer a.b.c.d"), /3 dot-separated parts/);
    expectFailure(await validate("Bearer !!!.???.***"), /header is not base64url/);
    expectFailure(await validate(`Bearer ${b64url("[1]")}.${b64url(claims())}.sig`), /header is not base64url-encoded JSON/);
    expectFailure(await validate(`Bearer ${b64url({ alg: "RS256", kid: "key-a" })}.${b64url("not json")}.sig`), /payload/);
    expectFailure(await validate(`Bearer ${b64url({ alg: "RS256", kid: "key-a" })}.${b64url(claims())}.`), /signature is missing/);
    expectFailure(await validate(`Bearer ${b64url({ alg: "RS256", kid: "key-a", crit: ["exp"] })}.${b64url(claims())}.abcd`), /critical/);
    expect(server.calls).toBe(0);
  });

  it("rejects a token longer than 16 KiB without fetching keys", async () => {
    const { validate, server } = setup();
    const token = signToken(keyA, claims({ padding: "x".repeat(MAX_TOKEN_LENGTH) }));
    expect(token.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
    expectFailure(await validate(`Bearer ${token}`), /longer than 16384/, token);
    expectFailure(await validate(`Bearer ${"a".repeat(1024 * 1024)}`), /longer than/);
    expect(server.calls).toBe(0);
    // Just under the limit is fine.
    const base = signToken(keyA, claims({ padding: "" })).length;
    const fits = signToken(keyA, claims({ padding: "x".repeat(Math.floor(((MAX_TOKEN_LENGTH - base) * 3) / 4) - 4) }));
    expect(fits.length).toBeLessThanOrEqual(MAX_TOKEN_LENGTH);
    expect((await validate(`Bearer ${fits}`)).ok).toBe(true);
  });

  it("reports a JWKS fetch failure as retryable 'signing keys unavailable', and recovers", async () => {
    const { validate, server } = setup();
    server.failing = true;
    const token = signToken(keyA, claims());
    const result = await validate(`Bearer ${token}`);
    expect(result).toEqual({ ok: false, status: 401, reason: "signing keys unavailable", retryable: true });
    server.failing = false;
    expect((await validate(`Bearer ${token}`)).ok).toBe(true);
  });

  it("treats a JWKS without usable keys as unavailable", async () => {
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ format: "jwk" });
    const { validate } = setup({
      fetchJwks: async () => ({ keys: [{ kty: "EC", kid: "ec" }, { ...weak, kid: "key-a" }, { kty: "RSA", kid: "broken", n: "AA", e: "AQAB" }] as JsonWebKey[] }),
    });
    expect(await validate(`Bearer ${signToken(keyA, claims())}`)).toMatchObject({ ok: false, reason: "signing keys unavailable", retryable: true });
    const { validate: validate2 } = setup({ fetchJwks: async () => ({ nonsense: true }) as unknown as Jwks });
    expect(await validate2(`Bearer ${signToken(keyA, claims())}`)).toMatchObject({ ok: false, retryable: true });
  });

  it("keeps using cached keys when a refresh after expiry fails", async () => {
    const { validate, server, time } = setup({ cacheSeconds: 600 });
    const token = () => signToken(keyA, claims({ iat: time.now / 1000, nbf: time.now / 1000, exp: time.now / 1000 + 3600 }));
    expect((await validate(`Bearer ${token()}`)).ok).toBe(true);
    time.now += 601_000;
    server.failing = true;
    expect((await validate(`Bearer ${token()}`)).ok).toBe(true);
    expect(server.calls).toBe(2);
    expect((await validate(`Bearer ${token()}`)).ok).toBe(true);
    expect(server.calls).toBe(2); // no retry on every request while the endpoint is down
  });

  it("caches the keys: two validations, one fetch; refetches after cacheSeconds", async () => {
    const { validate, server, time } = setup({ cacheSeconds: 600 });
    const token = signToken(keyA, claims({ exp: NOW + 7200 }));
    expect((await validate(`Bearer ${token}`)).ok).toBe(true);
    expect((await validate(`Bearer ${token}`)).ok).toBe(true);
    expect(server.calls).toBe(1);
    time.now += 601_000;
    expect((await validate(`Bearer ${token}`)).ok).toBe(true);
    expect(server.calls).toBe(2);
  });

  it("shares one fetch between concurrent validations", async () => {
    const { validate, server } = setup();
    const token = signToken(keyA, claims());
    const results = await Promise.all(Array.from({ length: 25 }, () => validate(`Bearer ${token}`)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.calls).toBe(1);
  });

  it("never throws, even when fetchJwks throws synchronously or the clock does", async () => {
    const sync = createEntraTokenValidator({
      tenantId: TENANT,
      audience: AUDIENCE,
      fetchJwks: () => {
        throw new Error("boom");
      },
    });
    expect(await sync(`Bearer ${signToken(keyA, claims())}`)).toMatchObject({ ok: false, retryable: true });
    const { validate } = setup({
      clock: () => {
        throw new Error("clock");
      },
    });
    expect(await validate(`Bearer ${signToken(keyA, claims())}`)).toMatchObject({ ok: false, status: 401 });
  });

  it("rejects invalid options at construction", () => {
    expect(() => createEntraTokenValidator({ tenantId: "", audience: AUDIENCE })).toThrow(/tenantId/);
    expect(() => createEntraTokenValidator({ tenantId: "evil/../x", audience: AUDIENCE })).toThrow(/tenantId/);
    expect(() => createEntraTokenValidator({ tenantId: TENANT, audience: [] })).toThrow(/audience/);
    expect(() => createEntraTokenValidator({ tenantId: TENANT, audience: AUDIENCE, allowedIssuers: [] })).toThrow(/allowedIssuers/);
    // Neither a role nor an app: any application in the tenant would pass.
    expect(() => createEntraTokenValidator({ tenantId: TENANT, audience: AUDIENCE, allowedRoles: [], allowedApps: [] })).toThrow(/allowedRoles or allowedApps/);
    expect(() => createEntraTokenValidator({ tenantId: TENANT, audience: AUDIENCE, maxLifetimeSeconds: 0 })).toThrow(/maxLifetimeSeconds/);
  });
});

describe("who may call the secure webhook", () => {
  const ACTION_GROUPS = "461e8683-5575-4561-ac7f-899cc907d62a";

  it("rejects a valid token of the tenant without an allowed role or app (any app in the tenant can get one)", async () => {
    const { validate } = setup();
    const noRole = signToken(keyA, claims({ roles: undefined }));
    expectFailure(await validate(`Bearer ${noRole}`), /none of the allowed app roles \(ActionGroupsSecureWebhook\).*azp\/appid/, noRole);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ roles: ["Reader", "Switchyard.Operator"] }))}`), /app roles/);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ roles: "ActionGroupsSecureWebhook" }))}`), /app roles/);
    expect((await validate(`Bearer ${signToken(keyA, claims({ roles: ["Reader", "ActionGroupsSecureWebhook"] }))}`)).ok).toBe(true);
  });

  it("accepts an allowed client application by azp (v2.0) or appid (v1.0), without a role", async () => {
    const { validate } = setup({ allowedApps: [ACTION_GROUPS.toUpperCase()] });
    expect((await validate(`Bearer ${signToken(keyA, claims({ roles: undefined }))}`)).ok).toBe(true);
    expect((await validate(`Bearer ${signToken(keyA, claims({ roles: undefined, appid: undefined, azp: ACTION_GROUPS, iss: V2_ISSUER }))}`)).ok).toBe(true);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ roles: undefined, appid: CLIENT_ID }))}`), /azp\/appid/);
    // Roles only, when no role is allowed.
    const appsOnly = setup({ allowedRoles: [], allowedApps: [CLIENT_ID] }).validate;
    expectFailure(await appsOnly(`Bearer ${signToken(keyA, claims())}`), /not allowed/);
  });

  it("rejects a token that lives longer than the maximum lifetime (24 h by default), and one without exp", async () => {
    const { validate } = setup();
    expect((await validate(`Bearer ${signToken(keyA, claims({ iat: NOW - 60, exp: NOW - 60 + 24 * 3600 }))}`)).ok).toBe(true);
    const longLived = signToken(keyA, claims({ iat: NOW - 60, exp: NOW - 60 + 24 * 3600 + 1 }));
    expectFailure(await validate(`Bearer ${longLived}`), /lifetime \(exp − iat\) is longer than 86400 s/, longLived);
    // Without iat, from nbf; without either, what is left of it.
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iat: undefined, nbf: NOW - 3600, exp: NOW + 24 * 3600 }))}`), /lifetime/);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iat: undefined, nbf: undefined, exp: NOW + 25 * 3600 }))}`), /lifetime/);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ exp: undefined }))}`), /exp/);
    const short = setup({ maxLifetimeSeconds: 3600 }).validate;
    expectFailure(await short(`Bearer ${signToken(keyA, claims({ iat: NOW - 60, exp: NOW + 3600 }))}`), /longer than 3600 s/);
  });
});

describe("the configured cloud's issuers and keys", () => {
  it.each([
    ["AzureUSGovernment", [`https://login.microsoftonline.us/${TENANT}/v2.0`, `https://sts.windows.net/${TENANT}/`], `https://login.microsoftonline.us/${TENANT}/discovery/v2.0/keys`, V2_ISSUER],
    ["AzureChinaCloud", [`https://login.partner.microsoftonline.cn/${TENANT}/v2.0`, `https://sts.chinacloudapi.cn/${TENANT}/`], `https://login.chinacloudapi.cn/${TENANT}/discovery/v2.0/keys`, V1_ISSUER],
  ] as const)("%s: its issuers pass, the public cloud's do not, and the keys come from its login endpoint", async (cloud, issuers, keysUri, foreign) => {
    const { validate, server } = setup({ cloud });
    for (const iss of issuers) expect((await validate(`Bearer ${signToken(keyA, claims({ iss }))}`)).ok, iss).toBe(true);
    expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iss: foreign }))}`), /issuer/);
    expect(new Set(server.uris)).toEqual(new Set([keysUri]));
  });

  it("the public cloud refuses the other clouds' issuers", async () => {
    const { validate } = setup();
    for (const iss of [`https://login.microsoftonline.us/${TENANT}/v2.0`, `https://login.partner.microsoftonline.cn/${TENANT}/v2.0`, `https://sts.chinacloudapi.cn/${TENANT}/`]) {
      expectFailure(await validate(`Bearer ${signToken(keyA, claims({ iss }))}`), /issuer/);
    }
  });
});
