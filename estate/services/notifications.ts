import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import { z } from "zod";
import type { EstateHttpError } from "../errors.ts";
import { isObject, type Json } from "../json.ts";

/*
 * The receiving end of every notification channel, so that a local run delivers each message somewhere
 * that checks it as the real receiver would. The application addresses `https://{host}{path}{?query}`;
 * locally it sends the same request to `{estate}/channels/{host}{path}{?query}`, and the estate decides
 * by host, as the internet would, which service answers:
 *
 * - `hooks.slack.com`: a Slack incoming webhook (Block Kit), answering Slack's text codes;
 * - `events.pagerduty.com`, `events.eu.pagerduty.com`: PagerDuty's Events API v2 (`/v2/enqueue`);
 * - `*.logic.azure.com`, `*.environment.api.powerplatform.com`: a Teams Workflows webhook (the Request
 *   trigger of a Logic Apps / Power Automate flow) posting an Adaptive Card;
 * - any other host: a generic JSON receiver for Standard Webhooks (https://www.standardwebhooks.com/).
 *
 * Every delivery, accepted or refused, is kept (`GET /_estate/notifications`) with the shape problems
 * found and a fingerprint of the credential that addressed it, never the credential itself. Azure
 * Communication Services email (services/email.ts) records its sends in the same log.
 */

export type Channel = "teams" | "slack" | "pagerduty" | "webhook" | "email";

/** One delivery as the estate received it. */
export interface Delivery {
  readonly seq: number;
  /** When it arrived, on the estate's clock (ISO 8601). */
  readonly at: string;
  readonly channel: Channel;
  /** The host addressed (lower-case, with its port if the address had one). */
  readonly host: string;
  /** The path and query addressed, with any credential in them left out (`<redacted>`, no `sig`). */
  readonly path: string;
  /** The status the estate answered. */
  readonly status: number;
  /** Every way the request differs from what the service accepts (empty when it is well-formed). */
  readonly problems: readonly string[];
  /** The parsed JSON body (null when it was not JSON); PagerDuty's `routing_key` is its fingerprint. */
  readonly body: unknown;
  /** First 12 hex digits of the SHA-256 of the credential that addressed it (absent when there was none). */
  readonly credential?: string;
  /** `content-type` and the `webhook-*` headers, as sent. */
  readonly headers: Readonly<Record<string, string>>;
  /** The planted fault (or unreadable body) the request was answered with instead, by its code. */
  readonly fault?: string;
  /** The client had closed the connection before the answer (it waited less than the latency). */
  readonly clientGone?: true;
  /** Email: the send operation's id, its status now, and how many times the same send was repeated. */
  readonly operationId?: string;
  readonly operationStatus?: string;
  readonly repeats?: number;
}

/** A request for a channel, as the dispatcher hands it over. */
export interface NotificationRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  /** The estate's clock, read once for the request. */
  readonly now: number;
  readonly requestId: string;
  /** A planted 429/5xx (or a body too large to read) to answer with instead of the service's answer. */
  readonly fault?: EstateHttpError;
  readonly clientGone: boolean;
}

/** What a channel answers: a text body, a JSON body, or none. */
export interface NotificationAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly text?: string;
  readonly json?: unknown;
}

/** A request the notification receivers serve: what the dispatcher needs before and after serving it. */
export interface NotificationTarget {
  readonly operationId: string;
  /** The request log's `api`. */
  readonly api: "channel" | "communication";
  /** Whether the Azure time profile's request latency applies (Azure services only). */
  readonly azure: boolean;
  /** The path and query for the request log, without credentials. */
  readonly logPath: string;
  readonly logQuery: string;
  serve(request: NotificationRequest): NotificationAnswer;
}

/** The operation id of each HTTP channel's route, for faults and the request log. */
export const CHANNEL_OPERATIONS: Readonly<Record<Exclude<Channel, "email">, string>> = {
  slack: "Slack_IncomingWebhook",
  pagerduty: "PagerDuty_Enqueue",
  teams: "Teams_WorkflowTrigger",
  webhook: "Webhook_Post",
};

