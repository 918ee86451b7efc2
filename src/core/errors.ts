/**
 * Typed errors, one per different remedy. Every error keeps its cause; none carries a secret value.
 */
export class SwitchyardError extends Error {
  /** Machine-readable reason, stable across versions. */
  readonly code: string;
  /** True when the same call may succeed later (throttling, 5xx, timeouts). */
  readonly retryable: boolean;
  /** Seconds the service asked to wait before retrying (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;

  constructor(message: string, options: { code: string; retryable?: boolean; retryAfterSeconds?: number; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** An Azure request failed: status, ARM error code and request id tell the operator where to look. */
export class AzureRequestError extends SwitchyardError {
  constructor(
    message: string,
    readonly details: { status?: number; azureCode?: string; requestId?: string; operation: string; resourceId?: string },
    options: { retryable: boolean; retryAfterSeconds?: number; cause?: unknown },
  ) {
    super(message, { code: "AzureRequestFailed", ...options });
  }
}

/** The resource is not in a state that allows the step (a planned failover with the primary down). */
export class PreconditionError extends SwitchyardError {
  constructor(message: string, code: string, cause?: unknown) {
    super(message, { code, retryable: false, cause });
  }
}

/** A forced failover would lose more data than the plan's RPO allows, or the loss cannot be measured. */
export class RpoExceededError extends SwitchyardError {
  constructor(message: string, readonly lagSeconds: number | null, readonly rpoSeconds: number) {
    super(message, { code: "RpoExceeded" });
  }
}

/** The serialisable form of an error that crosses the activity → orchestrator boundary. */
export interface ErrorEnvelope {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retryable: boolean;
  readonly retryAfterSeconds?: number;
  readonly status?: number;
  readonly azureCode?: string;
  readonly requestId?: string;
}

const MARK = "switchyard-error:";

/** Errors that no retry can fix (a refused journal entry, bad input): never retried as "unexpected". */
const PERMANENT = new Set(["SecretInJournalError", "InvalidEntryError", "InvalidRunIdError", "TypeError", "RangeError", "SyntaxError"]);

export function toEnvelope(error: unknown): ErrorEnvelope {
  if (error instanceof SwitchyardError) {
    const details = error instanceof AzureRequestError ? error.details : undefined;
    return {
      name: error.name,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
      ...(details?.status !== undefined ? { status: details.status } : {}),
      ...(details?.azureCode ? { azureCode: details.azureCode } : {}),
      ...(details?.requestId ? { requestId: details.requestId } : {}),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : "Error";
  return { name, code: PERMANENT.has(name) ? name : "Unexpected", message, retryable: !PERMANENT.has(name) };
}

/** Encodes an envelope into an error message (the only thing Durable carries across reliably). */
export function encodeEnvelope(envelope: ErrorEnvelope): string {
  return `${MARK}${JSON.stringify(envelope)}`;
}

/** Reads an envelope back out of a failed task's message; unknown messages become a retryable error. */
export function decodeEnvelope(message: string | undefined): ErrorEnvelope {
  const text = message ?? "";
  const at = text.indexOf(MARK);
  if (at >= 0) {
    const json = text.slice(at + MARK.length);
    // The message may carry a suffix (the Durable extension appends details); find the JSON's end.
    for (let end = json.length; end > 0; end = json.lastIndexOf("}", end - 1)) {
      try {
        return JSON.parse(json.slice(0, end + 1)) as ErrorEnvelope;
      } catch {
        /* keep looking */
      }
    }
  }
  return { name: "Error", code: "Unexpected", message: text, retryable: true };
}
