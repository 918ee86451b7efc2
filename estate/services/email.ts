import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";
import type { EstateHttpError } from "../errors.ts";
import { isObject, type Json } from "../json.ts";
import { fingerprint, headerValue, keptHeaders, parseJson, type Delivery, type DeliveryLog, type NotificationAnswer, type NotificationRequest, type NotificationTarget } from "./notifications.ts";

/*
 * Azure Communication Services email, as the real `@azure/communication-email` client sees it
 * (CommunicationServicesEmail.json, api-version 2025-09-01 for client 1.1.0). The client addresses
 * `https://{resource}.communication.azure.com`; locally each request goes, after authentication, to
 * `{estate}/communication/{host}{path}{?query}`.
 *
 * - `Email_Send`: `POST /emails:send` answers 202 `{ id, status: "Running" }` with `Operation-Location`
 *   (naming the Azure host, so the client's routing sends the polls here too) and `retry-after`.
 * - `Email_GetSendResult`: `GET /emails/operations/{id}` answers 200 `{ id, status }`: `Running` (with
 *   `retry-after`) until the send's time is up, then `Succeeded` (or `Failed`/`Canceled` with an error,
 *   when a failure was planted).
 *
 * An `Operation-Id` header names the operation (the service generates one otherwise). The same id sent
 * again with the same message is the same operation: it answers as the operation stands and delivers
 * nothing twice. The same id with another message is refused (400), as ACS's repeatable-request rules
 * refuse a repeated request id whose request differs.
 */

const ACS_SUFFIX = ".communication.azure.com";
const SEND_PATH = /^\/communication\/([^/]+)\/emails:send\/?$/i;
const RESULT_PATH = /^\/communication\/([^/]+)\/emails\/operations\/([^/]+)\/?$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** "A simple address": something@domain.tld, without spaces or the characters that delimit addresses. */
const ADDRESS = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/;
/** CommunicationServicesEmail.json: a request, attachments included, is at most 10 MB. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** ACS service limits: at most 50 recipients (To, CC and BCC together) per email. */
const MAX_RECIPIENTS = 50;

export type EmailStatus = "NotStarted" | "Running" | "Succeeded" | "Failed" | "Canceled";

const operationSchema = z.object({
  id: z.string(),
  host: z.string(),
  /** SHA-256 of the message as sent, to tell a repeat from another message with the same id. */
  digest: z.string(),
  startedAt: z.number(),
  dueAt: z.number(),
  /** The delivery this send is recorded as. */
  seq: z.number().int(),
  planted: z.object({ outcome: z.enum(["Failed", "Canceled"]), code: z.string() }).optional(),
});
type EmailOperation = z.infer<typeof operationSchema>;

const plantedSchema = z.object({ remaining: z.number().int().min(0), outcome: z.enum(["Failed", "Canceled"]), code: z.string() });
const emailDataSchema = z.object({ operations: z.array(operationSchema), failNext: z.array(plantedSchema) });
export type EmailData = z.infer<typeof emailDataSchema>;

const key = (host: string, id: string) => `${host.toLowerCase()}/${id.toLowerCase()}`;

/** ACS's error body, `{ error: { code, message } }`, with `x-ms-error-code`. */
function acsError(status: number, code: string, message: string, headers: Record<string, string> = {}): NotificationAnswer {
  return { status, headers: { ...headers, "x-ms-error-code": code }, json: { error: { code, message } } };
}

function addressProblems(value: unknown, where: string): string[] {
  if (!isObject(value)) return [`${where} is not an EmailAddress object`];
  const problems: string[] = [];
  if (typeof value.address !== "string" || !ADDRESS.test(value.address)) problems.push(`${where}.address is not an email address`);
  if (value.displayName !== undefined && typeof value.displayName !== "string") problems.push(`${where}.displayName must be a string`);
  return problems;
}

function addressListProblems(value: unknown, where: string, required: boolean): { problems: string[]; count: number } {
  if (value === undefined || value === null) return { problems: required ? [`${where} is required`] : [], count: 0 };
  if (!Array.isArray(value)) return { problems: [`${where} is not an array`], count: 0 };
  return { problems: value.flatMap((a, i) => addressProblems(a, `${where}[${i}]`)), count: value.length };
}

