/**
 * Delivery of notification events to the plan's channels, through an outbox:
 *
 * - `enqueue` keeps the event once per event id, with one entry per channel that takes it (filters:
 *   kinds, severity floor; PagerDuty takes only incident events). A replayed orchestration or a retried
 *   activity enqueues the same id again and finds it there: nothing is queued twice.
 * - `deliverDue` claims the channels due now (compare-and-swap on the record, so two deliverers never
 *   send the same channel), makes one attempt each, at once and each bounded by its timeout, and
 *   records the outcome: delivered; failed (a 4xx other than 408/429, a missing setting, retries used
 *   up); or pending again after a backoff that honours Retry-After (429, 5xx, timeouts, network errors).
 *   An ACS email is "accepted" by its send and delivered when its operation succeeds (polled, never
 *   waited for).
 * - `deliverOpen` is the delivery timer's pass over every event with an unsettled channel.
 *
 * A crash after a channel took the event and before the outcome was recorded sends it again once the
 * claim has expired: delivery is at least once. Every delivery carries the event id (Standard Webhooks'
 * `webhook-id`, PagerDuty's `dedup_key` per incident, the ACS operation id) for receivers to drop repeats.
 *
 * Credentials are read from app settings at the moment of sending and never kept: not in the outbox,
 * not in an error (answers and errors are scrubbed of every credential value before they are kept).
 * An event is scrubbed of the credentials of every channel of its plan before it is kept: a routing
 * key or webhook address quoted in an error or a reason reaches no channel, Slack's URL not Teams.
 */
import { createHash } from "node:crypto";
import { atLeast, kindsOpening, type NotificationEvent } from "../core/notification.ts";
import type { Journal } from "../core/journal.ts";
import type { Logger } from "../core/logger.ts";
import { REDACTION, redactText } from "../core/secrets.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { emailMessage, pagerDutyDelivery, PAGERDUTY_EVENTS_URL, slackDelivery, teamsDelivery, WEBHOOK_SECRET_PREFIX, webhookDelivery } from "./channels/index.ts";
import { fit } from "./channels/text.ts";
import type { HttpDelivery } from "./channels/types.ts";
import { isSettled, type ChannelDelivery, type Outbox, type OutboxRecord, type PlanChannel } from "./outbox.ts";
import type { ChannelTransport, EmailProgress } from "./transport.ts";

/** Timing of delivery, in Azure time (divided by the time scale locally). */
export const DELIVERY_POLICY = {
  /** One attempt's longest wait for the channel's answer. */
  attemptTimeoutMs: 10_000,
  /** Backoff: 30 s, then doubling, at most 15 min between attempts; a longer Retry-After wins up to 1 h. */
  firstRetryMs: 30_000,
  maxRetryMs: 15 * 60_000,
  maxRetryAfterMs: 60 * 60_000,
  /** After this many attempts, or this long after the event, a channel is given up. */
  maxAttempts: 8,
  giveUpAfterMs: 2 * 60 * 60_000,
  /** An attempt in flight keeps its claim this long (then another deliverer may try). */
  claimMs: 60_000,
  /** First poll of an ACS email send when it names no Retry-After. */
  emailPollMs: 5_000,
  /** The delivery timer: events at once, and no batch begun after this long (host.json's functionTimeout is 30 min). */
  passConcurrency: 8,
  passBudgetMs: 5 * 60_000,
} as const;

/** The notificationDelivery timer: every 15 seconds (retries are due at 30 s and later). */
export const NOTIFICATION_DELIVERY_SCHEDULE = "*/15 * * * * *";

export interface DeliveryDeps {
  readonly outbox: Outbox;
  readonly transport: ChannelTransport;
  /** An app setting's value (process.env in Azure, where Key Vault references are resolved by the platform). */
  readonly setting: (name: string) => string | undefined;
  readonly clock: () => Date;
  readonly log: Logger;
  /** Where a run's deliveries are journaled (each channel's outcome, once settled). */
  readonly journal?: Journal;
  /** Azure time runs this many times faster (locally); 1 (default) in Azure. */
  readonly timeScale?: number;
}

