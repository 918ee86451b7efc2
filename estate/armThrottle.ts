import { createHash } from "node:crypto";
import { EstateHttpError } from "./errors.ts";
import { isObject, stringAt } from "./json.ts";

/*
 * Resource Manager's subscription throttling, as "Understand how Azure Resource Manager throttles
 * requests" (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling)
 * describes it since the 2024 regional throttling: a token bucket per subscription, per security
 * principal and per operation type (reads, writes, deletes). Each request takes one token; a bucket
 * below its size gets its refill rate back every second; an empty bucket answers 429 with Retry-After.
 * Beside it a global bucket per subscription and operation type, 15 times a principal's, is shared by
 * every principal. The remaining tokens come back on every response in
 * `x-ms-ratelimit-remaining-subscription-{reads|writes|deletes}` and `…-global-{reads|writes|deletes}`.
 */

export type ArmOperationClass = "read" | "write" | "delete";

export const ARM_OPERATION_CLASSES: readonly ArmOperationClass[] = ["read", "write", "delete"];

export interface ArmBucketLimit {
  /** Tokens the bucket holds when full: the largest burst. */
  readonly bucket: number;
  /** Tokens added back each second (of Azure time) until the bucket is full. */
  readonly refillPerSecond: number;
}

export interface ArmThrottlingLimits {
  readonly read: ArmBucketLimit;
  readonly write: ArmBucketLimit;
  readonly delete: ArmBucketLimit;
  /** The subscription's global bucket (all principals together), as a multiple of a principal's. */
  readonly globalFactor: number;
}

/** Azure's published subscription limits (the request-limits-and-throttling article, regional throttling). */
export const AZURE_ARM_LIMITS: ArmThrottlingLimits = {
  read: { bucket: 250, refillPerSecond: 25 },
  write: { bucket: 200, refillPerSecond: 10 },
  delete: { bucket: 200, refillPerSecond: 10 },
  globalFactor: 15,
};

/**
 * How to throttle: `EstateOptions.armThrottling`, `PUT /_estate/throttling`, a scenario's `throttling`.
 * Each sets the whole configuration: `enabled` defaults to true, and every limit not given is Azure's.
 */
export interface ArmThrottlingSettings {
  readonly enabled?: boolean;
  readonly read?: Partial<ArmBucketLimit>;
  readonly write?: Partial<ArmBucketLimit>;
  readonly delete?: Partial<ArmBucketLimit>;
  readonly globalFactor?: number;
}

export interface ArmRequestCounts {
  requests: number;
  throttled: number;
}

/** What `GET /_estate/throttling` answers. Principals are object ids, app ids or token hashes, never tokens. */
export interface ArmThrottlingReport {
  readonly enabled: boolean;
  readonly limits: ArmThrottlingLimits;
  /** Refill rates are per Azure second: on the estate's clock buckets refill this many times faster. */
  readonly timeScale: number;
  /** Every authenticated request to a Resource Manager route, throttled or not. */
  readonly requests: number;
  readonly throttled: number;
  readonly byClass: Record<ArmOperationClass, ArmRequestCounts>;
  readonly byPrincipal: { principal: string; requests: number; throttled: number; byClass: Record<ArmOperationClass, ArmRequestCounts> }[];
  /** Tokens left now in each bucket used so far (global buckets have no principal). */
  readonly buckets: { subscriptionId: string; principal?: string; operationClass: ArmOperationClass; remaining: number }[];
}

/** Resource Manager counts GET as a read, DELETE as a delete, and every other method (POST actions too) as a write. */
export function operationClass(method: string): ArmOperationClass {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD") return "read";
  if (m === "DELETE") return "delete";
  return "write";
}

const CLAIM = /^[\w.:@-]{1,128}$/;

/**
 * Who is calling, from the `Authorization` header: a JWT's `oid` claim (the principal's object id),
 * else its `appid`; any other token (the estate accepts any) by the first 16 hex digits of its SHA-256.
 * The token itself is never kept.
 */