/** First 12 hex digits of the SHA-256 of a credential: enough to tell credentials apart, never to recover one. */
export function fingerprint(credential: string): string {
  return createHash("sha256").update(credential, "utf8").digest("hex").slice(0, 12);
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** The headers a delivery keeps: `content-type` and the Standard Webhooks ones. */
export function keptHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers).sort()) {
    if (name !== "content-type" && !name.startsWith("webhook-")) continue;
    const value = headerValue(headers, name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The body as JSON, or undefined when it is empty or not JSON. */
export function parseJson(raw: Buffer): { value: unknown } | undefined {
  if (raw.length === 0) return undefined;
  try {
    return { value: JSON.parse(raw.toString("utf8")) as unknown };
  } catch {
    return undefined;
  }
}

// ---- the delivery log ---------------------------------------------------------------------------

/** At most this many deliveries are kept (oldest dropped first); each holds its body. */
const MAX_DELIVERIES = 1_000;

const deliverySchema = z
  .object({
    seq: z.number().int(),
    at: z.string(),
    channel: z.enum(["teams", "slack", "pagerduty", "webhook", "email"]),
    host: z.string(),
    path: z.string(),
    status: z.number().int(),
    problems: z.array(z.string()),
    headers: z.record(z.string(), z.string()),
  })
  .passthrough();

const deliveryLogSchema = z.object({ seq: z.number().int().min(0), deliveries: z.array(deliverySchema) });
export interface DeliveryLogData {
  readonly seq: number;
  readonly deliveries: readonly Delivery[];
}

/** Every delivery the channels received, in order, as plain data (kept with the estate). */
export class DeliveryLog {
  private entries: Delivery[] = [];
  private seq = 0;

  record(entry: Omit<Delivery, "seq">): Delivery {
    const delivery: Delivery = { seq: ++this.seq, ...entry };
    this.entries.push(delivery);
    if (this.entries.length > MAX_DELIVERIES) this.entries.splice(0, this.entries.length - MAX_DELIVERIES);
    return delivery;
  }

  /** Replaces a kept delivery (same seq) with an updated copy. */
  update(seq: number, change: (d: Delivery) => Delivery): void {
    const i = this.entries.findIndex((d) => d.seq === seq);
    if (i >= 0) this.entries[i] = change(this.entries[i]!);
  }

  list(filter: { since?: number; channel?: Channel } = {}): Delivery[] {
    return this.entries.filter((d) => d.seq > (filter.since ?? 0) && (!filter.channel || d.channel === filter.channel));
  }

  /** Forgets every delivery (sequence numbers go on from where they were). */
  clear(): void {
    this.entries = [];
  }

  toJSON(): DeliveryLogData {
    return { seq: this.seq, deliveries: this.entries };
  }

  /** Takes over kept deliveries; throws when the data is not a delivery log. */
  restore(kept: unknown): void {
    const data = deliveryLogSchema.parse(kept);
    // Beyond the fields checked, a kept delivery is read back as this estate wrote it.
    this.entries = data.deliveries as unknown as Delivery[];
    this.seq = data.seq;
  }
}

// ---- the HTTP channels --------------------------------------------------------------------------

const SLACK_HOST = "hooks.slack.com";
const PAGERDUTY_HOSTS: ReadonlySet<string> = new Set(["events.pagerduty.com", "events.eu.pagerduty.com"]);
const LOGIC_APPS_SUFFIX = ".logic.azure.com";
const POWER_PLATFORM_SUFFIX = ".environment.api.powerplatform.com";
/** `/services/T…/B…/<secret>`: the workspace, the webhook, and the secret that addresses it. */
const SLACK_PATH = /^\/services\/(T[A-Z0-9]+)\/(B[A-Z0-9]+)\/([A-Za-z0-9]+)\/?$/;
const LOGIC_APPS_PATH = /^\/workflows\/[^/]+\/triggers\/[^/]+\/paths\/invoke\/?$/i;
const POWER_AUTOMATE_PATH = /^\/powerautomate\/automations\/direct\/workflows\/[^/]+\/triggers\/[^/]+\/paths\/invoke\/?$/i;
const CHANNEL_PATH = /^\/channels\/([^/]+)(\/.*)?$/;

/** Which service answers for a host (the port, if any, does not matter). */
export function channelOfHost(host: string): Exclude<Channel, "email"> {
  const name = host.replace(/:\d+$/, "");
  if (name === SLACK_HOST) return "slack";
  if (PAGERDUTY_HOSTS.has(name)) return "pagerduty";
  if (name.endsWith(LOGIC_APPS_SUFFIX) || name.endsWith(POWER_PLATFORM_SUFFIX)) return "teams";
  return "webhook";
}

function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The path and query without the credentials in them: a Logic Apps `sig`, and on Slack's host every
 * segment after the third (`/services/T…/B…/<secret>`, and the same for any other Slack URL, even a
 * malformed one, whose tail may still be a secret).
 */
function redacted(channel: Channel, path: string, url: URL): { path: string; query: string } {
  const query = new URLSearchParams(url.search);
  query.delete("sig");
  // A receiver of one's own may take its credential anywhere in its URL (a token in the path or the
  // query): only the first path segment and the query's names are kept.
  if (channel === "webhook") {
    let kept = 0;
    const segments = path.split("/").map((segment) => (segment === "" || ++kept <= 1 ? segment : "<redacted>"));
    const names = [...new Set(query.keys())];
    return { path: segments.join("/"), query: names.length > 0 ? `?${names.map((n) => `${encodeURIComponent(n)}=<redacted>`).join("&")}` : "" };
  }
  const search = query.size > 0 ? `?${query.toString()}` : "";
  if (channel !== "slack") return { path, query: search };
  let kept = 0;
  const segments = path.split("/").map((segment) => (segment === "" || ++kept <= 3 ? segment : "<redacted>"));
  return { path: segments.join("/"), query: search };
}

/** The Standard Webhooks signing secrets the estate was given, by host (lower-case). */
export class WebhookSecrets {
  private readonly keys = new Map<string, { key: Buffer; fingerprint: string }>();

  constructor(private readonly initial: Readonly<Record<string, string>> = {}) {
    this.reset();
  }

  /**
   * Sets the secret a host's deliveries are signed with: `whsec_<base64>` (or the base64 alone), as
   * Standard Webhooks serialises symmetric secrets. Throws (without the value) when it is not that.
   */
  set(host: string, secret: string): void {
    const encoded = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
    const key = Buffer.from(encoded, "base64");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length === 0) {
      throw new Error(`the webhook secret for ${host} is not a Standard Webhooks secret (whsec_ and base64)`);
    }
    this.keys.set(host.toLowerCase(), { key, fingerprint: fingerprint(secret) });
  }

  /** The secret for a host: by host and port first, then by the host name alone. */
  get(host: string): { key: Buffer; fingerprint: string } | undefined {
    const h = host.toLowerCase();
    return this.keys.get(h) ?? this.keys.get(h.replace(/:\d+$/, ""));
  }

  /** Back to the secrets the estate started with. */
  reset(): void {
    this.keys.clear();
    for (const [host, secret] of Object.entries(this.initial)) this.set(host, secret);
  }
}

/** What a channel makes of a request before faults and the method are taken into account. */
interface Verdict {
  readonly answer: NotificationAnswer;
  readonly problems: string[];
  readonly body: unknown;
  readonly credential?: string;
}

/** The HTTP channels under `/channels/{host}/…`, recording every delivery in the log. */
export class ChannelReceivers {
  constructor(
    private readonly log: DeliveryLog,
    readonly secrets: WebhookSecrets,
  ) {}

  /** The channel route for a request under `/channels/`, or undefined for any other path. */
  target(method: string, url: URL): NotificationTarget | undefined {
    const m = CHANNEL_PATH.exec(url.pathname);
    if (!m) return undefined;
    const host = decodeOr(m[1]!).toLowerCase();
    const path = m[2] ?? "/";
    const channel = channelOfHost(host);
    const shown = redacted(channel, path, url);
    return {
      operationId: CHANNEL_OPERATIONS[channel],
      api: "channel",
      azure: channel === "teams",
      logPath: `/channels/${host}${shown.path}`,
      logQuery: shown.query,
      serve: (request) => this.serve(channel, host, path, `${shown.path}${shown.query}`, method, request),
    };
  }

  private serve(channel: Exclude<Channel, "email">, host: string, path: string, shownPath: string, method: string, request: NotificationRequest): NotificationAnswer {
    const verdict = this.verdict(channel, host, path, request);
    const problems = [...verdict.problems];
    let answer = verdict.answer;
    if (method !== "POST") {
      problems.unshift(`method ${method}: the endpoint takes POST`);
      answer = { status: 405, headers: { Allow: "POST" } };
    } else if (request.fault) {
      answer = faultAnswer(channel, request.fault);
    }
    this.log.record({
      at: new Date(request.now).toISOString(),
      channel,
      host,
      path: shownPath,
      status: answer.status,
      problems,
      body: verdict.body,
      ...(verdict.credential ? { credential: verdict.credential } : {}),
      headers: keptHeaders(request.headers),
      ...(request.fault && method === "POST" ? { fault: request.fault.code } : {}),
      ...(request.clientGone ? { clientGone: true as const } : {}),
    });
    return answer;
  }

  private verdict(channel: Exclude<Channel, "email">, host: string, path: string, request: NotificationRequest): Verdict {
    switch (channel) {
      case "slack":
        return slackVerdict(path, request);
      case "pagerduty":
        return pagerDutyVerdict(path, request);
      case "teams":
        return teamsVerdict(host, path, request);
      case "webhook":
        return webhookVerdict(this.secrets.get(host), request);
    }
  }
}

/** A planted fault as each service would answer it (Slack in text, PagerDuty in its JSON, Logic Apps in ARM's shape). */
function faultAnswer(channel: Exclude<Channel, "email">, fault: EstateHttpError): NotificationAnswer {
  const headers = { ...fault.headers };
  switch (channel) {
    case "slack":
      return { status: fault.status, headers, text: fault.status === 429 ? "rate_limited" : fault.status >= 500 ? "rollup_error" : "invalid_payload" };
    case "pagerduty":
      return {
        status: fault.status,
        headers,
        json: fault.status === 429 ? { status: "throttled", message: "Too many events for this routing key; retry later." } : { status: "error", message: fault.message },
      };
    case "teams":
      return { status: fault.status, headers, json: fault.body() };
    case "webhook":
      return { status: fault.status, headers };
  }
}

// ---- Slack incoming webhooks (Block Kit) --------------------------------------------------------

const text = (body: string, status = 200): NotificationAnswer => ({ status, text: body });

/** Block types the Block Kit reference lists for messages. */
const SLACK_BLOCK_TYPES: ReadonlySet<string> = new Set([
  "actions",
  "card",
  "carousel",
  "container",
  "context",
  "context_actions",
  "divider",
  "file",
  "header",
  "image",
  "input",
  "markdown",
  "rich_text",
  "section",
  "table",
  "video",
]);
/** Block Kit's documented limits for a message. */
const SLACK_LIMITS = { blocks: 50, headerText: 150, sectionText: 3000, fields: 10, fieldText: 2000, blockId: 255, contextElements: 10, actionElements: 25 } as const;

/** A text object's problems: `{ type: plain_text | mrkdwn, text }`, text 1..max characters. */
function slackTextProblems(value: unknown, where: string, max: number, plainOnly = false): string[] {
  if (!isObject(value)) return [`${where} is not a text object`];
  const problems: string[] = [];
  const allowed = plainOnly ? ["plain_text"] : ["plain_text", "mrkdwn"];
  if (typeof value.type !== "string" || !allowed.includes(value.type)) problems.push(`${where}.type must be ${allowed.join(" or ")}`);
  if (typeof value.text !== "string" || value.text.length === 0) problems.push(`${where}.text must be a non-empty string`);
  else if (value.text.length > max) problems.push(`${where}.text is ${value.text.length} characters (at most ${max})`);
  return problems;
}

function slackBlockProblems(block: unknown, i: number): string[] {
  const where = `blocks[${i}]`;
  if (!isObject(block)) return [`${where} is not an object`];
  const problems: string[] = [];
  if (typeof block.type !== "string" || !SLACK_BLOCK_TYPES.has(block.type)) problems.push(`${where}.type ${JSON.stringify(block.type)} is not a Block Kit block type`);
  if (block.block_id !== undefined && (typeof block.block_id !== "string" || block.block_id.length > SLACK_LIMITS.blockId)) {
    problems.push(`${where}.block_id must be a string of at most ${SLACK_LIMITS.blockId} characters`);
  }
  switch (block.type) {
    case "header":
      problems.push(...slackTextProblems(block.text, `${where}.text`, SLACK_LIMITS.headerText, true));
      break;
    case "section": {
      if (block.text === undefined && block.fields === undefined) problems.push(`${where} needs text or fields`);
      if (block.text !== undefined) problems.push(...slackTextProblems(block.text, `${where}.text`, SLACK_LIMITS.sectionText));
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields)) problems.push(`${where}.fields is not an array`);
        else {
          if (block.fields.length > SLACK_LIMITS.fields) problems.push(`${where}.fields has ${block.fields.length} items (at most ${SLACK_LIMITS.fields})`);
          block.fields.forEach((f, j) => problems.push(...slackTextProblems(f, `${where}.fields[${j}]`, SLACK_LIMITS.fieldText)));
        }
      }
      break;
    }
    case "context":
      if (!Array.isArray(block.elements) || block.elements.length === 0 || block.elements.length > SLACK_LIMITS.contextElements) {
        problems.push(`${where}.elements must be an array of 1 to ${SLACK_LIMITS.contextElements} elements`);
      }
      break;
    case "actions":
      if (!Array.isArray(block.elements) || block.elements.length === 0 || block.elements.length > SLACK_LIMITS.actionElements) {
        problems.push(`${where}.elements must be an array of 1 to ${SLACK_LIMITS.actionElements} elements`);
      }
      break;
  }
  return problems;
}

