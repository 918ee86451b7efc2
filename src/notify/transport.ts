import { request as httpsRequest } from "node:https";
import type { EmailClient, EmailMessage } from "@azure/communication-email";
import type { HttpDelivery } from "./channels/types.ts";

/** What a channel's server answered (the body cut to its first 2 KiB: errors quote it, after scrubbing). */
export interface HttpAnswer {
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly text: string;
}

/** Where an ACS email send stands (the poller state lets a later attempt poll it without sending again). */
export interface EmailProgress {
  readonly status: "NotStarted" | "Running" | "Succeeded" | "Failed" | "Canceled";
  readonly resumeFrom: string;
  readonly retryAfterSeconds?: number;
  readonly error?: string;
}

/** How deliveries leave: one HTTP POST, one email send or poll. Each rejects on a network failure or timeout. */
export interface ChannelTransport {
  post(delivery: HttpDelivery, timeoutMs: number): Promise<HttpAnswer>;
  beginEmail(endpoint: string, message: EmailMessage, operationId: string, timeoutMs: number): Promise<EmailProgress>;
  pollEmail(endpoint: string, message: EmailMessage, resumeFrom: string, timeoutMs: number): Promise<EmailProgress>;
}

/** Where an HTTP channel's request goes: the URL itself in Azure; the local estate's `/channels/{host}/...` locally. */
export interface ChannelRouting {
  target(url: string): { readonly url: string; readonly ca?: string };
  email(endpoint: string): EmailClient;
}

const MAX_ANSWER_BYTES = 2048;

/** A Retry-After header in seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === "") return undefined;
  if (/^\s*\d+\s*$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The transport over HTTPS (node:https, no redirects followed) and the ACS email client. */
export class HttpsChannelTransport implements ChannelTransport {
  constructor(private readonly routing: ChannelRouting) {}

  post(delivery: HttpDelivery, timeoutMs: number): Promise<HttpAnswer> {
    const target = this.routing.target(delivery.url);
    const url = new URL(target.url);
    if (url.protocol !== "https:") return Promise.reject(new Error(`a channel URL must use https, not ${url.protocol.replace(/:$/, "")}`));
    const body = Buffer.from(delivery.body, "utf8");
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method: "POST",
          headers: { ...delivery.headers, "content-length": String(body.length), "user-agent": "switchyard/0.1" },
          ...(target.ca ? { ca: target.ca } : {}),
          timeout: timeoutMs,
          signal: AbortSignal.timeout(timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(chunk.subarray(0, MAX_ANSWER_BYTES - size));
            size += chunk.length;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, ...optional(retryAfterSeconds(res.headers["retry-after"])), text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (error) => reject(error.name === "AbortError" ? new Error(`no answer within ${timeoutMs} ms`) : error));
      req.end(body);
    });
  }

  async beginEmail(endpoint: string, message: EmailMessage, operationId: string, timeoutMs: number): Promise<EmailProgress> {
    let retryAfter: number | undefined;
    const poller = await this.routing.email(endpoint).beginSend(message, {
      operationId,
      abortSignal: AbortSignal.timeout(timeoutMs),
      onResponse: (response) => {
        retryAfter = retryAfterSeconds(response.headers.get("retry-after") ?? undefined);
      },
    });
    const state = poller.getOperationState();
    return { status: emailStatus(state.status), resumeFrom: poller.toString(), ...optional(retryAfter), ...(state.error ? { error: state.error.message } : {}) };
  }

  async pollEmail(endpoint: string, message: EmailMessage, resumeFrom: string, timeoutMs: number): Promise<EmailProgress> {
    const poller = await this.routing.email(endpoint).beginSend(message, { resumeFrom });
    await poller.poll({ abortSignal: AbortSignal.timeout(timeoutMs) });
    const state = poller.getOperationState();
    return { status: emailStatus(state.status), resumeFrom: poller.toString(), ...(state.error ? { error: state.error.message } : {}) };
  }
}

function optional(retryAfter: number | undefined): { retryAfterSeconds?: number } {
  return retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter };
}

function emailStatus(status: string): EmailProgress["status"] {
  switch (status) {
    case "succeeded":
      return "Succeeded";
    case "failed":
      return "Failed";
    case "canceled":
      return "Canceled";
    case "notStarted":
      return "NotStarted";
    default:
      return "Running";
  }
}
