import { AzureRequestError, PreconditionError, SwitchyardError } from "../core/errors.ts";

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message?: string;
  response?: { headers?: { get(name: string): string | undefined } };
}

/**
 * Normalises anything an Azure SDK call threw into a SwitchyardError that says whether to retry and
 * how long Azure asked to wait. The message names the operation and resource, never a secret value.
 */
export function normaliseAzureError(error: unknown, operation: string, resourceId?: string): SwitchyardError {
  if (error instanceof SwitchyardError) return error;
  const e = (error ?? {}) as RestErrorLike;
  const status = e.statusCode;
  const retryAfterHeader = e.response?.headers?.get("retry-after");
  const retryAfter = retryAfterHeader !== undefined && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
  const requestId = e.response?.headers?.get("x-ms-request-id");
  const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "REQUEST_SEND_ERROR"]);
  // A long-running operation that ended Failed surfaces as an error without a status: not retryable as is.
  const lroFailed = status === undefined && /long-running operation has failed/i.test(e.message ?? "");
  const retryable = status === undefined ? !lroFailed && (e.code === undefined || networkCodes.has(e.code)) : status === 408 || status === 429 || status >= 500;
  const what = `${operation}${resourceId ? ` on ${resourceId}` : ""}`;
  const summary = status !== undefined ? `${status}${e.code ? ` ${e.code}` : ""}` : (e.code ?? (lroFailed ? "operation failed" : "no response"));
  // A message quotes the response body when the body could not be read: bodies carry keys, secret
  // values and app settings, so such a message is not kept.
  const detail = quotesBody(error) ? "the answer could not be read" : firstLine(e.message);
  return new AzureRequestError(`${what} failed: ${summary}: ${detail}`, { operation, ...(status !== undefined ? { status } : {}), ...(e.code ? { azureCode: e.code } : {}), ...(requestId ? { requestId } : {}), ...(resourceId ? { resourceId } : {}) }, { retryable, ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}), cause: error });
}

/**
 * Whether an SDK error's message may quote the response body: a body that did not parse (core-client's
 * PARSE_ERROR, JSON.parse's SyntaxError). A long-running operation that ended Failed in a 200 answer
 * keeps its message: it is Azure's reason, not the body.
 */
export function quotesBody(error: unknown): boolean {
  return (error as RestErrorLike | undefined)?.code === "PARSE_ERROR" || error instanceof SyntaxError;
}

function firstLine(message: string | undefined): string {
  return (message ?? "").split("\n")[0]!.slice(0, 500);
}

export { PreconditionError };