/**
 * Slack answers an incoming webhook with a text code: `ok`; 400 `invalid_payload` for a body it cannot
 * read, `invalid_blocks` for blocks outside Block Kit's rules, `no_text` for a message with nothing to
 * show; 404 `no_service` for a URL that names no webhook.
 */
function slackVerdict(path: string, request: NotificationRequest): Verdict {
  const address = SLACK_PATH.exec(path);
  const credential = address ? fingerprint(address[3]!) : undefined;
  const parsed = parseJson(request.raw);
  const body = parsed?.value ?? null;
  const problems: string[] = [];
  let code: string | undefined;
  if (!address) {
    problems.push("the path names no incoming webhook (/services/T…/B…/…)");
    code = "no_service";
  }
  if (!parsed || !isObject(parsed.value)) {
    problems.push("the body is not a JSON object");
    return { answer: code ? text(code, 404) : text("invalid_payload", 400), problems, body, ...(credential ? { credential } : {}) };
  }
  const message = parsed.value;
  const payloadProblems: string[] = [];
  const blockProblems: string[] = [];
  if (message.text !== undefined && typeof message.text !== "string") payloadProblems.push("text is not a string");
  if (message.attachments !== undefined && !Array.isArray(message.attachments)) payloadProblems.push("attachments is not an array");
  if (message.blocks !== undefined) {
    if (!Array.isArray(message.blocks)) blockProblems.push("blocks is not an array");
    else {
      if (message.blocks.length > SLACK_LIMITS.blocks) blockProblems.push(`blocks has ${message.blocks.length} blocks (at most ${SLACK_LIMITS.blocks})`);
      message.blocks.forEach((b, i) => blockProblems.push(...slackBlockProblems(b, i)));
    }
  }
  const hasText = typeof message.text === "string" && message.text.trim().length > 0;
  const hasBlocks = Array.isArray(message.blocks) && message.blocks.length > 0;
  const hasAttachments = Array.isArray(message.attachments) && message.attachments.length > 0;
  const empty = !hasText && !hasBlocks && !hasAttachments;
  problems.push(...payloadProblems, ...blockProblems, ...(empty ? ["the message has no text, blocks or attachments"] : []));
  // The first that applies answers: the address, then the payload, the blocks, an empty message.
  const answer = code
    ? text(code, 404)
    : payloadProblems.length > 0
      ? text("invalid_payload", 400)
      : blockProblems.length > 0
        ? text("invalid_blocks", 400)
        : empty
          ? text("no_text", 400)
          : text("ok");
  return { answer, problems, body, ...(credential ? { credential } : {}) };
}

