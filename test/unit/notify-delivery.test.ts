import { RestError } from "@azure/core-rest-pipeline";
import type { EmailMessage } from "@azure/communication-email";
import { beforeAll, describe, expect, it } from "vitest";
import { notifyActivity, type NotifyDeps } from "../../src/activities/notify.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import type { JournalEntry } from "../../src/core/journal.ts";
import type { Logger } from "../../src/core/logger.ts";
import type { NotificationEvent } from "../../src/core/notification.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { PAGERDUTY_EVENTS_URL } from "../../src/notify/channels/index.ts";
import type { HttpDelivery } from "../../src/notify/channels/types.ts";
import {
  channelsFor,
  deliverDue,
  deliverOpen,
  DELIVERY_POLICY,
  enqueue,
  notifyChannels,
  operationIdOf,
  type DeliveryDeps,
  type DeliveryReport,
} from "../../src/notify/delivery.ts";
import { MemoryOutbox, type Outbox, type OutboxRecord, type PlanChannel } from "../../src/notify/outbox.ts";
import type { ChannelTransport, EmailProgress, HttpAnswer } from "../../src/notify/transport.ts";

// ---- the plan's channels and their app settings ------------------------------------------------

const PLAN = "contoso-orders";
const RUN = `${PLAN}.20250301T100000Z.failover-1a2b`;
const EVENT_AT = "2025-03-01T10:00:05.000Z";

/** The credential parts of each setting: none of them may ever be recorded, whole or in part. */
const SLACK_TOKEN = "fakeSlackToken4TestsXyZ9";
const TEAMS_SIG = "Zq9fakeSig4TestsOnly_aBcDeFgHiJkLmNoP-qrs";
const PD_KEY = "e93facc04764012d9c7ad4f3b2d8c1a5";
const WEBHOOK_TOKEN = "tok9fakeWebhookToken42";
const WHSEC_KEY = Buffer.from("switchyard-unit-signing-key-32by", "utf8").toString("base64");

const SLACK_URL = `https://hooks.slack.com/services/T0FAKE000/B0FAKE000/${SLACK_TOKEN}`;
const TEAMS_URL = `https://prod-42.westeurope.logic.azure.com:443/workflows/0f1e2d3c4b5a69788796a5b4c3d2e1f0/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${TEAMS_SIG}`;
const WEBHOOK_URL = `https://receiver.example.com/hooks/switchyard?token=${WEBHOOK_TOKEN}`;
const WHSEC = `whsec_${WHSEC_KEY}`;
const ACS_ENDPOINT = "https://contoso-dr.europe.communication.azure.com";

const SETTINGS: Readonly<Record<string, string>> = {
  SWITCHYARD_TEAMS_WEBHOOK_URL: TEAMS_URL,
  SWITCHYARD_SLACK_WEBHOOK_URL: SLACK_URL,
  SWITCHYARD_PAGERDUTY_ROUTING_KEY: PD_KEY,
  SWITCHYARD_WEBHOOK_URL: WEBHOOK_URL,
  SWITCHYARD_WEBHOOK_SECRET: WHSEC,
  SWITCHYARD_ACS_ENDPOINT: ACS_ENDPOINT,
};
const CREDENTIALS = [SLACK_TOKEN, TEAMS_SIG, PD_KEY, WEBHOOK_TOKEN, WHSEC_KEY];

const teams = { name: "ops-teams", kind: "teams", urlSetting: "SWITCHYARD_TEAMS_WEBHOOK_URL" } satisfies PlanChannel;
const slack = { name: "ops-slack", kind: "slack", urlSetting: "SWITCHYARD_SLACK_WEBHOOK_URL" } satisfies PlanChannel;
const pagerduty = { name: "oncall-pagerduty", kind: "pagerduty", routingKeySetting: "SWITCHYARD_PAGERDUTY_ROUTING_KEY" } satisfies PlanChannel;
const webhook = { name: "incident-bot", kind: "webhook", urlSetting: "SWITCHYARD_WEBHOOK_URL", secretSetting: "SWITCHYARD_WEBHOOK_SECRET" } satisfies PlanChannel;
const email = {
  name: "dr-email",
  kind: "email",
  to: ["dr-oncall@contoso.com"],
  from: "switchyard@contoso.com",
  endpointSetting: "SWITCHYARD_ACS_ENDPOINT",
} satisfies PlanChannel;
const HTTP_CHANNELS: readonly PlanChannel[] = [teams, slack, pagerduty, webhook];

/** Where each HTTP channel posts. */
const URL_OF: Readonly<Record<string, string>> = {
  [teams.name]: TEAMS_URL,
  [slack.name]: SLACK_URL,
  [pagerduty.name]: PAGERDUTY_EVENTS_URL,
  [webhook.name]: WEBHOOK_URL,
};

const event = (patch: Partial<NotificationEvent> = {}): NotificationEvent => ({
  id: `${RUN}.3.approval-needed`,
  kind: "approval-needed",
  severity: "critical",
  at: EVENT_AT,
  plan: PLAN,
  runId: RUN,
  title: "Approval needed: fail over contoso-orders to westus2",
  text: "Replication lag 420 s is above the RPO budget of 300 s.",
  facts: [{ name: "Lag", value: "420 s" }],
  actions: [],
  links: [],
  incident: { key: `switchyard/${PLAN}/run/${RUN}`, action: "trigger" },
  ...patch,
});

// ---- a scripted transport, a stepped clock, a recording journal and log -------------------------

type HttpReply = HttpAnswer | Error | ((delivery: HttpDelivery, timeoutMs: number) => Promise<HttpAnswer>);
type EmailReply = EmailProgress | Error;