export function principalOf(authorization: string | undefined): string {
  const token = (authorization ?? "").replace(/^Bearer\s+/i, "").trim();
  const parts = token.split(".");
  if (parts.length === 3) {
    try {
      const payload: unknown = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
      if (isObject(payload)) {
        for (const claim of ["oid", "appid"]) {
          const value = stringAt(payload, claim);
          if (value !== undefined && CLAIM.test(value)) return value;
        }
      }
    } catch {
      // not a JWT after all: hashed below
    }
  }
  return `sha256:${createHash("sha256").update(token).digest("hex").slice(0, 16)}`;
}

/** The full configuration a setting stands for (see ArmThrottlingSettings). */
export function resolveThrottling(settings: boolean | ArmThrottlingSettings | undefined): { enabled: boolean; limits: ArmThrottlingLimits } {
  if (settings === undefined || settings === false) return { enabled: false, limits: AZURE_ARM_LIMITS };
  if (settings === true) return { enabled: true, limits: AZURE_ARM_LIMITS };
  const limit = (c: ArmOperationClass): ArmBucketLimit => ({
    bucket: settings[c]?.bucket ?? AZURE_ARM_LIMITS[c].bucket,
    refillPerSecond: settings[c]?.refillPerSecond ?? AZURE_ARM_LIMITS[c].refillPerSecond,
  });
  return {
    enabled: settings.enabled ?? true,
    limits: { read: limit("read"), write: limit("write"), delete: limit("delete"), globalFactor: settings.globalFactor ?? AZURE_ARM_LIMITS.globalFactor },
  };
}

/** One token bucket: refilled in whole ticks (one Azure second each), up to its size. */
class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly size: number,
    private readonly perTick: number,
    now: number,
  ) {
    this.tokens = size;
    this.refilledAt = now;
  }

  /** Tokens left at `now` (whole tokens). */
  remaining(now: number, tickMs: number): number {
    this.refill(now, tickMs);
    return Math.floor(this.tokens);
  }

  take(): void {
    this.tokens -= 1;
  }

  /** Estate milliseconds from `now` until a whole token is there (0 when one is). */
  msUntilToken(now: number, tickMs: number): number {
    this.refill(now, tickMs);
    if (this.tokens >= 1) return 0;
    const ticks = Math.ceil((1 - this.tokens) / this.perTick);
    return Math.max(0, this.refilledAt + ticks * tickMs - now);
  }

  private refill(now: number, tickMs: number): void {
    if (this.tokens >= this.size) {
      // A full bucket gains nothing: its next tick counts from now.
      this.refilledAt = now;
      return;
    }
    const ticks = Math.floor((now - this.refilledAt) / tickMs);
    if (ticks <= 0) return;
    this.tokens = Math.min(this.size, this.tokens + ticks * this.perTick);
    this.refilledAt += ticks * tickMs;
  }
}

const zero = (): Record<ArmOperationClass, ArmRequestCounts> => ({ read: { requests: 0, throttled: 0 }, write: { requests: 0, throttled: 0 }, delete: { requests: 0, throttled: 0 } });
const plural: Record<ArmOperationClass, string> = { read: "reads", write: "writes", delete: "deletes" };

/**
 * The estate's Resource Manager throttle. Off unless configured; requests are counted either way.
 * Time is the estate's clock; `timeScale` (the estate's) makes one Azure second `1000 / timeScale` ms.
 */
export class ArmThrottle {
  private enabled: boolean;
  private limits: ArmThrottlingLimits;
  private readonly tickMs: number;
  private readonly timeScale: number;
  /** Buckets by `subscription \n class \n principal` (principal empty for the global bucket). */
  private buckets = new Map<string, { subscriptionId: string; principal?: string; operationClass: ArmOperationClass; bucket: TokenBucket }>();
  private counts = zero();
  private byPrincipal = new Map<string, { requests: number; throttled: number; byClass: Record<ArmOperationClass, ArmRequestCounts> }>();

  constructor(
    private readonly clock: () => number,
    private readonly initial: boolean | ArmThrottlingSettings | undefined,
    timeScale?: number,
  ) {
    this.timeScale = timeScale !== undefined && Number.isFinite(timeScale) && timeScale > 0 ? timeScale : 1;
    this.tickMs = 1000 / this.timeScale;
    ({ enabled: this.enabled, limits: this.limits } = resolveThrottling(initial));
  }