// ---- PagerDuty Events API v2 --------------------------------------------------------------------

const PAGERDUTY_ACTIONS = ["trigger", "acknowledge", "resolve"];
const PAGERDUTY_SEVERITIES = ["critical", "error", "warning", "info"];

const blank = (v: unknown) => v === undefined || v === null || v === "";

/** The Events API v2 rules for an alert event (the developer documentation's "Send an Alert Event"). */
function pagerDutyProblems(event: Json): string[] {
  const problems: string[] = [];
  const key = event.routing_key;
  if (blank(key)) problems.push("'routing_key' is missing or blank");
  else if (typeof key !== "string") problems.push("'routing_key' must be a string");
  else {
    if (key.length !== 32) problems.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    if (!/^[A-Za-z0-9]*$/.test(key)) problems.push("'routing_key' cannot contain non-alphanumeric characters.");
  }
  const action = event.event_action;
  if (blank(action)) problems.push("'event_action' is missing or blank");
  else if (typeof action !== "string" || !PAGERDUTY_ACTIONS.includes(action)) problems.push(`'event_action' is invalid (must be one of ${PAGERDUTY_ACTIONS.join(", ")})`);
  const dedup = event.dedup_key;
  if (!blank(dedup)) {
    if (typeof dedup !== "string") problems.push("'dedup_key' must be a string");
    else if (dedup.length > 255) problems.push(`'dedup_key' is ${dedup.length} characters (at most 255)`);
  } else if (action === "acknowledge" || action === "resolve") problems.push(`'dedup_key' is missing or blank (needed to ${action} an alert)`);
  if (action === "trigger") {
    const payload = event.payload;
    if (!isObject(payload)) problems.push("'payload' is missing or not an object");
    else {
      if (blank(payload.summary) || typeof payload.summary !== "string") problems.push("'payload.summary' is missing or blank");
      else if (payload.summary.length > 1024) problems.push(`'payload.summary' is ${payload.summary.length} characters (at most 1024)`);
      if (blank(payload.source) || typeof payload.source !== "string") problems.push("'payload.source' is missing or blank");
      if (blank(payload.severity)) problems.push("'payload.severity' is missing or blank");
      else if (typeof payload.severity !== "string" || !PAGERDUTY_SEVERITIES.includes(payload.severity)) {
        problems.push(`'payload.severity' is invalid (must be one of ${PAGERDUTY_SEVERITIES.join(", ")})`);
      }
      if (payload.timestamp !== undefined && (typeof payload.timestamp !== "string" || Number.isNaN(Date.parse(payload.timestamp)))) {
        problems.push("'payload.timestamp' is not an ISO 8601 timestamp");
      }
      for (const field of ["component", "group", "class"] as const) {
        if (payload[field] !== undefined && typeof payload[field] !== "string") problems.push(`'payload.${field}' must be a string`);
      }
      if (payload.custom_details !== undefined && !isObject(payload.custom_details)) problems.push("'payload.custom_details' must be an object");
    }
  }
  const listed = (name: "images" | "links", required: "src" | "href") => {
    const list = event[name];
    if (list === undefined) return;
    if (!Array.isArray(list)) return problems.push(`'${name}' must be an array`);
    list.forEach((item, i) => {
      if (!isObject(item) || typeof item[required] !== "string" || item[required] === "") problems.push(`'${name}[${i}].${required}' is missing or blank`);
    });
  };
  listed("images", "src");
  listed("links", "href");
  return problems;
}

