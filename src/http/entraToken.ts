import { createPublicKey, verify, type JsonWebKey, type KeyObject } from "node:crypto";

/**
 * Validation of Microsoft Entra ID access tokens, for the alert webhook's optional "secure webhook"
 * mode: an Azure Monitor action group with a secure webhook sends `Authorization: Bearer <token>`,
 * the token issued for the app registration configured on the action group.
 *
 * No dependencies: keys come from the tenant's JWKS (fetched, cached, refetched on an unknown `kid`
 * to follow key rotation) and signatures are checked with node:crypto. Only RS256 is accepted — Entra
 * signs access tokens with RS256, and accepting nothing else rules out `alg: none` and the HS256
 * key-confusion attack.
 *
 * The validator never throws. Every failure is `{ ok: false, status: 401, reason }`, where `reason`
 * says what was wrong (for logs and the response body) and never contains the token or its claims.
 * The one failure that is not the caller's fault — the signing keys could not be fetched — also
 * carries `retryable: true`; the HTTP layer may answer 503 for it instead of 401 so that the action
 * group retries rather than dropping the alert.
 */

export type EntraTokenResult =
  | { ok: true; claims: Record<string, unknown> }
  | { ok: false; status: 401; reason: string; retryable?: true };

export type EntraTokenValidator = (authorizationHeader: string | null | undefined) => Promise<EntraTokenResult>;

export interface Jwks {
  keys: JsonWebKey[];
}

export interface EntraTokenValidatorOptions {
  /** Directory (tenant) id, or a verified domain of the tenant. */
  tenantId: string;
  /** Accepted `aud` values: the app registration's client id and/or Application ID URI. */
  audience: string | string[];
  /** Accepted `iss` values, matched exactly. Default: the tenant's v2.0 and v1 issuers. */
  allowedIssuers?: string[];
  /** Default: https://login.microsoftonline.com/{tenantId}/discovery/v2.0/keys */
  jwksUri?: string;
  /** Fetches the JWKS. Default: global fetch with a 10 s timeout. May reject; that is handled. */
  fetchJwks?: (uri: string) => Promise<Jwks>;
  /** Current time in epoch milliseconds. Default: Date.now. */
  clock?: () => number;
  /** Tolerance for exp / nbf / iat. Default 300. */
  clockSkewSeconds?: number;
  /** How long fetched keys are used before they are fetched again. Default 3600. */
  cacheSeconds?: number;
  /** At most one refetch per this many seconds when a token names an unknown kid. Default 60. */
  minRefetchSeconds?: number;
}

/** Longest token accepted (Entra access tokens are a few KiB; group overage keeps them bounded). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

const FETCH_TIMEOUT_MS = 10_000;
const MIN_RSA_MODULUS_BITS = 2048;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;

interface KeySet {
  keys: Map<string, KeyObject>;
  /** When to fetch again: cacheSeconds after a fetch, or minRefetchSeconds after a failed one. */
  refreshAt: number;
}

type Failure = Extract<EntraTokenResult, { ok: false }>;

const fail = (reason: string): Failure => ({ ok: false, status: 401, reason });
const UNAVAILABLE: Failure = { ok: false, status: 401, reason: "signing keys unavailable", retryable: true };

/**
 * A validator for one tenant and audience. Throws only here, for invalid options (a configuration
 * error); the returned function never throws.
 */
