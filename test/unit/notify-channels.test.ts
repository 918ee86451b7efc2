import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { NotificationEvent, Severity } from "../../src/notify/event.ts";
import {
  ADAPTIVE_CARD_VERSION,
  PAGERDUTY_EVENTS_URL,
  SLACK_LIMITS,
  TEAMS_MAX_BYTES,
  emailMessage,
  pagerDutyDelivery,
  signStandardWebhook,
  slackDelivery,
  teamsDelivery,
  verifyStandardWebhook,
  webhookDelivery,
} from "../../src/notify/channels/index.ts";

const RUN = "contoso.20250301T100000Z.failover-1a2b";

/** An approval request during a failover: facts, two actions (one with a known host), links, an incident opened. */
const approvalNeeded = (patch: Partial<NotificationEvent> = {}): NotificationEvent => ({
  id: `${RUN}:approval-needed:1`,
  kind: "approval-needed",
  severity: "critical",
  at: "2025-03-01T10:00:05.000Z",
  plan: "contoso",
  runId: RUN,
  title: "Approval needed: fail over contoso to westus2",
  text: "Replication lag 420 s is above the RPO budget of 300 s.\n\nApprove the data loss or abort within 30 min.",
  facts: [
    { name: "Lag", value: "420 s" },
    { name: "RPO budget", value: "300 s" },
    { name: "Target region", value: "westus2" },
  ],
  actions: [
    {
      label: "Approve data loss",
      method: "POST",
      path: `/api/runs/${RUN}/approve`,
      url: `https://switchyard-contoso.azurewebsites.net/api/runs/${RUN}/approve`,
      body: { decision: "approve", acceptDataLossSeconds: 420 },
    },
    { label: "Abort", method: "POST", path: `/api/runs/${RUN}/abort`, body: { reason: "operator" } },
  ],
  links: [
    { label: "Run journal", url: "https://portal.azure.com/#view/switchyard/runs/contoso" },
    { label: "Not a web link", url: "javascript:alert(1)" },
  ],
  incident: { key: `switchyard/contoso/run/${RUN}`, action: "trigger" },
  ...patch,
});

/** The run's end: closes the incident the approval opened. */
const runFinished = (patch: Partial<NotificationEvent> = {}): NotificationEvent => ({
  id: `${RUN}:run-finished`,
  kind: "run-finished",
  severity: "info",
  at: "2025-03-01T10:12:40.000Z",
  plan: "contoso",
  runId: RUN,
  title: "Failover of contoso finished",
  text: "All 4 steps succeeded; westus2 is primary.",
  facts: [{ name: "Duration", value: "12 min 35 s" }],
  actions: [],
  links: [],
  incident: { key: `switchyard/contoso/run/${RUN}`, action: "resolve" },
  ...patch,
});

const json = (body: string): any => JSON.parse(body);
const requestOf = (i: number) => {
  const a = approvalNeeded().actions[i]!;
  return { line: `POST ${a.url ?? a.path}`, body: JSON.stringify(a.body) };
};

