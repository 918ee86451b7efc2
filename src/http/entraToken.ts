import type { JsonWebKey } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, errors, importJWK, jwtVerify, type CryptoKey, type JWK } from "jose";
import { isObject } from "../core/guards.ts";
import { CLOUDS, type CloudName } from "../azure/clouds.ts";
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, SECURE_WEBHOOK_ROLE } from "../core/alerts/secureWebhook.ts";

/**
 * Validation of Microsoft Entra ID access tokens, for the alert webhook's optional "secure webhook"
 * mode: an Azure Monitor action group with a secure webhook sends `Authorization: Bearer <token>`,
 * the token issued for the app registration configured on the action group.
 *
 * A valid token is not enough: any application in the tenant can get one for the webhook's audience.
 * The token must also carry one of the allowed app roles (`roles`; Azure Monitor's documented setup
 * assigns the `ActionGroupsSecureWebhook` role of the webhook's app registration to the Action Groups
 * service principal) or name an allowed client application (`azp` in v2.0 tokens, `appid` in v1.0),
 * and live no longer than a maximum lifetime (exp − iat), so that a leaked long-lived token is refused.
 *
 * Signatures and claims are checked by `jose` (`jwtVerify` with the issuers, audiences, RS256 only and
 * the clock tolerance). Only RS256 is accepted — Entra signs access tokens with RS256, and accepting
 * nothing else rules out `alg: none` and the HS256 key-confusion attack. The signing keys come from the
 * tenant's JWKS, held here rather than by jose's `createRemoteJWKSet` because that one reads
 * `Date.now()` (not the injected clock) and drops the keys it holds when a refetch fails; here they are
 * fetched, cached, refetched on an unknown `kid` to follow key rotation, and kept while the endpoint is
 * down.
 */

/**
 * The verdict on one Authorization header. Every failure has `status: 401` and a `reason` that says
 * what was wrong (for logs and the response body) and never contains the token or its claims. The one
 * failure that is not the caller's fault — the signing keys could not be fetched — also carries
 * `retryable: true`, and the alert webhook answers it with 503 and `Retry-After` instead of 401 so that
 * the action group retries rather than dropping the alert.
 */
export type EntraTokenResult =
  | { ok: true; claims: Record<string, unknown> }
  | { ok: false; status: 401; reason: string; retryable?: true };

/** Never throws: every problem is an `{ ok: false }` verdict. */
export type EntraTokenValidator = (authorizationHeader: string | null | undefined) => Promise<EntraTokenResult>;

export interface Jwks {
  keys: JsonWebKey[];
}

export interface EntraTokenValidatorOptions {
  /** Directory (tenant) id, or a verified domain of the tenant. */
  tenantId: string;
  /** Accepted `aud` values: the app registration's client id and/or Application ID URI. */
  audience: string | string[];
  /** The Azure cloud whose Entra ID issues the tokens (issuers and keys). Default AzurePublicCloud. */
  cloud?: CloudName;
  /** Accepted `iss` values, matched exactly. Default: the tenant's v2.0 and v1 issuers in the cloud. */
  allowedIssuers?: string[];
  /** Default: {the cloud's authority host}/{tenantId}/discovery/v2.0/keys */
  jwksUri?: string;
  /**
   * App roles (`roles`) of which the token must carry one, unless its client application is allowed.
   * Default: [ActionGroupsSecureWebhook]. With allowedApps, at least one entry is required.
   */
  allowedRoles?: readonly string[];
  /** Client application ids (`azp`, or `appid` in v1.0 tokens) accepted without a role. Default: none. */
  allowedApps?: readonly string[];
  /** Longest lifetime (exp − iat) of a token accepted. Default 86400 (24 h). */
  maxLifetimeSeconds?: number;
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
  keys: Map<string, CryptoKey>;
  /** When to fetch again: cacheSeconds after a fetch, or minRefetchSeconds after a failed one. */
  refreshAt: number;
}

type Failure = Extract<EntraTokenResult, { ok: false }>;

const fail = (reason: string): Failure => ({ ok: false, status: 401, reason });
const UNAVAILABLE: Failure = { ok: false, status: 401, reason: "signing keys unavailable", retryable: true };

/** Thrown by the key lookup through jwtVerify, carrying the verdict out. */
class KeyLookupFailed extends Error {
  constructor(readonly failure: Failure) {
    super(failure.reason);
  }
}

/**
 * A validator for one tenant and audience. Throws only here, for invalid options (a configuration
 * error); the returned function never throws.
 */