export function createEntraTokenValidator(options: EntraTokenValidatorOptions): EntraTokenValidator {
  const tenantId = options.tenantId?.trim() ?? "";
  if (!TENANT.test(tenantId)) throw new Error("createEntraTokenValidator: tenantId must be a tenant id or domain");
  const audiences = (Array.isArray(options.audience) ? options.audience : [options.audience]).filter((a) => typeof a === "string" && a.length > 0);
  if (audiences.length === 0) throw new Error("createEntraTokenValidator: at least one audience is required");
  const issuers = options.allowedIssuers ?? [`https://login.microsoftonline.com/${tenantId}/v2.0`, `https://sts.windows.net/${tenantId}/`];
  if (issuers.length === 0) throw new Error("createEntraTokenValidator: allowedIssuers must not be empty");
  const jwksUri = options.jwksUri ?? `https://login.microsoftonline.com/${tenantId}/discovery/v2.0/keys`;
  const fetchJwks = options.fetchJwks ?? defaultFetchJwks;
  const clock = options.clock ?? Date.now;
  const skewMs = (options.clockSkewSeconds ?? 300) * 1000;
  const cacheMs = (options.cacheSeconds ?? 3600) * 1000;
  const minRefetchMs = (options.minRefetchSeconds ?? 60) * 1000;

  let keySet: KeySet | undefined;
  let inflight: Promise<boolean> | undefined;
  let lastForcedRefetchAt = Number.NEGATIVE_INFINITY;

  /** Fetches the keys (one fetch at a time; concurrent callers share it). False if the fetch failed. */
  function refresh(): Promise<boolean> {
    inflight ??= (async () => {
      try {
        const keys = importKeys(await fetchJwks(jwksUri));
        if (keys.size === 0) throw new Error("no usable signing keys");
        keySet = { keys, refreshAt: clock() + cacheMs };
        return true;
      } catch {
        // Keep the keys already held (if any) and do not retry on every request meanwhile.
        if (keySet) keySet.refreshAt = clock() + minRefetchMs;
        return false;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  }

  /** The key for `kid`, or a failure. A failed refresh falls back to keys already held, if any. */
  async function keyFor(kid: string): Promise<KeyObject | Failure> {
    let fetchedForThisRequest = false;
    if (!keySet || clock() >= keySet.refreshAt) {
      fetchedForThisRequest = true;
      await refresh();
      if (!keySet) return UNAVAILABLE;
    }
    const key = keySet.keys.get(kid);
    if (key) return key;
    // Unknown kid: the keys may have rotated since they were fetched. Refetch, but not if this request
    // already fetched them, and at most once per minRefetchSeconds so that tokens with made-up kids
    // cannot make us hammer the JWKS endpoint.
    const now = clock();
    if (fetchedForThisRequest || now - lastForcedRefetchAt < minRefetchMs) return fail("unknown signing key (kid)");
    lastForcedRefetchAt = now;
    if (!(await refresh())) return UNAVAILABLE;
    return keySet.keys.get(kid) ?? fail("unknown signing key (kid)");
  }

  async function validate(authorizationHeader: string | null | undefined): Promise<EntraTokenResult> {
    if (typeof authorizationHeader !== "string" || authorizationHeader.trim() === "") return fail("missing Authorization header");
    if (authorizationHeader.length > MAX_TOKEN_LENGTH + 64) return fail(`token longer than ${MAX_TOKEN_LENGTH} characters`);
    const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorizationHeader);
    if (!match) return fail("Authorization header is not a Bearer token");
    const token = match[1]!;
    if (token.length > MAX_TOKEN_LENGTH) return fail(`token longer than ${MAX_TOKEN_LENGTH} characters`);

    const parts = token.split(".");
    if (parts.length !== 3) return fail("token is not a JWT (expected 3 dot-separated parts)");
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];

    const header = decodeJson(headerPart);
    if (!header) return fail("token header is not base64url-encoded JSON");
    if (header.alg !== "RS256") return fail("token alg is not RS256");
    if (typeof header.kid !== "string" || header.kid.length === 0) return fail("token header has no kid");
    if (header.crit !== undefined) return fail("token header has unsupported critical parameters");

    const claims = decodeJson(payloadPart);
    if (!claims) return fail("token payload is not base64url-encoded JSON");
    if (!isBase64url(signaturePart)) return fail("token signature is missing or not base64url");

    const key = await keyFor(header.kid);
    if ("ok" in key) return key;
    let valid = false;
    try {
      valid = verify("RSA-SHA256", Buffer.from(`${headerPart}.${payloadPart}`, "ascii"), key, Buffer.from(signaturePart, "base64url"));
    } catch {
      valid = false;
    }
    if (!valid) return fail("token signature is invalid");

    if (typeof claims.iss !== "string" || !issuers.includes(claims.iss)) return fail("token issuer is not allowed");
    const aud = claims.aud;
    const tokenAudiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
    if (!tokenAudiences.some((a) => audiences.includes(a))) return fail("token audience does not match");

    const now = clock();
    if (!isNumericDate(claims.exp)) return fail("token has no valid exp claim");
    if (now >= claims.exp * 1000 + skewMs) return fail("token has expired");
    if (claims.nbf !== undefined) {
      if (!isNumericDate(claims.nbf)) return fail("token nbf claim is invalid");
      if (claims.nbf * 1000 > now + skewMs) return fail("token is not yet valid (nbf)");
    }
    if (claims.iat !== undefined) {
      if (!isNumericDate(claims.iat)) return fail("token iat claim is invalid");
      if (claims.iat * 1000 > now + skewMs) return fail("token was issued in the future (iat)");
    }
    return { ok: true, claims };
  }

  return async (authorizationHeader) => {
    try {
      return await validate(authorizationHeader);
    } catch {
      return fail("token validation failed");
    }
  };
}

async function defaultFetchJwks(uri: string): Promise<Jwks> {
  const response = await fetch(uri, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`JWKS fetch failed: HTTP ${response.status}`);
  return (await response.json()) as Jwks;
}

/** The usable RSA signing keys of a JWKS, by kid. Keys that are not RSA signing keys are skipped. */
function importKeys(jwks: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const list = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) return keys;
  for (const jwk of list as Record<string, unknown>[]) {
    if (!jwk || typeof jwk !== "object") continue;
    if (typeof jwk.kid !== "string" || jwk.kid.length === 0 || keys.has(jwk.kid)) continue;
    if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (jwk.alg !== undefined && jwk.alg !== "RS256") continue;
    try {
      // Only the public components: x5c and friends are ignored.
      const key = createPublicKey({ key: { kty: "RSA", n: jwk.n, e: jwk.e }, format: "jwk" });
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) continue;
      keys.set(jwk.kid, key);
    } catch {
      // not a valid RSA key: skip it
    }
  }
  return keys;
}

function isBase64url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  if (!isBase64url(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isNumericDate(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}