describe("Teams (Workflows webhook, Adaptive Card)", () => {
  const URL = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=token";
  const card = (event: NotificationEvent) => json(teamsDelivery(event, URL).body).attachments[0].content;

  it("wraps one Adaptive Card in a message with the attachment shape Workflows expect", () => {
    const delivery = teamsDelivery(approvalNeeded(), URL);
    const message = json(delivery.body);

    expect(delivery.url).toBe(URL);
    expect(delivery.headers["content-type"]).toBe("application/json");
    expect(message.type).toBe("message");
    expect(message.attachments).toHaveLength(1);
    expect(message.attachments[0]).toMatchObject({ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null });
    expect(delivery.body).not.toMatch(/MessageCard|"@type"|"@context"/);
  });

  it("declares the schema, type and version 1.4 that Workflows render", () => {
    const c = card(approvalNeeded());

    expect(ADAPTIVE_CARD_VERSION).toBe("1.4");
    expect(c).toMatchObject({ $schema: "http://adaptivecards.io/schemas/adaptive-card.json", type: "AdaptiveCard", version: "1.4" });
    for (const element of c.body) {
      expect(["TextBlock", "RichTextBlock", "FactSet"]).toContain(element.type);
      if (element.type === "TextBlock") expect(element.text.length).toBeGreaterThan(0);
      if (element.type === "RichTextBlock") for (const r of element.inlines) expect(r).toMatchObject({ type: "TextRun", text: expect.any(String) });
    }
  });

  it("colours the title by severity: attention for critical, warning for warning", () => {
    const title = (severity: Severity) => card(approvalNeeded({ severity })).body[0];

    expect(title("critical")).toMatchObject({ type: "TextBlock", text: approvalNeeded().title, wrap: true, weight: "bolder", color: "attention" });
    expect(title("warning").color).toBe("warning");
    expect(title("info").color).not.toMatch(/attention|warning/);
  });

  it("lists each fact as a bold name run and a value run (never a FactSet, which Teams reads as Markdown) and shows each action as its exact request", () => {
    const c = card(approvalNeeded());
    const runs: string[] = c.body.filter((e: any) => e.type === "RichTextBlock").flatMap((e: any) => e.inlines.map((r: any) => r.text));

    const facts = c.body.filter((e: any) => e.type === "RichTextBlock" && e.inlines.length === 2 && e.inlines[0].weight === "bolder");
    expect(facts.map((e: any) => e.inlines.map((r: any) => r.text))).toEqual(approvalNeeded().facts.map((f) => [`${f.name}: `, f.value]));
    expect(c.body.some((e: any) => e.type === "FactSet")).toBe(false);
    for (const i of [0, 1]) {
      expect(runs).toContain(requestOf(i).line);
      expect(runs).toContain(requestOf(i).body);
    }
    expect(runs).toContain("POST /api/runs/" + RUN + "/abort");
  });

  it("turns http(s) links into Action.OpenUrl and drops anything else", () => {
    expect(card(approvalNeeded()).actions).toEqual([
      { type: "Action.OpenUrl", title: "Run journal", url: "https://portal.azure.com/#view/switchyard/runs/contoso" },
    ]);
    expect(card(runFinished()).actions).toBeUndefined();
  });

  it("keeps the message text out of Markdown: it sits in TextRuns only", () => {
    const text = "Lag **420 s** see [here](https://attacker.example)";
    const c = card(approvalNeeded({ text }));

    const inTextBlocks = c.body.filter((e: any) => e.type === "TextBlock").map((e: any) => e.text);
    const inRuns = c.body.filter((e: any) => e.type === "RichTextBlock").flatMap((e: any) => e.inlines.map((r: any) => r.text));
    expect(inTextBlocks.join("\n")).not.toContain("attacker");
    // Shown as written, its address made inert.
    expect(inRuns).toContain(text.replace("https://", "https[:]//"));
  });

  it("stays under Teams' message size with the longest fields an event can carry", () => {
    const event = approvalNeeded({
      title: "T".repeat(400),
      text: "línea\n".repeat(1000),
      facts: Array.from({ length: 40 }, (_, i) => ({ name: `fact ${i} `.repeat(30), value: "v€".repeat(3000) })),
      actions: Array.from({ length: 15 }, (_, i) => ({ ...approvalNeeded().actions[0]!, label: `act ${i}`, body: { note: "x".repeat(5000) } })),
      links: Array.from({ length: 30 }, (_, i) => ({ label: `l${i}`, url: `https://example.com/${"p".repeat(1500)}/${i}` })),
    });

    const body = teamsDelivery(event, URL).body;

    expect(Buffer.byteLength(body, "utf8")).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
    const c = json(body).attachments[0].content;
    expect(c.body[0].text.length).toBeLessThanOrEqual(150);
    expect(c.body[0].text.endsWith("…")).toBe(true);
  });
});

/** Every Block Kit limit the message must respect; returns the message for further checks. */
function checkSlackLimits(body: string): any {
  const m = json(body);
  expect(typeof m.text).toBe("string");
  expect(m.text.length).toBeGreaterThan(0);
  expect(m.blocks.length).toBeLessThanOrEqual(50);
  for (const b of m.blocks) {
    expect(["header", "section", "context", "actions", "divider"]).toContain(b.type);
    if (b.type === "header") {
      expect(b.text.type).toBe("plain_text");
      expect(b.text.text.length).toBeLessThanOrEqual(150);
    }
    if (b.type === "section") {
      expect(b.text !== undefined || b.fields !== undefined).toBe(true);
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
      if (b.fields) {
        expect(b.fields.length).toBeLessThanOrEqual(10);
        for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(2000);
      }
    }
    if (b.type === "context") {
      expect(b.elements.length).toBeLessThanOrEqual(10);
      for (const e of b.elements) expect(e.text.length).toBeLessThanOrEqual(3000);
    }
  }
  return m;
}