export function createEntraTokenValidator(options: EntraTokenValidatorOptions): EntraTokenValidator {
  const tenantId = options.tenantId?.trim() ?? "";
  if (!TENANT.test(tenantId)) throw new Error("createEntraTokenValidator: tenantId must be a tenant id or domain");
  const audiences = (Array.isArray(options.audience) ? options.audience : [options.audience]).filter((a) => typeof a === "string" && a.length > 0);
  if (audiences.length === 0) throw new Error("createEntraTokenValidator: at least one audience is required");
  const cloud = CLOUDS[options.cloud ?? "AzurePublicCloud"];
  if (!cloud) throw new Error("createEntraTokenValidator: cloud must be one of " + Object.keys(CLOUDS).join(", "));
  const issuers = options.allowedIssuers ?? [`${cloud.tokenIssuerV2}/${tenantId}/v2.0`, `${cloud.tokenIssuerV1}/${tenantId}/`];
  if (issuers.length === 0) throw new Error("createEntraTokenValidator: allowedIssuers must not be empty");
  const jwksUri = options.jwksUri ?? `${cloud.authorityHost}/${tenantId}/discovery/v2.0/keys`;
  const allowedRoles = new Set((options.allowedRoles ?? [SECURE_WEBHOOK_ROLE]).filter((r) => r.length > 0));
  const allowedApps = new Set((options.allowedApps ?? []).map((a) => a.toLowerCase()).filter((a) => a.length > 0));
  if (allowedRoles.size === 0 && allowedApps.size === 0) throw new Error("createEntraTokenValidator: allowedRoles or allowedApps must name someone (else any application in the tenant is accepted)");
  const maxLifetimeSeconds = options.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (!(maxLifetimeSeconds > 0)) throw new Error("createEntraTokenValidator: maxLifetimeSeconds must be positive");
  // Whatever the keys come from, they are read as unknown: importKeys checks each one.
  const fetchJwks: (uri: string) => Promise<unknown> = options.fetchJwks ?? defaultFetchJwks;
  const clock = options.clock ?? Date.now;
  const skewSeconds = options.clockSkewSeconds ?? 300;
  const cacheMs = (options.cacheSeconds ?? 3600) * 1000;
  const minRefetchMs = (options.minRefetchSeconds ?? 60) * 1000;

  let keySet: KeySet | undefined;
  let inflight: Promise<boolean> | undefined;
  let lastForcedRefetchAt = Number.NEGATIVE_INFINITY;

  /** Fetches the keys (one fetch at a time; concurrent callers share it). False if the fetch failed. */
  function refresh(): Promise<boolean> {
    inflight ??= (async () => {
      try {
        const keys = await importKeys(await fetchJwks(jwksUri));
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

  /** The key for `kid`; throws KeyLookupFailed. A failed refresh falls back to keys already held, if any. */
  async function keyFor(kid: string): Promise<CryptoKey> {
    let fetchedForThisRequest = false;
    if (!keySet || clock() >= keySet.refreshAt) {
      fetchedForThisRequest = true;
      await refresh();
      if (!keySet) throw new KeyLookupFailed(UNAVAILABLE);
    }
    const key = keySet.keys.get(kid);
    if (key) return key;
    // Unknown kid: the keys may have rotated since they were fetched. Refetch, but not if this request
    // already fetched them, and at most once per minRefetchSeconds so that tokens with made-up kids
    // cannot make us hammer the JWKS endpoint.
    const now = clock();
    if (fetchedForThisRequest || now - lastForcedRefetchAt < minRefetchMs) throw new KeyLookupFailed(fail("unknown signing key (kid)"));
    lastForcedRefetchAt = now;
    if (!(await refresh())) throw new KeyLookupFailed(UNAVAILABLE);
    const rotated = keySet.keys.get(kid);
    if (!rotated) throw new KeyLookupFailed(fail("unknown signing key (kid)"));
    return rotated;
  }

  async function validate(authorizationHeader: string | null | undefined): Promise<EntraTokenResult> {
    if (typeof authorizationHeader !== "string" || authorizationHeader.trim() === "") return fail("missing Authorization header");
    if (authorizationHeader.length > MAX_TOKEN_LENGTH + 64) return fail(`token longer than ${MAX_TOKEN_LENGTH} characters`);
    const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorizationHeader);
    if (!match) return fail("Authorization header is not a Bearer token");
    const token = match[1]!;
    if (token.length > MAX_TOKEN_LENGTH) return fail(`token longer than ${MAX_TOKEN_LENGTH} characters`);

    // Checked before any key is fetched, so that garbage costs no JWKS request, and each with its own reason.
    const parts = token.split(".");
    if (parts.length !== 3) return fail("token is not a JWT (expected 3 dot-separated parts)");
    const header = decodeOr(() => decodeProtectedHeader(token));
    if (!header || !isBase64url(parts[0]!)) return fail("token header is not base64url-encoded JSON");
    if (header.alg !== "RS256") return fail("token alg is not RS256");
    if (typeof header.kid !== "string" || header.kid.length === 0) return fail("token header has no kid");
    if (header.crit !== undefined) return fail("token header has unsupported critical parameters");
    if (!isBase64url(parts[1]!) || !decodeOr(() => decodeJwt(token))) return fail("token payload is not base64url-encoded JSON");
    if (!isBase64url(parts[2]!)) return fail("token signature is missing or not base64url");

    const now = clock();
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, (h) => keyFor(h.kid!), {
        algorithms: ["RS256"],
        issuer: issuers,
        audience: audiences,
        requiredClaims: ["exp"],
        clockTolerance: skewSeconds,
        currentDate: new Date(now),
      }));
    } catch (error) {
      return failureOf(error);
    }
    // jose checks iat against the clock only with maxTokenAge, which would also make iat required.
    if (typeof claims.iat === "number" && claims.iat * 1000 > now + skewSeconds * 1000) return fail("token was issued in the future (iat)");
    // The lifetime is exp − iat; without iat, from nbf, else from now (what is left of it).
    const start = typeof claims.iat === "number" ? claims.iat : typeof claims.nbf === "number" ? claims.nbf : now / 1000;
    const exp = typeof claims.exp === "number" ? claims.exp : Number.NaN;
    if (!(exp - start <= maxLifetimeSeconds)) return fail(`token lifetime (exp − iat) is longer than ${maxLifetimeSeconds} s`);
    if (!isAllowedCaller(claims)) {
      return fail(`token carries none of the allowed app roles (${[...allowedRoles].join(", ") || "none"}) and its client application (azp/appid) is not allowed`);
    }
    return { ok: true, claims };
  }

  /** One allowed role in `roles`, or an allowed client application in `azp` (v2.0) or `appid` (v1.0). */
  function isAllowedCaller(claims: Record<string, unknown>): boolean {
    const roles = Array.isArray(claims.roles) ? claims.roles : [];
    if (roles.some((r) => typeof r === "string" && allowedRoles.has(r))) return true;
    return [claims.azp, claims.appid].some((app) => typeof app === "string" && allowedApps.has(app.toLowerCase()));
  }

  return async (authorizationHeader) => {
    try {
      return await validate(authorizationHeader);
    } catch {
      return fail("token validation failed");
    }
  };
}