/** The event as kept: `routing_key` replaced by its fingerprint. */
function withoutRoutingKey(body: unknown): unknown {
  if (!isObject(body) || body.routing_key === undefined || body.routing_key === null) return body;
  const key = body.routing_key;
  return { ...body, routing_key: fingerprint(typeof key === "string" ? key : JSON.stringify(key)) };
}

/**
 * PagerDuty answers 202 `{ status: "success", message: "Event processed", dedup_key }` (a generated key
 * when a trigger has none), or 400 `{ status: "invalid event", message: "Event object is invalid", errors }`.
 */
function pagerDutyVerdict(path: string, request: NotificationRequest): Verdict {
  const parsed = parseJson(request.raw);
  const body = withoutRoutingKey(parsed?.value ?? null);
  const key = isObject(parsed?.value) ? parsed.value.routing_key : undefined;
  const credential = typeof key === "string" && key !== "" ? fingerprint(key) : undefined;
  const withCredential = credential ? { credential } : {};
  if (path.replace(/\/+$/, "") !== "/v2/enqueue") {
    return { answer: { status: 404, json: { status: "not found", message: "The Events API v2 takes events at /v2/enqueue." } }, problems: ["the path is not /v2/enqueue"], body, ...withCredential };
  }
  const problems = !parsed ? ["the body is not valid JSON"] : !isObject(parsed.value) ? ["the event is not a JSON object"] : pagerDutyProblems(parsed.value);
  if (problems.length > 0) {
    return { answer: { status: 400, json: { status: "invalid event", message: "Event object is invalid", errors: problems } }, problems, body, ...withCredential };
  }
  const event = parsed!.value as Json;
  const dedupKey = typeof event.dedup_key === "string" && event.dedup_key !== "" ? event.dedup_key : randomUUID().replace(/-/g, "");
  return { answer: { status: 202, json: { status: "success", message: "Event processed", dedup_key: dedupKey } }, problems, body, ...withCredential };
}