/** Every `&` in mrkdwn starts one of Slack's three escapes. */
const onlySlackEntities = (text: string) => expect(text.replace(/&(amp|lt|gt);/g, "")).not.toMatch(/[&<>]/);

describe("Slack (incoming webhook, Block Kit)", () => {
  const URL = "https://hooks.slack.com/services/T000/B000/token";

  it("sends a fallback text and header, context, text, fields, request and link blocks within Slack's limits", () => {
    const delivery = slackDelivery(approvalNeeded(), URL);
    const m = checkSlackLimits(delivery.body);

    expect(SLACK_LIMITS).toMatchObject({ blocks: 50, header: 150, text: 3000, fields: 10, field: 2000 });
    expect(delivery.url).toBe(URL);
    expect(m.text).toContain("Approval needed: fail over contoso to westus2");
    expect(m.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: approvalNeeded().title, emoji: false } });
    const sections = m.blocks.filter((b: any) => b.type === "section");
    expect(sections.flatMap((b: any) => b.fields ?? []).map((f: any) => [f.type, f.text])).toEqual([
      ["plain_text", "Lag: 420 s"],
      ["plain_text", "RPO budget: 300 s"],
      ["plain_text", "Target region: westus2"],
    ]);
    const texts = sections.map((b: any) => b.text?.text ?? "").join("\n");
    expect(texts).toContain(approvalNeeded().text);
    expect(texts).toContain("```" + requestOf(0).line + "\n" + requestOf(0).body + "```");
    expect(texts).toContain("```" + requestOf(1).line + "\n" + requestOf(1).body + "```");
    expect(texts).toContain("<https://portal.azure.com/#view/switchyard/runs/contoso|Run journal>");
    expect(delivery.body).not.toContain("javascript:");
  });

  it("sends the message text as plain_text, so it cannot ping channels or forge links", () => {
    const m = checkSlackLimits(slackDelivery(approvalNeeded({ text: "<!channel> lag & <https://evil.example|click>" }), URL).body);

    const section = m.blocks.find((b: any) => b.type === "section" && b.text?.text.includes("lag"));
    expect(section.text).toEqual({ type: "plain_text", text: "<!channel> lag & <https[:]//evil.example|click>", emoji: false });
  });

  it("cuts over-long title, text and 40 facts to the limits, with … and no broken escape", () => {
    const event = approvalNeeded({
      title: "Approval ".repeat(40),
      text: "a&b<c>".repeat(1000),
      facts: Array.from({ length: 40 }, (_, i) => ({ name: `fact ${i}`, value: "&".repeat(2500) })),
    });

    const m = checkSlackLimits(slackDelivery(event, URL).body);

    expect(m.blocks[0].text.text).toHaveLength(150);
    expect(m.blocks[0].text.text.endsWith("…")).toBe(true);
    const text = m.blocks.find((b: any) => b.type === "section" && b.text?.text.startsWith("a&b<c>")).text;
    expect(text.type).toBe("plain_text");
    expect(text.text.endsWith("…")).toBe(true);
    const fieldSections = m.blocks.filter((b: any) => b.fields);
    expect(fieldSections.map((b: any) => b.fields.length)).toEqual([10, 10]);
    for (const f of fieldSections.flatMap((b: any) => b.fields)) {
      expect(f.type).toBe("plain_text");
      expect(f.text.endsWith("…")).toBe(true);
    }
    // What is still mrkdwn (Switchyard's own words) is escaped whole.
    for (const b of m.blocks) for (const t of [b.text, ...(b.elements ?? [])]) if (t?.type === "mrkdwn") onlySlackEntities(t.text.replace(/<https:\/\/[^|>]*\|[^<>]*>/g, ""));
    expect(JSON.stringify(m.blocks.at(-1))).toContain("20 more facts not shown");
  });

  it("keeps many actions and links within the block and text limits", () => {
    const event = approvalNeeded({
      actions: Array.from({ length: 60 }, (_, i) => ({ ...approvalNeeded().actions[0]!, label: `act ${i}`, body: { note: "<&>".repeat(2000) } })),
      links: Array.from({ length: 60 }, (_, i) => ({ label: `link ${i}`, url: `https://example.com/${"p".repeat(200)}/${i}` })),
    });

    const m = checkSlackLimits(slackDelivery(event, URL).body);

    expect(JSON.stringify(m)).toContain("50 more actions not shown");
  });
});

