import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import type { EmailMessage } from "@azure/communication-email";
import { describe, expect, it } from "vitest";
import type { Logger } from "../../src/core/logger.ts";
import { EVENT_ID_PATTERN, type NotificationEvent } from "../../src/core/notification.ts";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import type { ApprovalEvent, NotifyInput, RunInput } from "../../src/core/run/model.ts";
import { approvalAnsweredNotice, approvalNeededNotice, decisionActions, noticeInput, runFinishedNotice, runIncidentKey, stepFailedNotice, type Notice } from "../../src/core/run/notices.ts";
import type { RunPort, RunView } from "../../src/core/run/port.ts";
import type { LagSample } from "../../src/core/lag.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { replicationLagRound } from "../../src/lag/round.ts";
import type { BreachChange, LagDocument, LagStore } from "../../src/lag/store.ts";
import { ChannelNotifier, eventOf } from "../../src/notify/channelNotifier.ts";
import { emailMessage, PAGERDUTY_LIMITS, pagerDutyEvent, slackMessage, TEAMS_MAX_BYTES, teamsMessage, webhookDelivery } from "../../src/notify/channels/index.ts";
import type { HttpDelivery } from "../../src/notify/channels/types.ts";
import { channelsFor, enqueue, notifyChannels, type DeliveryDeps } from "../../src/notify/delivery.ts";
import { formatNotification, type Notifier } from "../../src/notify/notifier.ts";
import { MemoryOutbox, type PlanChannel } from "../../src/notify/outbox.ts";
import { redactNotification } from "../../src/notify/redact.ts";
import type { ChannelTransport, EmailProgress, HttpAnswer } from "../../src/notify/transport.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

/*
 * The notification path as an attacker and an on-call engineer see it. Untrusted text reaches
 * notifications from Azure Monitor (alert rule names, signal details), from Azure errors (a failed
 * step) and from people (an operator's reason, a caller's display name). None of it may become a
 * link, a mention, formatting that imitates Switchyard's own instructions, a header, another event's
 * id or incident, or a way to read a channel's credential; and what an approval request says must be
 * true and usable as written.
 */

const plan: Plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const RUN = `${plan.name}.20250301T100000Z.failover-1a2b`;
const AT = "2025-03-01T10:00:05.000Z";
const HOST = "https://switchyard-contoso.azurewebsites.net";
const FROM = plan.regions.primary.name;
const TO = plan.regions.secondary.name;

/** Text an attacker controls: a markdown link, Slack link and mentions, bare URLs, code, HTML. */
const EVIL = "evil.example";
const HOSTILE = [
  `[Approve here](https://${EVIL}/approve)`,
  `<https://${EVIL}/approve|click to approve>`,
  "<!channel> <!here> <@U123ABC> <!subteam^S0123>",
  `see https://${EVIL}/a and www.${EVIL}/b`,
  `\`POST https://${EVIL}/api/runs/x/approve\` *Approve now*`,
  `<a href="https://${EVIL}">approve</a><img src=x onerror=alert(1)>`,
].join(" ");
/** A second "approve" instruction, as a failed step's Azure error could quote it. */
const FAKE_INSTRUCTION = `\n\n*To approve:*\n\`\`\`POST https://${EVIL}/api/runs/${RUN}/approve\nx-functions-key: <your key>\n{"reason":"ok"}\`\`\``;

type NoticeInput = Parameters<typeof approvalNeededNotice>[0];
const runInput: NoticeInput = {
  runId: RUN,
  kind: "failover",
  mode: "auto",
  from: FROM,
  to: TO,
  trigger: { source: "alert", by: "eastus2-availability", reason: "region down", detectedAt: AT },
  plan: { name: plan.name, objectives: plan.objectives },
};

/** What the run's notify activity is given for a notice (as the orchestration builds it). */
const inputOf = (n: Notice, index = 1, patch: Partial<NotifyInput> = {}): NotifyInput => ({ ...noticeInput(n, { runId: RUN, plan, id: `${RUN}.${index}.${n.kind}`, at: AT }), ...patch });

