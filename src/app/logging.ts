/**
 * Loggers. In Azure every line goes through the invocation's context, so Application Insights ties it
 * to its invocation and operation; the CLI and the local app write JSON lines. Persistent keys on every line:
 * withKeys (src/core/logger.ts).
 */
import type { InvocationContext } from "@azure/functions";
import type { Logger } from "../core/logger.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";
import { activeSpanIds } from "../telemetry/telemetry.ts";

type Fields = Record<string, unknown>;

/** Log lines quote untrusted text (alert rule names, callers, errors): secret-looking parts are masked. */
const safe = (fields: Fields | undefined): Fields | undefined => (fields === undefined ? undefined : redactSecrets(fields, "fields").value);

/** The trace and span of the work in progress (src/telemetry), for a line to be found with its spans. */
const traceFields = (): Fields => {
  const ids = activeSpanIds();
  return ids ? { traceId: ids.traceId, spanId: ids.spanId } : {};
};

/** Structured JSON lines: every line carries the fields it was given (plan, run, resource), and the active trace and span. */
export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger {
  const emit = (level: string) => (message: string, fields?: Fields) => write(JSON.stringify({ time: new Date().toISOString(), level, message: redactText(message), ...safe(fields), ...traceFields() }));
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/**
 * Lines through the Functions invocation context (context.info/warn/error): the host correlates them
 * with the invocation. The fields follow the message as one JSON object, which Application Insights
 * keeps with the trace: with the invocation id and, while a span is in progress, its trace and span ids
 * (a run's activity lines name the run's trace: src/telemetry).
 */
export function contextLogger(context: Pick<InvocationContext, "info" | "warn" | "error"> & { readonly invocationId?: string }): Logger {
  const invocation: Fields = typeof context.invocationId === "string" ? { invocationId: context.invocationId } : {};
  const emit = (write: (...args: unknown[]) => void) => (message: string, fields?: Fields) => {
    const all = { ...safe(fields), ...invocation, ...traceFields() };
    return Object.keys(all).length > 0 ? write(redactText(message), JSON.stringify(all)) : write(redactText(message));
  };
  return { info: emit((...a) => context.info(...a)), warn: emit((...a) => context.warn(...a)), error: emit((...a) => context.error(...a)) };
}