describe("PagerDuty (Events API v2)", () => {
  const KEY = "R0123456789abcdef0123456789abcde";

  it("triggers with the required fields and the documented optional ones", () => {
    const delivery = pagerDutyDelivery(approvalNeeded(), KEY)!;
    const e = json(delivery.body);

    expect(delivery.url).toBe(PAGERDUTY_EVENTS_URL);
    expect(PAGERDUTY_EVENTS_URL).toBe("https://events.pagerduty.com/v2/enqueue");
    expect(e).toMatchObject({ routing_key: KEY, event_action: "trigger", dedup_key: `switchyard/contoso/run/${RUN}`, client: "Switchyard" });
    expect(e.payload).toMatchObject({
      source: "switchyard/contoso",
      severity: "critical",
      timestamp: "2025-03-01T10:00:05.000Z",
      group: "contoso",
      class: "approval-needed",
      component: RUN,
    });
    expect(e.payload.summary).toContain("Approval needed: fail over contoso to westus2");
    expect(e.payload.custom_details.facts).toEqual({ Lag: "420 s", "RPO budget": "300 s", "Target region": "westus2" });
    expect(e.payload.custom_details.text).toBe(approvalNeeded().text);
    expect(e.payload.custom_details.actions).toEqual([
      { label: "Approve data loss", request: requestOf(0).line, body: requestOf(0).body },
      { label: "Abort", request: requestOf(1).line, body: requestOf(1).body },
    ]);
    expect(e.links).toEqual([{ href: "https://portal.azure.com/#view/switchyard/runs/contoso", text: "Run journal" }]);
  });

  it("maps our severities onto PagerDuty's", () => {
    const severity = (s: Severity) => json(pagerDutyDelivery(approvalNeeded({ severity: s }), KEY)!.body).payload.severity;

    expect([severity("critical"), severity("warning"), severity("info")]).toEqual(["critical", "warning", "info"]);
  });

  it("cuts the summary to 1024 characters", () => {
    const e = json(pagerDutyDelivery(approvalNeeded({ text: "x".repeat(3000) }), KEY)!.body);

    expect(e.payload.summary).toHaveLength(1024);
    expect(e.payload.summary.endsWith("…")).toBe(true);
  });

  it("resolves with the routing key and dedup key only", () => {
    const e = json(pagerDutyDelivery(runFinished(), KEY, "https://pd.local/v2/enqueue")!.body);

    expect(e).toEqual({ routing_key: KEY, event_action: "resolve", dedup_key: `switchyard/contoso/run/${RUN}` });
  });

  it("sends nothing for an event without an incident", () => {
    expect(pagerDutyDelivery(approvalNeeded({ incident: undefined }), KEY)).toBeUndefined();
  });

  it("keeps a dedup key over 255 characters stable and distinct between trigger and resolve", () => {
    const long = "k".repeat(300);
    const trigger = json(pagerDutyDelivery(approvalNeeded({ incident: { key: long, action: "trigger" } }), KEY)!.body).dedup_key;
    const resolve = json(pagerDutyDelivery(runFinished({ incident: { key: long, action: "resolve" } }), KEY)!.body).dedup_key;
    const other = json(pagerDutyDelivery(approvalNeeded({ incident: { key: long + "2", action: "trigger" } }), KEY)!.body).dedup_key;

    expect(trigger.length).toBeLessThanOrEqual(255);
    expect(resolve).toBe(trigger);
    expect(other).not.toBe(trigger);
  });

  it("refuses an unusable routing key without quoting it", () => {
    const bad = "R01234 secret-routing-key";

    expect(() => pagerDutyDelivery(approvalNeeded(), bad)).toThrow(/routing key/);
    try {
      pagerDutyDelivery(approvalNeeded(), bad);
    } catch (e) {
      expect(String(e)).not.toContain("secret-routing-key");
    }
  });
});

