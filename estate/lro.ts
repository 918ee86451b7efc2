import { randomUUID } from "node:crypto";
import type { z } from "zod";
import type { EstateContext } from "./context.ts";
import type { EstateRequest, EstateResponse } from "./router.ts";
import { EstateHttpError } from "./errors.ts";

/**
 * What an operation does when its time is up, as data: the kind names a completer (see
 * `completionKind`), the data is what it needs (resource ids, the requested change). An operation in
 * flight is then plain data, which a restarted estate reads back and completes in its turn.
 */
export interface Completion {
  readonly kind: string;
  readonly data: unknown;
}

/** A kind of completion: checks its data (written by this estate, maybe read back from disk) and does the work. */
export interface CompletionKind<T> {
  readonly kind: string;
  /** The completion of one operation of this kind. */
  of(data: T): Completion;
  /** Does the work, reading the state then (not when the operation began). */
  run(ctx: EstateContext, data: unknown, op: Operation): OperationOutcome;
}

export function completionKind<T>(kind: string, schema: z.ZodType<T>, run: (ctx: EstateContext, data: T, op: Operation) => OperationOutcome): CompletionKind<T> {
  return {
    kind,
    of: (data) => ({ kind, data }),
    run(ctx, data, op) {
      const parsed = schema.safeParse(data);
      if (!parsed.success) return { ok: false, code: "InternalServerError", message: `The estate cannot complete operation ${op.id} (${kind}): ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, status: 500 };
      return run(ctx, parsed.data, op);
    },
  };
}

/** A long-running operation in flight, as ARM tracks it. Plain data (JSON), so that it can be kept. */
export interface Operation {
  readonly id: string;
  /** The route operation that started it, e.g. `FailoverGroups_Failover`. */
  readonly operationId: string;
  readonly subscriptionId: string;
  readonly namespace: string;
  readonly location: string;
  /** The resource the operation acts on. */
  readonly resourceId: string;
  status: "InProgress" | "Succeeded" | "Failed" | "Canceled";
  readonly startTime: number;
  readonly dueAt: number;
  endTime?: number;
  /** The final body served from the Location URL on success (none → 200 with an empty object). */
  result?: unknown;
  error?: { code: string; message: string };
  /** HTTP status the Location URL answers with when the operation failed. */
  errorStatus?: number;
  readonly asyncSegment?: string;
  readonly locationSegment?: string;
  readonly completion: Completion;
  /** A failure planted by the scenario, which it ends with instead of its completion. */
  readonly planted?: { readonly outcome?: "Failed" | "Canceled"; readonly code?: string };
}

export type OperationOutcome =
  | { ok: true; result?: unknown }
  | { ok: false; code: string; message: string; status?: number; canceled?: boolean };

/** A planted failure for upcoming operations (scenario control). */
export interface PlantedLroFailure {
  readonly operationId: string;
  readonly resourceId?: string;
  readonly outcome?: "Failed" | "Canceled";
  readonly code?: string;
  remaining: number;
}

export interface BeginOptions {
  readonly req: EstateRequest;
  readonly namespace: string;
  readonly location: string;
  readonly resourceId: string;
  /** Path segment of the Azure-AsyncOperation URL; omit for Location-only operations. */
  readonly asyncSegment?: string;
  /** Path segment of the Location URL; omit for Azure-AsyncOperation-only operations. */
  readonly locationSegment?: string;
  /** Does the work when the operation's time is up. Must read state then, not at the start. */
  readonly completion: Completion;
  /** Body of the 202 (some services echo the resource with provisioningState Updating). */
  readonly acceptedBody?: unknown;
  /** Lower-case header names, as some services send them (`azure-asyncoperation`). */
  readonly lowerCaseHeaders?: boolean;
}

export interface LroTiming {
  /** How long each operation takes, by operation id; `default` for the rest. */
  readonly durations: Record<string, number>;
  /** Seconds sent in Retry-After on 202s. */
  readonly retryAfterSeconds: number;
}

export class Operations {
  private readonly operations = new Map<string, Operation>();
  /** Planted failures for upcoming operations (scenario control). */
  private failNext: PlantedLroFailure[] = [];

  constructor(
    private readonly clock: () => number,
    private readonly timing: () => LroTiming,
    /** Runs an operation's completion (the estate knows the kinds). */
    private readonly complete: (op: Operation) => OperationOutcome,
  ) {}

  /** The operations and planted failures, as plain data. */
  toJSON(): { operations: Operation[]; failNext: PlantedLroFailure[] } {
    return { operations: this.list(), failNext: this.failNext };
  }

  /** Replaces the operations and planted failures with kept ones (see toJSON). */
  restore(kept: { operations: readonly Operation[]; failNext: readonly PlantedLroFailure[] }): void {
    this.operations.clear();
    for (const op of kept.operations) this.operations.set(op.id, { ...op });
    this.failNext = kept.failNext.map((f) => ({ ...f }));
  }

  reset(): void {
    this.operations.clear();
    this.failNext = [];
  }

  /** Makes the next `count` operations of `operationId` (on `resourceId`, if given) end Failed or Canceled. */
  failNextOf(operationId: string, count: number, options: { resourceId?: string; outcome?: "Failed" | "Canceled"; code?: string } = {}): void {
    this.failNext.push({ operationId, remaining: count, ...options });
  }

  begin(options: BeginOptions): EstateResponse {
    const now = this.clock();
    const { req } = options;
    const timing = this.timing();
    const duration = timing.durations[req.operationId] ?? timing.durations.default ?? 0;
    const planted = this.failNext.find(
      (f) =>
        f.remaining > 0 &&
        f.operationId.toLowerCase() === req.operationId.toLowerCase() &&
        (!f.resourceId || f.resourceId.replace(/\/+$/, "").toLowerCase() === options.resourceId.replace(/\/+$/, "").toLowerCase()),
    );
    if (planted) planted.remaining--;
    const op: Operation = {
      id: randomUUID(),
      operationId: req.operationId,
      subscriptionId: req.params.subscriptionId ?? "",
      namespace: options.namespace,
      location: options.location,
      resourceId: options.resourceId,
      status: "InProgress",
      startTime: now,
      dueAt: now + duration,
      asyncSegment: options.asyncSegment,
      locationSegment: options.locationSegment,
      completion: options.completion,
      ...(planted ? { planted: { ...(planted.outcome ? { outcome: planted.outcome } : {}), ...(planted.code ? { code: planted.code } : {}) } } : {}),
    };
    this.operations.set(op.id, op);
    const apiVersion = req.url.searchParams.get("api-version") ?? "";
    const url = (segment: string) =>
      `${req.origin}/subscriptions/${op.subscriptionId}/providers/${op.namespace}/locations/${op.location}/${segment}/${op.id}?api-version=${apiVersion}`;
    const headers: Record<string, string> = { "Retry-After": String(timing.retryAfterSeconds) };
    if (options.asyncSegment) headers[options.lowerCaseHeaders ? "azure-asyncoperation" : "Azure-AsyncOperation"] = url(options.asyncSegment);
    if (options.locationSegment) headers[options.lowerCaseHeaders ? "location" : "Location"] = url(options.locationSegment);
    // An operation with no duration still answers 202 first, as Azure does; it completes on the first poll.
    return { status: 202, headers, body: options.acceptedBody ?? {} };
  }

  /** Completes every operation whose time is up, oldest first. */
  settle(): void {
    const now = this.clock();
    const due = [...this.operations.values()].filter((op) => op.status === "InProgress" && op.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
    for (const op of due) this.finish(op, now);
  }

  private finish(op: Operation, now: number): void {
    let outcome: OperationOutcome;
    try {
      outcome = op.planted ? plantedOutcome(op) : this.complete(op);
    } catch (error) {
      outcome =
        error instanceof EstateHttpError
          ? { ok: false, code: error.code, message: error.message, status: error.status }
          : { ok: false, code: "InternalServerError", message: String(error), status: 500 };
    }
    op.endTime = now;
    if (outcome.ok) {
      op.status = "Succeeded";
      op.result = outcome.result;
    } else {
      op.status = outcome.canceled ? "Canceled" : "Failed";
      op.error = { code: outcome.code, message: outcome.message };
      op.errorStatus = outcome.status ?? 500;
    }
  }

  get(id: string): Operation | undefined {
    return this.operations.get(id);
  }

  list(): Operation[] {
    return [...this.operations.values()];
  }

  /** Answers a poll of an operation URL (either style), per the ARM async-operations protocol. */
  poll(req: EstateRequest, segment: string, id: string): EstateResponse {
    const op = this.operations.get(id);
    if (!op || op.subscriptionId.toLowerCase() !== (req.params.subscriptionId ?? "").toLowerCase()) {
      throw new EstateHttpError(404, "OperationNotFound", `The operation '${id}' was not found.`);
    }
    const retryAfter = { "Retry-After": String(this.timing().retryAfterSeconds) };
    const iso = (t?: number) => (t === undefined ? undefined : new Date(t).toISOString());
    if (segment.toLowerCase() === op.asyncSegment?.toLowerCase()) {
      return {
        status: 200,
        headers: op.status === "InProgress" ? retryAfter : {},
        body: {
          id: `${req.url.pathname}`,
          name: op.id,
          status: op.status,
          startTime: iso(op.startTime),
          ...(op.endTime !== undefined ? { endTime: iso(op.endTime) } : {}),
          ...(op.error ? { error: op.error } : {}),
        },
      };
    }
    if (segment.toLowerCase() === op.locationSegment?.toLowerCase()) {
      if (op.status === "InProgress") return { status: 202, headers: { ...retryAfter, Location: req.url.toString() } };
      if (op.status === "Failed" || op.status === "Canceled") throw new EstateHttpError(op.errorStatus ?? 500, op.error!.code, op.error!.message);
      return op.result === undefined ? { status: 200, body: {} } : { status: 200, body: op.result };
    }
    throw new EstateHttpError(404, "OperationNotFound", `The operation '${id}' has no '${segment}' URL.`);
  }
}

function plantedOutcome(op: Operation): OperationOutcome {
  return op.planted?.outcome === "Canceled"
    ? { ok: false, code: op.planted.code ?? "Canceled", message: `The operation '${op.operationId}' was canceled (planted by the estate's fault scenario).`, status: 409, canceled: true }
    : { ok: false, code: op.planted?.code ?? "InternalServerError", message: `The operation '${op.operationId}' failed (planted by the estate's fault scenario).`, status: 500 };
}
