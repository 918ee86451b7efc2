import { EstateHttpError } from "./errors.ts";

/**
 * Planted faults, matched by operation id (`*` for any ARM/data-plane operation) and optionally by
 * the resource id the request path starts with.
 */
export type FaultSpec =
  | { kind: "throttle"; operationId: string; count: number; retryAfterSeconds?: number; resourceId?: string }
  | { kind: "serverError"; operationId: string; count: number; status?: number; resourceId?: string }
  | { kind: "lroFailure"; operationId: string; count: number; resourceId?: string; outcome?: "Failed" | "Canceled"; code?: string }
  | { kind: "latency"; operationId: string; ms: number; count?: number; resourceId?: string };

/** A fault the request path plants (long-running operation failures are the operations table's). */
export type RequestFaultSpec = Exclude<FaultSpec, { kind: "lroFailure" }>;

interface Planted {
  spec: RequestFaultSpec;
  remaining: number;
}

export class Faults {
  private planted: Planted[] = [];

  reset(): void {
    this.planted = [];
  }

  /** LRO failures are handed to the operations table instead (see Estate.addFault). */
  add(spec: RequestFaultSpec): void {
    this.planted.push({ spec, remaining: "count" in spec && spec.count !== undefined ? spec.count : Number.POSITIVE_INFINITY });
  }

  /** The planted faults as plain data (an unlimited one has `remaining: null`). */
  toJSON(): { spec: RequestFaultSpec; remaining: number | null }[] {
    return this.planted.map((p) => ({ spec: p.spec, remaining: Number.isFinite(p.remaining) ? p.remaining : null }));
  }

  /** Replaces the planted faults with kept ones (see toJSON). */
  restore(kept: readonly { spec: RequestFaultSpec; remaining: number | null }[]): void {
    this.planted = kept.map((p) => ({ spec: p.spec, remaining: p.remaining ?? Number.POSITIVE_INFINITY }));
  }

  list(): { spec: FaultSpec; remaining: number | "unlimited" }[] {
    return this.planted.map((p) => ({ spec: p.spec, remaining: Number.isFinite(p.remaining) ? p.remaining : "unlimited" }));
  }

  /** Added latency for this request, in ms (consumes a use of each matching latency fault). */
  latencyFor(operationId: string, path: string): number {
    let total = 0;
    for (const p of this.matching(operationId, path, "latency")) {
      if (p.spec.kind !== "latency") continue;
      total += p.spec.ms;
      p.remaining--;
    }
    return total;
  }

  /** Throws the planted 429 or 5xx for this request, if any remains. */
  check(operationId: string, path: string): void {
    const [p] = this.matching(operationId, path, "throttle", "serverError");
    if (!p) return;
    p.remaining--;
    if (p.spec.kind === "throttle") {
      const seconds = p.spec.retryAfterSeconds ?? 1;
      throw new EstateHttpError(
        429,
        "TooManyRequests",
        `The request is being throttled. Retry after ${seconds} second(s).`,
        { "Retry-After": String(seconds) },
      );
    }
    if (p.spec.kind === "serverError") {
      const status = p.spec.status ?? 500;
      throw new EstateHttpError(status, status === 503 ? "ServiceUnavailable" : "InternalServerError", "The server encountered an internal error. Please retry the request.");
    }
  }

  private matching(operationId: string, path: string, ...kinds: FaultSpec["kind"][]): Planted[] {
    const lowerPath = path.toLowerCase();
    return this.planted.filter(
      (p) =>
        p.remaining > 0 &&
        kinds.includes(p.spec.kind) &&
        (p.spec.operationId === "*" || p.spec.operationId.toLowerCase() === operationId.toLowerCase()) &&
        (!("resourceId" in p.spec) || !p.spec.resourceId || pathNamesResource(lowerPath, p.spec.resourceId)),
    );
  }
}

/** True when `path` is the resource's own path or one below it (not merely a longer name). */
export function pathNamesResource(path: string, resourceId: string): boolean {
  const p = path.toLowerCase().replace(/\/+$/, "");
  const id = resourceId.toLowerCase().replace(/\/+$/, "");
  return p === id || p.startsWith(`${id}/`);
}