describe("email (Azure Communication Services)", () => {
  const spec = JSON.parse(readFileSync(new URL("../fixtures/azure-corpus/openapi/communication/CommunicationServicesEmail.json", import.meta.url), "utf8"));
  const required = (name: string): string[] => spec.definitions[name].required;
  const options = { from: "DoNotReply@contoso.azurecomm.net", to: ["oncall@contoso.com", "dr@contoso.com"] };

  it("fills every field the ACS email API requires", () => {
    const m: any = emailMessage(approvalNeeded(), options);

    for (const field of required("EmailMessage")) expect(m[field]).toBeDefined();
    for (const field of required("EmailContent")) expect(m.content[field]).toBeTruthy();
    for (const field of required("EmailRecipients")) expect(m.recipients[field].length).toBeGreaterThan(0);
    for (const r of m.recipients.to) for (const field of required("EmailAddress")) expect(r[field]).toBeTruthy();
    expect(m.senderAddress).toBe(options.from);
    expect(m.recipients.to).toEqual([{ address: "oncall@contoso.com" }, { address: "dr@contoso.com" }]);
  });

  it("has a one-line subject with the severity and title, control characters removed", () => {
    const m = emailMessage(approvalNeeded({ title: "Approval needed\r\nBcc: everyone@example.com\u0007" }), options);

    expect(m.content.subject).toBe("[Switchyard] CRITICAL Approval needed Bcc: everyone@example.com");
    expect(m.content.subject).not.toMatch(/[\u0000-\u001f\u007f]/);
  });

  it("puts the text, facts, requests and links in both bodies", () => {
    const m = emailMessage(approvalNeeded(), options);

    for (const body of [m.content.plainText!, m.content.html!]) {
      expect(body).toContain("Replication lag 420 s is above the RPO budget of 300 s.");
      expect(body).toContain("Target region");
      expect(body).toContain(requestOf(0).line);
      expect(body).toContain("https://portal.azure.com/#view/switchyard/runs/contoso");
      expect(body).not.toContain("javascript:");
    }
    expect(m.content.plainText).toContain(requestOf(0).body);
    expect(m.content.html).toContain(requestOf(0).body.replace(/"/g, "&quot;"));
  });

  it("escapes HTML in every value", () => {
    const m = emailMessage(
      approvalNeeded({
        title: "<b>title</b>",
        text: "<script>alert('x')</script> & more",
        facts: [{ name: '<img src=x onerror="y">', value: "<i>v</i>" }],
        links: [{ label: "<u>journal</u>", url: 'https://example.com/a?b="c"&d=<e>' }],
      }),
      options,
    );
    const html = m.content.html!;

    expect(html).not.toMatch(/<script|<img|<i>|<u>|<b>/);
    expect(html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more");
    expect(html).toContain("&lt;img src=x onerror=&quot;y&quot;&gt;");
    expect(html).toContain('href="https://example.com/a?b=%22c%22&amp;d=%3Ce%3E"');
  });

  it("refuses a message without recipients", () => {
    expect(() => emailMessage(approvalNeeded(), { ...options, to: [] })).toThrow(/recipient/);
  });
});

describe("signed webhook (Standard Webhooks)", () => {
  // A fixed 32-byte key: the test's own, published nowhere.
  const KEY_BASE64 = Buffer.from("switchyard-unit-test-signing-key").toString("base64");
  const SECRET = `whsec_${KEY_BASE64}`;
  const NOW = new Date("2025-03-01T10:00:07.250Z");
  const URL = "https://hooks.contoso.com/switchyard";

  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends the recommended payload with the id, integer timestamp and signature headers", () => {
    const delivery = webhookDelivery(approvalNeeded(), URL, SECRET, NOW);

    expect(delivery.url).toBe(URL);
    expect(delivery.headers).toMatchObject({
      "content-type": "application/json",
      "webhook-id": approvalNeeded().id,
      "webhook-timestamp": "1740823207",
    });
    expect(delivery.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(json(delivery.body)).toEqual({ type: "switchyard.approval-needed", timestamp: "2025-03-01T10:00:05.000Z", data: approvalNeeded() });
  });

  it("is verified by the standardwebhooks library, with and without the whsec_ prefix", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
    const delivery = webhookDelivery(approvalNeeded(), URL, SECRET, NOW);

    expect(new Webhook(SECRET).verify(delivery.body, delivery.headers)).toEqual(json(delivery.body));
    expect(new Webhook(KEY_BASE64).verify(delivery.body, delivery.headers)).toEqual(json(delivery.body));
    expect(webhookDelivery(approvalNeeded(), URL, KEY_BASE64, NOW).headers["webhook-signature"]).toBe(delivery.headers["webhook-signature"]);
  });

  it("signs exactly as the library does", () => {
    const body = '{"type":"switchyard.run-finished"}';

    expect(signStandardWebhook("evt_1", 1740823207, body, SECRET)).toBe(new Webhook(SECRET).sign("evt_1", new Date(1740823207 * 1000), body));
  });

  it("accepts its own signature, also among several space-separated ones", () => {
    const d = webhookDelivery(approvalNeeded(), URL, SECRET, NOW);
    const other = signStandardWebhook(d.headers["webhook-id"]!, 1740823207, d.body, `whsec_${Buffer.alloc(32, 9).toString("base64")}`);

    expect(verifyStandardWebhook(d.headers, d.body, SECRET, NOW)).toEqual({ ok: true });
    const rotated = { ...d.headers, "webhook-signature": `v1a,AAAA ${other} ${d.headers["webhook-signature"]}` };
    expect(verifyStandardWebhook(rotated, d.body, SECRET, NOW)).toEqual({ ok: true });
    const upper = Object.fromEntries(Object.entries(d.headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyStandardWebhook(upper, d.body, SECRET, NOW)).toEqual({ ok: true });
  });

  it("rejects a tampered body, a changed timestamp, a stale message and a foreign signature", () => {
    const d = webhookDelivery(approvalNeeded(), URL, SECRET, NOW);
    const later = new Date(NOW.getTime() + 301_000);

    expect(verifyStandardWebhook(d.headers, d.body.replace("420", "42"), SECRET, NOW)).toMatchObject({ ok: false });
    expect(verifyStandardWebhook({ ...d.headers, "webhook-timestamp": "1740823208" }, d.body, SECRET, NOW)).toMatchObject({ ok: false });
    expect(verifyStandardWebhook(d.headers, d.body, SECRET, later)).toEqual({ ok: false, why: "webhook-timestamp is too old" });
    expect(verifyStandardWebhook(d.headers, d.body, SECRET, new Date(NOW.getTime() - 301_000))).toMatchObject({ ok: false });
    const foreign = `whsec_${Buffer.alloc(32, 1).toString("base64")}`;
    expect(verifyStandardWebhook(d.headers, d.body, foreign, NOW)).toEqual({ ok: false, why: "no webhook-signature matches" });
    expect(verifyStandardWebhook({ ...d.headers, "webhook-signature": undefined }, d.body, SECRET, NOW)).toMatchObject({ ok: false });
  });

  it("the library rejects a tampered body too", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW);
    const d = webhookDelivery(approvalNeeded(), URL, SECRET, NOW);

    expect(() => new Webhook(SECRET).verify(d.body.replace("420", "42"), d.headers)).toThrow();
  });

  it("refuses an unusable secret without quoting it", () => {
    const bad = ["whsec_c2hvcnQtc2VjcmV0", "whsec_not base64 at all!", "c2hvcnQtc2VjcmV0", `whsec_${Buffer.alloc(80, 3).toString("base64")}`];

    for (const secret of bad) {
      const messages: string[] = [];
      for (const attempt of [
        () => webhookDelivery(approvalNeeded(), URL, secret, NOW),
        () => signStandardWebhook("evt_1", 1, "{}", secret),
        () => verifyStandardWebhook({}, "{}", secret, NOW),
      ]) {
        try {
          attempt();
          messages.push("accepted");
        } catch (e) {
          messages.push((e as Error).message);
        }
      }
      for (const m of messages) {
        expect(m).toMatch(/signing secret is not usable/);
        expect(m).not.toContain(secret.replace(/^whsec_/, ""));
      }
    }
  });
});
