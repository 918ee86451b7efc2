import { toEnvelope } from "../core/errors.ts";
import type { ActivityResult } from "../core/run/model.ts";
import type { Logger } from "./deps.ts";

/**
 * Turns an activity implementation into what the orchestration calls: failures come back as an
 * envelope (code, retryable, Retry-After), never as a thrown exception, and are logged with the run.
 */
export function wrapActivity<I, O>(name: string, fn: (input: I) => Promise<O>, log?: Logger): (input: I) => Promise<ActivityResult<O>> {
  return async (input: I) => {
    try {
      return { ok: true, value: await fn(input) };
    } catch (error) {
      const envelope = toEnvelope(error);
      const runId = (input as { runId?: string } | undefined)?.runId;
      log?.warn(`${name} failed: ${envelope.message}`, { activity: name, runId, code: envelope.code, retryable: envelope.retryable });
      return { ok: false, error: envelope };
    }
  };
}