/** Answers each URL from its script (then 200), and each email begin or poll from the email script. */
class ScriptedTransport implements ChannelTransport {
  readonly posts: { url: string; delivery: HttpDelivery; timeoutMs: number }[] = [];
  readonly begins: { endpoint: string; message: EmailMessage; operationId: string; timeoutMs: number }[] = [];
  readonly polls: { endpoint: string; resumeFrom: string }[] = [];
  private readonly http = new Map<string, HttpReply[]>();
  private readonly emails: EmailReply[] = [];

  answer(url: string, ...replies: HttpReply[]): this {
    this.http.set(url, [...(this.http.get(url) ?? []), ...replies]);
    return this;
  }

  answerEmail(...replies: EmailReply[]): this {
    this.emails.push(...replies);
    return this;
  }

  sent(url: string): number {
    return this.posts.filter((p) => p.url === url).length;
  }

  async post(delivery: HttpDelivery, timeoutMs: number): Promise<HttpAnswer> {
    this.posts.push({ url: delivery.url, delivery, timeoutMs });
    const reply = this.http.get(delivery.url)?.shift() ?? { status: 200, text: "" };
    if (reply instanceof Error) throw reply;
    return typeof reply === "function" ? reply(delivery, timeoutMs) : reply;
  }

  async beginEmail(endpoint: string, message: EmailMessage, operationId: string, timeoutMs: number): Promise<EmailProgress> {
    this.begins.push({ endpoint, message, operationId, timeoutMs });
    return this.nextEmail();
  }

  async pollEmail(endpoint: string, _message: EmailMessage, resumeFrom: string): Promise<EmailProgress> {
    this.polls.push({ endpoint, resumeFrom });
    return this.nextEmail();
  }

  private nextEmail(): EmailProgress {
    const reply = this.emails.shift() ?? { status: "Succeeded", resumeFrom: "poller-state-final" };
    if (reply instanceof Error) throw reply;
    return reply;
  }
}

/** The journal, keeping every entry exactly as it was handed over too (before the store's own redaction). */
class RecordingJournal extends MemoryJournal {
  readonly given: JournalEntry[] = [];
  override async append(entry: JournalEntry): Promise<void> {
    this.given.push(structuredClone(entry));
    await super.append(entry);
  }
}

function harness(options: { timeScale?: number; settings?: Readonly<Record<string, string>>; outbox?: Outbox } = {}) {
  let now = Date.parse(EVENT_AT);
  const time = {
    clock: () => new Date(now),
    advance: (ms: number) => void (now += ms),
    set: (iso: string) => void (now = Date.parse(iso)),
  };
  const memory = new MemoryOutbox();
  const transport = new ScriptedTransport();
  const journal = new RecordingJournal();
  const lines: string[] = [];
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  const log: Logger = { info: line("info"), warn: line("warn"), error: line("error") };
  const settings = options.settings ?? SETTINGS;
  const deps: DeliveryDeps = {
    outbox: options.outbox ?? memory,
    transport,
    setting: (name) => settings[name],
    clock: time.clock,
    log,
    journal,
    ...(options.timeScale !== undefined ? { timeScale: options.timeScale } : {}),
  };
  return { time, outbox: memory, transport, journal, lines, deps };
}
type Harness = ReturnType<typeof harness>;

async function record(h: Harness, id = event().id): Promise<OutboxRecord> {
  const got = await h.outbox.get(id);
  if (!got) throw new Error(`no outbox record ${id}`);
  return got.record;
}

/** Steps the clock to each next due attempt and runs a delivery pass, until every channel is settled. */
async function untilSettled(h: Harness, id = event().id): Promise<DeliveryReport[]> {
  const reports: DeliveryReport[] = [];
  for (let pass = 0; pass < 20; pass++) {
    const channels = Object.values((await record(h, id)).channels);
    const next = channels.filter((c) => c.state === "pending" || c.state === "accepted").map((c) => Date.parse(c.nextAttemptAt!));
    if (next.length === 0) return reports;
    h.time.set(new Date(Math.min(...next)).toISOString());
    reports.push(await deliverDue(id, h.deps));
  }
  throw new Error("the channels never settled");
}

/** Every credential of which some 8 characters in a row appear in `text`. */
function leaked(text: string): string[] {
  return CREDENTIALS.filter((secret) => {
    for (let i = 0; i + 8 <= secret.length; i++) if (text.includes(secret.slice(i, i + 8))) return true;
    return false;
  });
}

const seconds = (from: string, to: string | undefined) => (Date.parse(to!) - Date.parse(from)) / 1000;

// ---- channel filters ----------------------------------------------------------------------------