  /** Replaces the configuration; every bucket starts again full (counts are kept). */
  configure(settings: boolean | ArmThrottlingSettings): void {
    ({ enabled: this.enabled, limits: this.limits } = resolveThrottling(settings));
    this.buckets.clear();
  }

  /** Back to the configuration the estate started with; buckets full, counts zero. */
  reset(): void {
    this.configure(this.initial ?? false);
    this.counts = zero();
    this.byPrincipal.clear();
  }

  /**
   * Admits one authenticated request to a Resource Manager route: counts it and, when throttling is on,
   * takes a token from the principal's and the subscription's global bucket. Answers the
   * `x-ms-ratelimit-remaining-*` headers for the response; throws 429 `SubscriptionRequestsThrottled`
   * with `Retry-After` (whole seconds on the estate's clock, at least 1) when either bucket is empty.
   */
  admit(request: { method: string; subscriptionId: string | undefined; authorization: string | undefined }): Record<string, string> {
    const cls = operationClass(request.method);
    const principal = principalOf(request.authorization);
    const mine = this.byPrincipal.get(principal) ?? { requests: 0, throttled: 0, byClass: zero() };
    this.byPrincipal.set(principal, mine);
    for (const c of [this.counts[cls], mine, mine.byClass[cls]]) c.requests++;
    // Every Resource Manager route of the estate names a subscription; tenant-level limits are not modelled.
    if (!this.enabled || request.subscriptionId === undefined) return {};

    const now = this.clock();
    const subscriptionId = request.subscriptionId.toLowerCase();
    const own = this.bucket(subscriptionId, cls, principal, now);
    const global = this.bucket(subscriptionId, cls, undefined, now);
    const wait = Math.max(own.msUntilToken(now, this.tickMs), global.msUntilToken(now, this.tickMs));
    if (wait === 0) {
      own.take();
      global.take();
    }
    const headers = {
      [`x-ms-ratelimit-remaining-subscription-${plural[cls]}`]: String(own.remaining(now, this.tickMs)),
      [`x-ms-ratelimit-remaining-subscription-global-${plural[cls]}`]: String(global.remaining(now, this.tickMs)),
    };
    if (wait === 0) return headers;

    for (const c of [this.counts[cls], mine, mine.byClass[cls]]) c.throttled++;
    const seconds = Math.max(1, Math.ceil(wait / 1000));
    const which = own.msUntilToken(now, this.tickMs) > 0 ? `actor '${principal}'` : "(all actors together)";
    throw new EstateHttpError(
      429,
      "SubscriptionRequestsThrottled",
      `Number of '${cls}' requests for subscription '${request.subscriptionId}' ${which} exceeded. Please try again after '${seconds}' seconds.`,
      { ...headers, "Retry-After": String(seconds) },
    );
  }

  report(): ArmThrottlingReport {
    const now = this.clock();
    const total = ARM_OPERATION_CLASSES.reduce((sum, c) => ({ requests: sum.requests + this.counts[c].requests, throttled: sum.throttled + this.counts[c].throttled }), { requests: 0, throttled: 0 });
    return {
      enabled: this.enabled,
      limits: this.limits,
      timeScale: this.timeScale,
      ...total,
      byClass: structuredClone(this.counts),
      byPrincipal: [...this.byPrincipal].map(([principal, c]) => ({ principal, requests: c.requests, throttled: c.throttled, byClass: structuredClone(c.byClass) })),
      buckets: [...this.buckets.values()].map((b) => ({
        subscriptionId: b.subscriptionId,
        ...(b.principal !== undefined ? { principal: b.principal } : {}),
        operationClass: b.operationClass,
        remaining: b.bucket.remaining(now, this.tickMs),
      })),
    };
  }

  private bucket(subscriptionId: string, cls: ArmOperationClass, principal: string | undefined, now: number): TokenBucket {
    const key = `${subscriptionId}\n${cls}\n${principal ?? ""}`;
    let entry = this.buckets.get(key);
    if (!entry) {
      const limit = this.limits[cls];
      const factor = principal === undefined ? this.limits.globalFactor : 1;
      entry = { subscriptionId, ...(principal !== undefined ? { principal } : {}), operationClass: cls, bucket: new TokenBucket(limit.bucket * factor, limit.refillPerSecond * factor, now) };
      this.buckets.set(key, entry);
    }
    return entry.bucket;
  }
}