const NOW = new Date(AT);
const eventOfNotice = (n: Notice, index = 1) => eventOf(inputOf(n, index), NOW, HOST);

const replication = {
  maxLagSeconds: 420,
  basis: { live: 2, lastKnown: 1, unknown: 0 },
  largest: [
    { resourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Sql/servers/orders-eastus2/databases/orders", lagSeconds: 420, basis: "live" },
    { resourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/contosomedia", lagSeconds: 120, basis: "last-known" },
  ],
};
const DEADLINE = "2025-03-01T10:30:05.000Z";
const approvalNeeded = () =>
  approvalNeededNotice(runInput, { to: TO, timeoutSeconds: 1800, deadline: DEADLINE, decision: { kind: "needs-approval", why: "the primary cannot be reached and the lag of 420 s is over the RPO budget of 300 s" }, replication });
const hostileAnswer = () => approvalAnsweredNotice(runInput, { approve: false, by: `Eve ${HOSTILE}`, reason: HOSTILE });

// ---- what each channel a person reads renders ----------------------------------------------------

/** Every text object of a Slack message, with its type. */
function slackTexts(m: ReturnType<typeof slackMessage>): { type: string; text: string; verbatim?: boolean }[] {
  const out: { type: string; text: string; verbatim?: boolean }[] = [];
  for (const b of m.blocks as any[]) {
    if (b.text) out.push(b.text);
    for (const f of b.fields ?? []) out.push(f);
    for (const e of b.elements ?? []) out.push(e);
  }
  return out;
}

/** Every element of an Adaptive Card's body. */
const cardBody = (event: NotificationEvent): any[] => teamsMessage(event).attachments[0]!.content.body as any[];
/** The strings Teams reads as Markdown: TextBlock text and FactSet titles and values. */
const teamsMarkdown = (event: NotificationEvent): string[] =>
  cardBody(event).flatMap((e) => (e.type === "TextBlock" ? [e.text] : e.type === "FactSet" ? e.facts.flatMap((f: any) => [f.title, f.value]) : []));
const teamsRuns = (event: NotificationEvent): any[] => cardBody(event).flatMap((e) => (e.type === "RichTextBlock" ? e.inlines : []));

const email = (event: NotificationEvent): EmailMessage => emailMessage(event, { from: "switchyard@contoso.com", to: ["oncall@contoso.com"] });

/** Each human channel's whole body, as sent. */
function rendered(event: NotificationEvent): Record<string, string> {
  const mail = email(event);
  return {
    slack: JSON.stringify(slackMessage(event)),
    teams: JSON.stringify(teamsMessage(event)),
    emailHtml: mail.content.html!,
    emailText: mail.content.plainText!,
    emailSubject: mail.content.subject,
    pagerduty: JSON.stringify(pagerDutyEvent({ ...event, incident: { key: runIncidentKey(plan.name), action: "trigger" } }, "R0123456789abcdef0123456789abcde") ?? {}),
  };
}

/** The requests Switchyard itself offers in an event: each action's request line and JSON body. */
const ownRequests = (event: NotificationEvent) => event.actions.map((a) => ({ line: `POST ${a.url ?? a.path}`, body: JSON.stringify(a.body) }));

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe("untrusted text cannot become a link, a mention or an instruction", () => {
  it("no channel a person reads carries a clickable address from quoted text", () => {
    const event = eventOfNotice(hostileAnswer());

    for (const [channel, body] of Object.entries(rendered(event))) {
      expect(body, channel).not.toContain(`https://${EVIL}`);
      expect(body, channel).not.toContain(`www.${EVIL}`);
    }
    // The words are still there for a reader: only the address is made inert.
    expect(rendered(event).emailText).toContain(EVIL);
  });

  it("Slack: quoted text is plain text, never mrkdwn: no link, mention, code or bold from it", () => {
    const m = slackMessage(eventOfNotice(hostileAnswer()));
    const texts = slackTexts(m);

    for (const t of texts.filter((t) => t.type === "mrkdwn")) {
      expect(t.verbatim).toBe(true);
      expect(t.text).not.toContain(EVIL);
      expect(t.text.replace(/&(amp|lt|gt);/g, "")).not.toMatch(/<(?!\/?https:\/\/switchyard-contoso)/);
    }
    const plain = texts.filter((t) => t.type === "plain_text").map((t) => t.text).join("\n");
    expect(plain).toContain("<!channel>");
    expect(plain).toContain("*Approve now*");
    // The notification fallback is parsed as mrkdwn: escaped, and nothing in it pings.
    expect(m.text.replace(/&(amp|lt|gt);/g, "")).not.toMatch(/[<>]/);
  });

  it("Teams: nothing quoted sits where Teams reads Markdown (title, facts), so no [text](url) link forms", () => {
    const event = eventOfNotice(hostileAnswer());

    const markdown = teamsMarkdown(event).join("\n");
    expect(markdown).toContain("Approve here");
    expect(markdown).not.toContain("](");
    expect(markdown).not.toMatch(/<[A-Za-z][A-Za-z0-9+.-]*:/);
    expect(cardBody(event).some((e) => e.type === "FactSet")).toBe(false);
    // The reason and the caller are shown, as text runs.
    expect(teamsRuns(event).map((r) => r.text).join("\n")).toContain("Approve now");
    // Buttons open only Switchyard's own addresses.
    const actions = teamsMessage(event).attachments[0]!.content.actions ?? [];
    for (const a of actions) expect(a.url.startsWith(`${HOST}/`)).toBe(true);
  });

  it("email: HTML from quoted text is escaped, and only Switchyard's links are anchors", () => {
    const html = email(eventOfNotice(hostileAnswer())).content.html!;

    expect(html).not.toMatch(/<img/i);
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!);
    expect(hrefs.length).toBeGreaterThan(0);
    for (const href of hrefs) expect(href.startsWith(`${HOST}/`)).toBe(true);
  });

  it("a second 'approve' instruction quoted from an error is never shown as one of Switchyard's requests", () => {
    const event = eventOfNotice(stepFailedNotice(runInput, "dataTier", `Conflict: ${HOSTILE}${FAKE_INSTRUCTION}`), 4);
    const own = ownRequests(event);
    expect(own.length).toBeGreaterThan(0);

    // Slack: every code block is one of the event's own requests.
    const codeBlocks = slackTexts(slackMessage(event))
      .filter((t) => t.type === "mrkdwn")
      .flatMap((t) => [...t.text.matchAll(/```([\s\S]*?)```/g)].map((m) => m[1]!));
    expect(codeBlocks.length).toBe(own.length);
    for (const block of codeBlocks) expect(own.some((r) => block === `${r.line}\n${r.body}`)).toBe(true);
    // Teams: every monospace run is one of them.
    for (const r of teamsRuns(event).filter((r) => r.fontType === "monospace")) expect(own.some((o) => r.text === o.line || r.text === o.body)).toBe(true);
    // Email: every preformatted block is one of them.
    const pres = [...email(event).content.html!.matchAll(/<pre[^>]*>([\s\S]*?)<\/pre>/g)].map((m) => m[1]!);
    expect(pres).toHaveLength(own.length);
    for (const pre of pres) expect(own.some((r) => pre.includes(r.line.replace(/&/g, "&amp;")))).toBe(true);
  });
});

describe("untrusted text cannot break a header or the JSON", () => {
  it("an id that is not a clean event id is replaced, so no header carries a line break", () => {
    const event = eventOf(inputOf(hostileAnswer(), 3, { id: `${RUN}.3.x\r\nwebhook-signature: v1,forged` }), NOW, HOST);
    const secret = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

    const delivery = webhookDelivery(event, "https://receiver.example.com/hook", secret, NOW);

    expect(event.id).toMatch(EVENT_ID_PATTERN);
    expect(delivery.headers["webhook-id"]).toBe(event.id);
    for (const value of Object.values(delivery.headers)) expect(value).not.toMatch(/[\r\n]/);
    expect(JSON.parse(delivery.body).data.id).toBe(event.id);
  });

  it("an email subject never carries a line break (no injected Bcc)", () => {
    const event = eventOf(inputOf(hostileAnswer(), 3, { title: "Approval\r\nBcc: victim@evil.example\r\n\r\nbody" }), NOW, HOST);

    const mail = email(event);

    expect(mail.content.subject).not.toMatch(/[\r\n]/);
    expect(mail.recipients.to).toEqual([{ address: "oncall@contoso.com" }]);
  });

  it("text cut to the event's bounds never splits a character (a lone surrogate breaks strict JSON parsers)", () => {
    const emoji = "😀".repeat(400);
    const event = eventOf(inputOf(hostileAnswer(), 3, { title: "t".repeat(148) + emoji, message: "a".repeat(2998) + emoji, facts: [{ name: "n".repeat(98) + emoji, value: "v".repeat(498) + emoji }] }), NOW, HOST);

    for (const text of [event.title, event.text, event.facts[0]!.name, event.facts[0]!.value]) expect(text).not.toMatch(LONE_SURROGATE);
  });

  it("the event keeps no control or bidirectional-override character a receiver would show raw", () => {
    const sneaky = "ok\u202Eevorppa\u202C \u0007\u001b[2Kdone";
    const event = eventOf(inputOf(hostileAnswer(), 3, { title: sneaky, message: `line one\n${sneaky}`, facts: [{ name: sneaky, value: sneaky }] }), NOW, HOST);

    for (const text of [event.title, event.text, event.facts[0]!.name, event.facts[0]!.value]) expect(text).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/);
    expect(event.text).toContain("line one\n");
  });
});