describe("channelsFor", () => {
  const names = (e: NotificationEvent, channels: readonly PlanChannel[]) => channelsFor(e, channels).map((c) => c.name);

  it("a channel with kinds takes only those kinds", () => {
    const finishedOnly = { ...teams, events: ["run-finished" as const] };
    expect(names(event({ kind: "approval-needed" }), [finishedOnly, slack])).toEqual(["ops-slack"]);
    expect(names(event({ kind: "run-finished" }), [finishedOnly, slack])).toEqual(["ops-teams", "ops-slack"]);
  });

  it("a severity floor drops what is below it; without one every severity passes", () => {
    const warningUp = { ...slack, minSeverity: "warning" as const };
    expect(names(event({ severity: "info", incident: undefined }), [warningUp, teams])).toEqual(["ops-teams"]);
    expect(names(event({ severity: "warning", incident: undefined }), [warningUp, teams])).toEqual(["ops-slack", "ops-teams"]);
    expect(names(event({ severity: "critical", incident: undefined }), [warningUp, teams])).toEqual(["ops-slack", "ops-teams"]);
  });

  it("PagerDuty takes only events that open or close an incident, critical ones by default", () => {
    expect(names(event({ incident: undefined }), [pagerduty])).toEqual([]);
    expect(names(event({ severity: "warning" }), [pagerduty])).toEqual([]);
    expect(names(event({ severity: "critical" }), [pagerduty])).toEqual(["oncall-pagerduty"]);
    expect(names(event({ severity: "warning" }), [{ ...pagerduty, minSeverity: "warning" }])).toEqual(["oncall-pagerduty"]);
  });

  it("a resolve passes PagerDuty's severity floor, and its kinds when it takes what opens the incident", () => {
    const resolve = event({ kind: "region-healthy", severity: "info", incident: { key: "switchyard/contoso-orders/region/eastus2", action: "resolve" } });
    expect(names(resolve, [pagerduty])).toEqual(["oncall-pagerduty"]);
    expect(names(resolve, [{ ...pagerduty, events: ["region-down" as const] }])).toEqual(["oncall-pagerduty"]);
    expect(names(resolve, [{ ...pagerduty, events: ["approval-needed" as const] }])).toEqual([]);
  });

  it("enqueue keeps an entry only for the channels that take the event", async () => {
    const h = harness();
    await enqueue(event({ severity: "warning" }), [teams, pagerduty, { ...slack, minSeverity: "critical" }], h.deps);
    expect(Object.keys((await record(h)).channels)).toEqual(["ops-teams"]);
  });
});

// ---- first attempt ------------------------------------------------------------------------------

describe("notifyChannels: the first attempt", () => {
  it("delivers to every channel at once and settles the event", async () => {
    const h = harness();
    const report = await notifyChannels(event(), [...HTTP_CHANNELS, email], h.deps);
    expect(report.created).toBe(true);
    expect(report.channels.map((c) => [c.channel, c.state, c.attempts])).toEqual([
      ["ops-teams", "delivered", 1],
      ["ops-slack", "delivered", 1],
      ["oncall-pagerduty", "delivered", 1],
      ["incident-bot", "delivered", 1],
      ["dr-email", "delivered", 1],
    ]);
    for (const url of Object.values(URL_OF)) expect(h.transport.sent(url)).toBe(1);
    expect(h.transport.begins.map((b) => b.operationId)).toEqual([operationIdOf(event().id, "dr-email")]);
    expect(await h.outbox.open()).toEqual([]);
  });

  it("signs the webhook with the event id and keys the PagerDuty alert by the incident", async () => {
    const h = harness();
    await notifyChannels(event(), [pagerduty, webhook], h.deps);
    const hook = h.transport.posts.find((p) => p.url === WEBHOOK_URL)!.delivery;
    expect(hook.headers["webhook-id"]).toBe(event().id);
    expect(JSON.parse(h.transport.posts.find((p) => p.url === PAGERDUTY_EVENTS_URL)!.delivery.body)).toMatchObject({ dedup_key: event().incident!.key, event_action: "trigger" });
  });

  it("sends each attempt with the attempt timeout", async () => {
    const h = harness();
    await notifyChannels(event(), [teams], h.deps);
    expect(h.transport.posts[0]!.timeoutMs).toBe(DELIVERY_POLICY.attemptTimeoutMs);
  });
});

// ---- retries ------------------------------------------------------------------------------------