export interface ChannelOutcome {
  readonly channel: string;
  readonly kind: PlanChannel["kind"];
  readonly state: ChannelDelivery["state"];
  readonly attempts: number;
  readonly status?: number;
  readonly error?: string;
  readonly deliveredAt?: string;
  readonly nextAttemptAt?: string;
}

export interface DeliveryReport {
  readonly id: string;
  readonly kind: NotificationEvent["kind"];
  /** False when the event was already in the outbox (a repeat). */
  readonly created?: boolean;
  readonly channels: readonly ChannelOutcome[];
}

/** The channels of `channels` that take `event`. */
export function channelsFor(event: NotificationEvent, channels: readonly PlanChannel[]): PlanChannel[] {
  return channels.filter((channel) => {
    if (channel.events && !channel.events.includes(event.kind)) {
      // A PagerDuty channel that takes what opens an incident takes what closes it, whatever its kind.
      const closesOwn = channel.kind === "pagerduty" && event.incident?.action === "resolve" && kindsOpening(event.kind).some((k) => channel.events!.includes(k));
      if (!closesOwn) return false;
    }
    if (channel.kind === "pagerduty") {
      if (!event.incident) return false;
      // An incident it opened must be closed whatever the floor (critical by default: it pages).
      return event.incident.action === "resolve" || atLeast(event.severity, channel.minSeverity ?? "critical");
    }
    return atLeast(event.severity, channel.minSeverity ?? "info");
  });
}

/**
 * Keeps `event` for the channels that take it; false when its id is already there (nothing changes).
 * With `setting`, the event kept is scrubbed of the credentials of all of `channels` first.
 */
export async function enqueue(event: NotificationEvent, channels: readonly PlanChannel[], deps: Pick<DeliveryDeps, "outbox" | "clock"> & Partial<Pick<DeliveryDeps, "setting">>): Promise<boolean> {
  const now = deps.clock().toISOString();
  const record: OutboxRecord = {
    version: 1,
    event: deps.setting ? scrubEvent(event, credentialScrubber(channels, deps.setting)) : event,
    createdAt: now,
    channels: Object.fromEntries(channelsFor(event, channels).map((channel) => [channel.name, { channel, state: "pending", attempts: 0, nextAttemptAt: now } satisfies ChannelDelivery])),
  };
  return deps.outbox.create(record);
}

/** Enqueues `event` and makes the first attempt on every channel at once. */
export async function notifyChannels(event: NotificationEvent, channels: readonly PlanChannel[], deps: DeliveryDeps): Promise<DeliveryReport> {
  const created = await enqueue(event, channels, deps);
  const report = await deliverDue(event.id, deps);
  return { ...report, created };
}

/** The delivery timer: one pass over every event with an unsettled channel (at most `limit`). */
export async function deliverOpen(deps: DeliveryDeps, limit = 200, options: { readonly concurrency?: number; readonly budgetMs?: number } = {}): Promise<DeliveryReport[]> {
  const ids = (await deps.outbox.open()).slice(0, limit);
  const reports: DeliveryReport[] = [];
  // Events side by side (a hung channel costs its timeout once per batch, not once per event), and no
  // batch begun after the pass's budget: the next pass (15 s later) goes on, far inside functionTimeout.
  const concurrency = Math.max(1, options.concurrency ?? DELIVERY_POLICY.passConcurrency);
  const budgetMs = options.budgetMs ?? DELIVERY_POLICY.passBudgetMs;
  const began = deps.clock().getTime();
  for (let i = 0; i < ids.length; i += concurrency) {
    if (i > 0 && deps.clock().getTime() - began >= budgetMs) break;
    const batch = await Promise.all(
      ids.slice(i, i + concurrency).map(async (id) => {
        try {
          return await deliverDue(id, deps);
        } catch (error) {
          deps.log.error("notification delivery pass failed", { eventId: id, error: redactText(errorText(error)) });
          return undefined;
        }
      }),
    );
    for (const report of batch) if (report) reports.push(report);
  }
  return reports;
}

const scaled = (ms: number, deps: Pick<DeliveryDeps, "timeScale">) => ms / Math.max(1, deps.timeScale ?? 1);