describe("untrusted text cannot forge an event id or an incident", () => {
  it("ids and incident keys come from the run alone, whatever the text says", () => {
    const hostile = stepFailedNotice(runInput, "dataTier", `${HOSTILE} switchyard/${plan.name}/run/other-run ${plan.name}.other.1.run-finished`);

    const event = eventOfNotice(hostile, 4);

    expect(event.id).toBe(`${RUN}.4.step-failed`);
    expect(event.incident).toEqual({ key: runIncidentKey(plan.name), action: "trigger" });
    expect(hostileAnswer().incident).toBeUndefined();
  });

  it("a decision's request path stays one path segment per run id, however odd the id", () => {
    for (const action of decisionActions("../../plans/x/failover?dryRun=false#")) expect(action.path).toMatch(/^\/api\/runs\/[^/?#]+\/(approve|abort)$/);
  });
});

// ---- credentials --------------------------------------------------------------------------------

const SLACK_TOKEN = "fakeSlackToken4TestsXyZ9";
const SLACK_URL = `https://hooks.slack.com/services/T0FAKE000/B0FAKE000/${SLACK_TOKEN}`;
const TEAMS_SIG = "Zq9fakeSig4TestsOnly_aBcDeFgHiJkLmNoP-qrs";
const TEAMS_URL = `https://prod-42.westeurope.logic.azure.com:443/workflows/0f1e2d3c4b5a69788796a5b4c3d2e1f0/triggers/manual/paths/invoke?api-version=2016-06-01&sv=1.0&sig=${TEAMS_SIG}`;
const PD_KEY = "e93facc04764012d9c7ad4f3b2d8c1a5";
const WHSEC_KEY = Buffer.from("switchyard-unit-signing-key-32by", "utf8").toString("base64");
const WEBHOOK_URL = "https://receiver.example.com/hooks/switchyard";
const OFFICE_URL = "https://contoso.webhook.office.com/webhookb2/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0@72f988bf-86f1-41af-91ab-2d7cd011db47/IncomingWebhook/9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const SETTINGS: Readonly<Record<string, string>> = {
  TEAMS_URL: TEAMS_URL,
  SLACK_URL: SLACK_URL,
  PD_KEY: PD_KEY,
  HOOK_URL: WEBHOOK_URL,
  HOOK_SECRET: `whsec_${WHSEC_KEY}`,
};
const CHANNELS: readonly PlanChannel[] = [
  { name: "ops-teams", kind: "teams", urlSetting: "TEAMS_URL" },
  { name: "ops-slack", kind: "slack", urlSetting: "SLACK_URL" },
  { name: "oncall", kind: "pagerduty", routingKeySetting: "PD_KEY" },
  { name: "bot", kind: "webhook", urlSetting: "HOOK_URL", secretSetting: "HOOK_SECRET" },
];

class RecordingTransport implements ChannelTransport {
  readonly posts: HttpDelivery[] = [];
  async post(delivery: HttpDelivery): Promise<HttpAnswer> {
    this.posts.push(delivery);
    return { status: 202, text: "" };
  }
  async beginEmail(): Promise<EmailProgress> {
    return { status: "Succeeded", resumeFrom: "done" };
  }
  async pollEmail(): Promise<EmailProgress> {
    return { status: "Succeeded", resumeFrom: "done" };
  }
}

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const put = (message: string, fields?: Record<string, unknown>) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`);
  return { lines, info: put, warn: put, error: put } as Logger & { lines: string[] };
}

describe("no channel credential leaves through a notification", () => {
  it("a credential quoted in free text is redacted before anything is journaled, stored or sent", () => {
    const quoted = `Slack ${SLACK_URL} Teams ${TEAMS_URL} Office ${OFFICE_URL} signing whsec_${WHSEC_KEY}`;

    const n = redactNotification(inputOf(hostileAnswer(), 3, { title: quoted, message: quoted, facts: [{ name: "Reason", value: quoted }] }));

    const text = JSON.stringify([n.title, n.message, n.facts]);
    for (const secret of [SLACK_TOKEN, TEAMS_SIG, WHSEC_KEY, "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d"]) expect(text).not.toContain(secret);
    expect(text).toContain("[redacted]");
  });

  it("the plan's own channel credentials quoted in an event are in no outbox record, request, log line or journal entry", async () => {
    const quoted = `routing key ${PD_KEY}, hook ${SLACK_URL}, secret ${WHSEC_KEY}`;
    const event = eventOfNotice(approvalAnsweredNotice(runInput, { approve: true, by: "oncall", reason: quoted }), 3);
    const outbox = new MemoryOutbox();
    const transport = new RecordingTransport();
    const log = recordingLog();
    const journal = new MemoryJournal();
    const deps: DeliveryDeps = { outbox, transport, setting: (name) => SETTINGS[name], clock: () => NOW, log, journal };

    const report = await notifyChannels({ ...event, severity: "critical", incident: { key: runIncidentKey(plan.name), action: "trigger" } }, CHANNELS, deps);

    expect(report.channels.map((c) => c.state)).toEqual(["delivered", "delivered", "delivered", "delivered"]);
    // Only PagerDuty's own request carries its key, as routing_key; nothing else anywhere.
    const pd = transport.posts.filter((p) => p.body.includes(PD_KEY));
    expect(pd).toHaveLength(1);
    expect(JSON.parse(pd[0]!.body).routing_key).toBe(PD_KEY);
    const bodies = transport.posts.map((p) => JSON.stringify({ ...JSON.parse(p.body), routing_key: undefined }));
    const recorded = [JSON.stringify(outbox.all()), ...bodies, ...log.lines, JSON.stringify(await journal.read(RUN))].join("\n");
    for (const secret of [PD_KEY, SLACK_TOKEN, WHSEC_KEY]) expect(recorded.includes(secret), secret).toBe(false);
    expect(recorded).toContain("[redacted]");
  });
});

describe("no channel credential reaches the orchestration's history or the local line", () => {
  it("a notice quoting a credential in an error, a reason or a caller carries it redacted (the notify activity's input is history)", () => {
    const leak = `Conflict at ${SLACK_URL} (${TEAMS_URL}) whsec_${WHSEC_KEY}`;

    const notices = [
      stepFailedNotice(runInput, "dataTier", leak),
      approvalAnsweredNotice(runInput, { approve: true, by: leak, reason: leak }),
      runFinishedNotice(runInput, { ...outputOf("failed"), message: leak }),
    ];

    const text = JSON.stringify(notices);
    for (const secret of [SLACK_TOKEN, TEAMS_SIG, WHSEC_KEY]) expect(text.includes(secret), secret).toBe(false);
    expect(text).toContain("hooks.slack.com/[redacted]");
  });

  it("the local notifier's line never quotes a credential of the plan's channels", async () => {
    const seen: NotifyInput[] = [];
    const local: Notifier = { name: "console", notify: async (n) => void seen.push(n) };
    const notifier = new ChannelNotifier(local, { outbox: new MemoryOutbox(), transport: new RecordingTransport(), setting: (name) => SETTINGS[name], clock: () => NOW, log: recordingLog() });
    const quote = `routing key ${PD_KEY}`;

    await notifier.notify(inputOf(approvalAnsweredNotice(runInput, { approve: true, by: "oncall", reason: quote }), 3, { plan: { ...plan, notifications: [...CHANNELS] }, title: quote }));

    expect(seen).toHaveLength(1);
    expect(formatNotification(seen[0]!)).not.toContain(PD_KEY);
    expect(JSON.stringify(seen[0])).not.toContain(PD_KEY);
  });

  it("a fact named __proto__ stays a fact in PagerDuty's details", () => {
    const event = eventOf(inputOf(approvalNeeded(), 2, { facts: [{ name: "__proto__", value: "kept" }] }), NOW, HOST);

    const details = (pagerDutyEvent(event, "R0123456789abcdef0123456789abcde") as any).payload.custom_details;

    expect(JSON.stringify(details.facts)).toBe('{"__proto__":"kept"}');
  });
});

// ---- size ---------------------------------------------------------------------------------------

describe("a huge reason stays within every channel's limits and keeps the outbox small", () => {
  const huge = "Ünïcödé reason with <tags> & [links](https://x.example) ".repeat(2000).slice(0, 100 * 1024);

  it("each channel's body fits its service", () => {
    const event = eventOf(inputOf(hostileAnswer(), 3, { title: huge, message: huge, facts: Array.from({ length: 30 }, (_, i) => ({ name: `${i}${huge}`, value: huge })) }), NOW, HOST);

    const teams = JSON.stringify(teamsMessage(event));
    expect(Buffer.byteLength(teams, "utf8")).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
    const slack = slackMessage(event);
    expect(slack.blocks.length).toBeLessThanOrEqual(50);
    for (const t of slackTexts(slack)) expect(t.text.length).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(slack).length).toBeLessThan(40_000);
    const pd = pagerDutyEvent({ ...event, incident: { key: "k", action: "trigger" } }, "R0123456789abcdef0123456789abcde") as any;
    expect(pd.payload.summary.length).toBeLessThanOrEqual(PAGERDUTY_LIMITS.summary);
    expect(Buffer.byteLength(JSON.stringify(pd), "utf8")).toBeLessThan(64 * 1024);
    expect(Buffer.byteLength(email(event).content.html!, "utf8")).toBeLessThan(64 * 1024);
    expect(Buffer.byteLength(webhookDelivery(event, WEBHOOK_URL, `whsec_${WHSEC_KEY}`, NOW).body, "utf8")).toBeLessThan(32 * 1024);
  });

  it("the outbox record stays small", async () => {
    const outbox = new MemoryOutbox();
    const event = eventOf(inputOf(hostileAnswer(), 3, { message: huge, facts: [{ name: "Reason", value: huge }] }), NOW, HOST);

    await enqueue(event, CHANNELS, { outbox, clock: () => NOW });

    expect(Buffer.byteLength(JSON.stringify(outbox.all()), "utf8")).toBeLessThan(32 * 1024);
  });

  it("the console line of a notification is bounded", () => {
    const line = formatNotification(inputOf(hostileAnswer(), 3, { message: huge }));

    expect(line.length).toBeLessThanOrEqual(4200);
    expect(line.endsWith("…")).toBe(true);
  });
});

// ---- what an approval request tells the on-call engineer ----------------------------------------

/** A run port with one run in the given state; records what it is asked. */
function runPort(view: Partial<RunView>): RunPort & { decisions: ApprovalEvent[]; started: RunInput[] } {
  const decisions: ApprovalEvent[] = [];
  const started: RunInput[] = [];
  return {
    decisions,
    started,
    get: async () => ({ instanceId: `switchyard-${plan.name}`, runId: RUN, kind: "failover", from: FROM, to: TO, status: "running", ...view }) as RunView,
    approve: async (_plan, approval) => {
      decisions.push(approval);
    },
    start: async (input) => {
      started.push(input);
      return { instanceId: `switchyard-${plan.name}`, runId: input.runId, kind: input.kind, from: input.from, to: input.to, status: "pending" };
    },
    terminate: async () => {},
  };
}

/** Sends an action exactly as a notification shows it (path and JSON body) to the operator API. */
async function send(handler: "approve" | "abort" | "resume", action: NotificationEvent["actions"][number], runs: RunPort) {
  const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new MemoryJournal(), clock: () => NOW, appServiceAuthOn: false });
  const id = decodeURIComponent(/^\/api\/runs\/([^/]+)\//.exec(action.path)![1]!);
  const request = new HttpRequest({ method: action.method, url: `${HOST}${action.path}`, params: { id }, headers: { "content-type": "application/json" }, body: { string: JSON.stringify(action.body) } });
  return api[handler](request);
}

describe("an approval request tells the truth and can be acted on as written", () => {
  it("says what is at stake (lag against budget, which resources), the deadline, and how to approve or abort with which credential", () => {
    const event = eventOfNotice(approvalNeeded(), 2);

    for (const [channel, body] of Object.entries(rendered(event))) {
      if (channel === "emailSubject") continue;
      const text = channel === "emailHtml" ? body.replace(/&quot;/g, '"') : body.replace(/\\"/g, '"');
      expect(text, channel).toContain("up to 420 s of writes not yet replicated (RPO budget 300 s)");
      expect(text, channel).toContain("orders");
      expect(text, channel).toContain("contosomedia");
      expect(text, channel).toContain(DEADLINE);
      expect(text, channel).toContain(`POST ${HOST}/api/runs/${RUN}/approve`);
      expect(text, channel).toContain(`POST ${HOST}/api/runs/${RUN}/abort`);
      expect(text, channel).toContain('{"reason":');
      expect(text, channel).toContain("x-functions-key");
      expect(text, channel).toContain("Switchyard.Operator");
    }
  });

  it("the approve and abort bodies it shows are accepted by the operator API as they are", async () => {
    const [approve, abort] = eventOfNotice(approvalNeeded(), 2).actions;
    const waiting = { progress: { step: "approval", stepStartedAt: AT, waitingFor: "approval" } } as Partial<RunView>;

    const approvePort = runPort(waiting);
    const abortPort = runPort(waiting);
    const approved = await send("approve", approve!, approvePort);
    const aborted = await send("abort", abort!, abortPort);

    expect([approved.status, aborted.status]).toEqual([202, 202]);
    expect(approvePort.decisions.map((d) => d.approve)).toEqual([true]);
    expect(abortPort.decisions.map((d) => d.approve)).toEqual([false]);
  });

  it("the resume body a failed step's notice shows is accepted once the run has ended", async () => {
    const [resume] = eventOfNotice(stepFailedNotice(runInput, "dataTier", "Conflict"), 4).actions;
    const port = runPort({ status: "failed", trigger: runInput.trigger, output: { outcome: "failed" } as RunView["output"] });

    const answer = await send("resume", resume!, port);

    expect(answer.status).toBe(202);
    expect(port.started).toHaveLength(1);
  });
});

// ---- PagerDuty: what opens a page and what closes it ---------------------------------------------

const outputOf = (outcome: "completed" | "failed" | "stopped-aborted" | "stopped-approval-timeout") => ({
  outcome,
  message: outcome,
  rtoSeconds: outcome === "completed" ? 300 : null,
  rtoTargetSeconds: 900,
  rpoExposureSeconds: null,
  rpoBudgetSeconds: 300,
  dataLossAllowedBy: "approval" as const,
});

describe("PagerDuty incidents", () => {
  const KEY = "R0123456789abcdef0123456789abcde";
  const dedup = (n: Notice, i: number) => (pagerDutyEvent(eventOfNotice(n, i), KEY) as { dedup_key: string; event_action: string } | undefined);

  it("a run's approval, failed step, failure and completion all name the same dedup_key; completion resolves it", () => {
    const events = [dedup(approvalNeeded(), 2), dedup(stepFailedNotice(runInput, "dataTier", "Conflict"), 4), dedup(runFinishedNotice(runInput, outputOf("failed")), 5), dedup(runFinishedNotice(runInput, outputOf("completed")), 5)];

    expect(new Set(events.map((e) => e!.dedup_key))).toEqual(new Set([runIncidentKey(plan.name)]));
    expect(events.map((e) => e!.event_action)).toEqual(["trigger", "trigger", "trigger", "resolve"]);
  });

  it("an operator's abort closes the page it answered; a timeout with nobody answering keeps it open", () => {
    expect(dedup(runFinishedNotice(runInput, outputOf("stopped-aborted")), 5)?.event_action).toBe("resolve");
    expect(dedup(runFinishedNotice(runInput, outputOf("stopped-approval-timeout")), 5)?.event_action).toBe("trigger");
  });

  it("a channel that takes only what opens an incident still takes what closes it", () => {
    const pager = (events: PlanChannel["events"]): PlanChannel => ({ name: "oncall", kind: "pagerduty", routingKeySetting: "PD_KEY", ...(events ? { events } : {}) });
    const base = eventOfNotice(runFinishedNotice(runInput, outputOf("completed")), 5);
    const failed = eventOfNotice(runFinishedNotice(runInput, outputOf("failed")), 5);
    const healthy = { ...base, kind: "region-healthy" as const, incident: { key: `switchyard/${plan.name}/region/${FROM}`, action: "resolve" as const } };
    const recovered = { ...base, kind: "lag-recovered" as const, incident: { key: `switchyard/${plan.name}/lag`, action: "resolve" as const } };

    expect(channelsFor(base, [pager(["approval-needed"])])).toHaveLength(1);
    expect(channelsFor(base, [pager(["step-failed"])])).toHaveLength(1);
    expect(channelsFor(healthy, [pager(["region-down"])])).toHaveLength(1);
    expect(channelsFor(recovered, [pager(["lag-breach"])])).toHaveLength(1);
    // What it did not ask for still does not reach it.
    expect(channelsFor(failed, [pager(["approval-needed"])])).toHaveLength(0);
    expect(channelsFor(healthy, [pager(["approval-needed"])])).toHaveLength(0);
  });

  it("a lag recovery resolves the plan's lag incident only when no resource remains over the budget", async () => {
    const sample = (name: string, lagSeconds: number): LagSample => ({ resourceId: `/r/${name}`, kind: "storageAccount", name, lagSeconds, state: "Live", measuredAt: AT, source: "storage-lastSyncTime" as LagSample["source"] });
    const sent: NotifyInput[] = [];
    const round = async (changes: BreachChange[], overAfter: string[]) => {
      const doc: LagDocument = { plan: plan.name, resources: Object.fromEntries(overAfter.map((n) => [`/r/${n}`, { latest: sample(n, 900), breached: true, history: [] }])) };
      const store: LagStore = { get: async () => doc, record: async () => changes };
      const bare = { ...plan, sql: [], storage: [] } as Plan;
      await replicationLagRound([bare], { clients: {} as never, clock: () => NOW, store, notifier: { name: "collect", notify: async (n) => void sent.push(n) }, metrics: { publish: async () => {} }, log: recordingLog() });
    };

    await round([{ event: "breach", sample: sample("a", 900), rpoSeconds: 300 }, { event: "breach", sample: sample("b", 900), rpoSeconds: 300 }], ["a", "b"]);
    await round([{ event: "recovery", sample: sample("a", 10), rpoSeconds: 300 }], ["b"]);
    await round([{ event: "recovery", sample: sample("b", 10), rpoSeconds: 300 }], []);

    expect(sent.map((n) => [n.kind, n.incident?.action ?? "none"])).toEqual([
      ["lag-breach", "trigger"],
      ["lag-recovered", "none"],
      ["lag-recovered", "resolve"],
    ]);
    expect(new Set(sent.flatMap((n) => (n.incident ? [n.incident.key] : [])))).toEqual(new Set([`switchyard/${plan.name}/lag`]));
  });
});