describe("retries", () => {
  it("a 429 waits as long as Retry-After asks when that is longer than the backoff", async () => {
    const h = harness();
    h.transport.answer(SLACK_URL, { status: 429, retryAfterSeconds: 120, text: "rate_limited" });
    const [slackNow] = (await notifyChannels(event(), [slack], h.deps)).channels;
    expect(slackNow).toMatchObject({ state: "pending", attempts: 1, status: 429, error: "slack answered 429: rate_limited" });
    expect(seconds(EVENT_AT, slackNow!.nextAttemptAt)).toBe(120);
  });

  it("a 429 whose Retry-After is shorter than the backoff waits the backoff", async () => {
    const h = harness();
    h.transport.answer(SLACK_URL, { status: 429, retryAfterSeconds: 5, text: "" });
    const [slackNow] = (await notifyChannels(event(), [slack], h.deps)).channels;
    expect(seconds(EVENT_AT, slackNow!.nextAttemptAt)).toBe(DELIVERY_POLICY.firstRetryMs / 1000);
  });

  const transient: [string, HttpReply][] = [
    ["500", { status: 500, text: "Internal Server Error" }],
    ["503", { status: 503, text: "Service Unavailable" }],
    ["408", { status: 408, text: "" }],
    ["a timeout", new Error("no answer within 10000 ms")],
    ["a network error", Object.assign(new Error("connect ECONNREFUSED 10.0.0.4:443"), { code: "ECONNREFUSED" })],
  ];
  it.each(transient)("%s is retried with exponential backoff, then delivered", async (_, reply) => {
    const h = harness();
    h.transport.answer(TEAMS_URL, reply, reply, reply);
    await notifyChannels(event(), [teams], h.deps);
    const waits: number[] = [];
    for (let failure = 1; failure <= 3; failure++) {
      const d = (await record(h)).channels["ops-teams"]!;
      expect(d).toMatchObject({ state: "pending", attempts: failure });
      const due = Date.parse(d.nextAttemptAt!);
      waits.push((due - h.time.clock().getTime()) / 1000);
      // Not a moment early.
      h.time.set(new Date(due - 1).toISOString());
      await deliverDue(event().id, h.deps);
      expect(h.transport.sent(TEAMS_URL)).toBe(failure);
      h.time.set(new Date(due).toISOString());
      await deliverDue(event().id, h.deps);
    }
    const first = DELIVERY_POLICY.firstRetryMs / 1000;
    expect(waits).toEqual([first, 2 * first, 4 * first]);
    expect((await record(h)).channels["ops-teams"]).toMatchObject({ state: "delivered", attempts: 4 });
    expect(await h.outbox.open()).toEqual([]);
  });

  it("a timeout or network error is recorded with its message", async () => {
    const h = harness();
    h.transport.answer(TEAMS_URL, new Error("socket hang up"));
    await notifyChannels(event(), [teams], h.deps);
    expect((await record(h)).channels["ops-teams"]).toMatchObject({ state: "pending", error: "socket hang up" });
  });

  it.each([400, 401, 403, 404])("a %i fails at once and is never sent again", async (status) => {
    const h = harness();
    h.transport.answer(TEAMS_URL, { status, text: "refused" });
    const [outcome] = (await notifyChannels(event(), [teams], h.deps)).channels;
    expect(outcome).toMatchObject({ state: "failed", attempts: 1, status, error: `teams answered ${status}: refused` });
    expect(outcome!.nextAttemptAt).toBeUndefined();
    h.time.advance(DELIVERY_POLICY.giveUpAfterMs);
    await deliverOpen(h.deps);
    await deliverDue(event().id, h.deps);
    expect(h.transport.sent(TEAMS_URL)).toBe(1);
    expect(await h.outbox.open()).toEqual([]);
  });

  it("gives up once the attempts are used up", async () => {
    const h = harness();
    h.transport.answer(WEBHOOK_URL, ...Array.from({ length: DELIVERY_POLICY.maxAttempts + 2 }, () => ({ status: 503, text: "" })));
    await notifyChannels(event(), [webhook], h.deps);
    await untilSettled(h);
    expect(h.transport.sent(WEBHOOK_URL)).toBe(DELIVERY_POLICY.maxAttempts);
    expect((await record(h)).channels["incident-bot"]).toMatchObject({
      state: "failed",
      attempts: DELIVERY_POLICY.maxAttempts,
      status: 503,
      error: `gave up after ${DELIVERY_POLICY.maxAttempts} attempt(s): webhook answered 503`,
    });
    expect(await h.outbox.open()).toEqual([]);
  });

  it("gives up when the next attempt would come too long after the event", async () => {
    const h = harness();
    h.time.advance(DELIVERY_POLICY.giveUpAfterMs - 10_000);
    h.transport.answer(SLACK_URL, { status: 500, text: "" });
    const [outcome] = (await notifyChannels(event(), [slack], h.deps)).channels;
    expect(outcome).toMatchObject({ state: "failed", attempts: 1, error: "gave up after 1 attempt(s): slack answered 500" });
  });

  it("a time scale divides the backoff, Retry-After and the attempt timeout (never under a second)", async () => {
    const h = harness({ timeScale: 1000 });
    h.transport.answer(SLACK_URL, { status: 503, text: "" });
    h.transport.answer(TEAMS_URL, { status: 429, retryAfterSeconds: 120, text: "" });
    const report = await notifyChannels(event(), [slack, teams], h.deps);
    const byName = Object.fromEntries(report.channels.map((c) => [c.channel, c]));
    expect(seconds(EVENT_AT, byName["ops-slack"]!.nextAttemptAt) * 1000).toBe(DELIVERY_POLICY.firstRetryMs / 1000);
    expect(seconds(EVENT_AT, byName["ops-teams"]!.nextAttemptAt) * 1000).toBe(120);
    expect(h.transport.posts.map((p) => p.timeoutMs)).toEqual([1000, 1000]);
  });
});

// ---- deduplication and claims -------------------------------------------------------------------

/** An outbox whose first two reads both return before either caller writes (two deliverers racing). */
class RacingOutbox extends MemoryOutbox {
  refused = 0;
  private waiting: (() => void)[] = [];
  private reads = 0;

  override async get(id: string) {
    const got = await super.get(id);
    if (++this.reads <= 2) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        if (this.waiting.length === 2) for (const go of this.waiting.splice(0)) go();
      });
    }
    return got;
  }

  override async replace(record: OutboxRecord, etag: string) {
    const next = await super.replace(record, etag);
    if (next === undefined) this.refused++;
    return next;
  }
}