/** An EmailMessage's problems, per the OpenAPI definitions and ACS's documented limits. */
export function emailMessageProblems(message: unknown, size: number): string[] {
  if (!isObject(message)) return ["the body is not an EmailMessage object"];
  const problems: string[] = [];
  if (typeof message.senderAddress !== "string" || !ADDRESS.test(message.senderAddress)) problems.push("senderAddress is not an email address");
  const content = message.content;
  if (!isObject(content)) problems.push("content is required");
  else {
    if (typeof content.subject !== "string" || content.subject.trim() === "") problems.push("content.subject is required");
    for (const part of ["plainText", "html"] as const) {
      if (content[part] !== undefined && typeof content[part] !== "string") problems.push(`content.${part} must be a string`);
    }
    if (typeof content.plainText !== "string" && typeof content.html !== "string") problems.push("content needs plainText or html");
  }
  const recipients = message.recipients;
  if (!isObject(recipients)) problems.push("recipients is required");
  else {
    const lists = [addressListProblems(recipients.to, "recipients.to", true), addressListProblems(recipients.cc, "recipients.cc", false), addressListProblems(recipients.bcc, "recipients.bcc", false)];
    problems.push(...lists.flatMap((l) => l.problems));
    const total = lists.reduce((n, l) => n + l.count, 0);
    if (total === 0) problems.push("recipients names no one");
    if (total > MAX_RECIPIENTS) problems.push(`recipients names ${total} addresses (at most ${MAX_RECIPIENTS})`);
  }
  problems.push(...addressListProblems(message.replyTo, "replyTo", false).problems);
  if (message.attachments !== undefined) {
    if (!Array.isArray(message.attachments)) problems.push("attachments is not an array");
    else {
      message.attachments.forEach((a, i) => {
        const where = `attachments[${i}]`;
        if (!isObject(a)) return problems.push(`${where} is not an EmailAttachment object`);
        for (const field of ["name", "contentType"] as const) if (typeof a[field] !== "string" || a[field] === "") problems.push(`${where}.${field} is required`);
        if (typeof a.contentInBase64 !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(a.contentInBase64)) problems.push(`${where}.contentInBase64 is not base64`);
      });
    }
  }
  if (message.headers !== undefined) {
    if (!isObject(message.headers)) problems.push("headers is not an object");
    else for (const [name, value] of Object.entries(message.headers)) if (typeof value !== "string") problems.push(`headers.${name} must be a string`);
  }
  if (message.userEngagementTrackingDisabled !== undefined && typeof message.userEngagementTrackingDisabled !== "boolean") problems.push("userEngagementTrackingDisabled must be a boolean");
  if (size > MAX_REQUEST_BYTES) problems.push(`the request is ${size} bytes (at most ${MAX_REQUEST_BYTES}, attachments included)`);
  return problems;
}

/** The bearer token (or HMAC signature) the request carries, or undefined without one. */
function credentialOf(request: NotificationRequest): string | undefined {
  const authorization = headerValue(request.headers, "authorization");
  const m = authorization === undefined ? null : /^(?:Bearer|HMAC-SHA256)\s+(\S.*)$/i.exec(authorization);
  return m ? m[1] : undefined;
}

export interface EmailServiceOptions {
  readonly log: DeliveryLog;
  /** How long a send takes to complete, in estate milliseconds (the profile's `Email_Send`, scaled). */
  readonly durationMs: () => number;
}

/** ACS email sends and their operations, recording each send in the delivery log. */
export class EmailService {
  private readonly operations = new Map<string, EmailOperation>();
  private failNext: z.infer<typeof plantedSchema>[] = [];

  constructor(private readonly options: EmailServiceOptions) {}

  /** The email route for a request under `/communication/{host}/`, or undefined. */
  target(method: string, url: URL): NotificationTarget | undefined {
    const common = { api: "communication" as const, azure: true, logPath: url.pathname, logQuery: url.search };
    const send = SEND_PATH.exec(url.pathname);
    if (send && method === "POST" && this.isAcsHost(send[1]!)) {
      return { ...common, operationId: "Email_Send", serve: (request) => this.send(send[1]!.toLowerCase(), request) };
    }
    const result = RESULT_PATH.exec(url.pathname);
    if (result && method === "GET" && this.isAcsHost(result[1]!)) {
      return { ...common, operationId: "Email_GetSendResult", serve: (request) => this.result(result[1]!.toLowerCase(), decodeURIComponentOr(result[2]!), request) };
    }
    return undefined;
  }

  private isAcsHost(host: string): boolean {
    return host.toLowerCase().replace(/:\d+$/, "").endsWith(ACS_SUFFIX);
  }

  /** Makes the next `count` sends end Failed (default code `EmailDropped`) or Canceled. */
  plantFailure(spec: { count: number; outcome?: "Failed" | "Canceled"; code?: string }): void {
    this.failNext.push({ remaining: spec.count, outcome: spec.outcome ?? "Failed", code: spec.code ?? (spec.outcome === "Canceled" ? "Canceled" : "EmailDropped") });
  }

  reset(): void {
    this.operations.clear();
    this.failNext = [];
  }

  toJSON(): EmailData {
    return { operations: [...this.operations.values()], failNext: this.failNext };
  }

  /** Takes over kept operations; throws when the data is not what toJSON writes. */
  restore(kept: unknown): void {
    const data = emailDataSchema.parse(kept);
    this.operations.clear();
    for (const op of data.operations) this.operations.set(key(op.host, op.id), op);
    this.failNext = data.failNext;
  }

  /** A delivery with its email operation's status now (other deliveries unchanged). */
  withStatus(delivery: Delivery, now: number): Delivery {
    if (delivery.channel !== "email" || !delivery.operationId) return delivery;
    const op = this.operations.get(key(delivery.host, delivery.operationId));
    return op ? { ...delivery, operationStatus: statusOf(op, now) } : delivery;
  }