/** An attempt's timeout is a network wait: scaled with Azure time, but never below this. */
const ATTEMPT_FLOOR_MS = 1_000;
const attemptTimeoutMs = (deps: Pick<DeliveryDeps, "timeScale">) => Math.max(ATTEMPT_FLOOR_MS, scaled(DELIVERY_POLICY.attemptTimeoutMs, deps));

function due(d: ChannelDelivery, now: number): boolean {
  if (isSettled(d)) return false;
  if (d.claimedUntil && Date.parse(d.claimedUntil) > now) return false;
  return d.nextAttemptAt === undefined || Date.parse(d.nextAttemptAt) <= now;
}

/** One pass over one event: claims what is due, attempts it, records the outcomes. */
export async function deliverDue(id: string, deps: DeliveryDeps): Promise<DeliveryReport> {
  for (let round = 0; round < 5; round++) {
    const got = await deps.outbox.get(id);
    if (!got) {
      await deps.outbox.settle(id);
      return { id, kind: "run-started", channels: [] };
    }
    const { record, etag } = got;
    const now = deps.clock();
    const dueNames = Object.keys(record.channels).filter((name) => due(record.channels[name]!, now.getTime()));
    if (dueNames.length === 0) {
      if (Object.values(record.channels).every(isSettled)) await deps.outbox.settle(id);
      return reportOf(record);
    }
    // The claim outlasts the attempt's own timeout (never scaled below ATTEMPT_FLOOR_MS), with room to record the outcome.
    const claimedUntil = new Date(now.getTime() + attemptTimeoutMs(deps) + Math.max(ATTEMPT_FLOOR_MS, scaled(DELIVERY_POLICY.claimMs, deps))).toISOString();
    const claimed: OutboxRecord = { ...record, channels: { ...record.channels, ...Object.fromEntries(dueNames.map((name) => [name, { ...record.channels[name]!, claimedUntil }])) } };
    if ((await deps.outbox.replace(claimed, etag)) === undefined) continue; // another deliverer was first: look again
    const results = await Promise.all(dueNames.map(async (name) => [name, await attempt(record.event, record.channels[name]!, deps)] as const));
    const final = await recordOutcomes(id, claimedUntil, new Map(results), deps);
    return final ? reportOf(final) : reportOf(claimed);
  }
  throw new Error(`notification ${id}: the outbox record kept changing; the delivery timer tries again`);
}

/** Writes each attempt's outcome over the record as it is now (compare-and-swap, re-read on conflict). */
async function recordOutcomes(id: string, claimedUntil: string, outcomes: ReadonlyMap<string, ChannelDelivery>, deps: DeliveryDeps): Promise<OutboxRecord | undefined> {
  for (let round = 0; round < 8; round++) {
    const got = await deps.outbox.get(id);
    if (!got) return undefined;
    const channels = { ...got.record.channels };
    const journaled: [string, ChannelDelivery][] = [];
    for (const [name, outcome] of outcomes) {
      // Only over our own claim: a deliverer that took over after it expired owns the channel now.
      if (channels[name]?.claimedUntil !== claimedUntil) continue;
      channels[name] = outcome;
      if (isSettled(outcome)) journaled.push([name, outcome]);
    }
    const next: OutboxRecord = { ...got.record, channels };
    if ((await deps.outbox.replace(next, got.etag)) === undefined) continue;
    if (Object.values(channels).every(isSettled)) await deps.outbox.settle(id);
    for (const [name, outcome] of journaled) await journalOutcome(next, name, outcome, deps);
    return next;
  }
  deps.log.error("notification outcome not recorded: the outbox record kept changing", { eventId: id });
  return undefined;
}