describe("deduplication and claims", () => {
  it("an event enqueued twice is kept once", async () => {
    const h = harness();
    expect(await enqueue(event(), HTTP_CHANNELS, h.deps)).toBe(true);
    expect(await enqueue(event({ text: "the same id, said differently" }), HTTP_CHANNELS, h.deps)).toBe(false);
    expect((await record(h)).event.text).toBe(event().text);
    expect(h.outbox.all()).toHaveLength(1);
  });

  it("notifying the same event twice sends each channel once", async () => {
    const h = harness();
    await notifyChannels(event(), HTTP_CHANNELS, h.deps);
    h.time.advance(60_000);
    const again = await notifyChannels(event(), HTTP_CHANNELS, h.deps);
    expect(again.created).toBe(false);
    expect(again.channels.every((c) => c.state === "delivered" && c.attempts === 1)).toBe(true);
    for (const url of Object.values(URL_OF)) expect(h.transport.sent(url)).toBe(1);
  });

  it("a repeat while a retry is waiting does not send early", async () => {
    const h = harness();
    h.transport.answer(SLACK_URL, { status: 503, text: "" });
    await notifyChannels(event(), [slack], h.deps);
    h.time.advance(1_000);
    await notifyChannels(event(), [slack], h.deps);
    expect(h.transport.sent(SLACK_URL)).toBe(1);
  });

  it("two deliverers that read the same record never both send a channel", async () => {
    const outbox = new RacingOutbox();
    const h = harness({ outbox });
    await enqueue(event(), HTTP_CHANNELS, h.deps);
    const [a, b] = await Promise.all([deliverDue(event().id, h.deps), deliverDue(event().id, h.deps)]);
    expect(outbox.refused).toBe(1);
    for (const url of Object.values(URL_OF)) expect(h.transport.sent(url)).toBe(1);
    // Both passes end with the channels settled or claimed, never attempted twice.
    expect((await outbox.get(event().id))!.record.channels["ops-teams"]).toMatchObject({ state: "delivered", attempts: 1 });
    expect([a, b].flatMap((r) => r.channels).every((c) => c.attempts <= 1)).toBe(true);
  });

  it("a pass during an attempt in flight leaves the claimed channels alone", async () => {
    const h = harness();
    let during: DeliveryReport | undefined;
    h.transport.answer(TEAMS_URL, async () => {
      during = await deliverDue(event().id, h.deps);
      return { status: 200, text: "" };
    });
    await notifyChannels(event(), [teams], h.deps);
    expect(h.transport.sent(TEAMS_URL)).toBe(1);
    expect(during!.channels).toEqual([expect.objectContaining({ channel: "ops-teams", state: "pending", attempts: 0 })]);
  });

  it.each([1, 1000, 3600])("a claim outlasts the attempt it covers (time scale %i)", async (timeScale) => {
    const h = harness({ timeScale });
    const started = h.time.clock().getTime();
    let claimedFor = 0;
    h.transport.answer(SLACK_URL, async (_delivery, timeoutMs) => {
      claimedFor = Date.parse((await record(h)).channels["ops-slack"]!.claimedUntil!) - started;
      // The channel answers late, within the attempt's timeout; the delivery timer runs meanwhile.
      h.time.advance(timeoutMs - 1);
      await deliverOpen(h.deps);
      return { status: 200, text: "" };
    });
    await notifyChannels(event(), [slack], h.deps);
    expect(claimedFor).toBeGreaterThan(h.transport.posts[0]!.timeoutMs);
    expect(h.transport.sent(SLACK_URL)).toBe(1);
  });

  it("a claim that expired (its sender crashed) is taken over, and the late outcome does not overwrite it", async () => {
    const h = harness();
    let answerLate: (a: HttpAnswer) => void = () => {};
    let sending: () => void = () => {};
    const inFlight = new Promise<void>((resolve) => (sending = resolve));
    h.transport.answer(TEAMS_URL, () => {
      sending();
      return new Promise<HttpAnswer>((resolve) => (answerLate = resolve));
    });
    const crashed = notifyChannels(event(), [teams], h.deps);
    await inFlight;
    const claim = (await record(h)).channels["ops-teams"]!.claimedUntil!;

    h.time.set(new Date(Date.parse(claim) - 1).toISOString());
    expect((await deliverOpen(h.deps))[0]!.channels[0]).toMatchObject({ state: "pending", attempts: 0 });
    h.time.set(claim);
    const takeover = await deliverOpen(h.deps);
    expect(takeover[0]!.channels[0]).toMatchObject({ state: "delivered", attempts: 1 });

    answerLate({ status: 500, text: "" });
    await crashed;
    expect(h.transport.sent(TEAMS_URL)).toBe(2);
    expect((await record(h)).channels["ops-teams"]).toMatchObject({ state: "delivered", attempts: 1 });
    expect(await h.outbox.open()).toEqual([]);
  });
});

// ---- email --------------------------------------------------------------------------------------

