/**
 * Loggers. In Azure every line goes through the invocation's context, so Application Insights ties it
 * to its invocation and operation; the CLI and the local app write JSON lines. Persistent keys on every line:
 * withKeys (src/core/logger.ts).
 */
import type { InvocationContext } from "@azure/functions";
import type { Logger } from "../core/logger.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";

type Fields = Record<string, unknown>;

/** Log lines quote untrusted text (alert rule names, callers, errors): secret-looking parts are masked. */
const safe = (fields: Fields | undefined): Fields | undefined => (fields === undefined ? undefined : redactSecrets(fields, "fields").value);

/** Structured JSON lines: every line carries the fields it was given (plan, run, resource). */
export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger {
  const emit = (level: string) => (message: string, fields?: Fields) => write(JSON.stringify({ time: new Date().toISOString(), level, message: redactText(message), ...safe(fields) }));
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/**
 * Lines through the Functions invocation context (context.info/warn/error): the host correlates them
 * with the invocation. The fields follow the message as one JSON object, which Application Insights
 * keeps with the trace.
 */
export function contextLogger(context: Pick<InvocationContext, "info" | "warn" | "error">): Logger {
  const emit = (write: (...args: unknown[]) => void) => (message: string, fields?: Fields) =>
    fields && Object.keys(fields).length > 0 ? write(redactText(message), JSON.stringify(safe(fields))) : write(redactText(message));
  return { info: emit((...a) => context.info(...a)), warn: emit((...a) => context.warn(...a)), error: emit((...a) => context.error(...a)) };
}