async function journalOutcome(record: OutboxRecord, name: string, d: ChannelDelivery, deps: DeliveryDeps): Promise<void> {
  const event = record.event;
  const fields = { eventId: event.id, event: event.kind, channel: name, kind: d.channel.kind, attempts: d.attempts, ...(d.status !== undefined ? { status: d.status } : {}) };
  if (d.state === "failed") deps.log.warn(`notification ${event.kind} not delivered to ${name}: ${d.error ?? "unknown"}`, fields);
  else deps.log.info(`notification ${event.kind} delivered to ${name}`, fields);
  if (!event.runId || !deps.journal) return;
  const afterSeconds = d.deliveredAt ? Math.round((Date.parse(d.deliveredAt) - Date.parse(event.at)) / 100) / 10 : undefined;
  try {
    await deps.journal.append({
      runId: event.runId,
      at: deps.clock().toISOString(),
      kind: "notification",
      step: "notify",
      message: d.state === "delivered" ? `${event.kind} delivered to ${name} (${d.channel.kind})` : `${event.kind} not delivered to ${name} (${d.channel.kind}): ${d.error ?? "unknown"}`,
      data: { ...fields, severity: event.severity, delivery: d.state, ...(afterSeconds !== undefined ? { afterSeconds } : {}), ...(d.error ? { error: d.error } : {}) },
    });
  } catch (error) {
    deps.log.error("notification outcome not journaled", { ...fields, error: redactText(errorText(error)) });
  }
}

function reportOf(record: OutboxRecord): DeliveryReport {
  return {
    id: record.event.id,
    kind: record.event.kind,
    channels: Object.entries(record.channels).map(([name, d]) => ({
      channel: name,
      kind: d.channel.kind,
      state: d.state,
      attempts: d.attempts,
      ...(d.status !== undefined ? { status: d.status } : {}),
      ...(d.error ? { error: d.error } : {}),
      ...(d.deliveredAt ? { deliveredAt: d.deliveredAt } : {}),
      ...(d.nextAttemptAt && !isSettled(d) ? { nextAttemptAt: d.nextAttemptAt } : {}),
    })),
  };
}

// ---- one attempt --------------------------------------------------------------------------------

class SettingMissing extends Error {}

/** One attempt on one channel: the channel's new state (never throws). */
async function attempt(event: NotificationEvent, d: ChannelDelivery, deps: DeliveryDeps): Promise<ChannelDelivery> {
  const started = deps.clock();
  const attempts = d.attempts + 1;
  // An email's operation is kept whatever the outcome: after a failed poll, the next attempt polls it
  // again instead of sending the message a second time.
  const base = { channel: d.channel, attempts, firstAttemptAt: d.firstAttemptAt ?? started.toISOString(), ...(d.operation ? { operation: d.operation } : {}) } as const;
  const secrets: string[] = [];
  const setting = (name: string): string => {
    const value = deps.setting(name)?.trim();
    if (!value) throw new SettingMissing(`app setting ${name} is not set`);
    secrets.push(value, ...credentialParts(value));
    return value;
  };
  const timeoutMs = attemptTimeoutMs(deps);
  try {
    const channel = d.channel;
    if (channel.kind === "email") {
      const endpoint = setting(channel.endpointSetting);
      // The identity's token for Communication Services goes to a Communication Services endpoint only.
      if (!isAcsEndpoint(endpoint)) return { ...base, state: "failed", error: `app setting ${channel.endpointSetting} is not an https Azure Communication Services endpoint (https://{resource}.communication.azure.com)` };
      const message = emailMessage(event, { from: channel.from, to: channel.to });
      const progress = d.operation?.resumeFrom
        ? await deps.transport.pollEmail(endpoint, message, d.operation.resumeFrom, timeoutMs)
        : await deps.transport.beginEmail(endpoint, message, d.operation?.id ?? operationIdOf(event.id, channel.name), timeoutMs);
      // A poll that answers is not an attempt (one that fails is, below).
      const counted = d.operation?.resumeFrom ? { ...base, attempts: d.attempts } : base;
      return emailOutcome(event, counted, d.operation?.id ?? operationIdOf(event.id, channel.name), progress, deps, scrubber(secrets));
    }
    let request: HttpDelivery | undefined;
    try {
      request = httpRequestOf(event, channel, setting, deps.clock());
    } catch (error) {
      // A credential the channel cannot use (a signing secret that is not whsec_ base64, a routing key
      // with spaces) fails the same on every attempt: not retried. The builders never quote the value.
      if (error instanceof SettingMissing) throw error;
      return { ...base, state: "failed", error: scrubber(secrets)(`the ${channel.kind} channel's settings are not usable: ${errorText(error)}`) };
    }
    if (!request) return { ...base, state: "failed", error: `the ${channel.kind} channel has nothing to send for ${event.kind}` };
    const answer = await deps.transport.post(request, timeoutMs);
    const scrub = scrubber(secrets);
    if (answer.status >= 200 && answer.status < 300) return { ...base, state: "delivered", status: answer.status, deliveredAt: deps.clock().toISOString() };
    // Scrubbed whole, then cut: a cut first could leave part of a credential that no longer matches.
    const said = scrub(answer.text.trim()).slice(0, 200);
    const error = scrub(`${channel.kind} answered ${answer.status}${said ? `: ${said}` : ""}`);
    if (answer.status === 408 || answer.status === 429 || answer.status >= 500) return retryLater(event, base, deps, error, answer.status, answer.retryAfterSeconds);
    return { ...base, state: "failed", status: answer.status, error };
  } catch (error) {
    if (error instanceof SettingMissing) return { ...base, state: "failed", error: error.message };
    const text = scrubber(secrets)(errorText(error));
    // The email client throws Azure's answer: a request ACS refused (4xx) is not sent again.
    const status = statusCodeOf(error);
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) return { ...base, state: "failed", status, error: text };
    return retryLater(event, base, deps, text, status);
  }
}