describe("ACS email", () => {
  const running = (resumeFrom: string, retryAfterSeconds?: number): EmailProgress => ({ status: "Running", resumeFrom, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });

  it("a send is accepted, polled when due, and delivered when its operation succeeds", async () => {
    const h = harness();
    h.transport.answerEmail(running("state-1", 2), running("state-2"), { status: "Succeeded", resumeFrom: "state-3" });
    const [accepted] = (await notifyChannels(event(), [email], h.deps)).channels;
    expect(accepted).toMatchObject({ state: "accepted", attempts: 1 });
    expect(seconds(EVENT_AT, accepted!.nextAttemptAt)).toBe(2);

    h.time.advance(1_000);
    await deliverDue(event().id, h.deps);
    expect(h.transport.polls).toEqual([]);

    await untilSettled(h);
    expect(h.transport.begins).toHaveLength(1);
    expect(h.transport.begins[0]).toMatchObject({ endpoint: ACS_ENDPOINT, operationId: operationIdOf(event().id, "dr-email") });
    expect(h.transport.polls.map((p) => p.resumeFrom)).toEqual(["state-1", "state-2"]);
    // Polls that answer are not attempts.
    expect((await record(h)).channels["dr-email"]).toMatchObject({ state: "delivered", attempts: 1 });
  });

  it("the first poll waits the poll interval when the send names no Retry-After", async () => {
    const h = harness();
    h.transport.answerEmail(running("state-1"));
    const [accepted] = (await notifyChannels(event(), [email], h.deps)).channels;
    expect(seconds(EVENT_AT, accepted!.nextAttemptAt)).toBe(DELIVERY_POLICY.emailPollMs / 1000);
  });

  it("a long-running send is not given up on a failed poll: polls that answer do not use up attempts", async () => {
    const h = harness();
    const polls = Array.from({ length: DELIVERY_POLICY.maxAttempts + 1 }, (_, i) => running(`state-${i + 1}`));
    h.transport.answerEmail(...polls, new Error("socket hang up"), { status: "Succeeded", resumeFrom: "state-final" });
    await notifyChannels(event(), [email], h.deps);
    await untilSettled(h);
    expect(h.transport.begins).toHaveLength(1);
    expect((await record(h)).channels["dr-email"]).toMatchObject({ state: "delivered", attempts: 2 });
  });

  it("an operation that ends Failed fails the channel", async () => {
    const h = harness();
    h.transport.answerEmail(running("state-1"), { status: "Failed", resumeFrom: "state-2", error: "Recipient mailbox unavailable" });
    await notifyChannels(event(), [email], h.deps);
    await untilSettled(h);
    expect((await record(h)).channels["dr-email"]).toMatchObject({ state: "failed", error: "the email send operation ended Failed: Recipient mailbox unavailable" });
    expect(h.transport.begins).toHaveLength(1);
  });

  it("a send ACS refuses with 400 fails at once, without a retry", async () => {
    const h = harness();
    h.transport.answerEmail(new RestError("Invalid email address format", { statusCode: 400, code: "BadRequest" }));
    const [outcome] = (await notifyChannels(event(), [email], h.deps)).channels;
    expect(outcome).toMatchObject({ state: "failed", status: 400, attempts: 1, error: "Invalid email address format" });
    h.time.advance(DELIVERY_POLICY.maxRetryMs);
    await deliverOpen(h.deps);
    expect(h.transport.begins).toHaveLength(1);
  });

  it("a send ACS throttles (429) is retried", async () => {
    const h = harness();
    h.transport.answerEmail(new RestError("Too many requests", { statusCode: 429 }));
    const [outcome] = (await notifyChannels(event(), [email], h.deps)).channels;
    expect(outcome).toMatchObject({ state: "pending", status: 429 });
  });

  it("a poll that fails on the network keeps the operation: the next attempt polls it, never sends again", async () => {
    const h = harness();
    h.transport.answerEmail(running("state-1"), new Error("socket hang up"), { status: "Succeeded", resumeFrom: "state-2" });
    await notifyChannels(event(), [email], h.deps);
    await untilSettled(h);
    expect(h.transport.begins).toHaveLength(1);
    expect(h.transport.polls.map((p) => p.resumeFrom)).toEqual(["state-1", "state-1"]);
    expect((await record(h)).channels["dr-email"]).toMatchObject({ state: "delivered", operation: { id: operationIdOf(event().id, "dr-email") } });
  });
});

// ---- settings and credentials -------------------------------------------------------------------