  private send(host: string, request: NotificationRequest): NotificationAnswer {
    const parsed = parseJson(request.raw);
    const body = parsed?.value ?? null;
    const credential = credentialOf(request);
    const problems = parsed ? emailMessageProblems(parsed.value, request.raw.length) : ["the body is not JSON"];
    const apiVersion = request.url.searchParams.get("api-version");
    const given = headerValue(request.headers, "operation-id");
    const record = (status: number, extra: Partial<Delivery> = {}) =>
      this.options.log.record({
        at: new Date(request.now).toISOString(),
        channel: "email",
        host,
        path: "/emails:send",
        status,
        problems,
        body,
        ...(credential ? { credential: fingerprint(credential) } : {}),
        headers: keptHeaders(request.headers),
        ...(request.clientGone ? { clientGone: true as const } : {}),
        ...extra,
      });
    const refuse = (answer: NotificationAnswer, problem?: string, extra: Partial<Delivery> = {}) => {
      if (problem) problems.unshift(problem);
      record(answer.status, extra);
      return answer;
    };
    if (!credential) return refuse(acsError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."), "no Authorization header");
    if (request.fault) return refuse(faultAnswer(request.fault), undefined, { fault: request.fault.code });
    if (!apiVersion) return refuse(acsError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests."), "no api-version");
    if (given !== undefined && !UUID.test(given)) return refuse(acsError(400, "InvalidOperationId", "The Operation-Id header must be a UUID."), "Operation-Id is not a UUID");
    if (problems.length > 0) return refuse(acsError(400, "BadRequest", `The email message is invalid: ${problems.join("; ")}.`));

    const digest = createHash("sha256").update(request.raw).digest("hex");
    const existing = given === undefined ? undefined : this.operations.get(key(host, given));
    if (existing) {
      if (existing.digest !== digest) {
        return refuse(acsError(400, "BadRequest", `An operation with id '${existing.id}' was started with another message.`), "Operation-Id was already used for another message");
      }
      // The same send again: the operation as it stands, nothing delivered twice.
      this.options.log.update(existing.seq, (d) => ({ ...d, repeats: (d.repeats ?? 0) + 1 }));
      return this.accepted(host, existing, apiVersion, request);
    }
    const id = given?.toLowerCase() ?? randomUUID();
    const planted = this.failNext.find((f) => f.remaining > 0);
    if (planted) planted.remaining--;
    const delivery = record(202, { operationId: id });
    const op: EmailOperation = {
      id,
      host,
      digest,
      startedAt: request.now,
      dueAt: request.now + this.options.durationMs(),
      seq: delivery.seq,
      ...(planted ? { planted: { outcome: planted.outcome, code: planted.code } } : {}),
    };
    this.operations.set(key(host, id), op);
    return this.accepted(host, op, apiVersion, request);
  }

  private accepted(host: string, op: EmailOperation, apiVersion: string, request: NotificationRequest): NotificationAnswer {
    const status = statusOf(op, request.now);
    return {
      status: 202,
      headers: {
        "Operation-Location": `https://${host}/emails/operations/${op.id}?api-version=${encodeURIComponent(apiVersion)}`,
        ...(status === "Running" ? { "retry-after": retryAfter(op, request.now) } : {}),
        "x-ms-request-id": request.requestId,
      },
      json: { id: op.id, status },
    };
  }

  private result(host: string, id: string, request: NotificationRequest): NotificationAnswer {
    if (!credentialOf(request)) return acsError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    if (request.fault) return faultAnswer(request.fault);
    if (!request.url.searchParams.get("api-version")) return acsError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    const op = this.operations.get(key(host, id));
    if (!op) return acsError(404, "NotFound", `No email operation '${id}'.`);
    const status = statusOf(op, request.now);
    const body: Json = { id: op.id, status };
    if (op.planted && status === op.planted.outcome) {
      body.error = { code: op.planted.code, message: `The email was not delivered (${op.planted.code}; planted by the estate's fault scenario).` };
    }
    return { status: 200, headers: { ...(status === "Running" ? { "retry-after": retryAfter(op, request.now) } : {}), "x-ms-request-id": request.requestId }, json: body };
  }
}

/** Running until the send's time is up, then its outcome. */
function statusOf(op: EmailOperation, now: number): EmailStatus {
  if (now < op.dueAt) return "Running";
  return op.planted?.outcome ?? "Succeeded";
}

/** Whole seconds (estate time) until the operation is due: the least a client should wait before polling. */
function retryAfter(op: EmailOperation, now: number): string {
  return String(Math.max(0, Math.round((op.dueAt - now) / 1000)));
}

/** A planted fault in ACS's error shape (with `Retry-After` for a 429). */
function faultAnswer(fault: EstateHttpError): NotificationAnswer {
  return acsError(fault.status, fault.code, fault.message, fault.headers);
}

function decodeURIComponentOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