/** Reasons for jose's claim failures, by claim (nbf's "in the future" is told apart below). */
const CLAIM_REASONS: Readonly<Record<string, string>> = {
  iss: "token issuer is not allowed",
  aud: "token audience does not match",
  exp: "token has no valid exp claim",
  nbf: "token nbf claim is invalid",
  iat: "token iat claim is invalid",
};

/** The verdict for what jwtVerify threw. */
function failureOf(error: unknown): Failure {
  if (error instanceof KeyLookupFailed) return error.failure;
  if (error instanceof errors.JWSSignatureVerificationFailed) return fail("token signature is invalid");
  if (error instanceof errors.JOSEAlgNotAllowed) return fail("token alg is not RS256");
  if (error instanceof errors.JWTExpired) return fail("token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf" && error.reason === "check_failed") return fail("token is not yet valid (nbf)");
    return fail(CLAIM_REASONS[error.claim] ?? "token validation failed");
  }
  return fail("token validation failed");
}

/**
 * The tenant's key set as the endpoint sent it, not yet trusted: importKeys checks every key and field
 * it uses. Anything but an object with a list of keys is a failed fetch (the keys already held stay).
 */
async function defaultFetchJwks(uri: string): Promise<unknown> {
  const response = await fetch(uri, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`JWKS fetch failed: HTTP ${response.status}`);
  const body: unknown = await response.json();
  if (!isObject(body) || !Array.isArray(body.keys)) throw new Error("JWKS fetch failed: the answer is not a key set (no keys list)");
  return body;
}

/** The usable RSA signing keys of a JWKS, by kid. Keys that are not RS256 signing keys of 2048 bits or more are skipped. */
async function importKeys(jwks: unknown): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  const list = isObject(jwks) ? jwks.keys : undefined;
  if (!Array.isArray(list)) return keys;
  for (const jwk of list) {
    if (!isObject(jwk)) continue;
    if (typeof jwk.kid !== "string" || jwk.kid.length === 0 || keys.has(jwk.kid)) continue;
    if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.e !== "string") continue;
    if (jwk.use !== undefined && jwk.use !== "sig") continue;
    if (jwk.alg !== undefined && jwk.alg !== "RS256") continue;
    try {
      // Only the public components: x5c and friends are ignored.
      const key = await importJWK({ kty: "RSA", n: jwk.n, e: jwk.e } satisfies JWK, "RS256");
      if (!(key instanceof Uint8Array) && modulusBits(key) >= MIN_RSA_MODULUS_BITS) keys.set(jwk.kid, key);
    } catch {
      // not a valid RSA key: skip it
    }
  }
  return keys;
}

/** The key's modulus size; 0 when its algorithm does not say (it is then too weak to use). */
function modulusBits(key: CryptoKey): number {
  const algorithm = key.algorithm;
  return "modulusLength" in algorithm && typeof algorithm.modulusLength === "number" ? algorithm.modulusLength : 0;
}

function isBase64url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}

function decodeOr<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch {
    return undefined;
  }
}