describe("settings and credentials", () => {
  it("a missing app setting fails the channel, naming the setting and never a value", async () => {
    const h = harness({ settings: { ...SETTINGS, SWITCHYARD_WEBHOOK_SECRET: "  " } });
    const report = await notifyChannels(event(), [webhook, slack], h.deps);
    expect(report.channels[0]).toMatchObject({ channel: "incident-bot", state: "failed", attempts: 1, error: "app setting SWITCHYARD_WEBHOOK_SECRET is not set" });
    expect(report.channels[1]).toMatchObject({ channel: "ops-slack", state: "delivered" });
    expect(h.transport.sent(WEBHOOK_URL)).toBe(0);
    expect(leaked(JSON.stringify([report, h.outbox.all(), h.lines, h.journal.given]))).toEqual([]);
  });

  it("sends no email, and so no token, to an endpoint that is not Azure Communication Services", async () => {
    for (const endpoint of ["https://collector.example.com", "http://contoso-dr.europe.communication.azure.com", "https://contoso-dr.communication.azure.com.example.com", "https://contoso-dr.europe.communication.azure.com/x?y=1"]) {
      const h = harness({ settings: { ...SETTINGS, SWITCHYARD_ACS_ENDPOINT: endpoint } });
      const report = await notifyChannels(event(), [email], h.deps);
      expect(report.channels[0], endpoint).toMatchObject({ channel: "dr-email", state: "failed", attempts: 1 });
      expect(h.transport.begins, endpoint).toHaveLength(0);
    }
  });

  it("a credential the channel cannot use fails it at once, without a retry or its value in the error", async () => {
    const unusable = "whsec_not*base64*at*all*but-long-enough";
    const h = harness({ settings: { ...SETTINGS, SWITCHYARD_WEBHOOK_SECRET: unusable } });
    const report = await notifyChannels(event(), [webhook], h.deps);
    expect(report.channels[0]).toMatchObject({ channel: "incident-bot", state: "failed", attempts: 1 });
    expect(report.channels[0]!.error).toMatch(/settings are not usable/);
    expect(h.transport.sent(WEBHOOK_URL)).toBe(0);
    expect(JSON.stringify([report, h.outbox.all(), h.lines])).not.toContain("not*base64");
  });

  it("never records a credential a channel's answer or error quotes: not in the outbox, reports, journal or log", async () => {
    const h = harness();
    // The token straddles the cut of a long answer.
    const long = `${"x".repeat(200 - 12 - SLACK_URL.indexOf(SLACK_TOKEN))}${SLACK_URL}`;
    h.transport
      .answer(TEAMS_URL, { status: 500, text: `upstream failed for ${TEAMS_URL}` }, new Error(`connect ECONNRESET ${TEAMS_URL.replace(":443", "")}`), {
        status: 401,
        text: `{"error":{"code":"DirectApiAuthorizationRequired","message":"The signature ${TEAMS_SIG} is not valid."}}`,
      })
      .answer(SLACK_URL, { status: 500, text: long }, { status: 403, text: `invalid_token ${SLACK_TOKEN}` })
      .answer(PAGERDUTY_EVENTS_URL, { status: 429, retryAfterSeconds: 1, text: `{"status":"throttle","routing_key":"${PD_KEY}"}` }, { status: 400, text: `{"errors":["routing_key ${PD_KEY} unknown"]}` })
      .answer(WEBHOOK_URL, new Error(`signature key ${WHSEC_KEY} refused`), { status: 404, text: `no hook at ${WEBHOOK_URL} for ${WHSEC}` });
    const reports = [await notifyChannels(event(), HTTP_CHANNELS, h.deps), ...(await untilSettled(h)), ...(await deliverOpen(h.deps))];

    const settled = await record(h);
    expect(Object.values(settled.channels).map((c) => c.state)).toEqual(["failed", "failed", "failed", "failed"]);
    expect(settled.channels["ops-slack"]!.error).toBe("slack answered 403: invalid_token [REDACTED]");
    const recorded = JSON.stringify([reports, h.outbox.all(), h.journal.given, await h.journal.read(RUN), h.lines]);
    expect(recorded).toContain("teams answered 401");
    expect(leaked(recorded)).toEqual([]);
  });

  it("an answer cut to its first 200 characters keeps no part of a credential", async () => {
    const h = harness();
    // The token starts 12 characters before the cut.
    const long = `${"x".repeat(200 - 12 - SLACK_URL.indexOf(SLACK_TOKEN))}${SLACK_URL} and more`;
    h.transport.answer(SLACK_URL, { status: 400, text: long });
    const [outcome] = (await notifyChannels(event(), [slack], h.deps)).channels;
    expect(outcome!.error).toMatch(/^slack answered 400: x+/);
    expect(leaked(outcome!.error!)).toEqual([]);
  });

  it("a webhook signing key quoted without its whsec_ prefix is scrubbed", async () => {
    const h = harness();
    h.transport.answer(WEBHOOK_URL, new Error(`signature key ${WHSEC_KEY} refused`));
    const [outcome] = (await notifyChannels(event(), [webhook], h.deps)).channels;
    expect(outcome).toMatchObject({ state: "pending", error: "signature key [REDACTED] refused" });
  });

  it("journals each channel's outcome once it is settled, with no credential in it", async () => {
    const h = harness();
    h.transport.answer(SLACK_URL, { status: 503, text: `retry ${SLACK_URL}` }).answer(PAGERDUTY_EVENTS_URL, { status: 400, text: `bad key ${PD_KEY}` });
    await notifyChannels(event(), [teams, slack, pagerduty], h.deps);
    const first = await h.journal.read(RUN);
    expect(first.map((e) => [e.data?.channel, e.data?.delivery])).toEqual([
      ["ops-teams", "delivered"],
      ["oncall-pagerduty", "failed"],
    ]);
    expect(first[0]).toMatchObject({ kind: "notification", step: "notify", message: "approval-needed delivered to ops-teams (teams)", data: { eventId: event().id, attempts: 1, status: 200, afterSeconds: 0 } });
    expect(first[1]).toMatchObject({ message: "approval-needed not delivered to oncall-pagerduty (pagerduty): pagerduty answered 400: bad key [REDACTED]" });

    await untilSettled(h);
    const all = await h.journal.read(RUN);
    expect(all.slice(2).map((e) => [e.data?.channel, e.data?.delivery, e.data?.attempts])).toEqual([["ops-slack", "delivered", 2]]);
    expect(leaked(JSON.stringify([h.journal.given, h.lines]))).toEqual([]);
  });
});

// ---- the delivery timer -------------------------------------------------------------------------

describe("deliverOpen", () => {
  it("works through events side by side and begins no batch after its budget: the next pass goes on", async () => {
    const h = harness();
    for (let i = 1; i <= 20; i++) await enqueue(event({ id: `${RUN}.${i}.approval-needed` }), [slack], h.deps);
    // Every answer takes 40 s of the (stepped) clock: a hung channel answering at its timeout.
    h.transport.answer(SLACK_URL, ...Array.from({ length: 40 }, () => async () => (h.time.advance(40_000), { status: 200, text: "ok" })));

    const first = await deliverOpen(h.deps, 200, { concurrency: 4, budgetMs: 60_000 });
    const second = await deliverOpen(h.deps, 200, { concurrency: 4, budgetMs: 60_000 });

    // 4 events per batch; the clock passes the budget during the first batch (4 × 40 s), so one batch per pass.
    expect(first).toHaveLength(4);
    expect(second).toHaveLength(4);
    expect(h.transport.sent(SLACK_URL)).toBe(8);
    expect((await h.outbox.open()).length).toBe(12);
  });

  it("retries what is due and settles every event once all its channels are", async () => {
    const h = harness();
    const second = event({ id: `${RUN}.4.run-finished`, kind: "run-finished", severity: "info", incident: { key: event().incident!.key, action: "resolve" } });
    h.transport.answer(TEAMS_URL, { status: 503, text: "" });
    await notifyChannels(event(), [teams, slack], h.deps);
    await notifyChannels(second, [slack, pagerduty], h.deps);
    expect(await h.outbox.open()).toEqual([event().id]);

    expect(await deliverOpen(h.deps)).toEqual([expect.objectContaining({ id: event().id })]);
    expect(h.transport.sent(TEAMS_URL)).toBe(1);

    h.time.advance(DELIVERY_POLICY.firstRetryMs);
    const reports = await deliverOpen(h.deps);
    expect(reports[0]!.channels.map((c) => c.state)).toEqual(["delivered", "delivered"]);
    expect(h.transport.sent(TEAMS_URL)).toBe(2);
    expect(await h.outbox.open()).toEqual([]);
  });

  it("one event's outbox error does not stop the others, and is logged", async () => {
    class FailingRead extends MemoryOutbox {
      override async get(id: string) {
        if (id.endsWith(".broken")) throw new Error("the blob store answered 500");
        return super.get(id);
      }
    }
    const outbox = new FailingRead();
    const h = harness({ outbox });
    await enqueue(event({ id: `${RUN}.1.broken` }), [teams], h.deps);
    await enqueue(event(), [slack], h.deps);
    const reports = await deliverOpen(h.deps);
    expect(reports.map((r) => r.id)).toEqual([event().id]);
    expect(h.transport.sent(SLACK_URL)).toBe(1);
    expect(h.lines.some((l) => l.startsWith("error notification delivery pass failed") && l.includes(".broken"))).toBe(true);
  });

  it("an event no channel takes is settled at once", async () => {
    const h = harness();
    await notifyChannels(event({ severity: "info", incident: undefined }), [pagerduty], h.deps);
    expect(await h.outbox.open()).toEqual([]);
    expect(h.transport.posts).toEqual([]);
  });
});

