/**
 * What an error thrown by an Azure SDK call says about its response, read without trusting its shape:
 * a RestError carries them, but network failures, aborts and errors of other libraries do not.
 */

/** The HTTP status the service answered, when the error is an answer (a RestError's statusCode). */
export function statusCodeOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null || !("statusCode" in error)) return undefined;
  return typeof error.statusCode === "number" ? error.statusCode : undefined;
}

/** The service's error code (e.g. `ContainerNotFound`), when the error carries one. */
export function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
