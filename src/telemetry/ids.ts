/**
 * A run's trace, derived from its run id: every activity invocation of the run, on whichever worker and
 * however often it is retried or replayed, computes the same trace id and the same root span id, so its
 * spans land in one trace under one parent without any state passed between invocations (the
 * orchestration stays as it is: deterministic, and free of telemetry).
 */
import { createHash } from "node:crypto";

export interface RunTraceIds {
  /** 32 lower-case hex digits (W3C trace-id), never all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits: the id of the run's root span, which one activity emits when the run ends. */
  readonly spanId: string;
}

const ZERO = /^0+$/;

/** The trace id and root span id of run `runId` (SHA-256 of a prefixed run id: 16 bytes, then 8). */
export function runTraceIds(runId: string): RunTraceIds {
  const digest = createHash("sha256").update(`switchyard.run:${runId}`).digest("hex");
  let traceId = digest.slice(0, 32);
  let spanId = digest.slice(32, 48);
  // An all-zero id is invalid in W3C trace context; one bit changed keeps it derived (chance 2^-128 / 2^-64).
  if (ZERO.test(traceId)) traceId = `${traceId.slice(0, 31)}1`;
  if (ZERO.test(spanId)) spanId = `${spanId.slice(0, 15)}1`;
  return { traceId, spanId };
}