// ---- the notify activity ------------------------------------------------------------------------

describe("notifyActivity with channels", () => {
  let plan: Plan;
  beforeAll(async () => {
    plan = await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname);
  });

  const input = (): NotifyInput => ({
    runId: RUN,
    plan: { ...plan, notifications: [...HTTP_CHANNELS, email] },
    id: `${RUN}.3.approval-needed`,
    event: "approval-needed",
    kind: "approval-needed",
    severity: "critical",
    message: "lag 420 s is above the RPO budget of 300 s: approve or abort within 30 min",
    incident: { key: `switchyard/${PLAN}/run/${RUN}`, action: "trigger" },
    at: EVENT_AT,
  });

  function activityDeps(h: Harness): NotifyDeps {
    return {
      clients: new ClientFactory({ target: { kind: "estate", url: "https://127.0.0.1:1", ca: "" } }),
      journal: h.journal,
      probe: () => Promise.reject(new Error("no probes in these tests")),
      log: h.deps.log,
      clock: h.deps.clock,
      pollIntervalMs: 1,
      notifier: { name: "console", notify: async () => {} },
      channels: { outbox: h.deps.outbox, transport: h.deps.transport, setting: h.deps.setting },
    };
  }

  it("a re-run of the same notification sends each channel once", async () => {
    const h = harness();
    const first = await notifyActivity(input(), activityDeps(h));
    h.time.advance(5_000);
    const again = await notifyActivity(input(), activityDeps(h));
    expect(first).toMatchObject({ delivered: true, id: input().id });
    expect(first.channels).toHaveLength(5);
    expect(again).toMatchObject({ delivered: true, id: input().id });
    expect(again.channels!.every((c) => c.state === "delivered" && c.attempts === 1)).toBe(true);
    for (const url of Object.values(URL_OF)) expect(h.transport.sent(url)).toBe(1);
    expect(h.transport.begins).toHaveLength(1);
  });

  it("a credential quoted in the notification itself (a routing key in a reason) reaches neither the journal nor a channel", async () => {
    const h = harness();
    const quoted = { ...input(), message: `approve, the key is ${PD_KEY} and the hook ${SLACK_URL}`, facts: [{ name: "Reason", value: `key ${PD_KEY}` }] };
    await notifyActivity(quoted, activityDeps(h));
    const journaled = await h.journal.read(RUN);
    expect(journaled[0]!.message).toContain("approve, the key is");
    expect(leaked(JSON.stringify([h.journal.given, journaled, h.lines, h.outbox.all()]))).toEqual([]);
    // The bodies sent carry the routing key only where PagerDuty needs it: its own routing_key field.
    for (const body of [...h.transport.posts.map((p) => p.delivery.body), ...h.transport.begins.map((b) => JSON.stringify(b.message))]) expect(body.replace(`"routing_key":"${PD_KEY}"`, "")).not.toContain(PD_KEY);
  });

  it("journals the notification and each channel's outcome without a credential, even when channels quote theirs", async () => {
    const h = harness();
    h.transport
      .answer(TEAMS_URL, { status: 403, text: `denied for ${TEAMS_URL}` })
      .answer(SLACK_URL, new Error(`request to ${SLACK_URL} failed`))
      .answer(PAGERDUTY_EVENTS_URL, { status: 400, text: `{"routing_key":"${PD_KEY}"}` })
      .answer(WEBHOOK_URL, { status: 401, text: `bad signature for ${WHSEC}` });
    const result = await notifyActivity(input(), activityDeps(h));
    expect(result.channels!.map((c) => [c.channel, c.state])).toEqual([
      ["ops-teams", "failed"],
      ["ops-slack", "pending"],
      ["oncall-pagerduty", "failed"],
      ["incident-bot", "failed"],
      ["dr-email", "delivered"],
    ]);
    const journaled = await h.journal.read(RUN);
    expect(journaled.map((e) => e.data?.delivery ?? "notified")).toEqual(["notified", "failed", "failed", "failed", "delivered"]);
    expect(leaked(JSON.stringify([result, h.journal.given, journaled, h.lines, h.outbox.all()]))).toEqual([]);
  });
});