function httpRequestOf(event: NotificationEvent, channel: Exclude<PlanChannel, { kind: "email" }>, setting: (name: string) => string, now: Date): HttpDelivery | undefined {
  switch (channel.kind) {
    case "teams":
      return teamsDelivery(event, setting(channel.urlSetting));
    case "slack":
      return slackDelivery(event, setting(channel.urlSetting));
    case "pagerduty":
      return pagerDutyDelivery(event, setting(channel.routingKeySetting), channel.urlSetting ? setting(channel.urlSetting) : PAGERDUTY_EVENTS_URL);
    case "webhook":
      return webhookDelivery(event, setting(channel.urlSetting), setting(channel.secretSetting), now);
  }
}

function emailOutcome(event: NotificationEvent, base: Pick<ChannelDelivery, "channel" | "attempts" | "firstAttemptAt">, id: string, progress: EmailProgress, deps: DeliveryDeps, scrub: (text: string) => string): ChannelDelivery {
  const operation = { id, resumeFrom: progress.resumeFrom };
  if (progress.status === "Succeeded") return { ...base, state: "delivered", operation, deliveredAt: deps.clock().toISOString() };
  if (progress.status === "Failed" || progress.status === "Canceled") return { ...base, state: "failed", operation, error: scrub(`the email send operation ended ${progress.status}${progress.error ? `: ${progress.error}` : ""}`) };
  // Accepted: polled again after Retry-After (or the first poll interval). Polls do not count as attempts.
  const wait = Math.min(DELIVERY_POLICY.maxRetryAfterMs, (progress.retryAfterSeconds ?? DELIVERY_POLICY.emailPollMs / 1000) * 1000);
  if (Date.parse(deps.clock().toISOString()) - Date.parse(event.at) > scaled(DELIVERY_POLICY.giveUpAfterMs, deps)) {
    return { ...base, state: "failed", operation, error: "the email send operation did not end in time" };
  }
  return { ...base, state: "accepted", operation, nextAttemptAt: new Date(deps.clock().getTime() + scaled(wait, deps)).toISOString() };
}

function retryLater(event: NotificationEvent, base: Pick<ChannelDelivery, "channel" | "attempts" | "firstAttemptAt">, deps: DeliveryDeps, error: string, status?: number, retryAfterSeconds?: number): ChannelDelivery {
  const now = deps.clock().getTime();
  const backoff = Math.min(DELIVERY_POLICY.maxRetryMs, DELIVERY_POLICY.firstRetryMs * 2 ** (base.attempts! - 1));
  const wait = Math.max(backoff, Math.min(DELIVERY_POLICY.maxRetryAfterMs, (retryAfterSeconds ?? 0) * 1000));
  const next = now + scaled(wait, deps);
  const statusPart = status !== undefined ? { status } : {};
  if (base.attempts! >= DELIVERY_POLICY.maxAttempts || next - Date.parse(event.at) > scaled(DELIVERY_POLICY.giveUpAfterMs, deps)) {
    return { ...base, ...statusPart, state: "failed", attempts: base.attempts!, error: `gave up after ${base.attempts} attempt(s): ${error}` } as ChannelDelivery;
  }
  return { ...base, ...statusPart, state: "pending", attempts: base.attempts!, error, nextAttemptAt: new Date(next).toISOString() } as ChannelDelivery;
}

