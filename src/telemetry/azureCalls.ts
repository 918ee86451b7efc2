/**
 * A span per Azure call: a core-rest-pipeline policy on every SDK client of the ClientFactory (each
 * try is a span: a retried 429 shows as two), and a wrapper for the SQL path over TDS. A span carries
 * the method, the URL without its query (a SAS signature, a key or a token never reaches it), the
 * status, Azure's request ids (`x-ms-request-id`, `x-ms-client-request-id`), the id of the
 * long-running operation an ARM write started (the path of its Azure-AsyncOperation or Location URL),
 * and Azure's error code when the request failed. No header, body or query value besides these.
 */
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { PipelinePolicy, PipelineResponse } from "@azure/core-rest-pipeline";
import { Attr, errorCodeText, urlWithoutQuery } from "./attributes.ts";
import { endSpan, inSpan, setAttributes, startSpan, Spans, telemetryEnabled } from "./telemetry.ts";

export const AZURE_CALL_POLICY = "switchyardTelemetry";

/** Azure's error code of a failed response: the `x-ms-error-code` header, else the ARM/Key Vault body's `error.code`. */
function azureErrorCode(response: PipelineResponse): string | undefined {
  const header = errorCodeText(response.headers.get("x-ms-error-code"));
  if (header) return header;
  const text = response.bodyAsText;
  if (typeof text !== "string" || text.length === 0 || text.length > 65_536) return undefined;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown }; code?: unknown };
    return errorCodeText(body?.error?.code) ?? errorCodeText(body?.code);
  } catch {
    return undefined;
  }
}

/** The path of a long-running operation's status URL (its id; the query, with its api-version or signature, dropped). */
function asyncOperationPath(response: PipelineResponse): string | undefined {
  const status = response.headers.get("azure-asyncoperation") ?? (response.status === 202 || response.status === 201 ? response.headers.get("location") : undefined);
  if (!status) return undefined;
  try {
    return new URL(status).pathname;
  } catch {
    return undefined;
  }
}

/** The pipeline policy (add it per retry, before any routing policy, so that it sees the URL the SDK addressed). */
export const azureCallPolicy: PipelinePolicy = {
  name: AZURE_CALL_POLICY,
  async sendRequest(request, next) {
    if (!telemetryEnabled()) return next(request);
    let host: string | undefined;
    let path = "";
    try {
      const url = new URL(request.url);
      host = url.host;
      path = url.pathname;
    } catch {
      // an unparsable URL: the SDK will fail it; the span says only the method
    }
    const span = startSpan({
      name: `${request.method} ${path}`.slice(0, 200),
      kind: SpanKind.CLIENT,
      attributes: { [Attr.method]: request.method, [Attr.url]: urlWithoutQuery(request.url), [Attr.host]: host, [Attr.clientRequestId]: request.requestId },
    });
    let response: PipelineResponse;
    try {
      response = await next(request);
    } catch (error) {
      const e = error as { statusCode?: unknown; code?: unknown; response?: PipelineResponse } | null;
      const status = typeof e?.statusCode === "number" ? e.statusCode : e?.response?.status;
      setAttributes(span, {
        [Attr.status]: status,
        [Attr.errorType]: errorCodeText(e?.code) ?? (status !== undefined ? String(status) : "request-failed"),
        ...(e?.response ? { [Attr.serviceRequestId]: e.response.headers.get("x-ms-request-id"), [Attr.azureErrorCode]: azureErrorCode(e.response) } : {}),
      });
      endSpan(span, { code: errorCodeText(e?.code) ?? "request-failed" });
      throw error;
    }
    if (span) {
      const failed = response.status >= 400;
      setAttributes(span, {
        [Attr.status]: response.status,
        [Attr.serviceRequestId]: response.headers.get("x-ms-request-id"),
        [Attr.clientRequestId]: response.headers.get("x-ms-client-request-id") ?? request.headers.get("x-ms-client-request-id") ?? request.requestId,
        [Attr.asyncOperation]: asyncOperationPath(response),
        ...(failed ? { [Attr.azureErrorCode]: azureErrorCode(response), [Attr.errorType]: String(response.status) } : {}),
      });
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    return response;
  },
};

/** Runs one SQL statement's connection and query inside a client span (server host and database; never the statement). */
export function traceSql<T>(call: { server: string; database: string }, work: () => Promise<T>): Promise<T> {
  return inSpan({ name: `${Spans.sql} ${call.database}`, kind: SpanKind.CLIENT, attributes: { [Attr.dbSystem]: "microsoft.sql_server", [Attr.host]: call.server, [Attr.dbNamespace]: call.database } }, work);
}