// ---- Teams Workflows (a Logic Apps / Power Automate Request trigger) ----------------------------

const ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive";
/**
 * The newest Adaptive Card version a Teams Workflows post renders. Teams documents 1.5 for bots, but
 * cards posted by a Workflows flow above 1.4 show "this card couldn't be displayed" (Adaptive Cards and
 * Teams docs issues, 2023-2025).
 */
export const TEAMS_WORKFLOWS_CARD_VERSION = { major: 1, minor: 4 } as const;
/** Teams' limit on a message posted to a channel (about 28 KB). */
const TEAMS_MESSAGE_BYTES = 28 * 1024;

function adaptiveCardProblems(card: unknown, where: string): string[] {
  if (!isObject(card)) return [`${where} is not an object`];
  const problems: string[] = [];
  if (card.type !== "AdaptiveCard") problems.push(`${where}.type must be "AdaptiveCard"`);
  const version = typeof card.version === "string" ? /^(\d+)\.(\d+)$/.exec(card.version) : null;
  if (!version) problems.push(`${where}.version must be a version such as "1.4"`);
  else {
    const [major, minor] = [Number(version[1]), Number(version[2])];
    const max = TEAMS_WORKFLOWS_CARD_VERSION;
    if (major > max.major || (major === max.major && minor > max.minor)) {
      problems.push(`${where}.version ${card.version} is newer than Teams Workflows renders (${max.major}.${max.minor})`);
    }
  }
  if (!Array.isArray(card.body)) problems.push(`${where}.body must be an array of elements`);
  else {
    card.body.forEach((element, i) => {
      if (!isObject(element) || typeof element.type !== "string" || element.type === "") problems.push(`${where}.body[${i}] is not an element with a type`);
    });
  }
  return problems;
}

