import type { HttpResponseInit } from "@azure/functions";
import type { z } from "zod";
import { formatPath } from "../core/plan/index.ts";

/**
 * An error the HTTP API answers with: JSON `{ error: { code, message, details? } }` and a 4xx status
 * (a 5xx when the fault is Switchyard's, such as a run record it cannot read).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { "Content-Type": "application/json; charset=utf-8", ...headers } };
}

export function errorResponse(error: ApiError): HttpResponseInit {
  return json(error.status, { error: { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) } });
}

/** Validates a body; the error lists every bad field by path. */
export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({ path: formatPath(i.path) || "(body)", message: i.message }));
  throw new ApiError(400, "InvalidRequestBody", issues.map((i) => `${i.path}: ${i.message}`).join("; "), issues);
}

/** Reads a JSON body of at most `maxBytes`; 400 (never 5xx) for anything that is not JSON. */
export async function readJson(request: { text(): Promise<string>; headers: { get(name: string): string | null } }, maxBytes = 256 * 1024): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new ApiError(413, "PayloadTooLarge", `the body is larger than ${maxBytes} bytes`);
  let text: string;
  try {
    text = await request.text();
  } catch {
    throw new ApiError(400, "UnreadableBody", "the request body could not be read");
  }
  if (Buffer.byteLength(text) > maxBytes) throw new ApiError(413, "PayloadTooLarge", `the body is larger than ${maxBytes} bytes`);
  if (text.trim() === "") throw new ApiError(400, "EmptyBody", "a JSON body is required");
  try {
    const body: unknown = JSON.parse(text);
    return body;
  } catch {
    // The parser's message quotes the body: say only that it is not JSON.
    throw new ApiError(400, "InvalidJson", "the body is not valid JSON");
  }
}
