import { AzureRequestError, type SwitchyardError } from "../core/errors.ts";
import { normaliseAzureError } from "./azureErrors.ts";

/** Runs one SDK call; anything it throws becomes a SwitchyardError naming the operation and resource. */
export async function azureCall<T>(operation: string, resourceId: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw normaliseAzureError(error, operation, resourceId);
  }
}

/**
 * The same error without its cause, and with `secrets` cut out of its message: an SDK error's cause
 * holds the request, whose body may carry values that must never reach a log or the orchestrator.
 */
export function withoutSecrets(error: SwitchyardError, secrets: readonly string[]): SwitchyardError {
  const scrub = (text: string) => secrets.filter((s) => s.length > 0).reduce((t, s) => t.split(s).join("[redacted]"), text);
  if (error instanceof AzureRequestError) {
    return new AzureRequestError(scrub(error.message), error.details, {
      retryable: error.retryable,
      ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    });
  }
  // Switchyard's own errors name settings, never their values.
  return error;
}

/** The request id of a failed call, when Azure sent one. */
export function requestIdOf(error: unknown): string | undefined {
  return error instanceof AzureRequestError ? error.details.requestId : undefined;
}