function teamsMessageProblems(message: Json, size: number): string[] {
  const problems: string[] = [];
  if (message.type !== undefined && message.type !== "message") problems.push(`type must be "message"`);
  if (!Array.isArray(message.attachments) || message.attachments.length === 0) problems.push("attachments must be a non-empty array of cards");
  else {
    message.attachments.forEach((attachment, i) => {
      const where = `attachments[${i}]`;
      if (!isObject(attachment)) return problems.push(`${where} is not an object`);
      if (attachment.contentType !== ADAPTIVE_CARD) problems.push(`${where}.contentType must be ${ADAPTIVE_CARD}`);
      problems.push(...adaptiveCardProblems(attachment.content, `${where}.content`));
    });
  }
  if (size > TEAMS_MESSAGE_BYTES) problems.push(`the message is ${size} bytes (Teams posts at most ${TEAMS_MESSAGE_BYTES})`);
  return problems;
}

const logicAppsError = (status: number, code: string, message: string): NotificationAnswer => ({ status, json: { error: { code, message } } });

/**
 * A Workflows webhook answers 202 Accepted with no body once the flow is triggered. Its URL carries a
 * shared access signature (`sig`); without one, Logic Apps answers 401 `DirectApiAuthorizationRequired`,
 * and with a bearer token as well, 400 `DirectApiRequestHasMoreThanOneAuthorization`.
 */
