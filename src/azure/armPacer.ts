/**
 * Client-side pacing of Resource Manager reads, so that a round that reads hundreds of resources stays
 * inside the principal's budget instead of spending it and being throttled. Resource Manager gives each
 * principal, per subscription (and region), a bucket of 250 read tokens refilled at 25 a second; a
 * pacer of 100 tokens refilled at 20 a second keeps a lag round's reads under that, and leaves room
 * for the health timer's and the runs' reads by the same identity. The SDK's retry policy still honours
 * Retry-After if Azure throttles anyway (other callers share the budget).
 */
export interface PacerClock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: PacerClock = { now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export class TokenBucketPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    private readonly clock: PacerClock = realClock,
  ) {
    if (!(capacity >= 1) || !(perSecond > 0)) throw new RangeError("a pacer needs a capacity of at least 1 and a positive rate");
  }

  /** Takes one token of `key`'s bucket, waiting until one is there; resolves with the milliseconds waited. */
  async take(key: string): Promise<number> {
    let waited = 0;
    for (;;) {
      const now = this.clock.now();
      const b = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
      b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
      this.buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return waited;
      }
      const ms = Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
      waited += ms;
      await this.clock.sleep(ms);
    }
  }
}

/** The pacer every lag round of this process shares (per subscription): all its Resource Manager reads. */
export const LAG_ARM_PACER = new TokenBucketPacer(100, 20);

/**
 * The Storage resource provider has its own limit: 800 account reads per 5 minutes per subscription and
 * region. Lag rounds read storage accounts at most 100 at once, then one a second (per subscription):
 * at most 400 in any 5 minutes, half of it, so that a failover's own reads of the same accounts are not
 * throttled by the timer's. A plan with more accounts than that per subscription has rounds longer than
 * a minute (the timer does not overlap its runs).
 */
export const LAG_STORAGE_PACER = new TokenBucketPacer(100, 1);