/** Longest error kept for a channel (the outbox, the journal, logs). */
const ERROR_MAX = 500;

/** An https endpoint of Azure Communication Services (public cloud and Azure Government), without credentials, path or query. */
export function isAcsEndpoint(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.username === "" && url.password === "" && /^[a-z0-9-]+(\.[a-z0-9-]+)*\.communication\.azure\.(com|us)$/i.test(url.hostname) && (url.pathname === "/" || url.pathname === "") && url.search === "";
  } catch {
    return false;
  }
}

/** The ACS operation id of an event on a channel: a UUID derived from both, the same on every attempt. */
export function operationIdOf(eventId: string, channel: string): string {
  const h = createHash("sha256").update(`${eventId}\n${channel}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

/**
 * The parts of a credential an error could quote on their own: a URL's path segments and query values
 * (a Slack token segment, a Workflows `sig`), a Standard Webhooks key without its `whsec_` prefix; at
 * least 8 characters long.
 */
function credentialParts(value: string): string[] {
  if (value.startsWith(WEBHOOK_SECRET_PREFIX)) return [value.slice(WEBHOOK_SECRET_PREFIX.length)].filter((p) => p.length >= 8);
  try {
    const url = new URL(value);
    return [url.pathname, url.search, ...url.pathname.split("/"), ...[...url.searchParams.values()], url.href].filter((p) => p.length >= 8);
  } catch {
    return [];
  }
}

/** Removes every known credential value (longest first), then whatever still looks like a secret; cut to ERROR_MAX. */
function scrubber(secrets: readonly string[]): (text: string) => string {
  const known = [...new Set(secrets)].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const s of known) out = out.split(s).join("[REDACTED]");
    return fit(redactText(out.replace(/[\r\n]+/g, " ")), ERROR_MAX);
  };
}

/** The app settings of a channel that hold a credential (the ACS endpoint and PagerDuty's Events URL hold none). */
function credentialSettings(channel: PlanChannel): string[] {
  switch (channel.kind) {
    case "teams":
    case "slack":
      return [channel.urlSetting];
    case "webhook":
      return [channel.urlSetting, channel.secretSetting];
    case "pagerduty":
      return [channel.routingKeySetting];
    case "email":
      return [];
  }
}

/**
 * A scrubber of the credentials of `channels`, read from their settings now (and not kept): each value
 * whole, a `whsec_` key without its prefix, and the parts of a URL long enough to be a token (a query
 * value or path segment of 16 characters or more: a Slack token, a Workflows `sig`, a connector id).
 * Short parts (`services`, `triggers`) are left: they are words, not credentials.
 */
export function credentialScrubber(channels: readonly PlanChannel[], setting: (name: string) => string | undefined): (text: string) => string {
  const values = new Set<string>();
  for (const name of new Set(channels.flatMap(credentialSettings))) {
    const value = setting(name)?.trim();
    if (!value || value.length < 8) continue;
    values.add(value);
    if (value.startsWith(WEBHOOK_SECRET_PREFIX)) values.add(value.slice(WEBHOOK_SECRET_PREFIX.length));
    try {
      const url = new URL(value);
      for (const part of [url.href, ...url.pathname.split("/"), ...url.searchParams.values()]) if (part.length >= 16) values.add(part);
    } catch {
      // Not a URL: the value whole is the credential.
    }
  }
  const known = [...values].filter((v) => v.length >= 8).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const v of known) if (out.includes(v)) out = out.split(v).join(REDACTION);
    return out;
  };
}

/** The event's free text (title, text, facts) through `scrub`; what Switchyard made (id, actions, links, incident) as it is. */
function scrubEvent(event: NotificationEvent, scrub: (text: string) => string): NotificationEvent {
  return { ...event, title: scrub(event.title), text: scrub(event.text), facts: event.facts.map((f) => ({ name: scrub(f.name), value: scrub(f.value) })) };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