function teamsVerdict(host: string, path: string, request: NotificationRequest): Verdict {
  const sig = request.url.searchParams.get("sig");
  const credential = sig ? fingerprint(sig) : undefined;
  const withCredential = credential ? { credential } : {};
  const parsed = parseJson(request.raw);
  const body = parsed?.value ?? null;
  const problems = !parsed ? ["the body is not JSON"] : !isObject(parsed.value) ? ["the body is not a JSON object"] : teamsMessageProblems(parsed.value, request.raw.length);
  const pattern = host.replace(/:\d+$/, "").endsWith(LOGIC_APPS_SUFFIX) ? LOGIC_APPS_PATH : POWER_AUTOMATE_PATH;
  if (!pattern.test(path)) {
    problems.unshift("the path is not a workflow's manual trigger (…/workflows/{id}/triggers/{trigger}/paths/invoke)");
    return { answer: logicAppsError(404, "NotFound", "No workflow trigger at this address."), problems, body, ...withCredential };
  }
  if (!sig) {
    problems.unshift("no shared access signature (sig) in the query");
    return { answer: logicAppsError(401, "DirectApiAuthorizationRequired", "The request must be authenticated only by Shared Access scheme."), problems, body };
  }
  if (headerValue(request.headers, "authorization") !== undefined) {
    problems.unshift("both a shared access signature and an Authorization header");
    return {
      answer: logicAppsError(400, "DirectApiRequestHasMoreThanOneAuthorization", "The request carries more than one authorization scheme; use only one."),
      problems,
      body,
      ...withCredential,
    };
  }
  if (problems.length > 0) return { answer: logicAppsError(400, "BadRequest", `The message is not an Adaptive Card message Teams Workflows posts: ${problems.join("; ")}.`), problems, body, ...withCredential };
  return { answer: { status: 202 }, problems, body, ...withCredential };
}

// ---- Standard Webhooks --------------------------------------------------------------------------

/** The tolerance Standard Webhooks recommends between the sender's timestamp and the receiver's clock. */
const WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/**
 * Checks a Standard Webhooks delivery: `webhook-id`, `webhook-timestamp` (integer seconds, within five
 * minutes of `now`), `webhook-signature` (space-separated `v1,<base64>` entries; others such as `v1a`
 * are skipped) and a JSON body. With a key, one `v1` entry must be the HMAC-SHA256 of
 * `{id}.{timestamp}.{body}`, compared in constant time.
 */
export function verifyStandardWebhook(
  input: { headers: IncomingHttpHeaders; raw: Buffer; now: number },
  key?: Buffer,
): { problems: string[]; signature: "valid" | "mismatch" | "unchecked" } {
  const problems: string[] = [];
  const id = headerValue(input.headers, "webhook-id");
  const timestamp = headerValue(input.headers, "webhook-timestamp");
  const signature = headerValue(input.headers, "webhook-signature");
  if (!id) problems.push("no webhook-id header");
  if (!timestamp) problems.push("no webhook-timestamp header");
  else if (!/^\d+$/.test(timestamp)) problems.push("webhook-timestamp is not an integer number of seconds");
  else if (Math.abs(input.now - Number(timestamp) * 1000) > WEBHOOK_TOLERANCE_MS) problems.push("webhook-timestamp is more than 5 minutes from the receiver's clock");
  const entries = (signature ?? "").split(" ").filter((e) => e !== "");
  const v1 = entries.filter((e) => e.startsWith("v1,")).map((e) => e.slice(3));
  if (!signature) problems.push("no webhook-signature header");
  else if (v1.length === 0) problems.push("webhook-signature has no v1,<base64> entry");
  else if (v1.some((s) => !/^[A-Za-z0-9+/]+={0,2}$/.test(s))) problems.push("a v1 entry of webhook-signature is not base64");
  const contentType = headerValue(input.headers, "content-type") ?? "";
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(contentType)) problems.push("content-type is not application/json");
  if (!parseJson(input.raw)) problems.push("the body is not JSON");
  if (!key || !id || !timestamp || v1.length === 0) return { problems, signature: "unchecked" };
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`, "utf8").update(input.raw).digest();
  const matches = v1.some((s) => {
    const given = Buffer.from(s, "base64");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matches) problems.push("no v1 signature matches the host's secret");
  return { problems, signature: matches ? "valid" : "mismatch" };
}

/** A generic JSON receiver: 204 for a valid delivery, 400 for a malformed one, 401 when the signature does not match. */
function webhookVerdict(secret: { key: Buffer; fingerprint: string } | undefined, request: NotificationRequest): Verdict {
  const body = parseJson(request.raw)?.value ?? null;
  const { problems, signature } = verifyStandardWebhook(request, secret?.key);
  const credential = signature === "valid" ? { credential: secret!.fingerprint } : {};
  const malformed = problems.filter((p) => p !== "no v1 signature matches the host's secret");
  if (malformed.length > 0) return { answer: { status: 400, json: { error: "invalid_webhook", problems } }, problems, body, ...credential };
  if (signature === "mismatch") return { answer: { status: 401, json: { error: "invalid_signature" } }, problems, body };
  return { answer: { status: 204 }, problems, body, ...credential };
}
