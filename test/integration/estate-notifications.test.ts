import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type { IncomingHttpHeaders } from "node:http";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmailClient, type EmailMessage } from "@azure/communication-email";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { startEstate, type Estate } from "../../estate/server.ts";
import type { Channel } from "../../estate/services/notifications.ts";

/** The estate runs on this clock; tests move it instead of waiting. */
const T0 = Date.parse("2026-03-02T09:00:00Z");
let now = T0;

// Credentials seeded with known values, so that a test can look for them in what the estate shows.
const SLACK_SECRET = "hQ7rT2vXk9Lm3Np5Rs8Wy1Zc";
const SLACK_PATH = `/services/T0ABCDEF1/B0GHIJKL2/${SLACK_SECRET}`;
const ROUTING_KEY = "R01abcdef23456789abcdef012345678";
const TEAMS_SIG = "Zq1x-Sig_4b7e9c2a6f1d3e5b8a0c7d9e2f4a6b8c";
const TEAMS_HOST = "prod-27.westeurope.logic.azure.com:443";
const TEAMS_PATH = `/workflows/7d2f9a41c6e84b0f9a3d5e7c1b2a4f6e/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${TEAMS_SIG}`;
const WEBHOOK_HOST = "hooks.contoso.example";
const WEBHOOK_KEY = Buffer.from("2f8c1e7a9b3d5f0a4c6e8b1d3f5a7c9e", "utf8");
const WEBHOOK_SECRET = `whsec_${WEBHOOK_KEY.toString("base64")}`;
const EMAIL_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.acs-email-test-token";
const ACS_ENDPOINT = "https://contoso-notify.communication.azure.com";
const ACS_HOST = "contoso-notify.communication.azure.com";

/** First 12 hex digits of SHA-256: how the estate names a credential. */
const fingerprintOf = (credential: string) => createHash("sha256").update(credential).digest("hex").slice(0, 12);

let estate: Estate;

beforeAll(async () => {
  estate = await startEstate({ clock: () => now });
});

beforeEach(async () => {
  now = T0;
  await estate.reset();
});

afterAll(async () => {
  await estate?.close();
});

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A plain HTTPS request to the estate (the shared one unless told), trusting only its certificate. */
function call(method: string, path: string, options: { body?: string | object; headers?: Record<string, string>; timeoutMs?: number } = {}, target = estate): Promise<Reply> {
  const payload = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, target.url),
      {
        method,
        ca: target.ca.cert,
        agent: false,
        headers: {
          ...(payload !== undefined ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    if (options.timeoutMs !== undefined) req.setTimeout(options.timeoutMs, () => req.destroy(new Error("the client stopped waiting")));
    req.on("error", reject);
    req.end(payload);
  });
}

/** What the application sends in estate mode for `https://{host}{path}`. */
const toChannel = (host: string, path: string, body: string | object, headers: Record<string, string> = {}) => call("POST", `/channels/${host}${path}`, { body, headers });

const only = (channel: Channel) => estate.notifications({ channel });

// ---- messages --------------------------------------------------------------------------------

const slackMessage = (blocks: unknown[] = [{ type: "header", text: { type: "plain_text", text: "Failover started" } }]) => ({ text: "Failover started for contoso-orders", blocks });
const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
const field = (text: string) => ({ type: "mrkdwn", text });

const pagerDutyTrigger = (overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
  routing_key: ROUTING_KEY,
  event_action: "trigger",
  payload: { summary: "contoso-orders: failover to centralus started", source: "switchyard", severity: "critical", ...payload },
  ...overrides,
});

const teamsMessage = (card: Record<string, unknown> = {}) => ({
  type: "message",
  attachments: [
    {
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: { $schema: "http://adaptivecards.io/schemas/adaptive-card.json", type: "AdaptiveCard", version: "1.4", body: [{ type: "TextBlock", text: "Failover started", wrap: true }], ...card },
    },
  ],
});

const webhookEvent = { type: "failover.started", timestamp: "2026-03-02T09:00:00Z", data: { plan: "contoso-orders", region: "centralus" } };

/** Standard Webhooks headers for a body, signed with `secret` at `at` (by the reference library). */
function signed(body: string, at = now, secret = WEBHOOK_SECRET, id = `msg_${randomUUID()}`): Record<string, string> {
  const signature = new Webhook(secret).sign(id, new Date(at), body);
  return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": signature };
}

// ---- email -----------------------------------------------------------------------------------

/** A credential handing out one fixed token (the estate accepts any bearer token). */
function fixedToken(token: string): TokenCredential {
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

/** Re-routes `https://{resource}.communication.azure.com/…` to the estate after authentication (as src/azure/estateRouting.ts does for Key Vault). */
function acsRouting(): PipelinePolicy {
  return {
    name: "testEstateCommunicationRouting",
    async sendRequest(req, next) {
      const original = req.url;
      const url = new URL(original);
      if (!url.hostname.endsWith(".communication.azure.com")) return next(req);
      req.url = `${estate.url}/communication/${url.host}${url.pathname}${url.search}`;
      try {
        return await next(req);
      } finally {
        req.url = original;
      }
    },
  };
}

function emailClient(): EmailClient {
  return new EmailClient(ACS_ENDPOINT, fixedToken(EMAIL_TOKEN), {
    tlsOptions: { ca: estate.ca.cert },
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ policy: acsRouting(), position: "perRetry" }],
  });
}

const emailMessage = (overrides: Partial<EmailMessage> = {}): EmailMessage => ({
  senderAddress: "DoNotReply@notify.contoso.example",
  content: { subject: "Failover started: contoso-orders", plainText: "Switchyard started a failover of contoso-orders to centralus." },
  recipients: { to: [{ address: "oncall@contoso.example", displayName: "On call" }] },
  ...overrides,
});

const FAST = { updateIntervalInMs: 1 } as const;

// ==============================================================================================

describe("Slack incoming webhooks", () => {
  it("accept a Block Kit message with 200 ok in text, and record it under the secret's fingerprint", async () => {
    const reply = await toChannel("hooks.slack.com", SLACK_PATH, slackMessage([{ type: "header", text: { type: "plain_text", text: "Failover started" } }, section("*contoso-orders* → centralus")]));

    expect(reply.status).toBe(200);
    expect(reply.text).toBe("ok");
    expect(reply.headers["content-type"]).toMatch(/^text\/plain/);
    const [delivery] = only("slack");
    expect(delivery).toMatchObject({ channel: "slack", host: "hooks.slack.com", status: 200, problems: [], credential: fingerprintOf(SLACK_SECRET), path: "/services/T0ABCDEF1/B0GHIJKL2/<redacted>" });
    expect(delivery!.body).toMatchObject({ text: "Failover started for contoso-orders" });
    expect(delivery!.headers).toEqual({ "content-type": "application/json" });
  });

  it.each([
    ["a body that is not JSON", "text=hello", "invalid_payload", /not a JSON object/],
    ["a message with nothing to show", {}, "no_text", /no text, blocks or attachments/],
    ["51 blocks", slackMessage(Array.from({ length: 51 }, () => ({ type: "divider" }))), "invalid_blocks", /51 blocks \(at most 50\)/],
    ["a header of 151 characters", slackMessage([{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }]), "invalid_blocks", /151 characters \(at most 150\)/],
    ["a header in mrkdwn", slackMessage([{ type: "header", text: { type: "mrkdwn", text: "*bold*" } }]), "invalid_blocks", /type must be plain_text/],
    ["section text of 3001 characters", slackMessage([section("s".repeat(3001))]), "invalid_blocks", /3001 characters \(at most 3000\)/],
    ["11 section fields", slackMessage([{ type: "section", fields: Array.from({ length: 11 }, (_, i) => field(`f${i}`)) }]), "invalid_blocks", /11 items \(at most 10\)/],
    ["a field of 2001 characters", slackMessage([{ type: "section", fields: [field("f".repeat(2001))] }]), "invalid_blocks", /2001 characters \(at most 2000\)/],
    ["an unknown block type", slackMessage([{ type: "banner", text: "x" }]), "invalid_blocks", /"banner" is not a Block Kit block type/],
  ])("refuse %s with 400 and Slack's code", async (_case, body, code, problem) => {
    const reply = await toChannel("hooks.slack.com", SLACK_PATH, body);

    expect(reply.status).toBe(400);
    expect(reply.text).toBe(code);
    const [delivery] = only("slack");
    expect(delivery!.status).toBe(400);
    expect(delivery!.problems.join("\n")).toMatch(problem);
  });

  it("answer 404 no_service for a URL that names no webhook", async () => {
    const reply = await toChannel("hooks.slack.com", "/services/T0ABCDEF1/not-a-webhook", slackMessage());

    expect(reply.status).toBe(404);
    expect(reply.text).toBe("no_service");
    expect(only("slack")[0]).toMatchObject({ status: 404, path: "/services/T0ABCDEF1/not-a-webhook" });
    expect(only("slack")[0]!.credential).toBeUndefined();
  });
});

describe("PagerDuty Events API v2", () => {
  it("accepts a trigger with 202, generating a dedup_key, and keeps the routing key as its fingerprint only", async () => {
    const reply = await toChannel("events.pagerduty.com", "/v2/enqueue", pagerDutyTrigger());

    expect(reply.status).toBe(202);
    const answer = JSON.parse(reply.text);
    expect(answer).toMatchObject({ status: "success", message: "Event processed" });
    expect(answer.dedup_key).toMatch(/^[0-9a-f]{32}$/);
    const [delivery] = only("pagerduty");
    expect(delivery).toMatchObject({ status: 202, problems: [], credential: fingerprintOf(ROUTING_KEY) });
    expect(delivery!.body).toMatchObject({ routing_key: fingerprintOf(ROUTING_KEY), event_action: "trigger" });
  });

  it("answers the EU endpoint the same way and echoes a given dedup_key", async () => {
    const reply = await toChannel("events.eu.pagerduty.com", "/v2/enqueue", { routing_key: ROUTING_KEY, event_action: "resolve", dedup_key: "contoso-orders/failover" });

    expect(reply.status).toBe(202);
    expect(JSON.parse(reply.text).dedup_key).toBe("contoso-orders/failover");
  });

  it.each([
    ["a routing key of 31 characters", pagerDutyTrigger({ routing_key: ROUTING_KEY.slice(1) }), "Length of 'routing_key' is incorrect (should be 32 characters)"],
    ["a routing key with other characters", pagerDutyTrigger({ routing_key: `${ROUTING_KEY.slice(2)}-_` }), "'routing_key' cannot contain non-alphanumeric characters."],
    ["an unknown event_action", pagerDutyTrigger({ event_action: "fire" }), "'event_action' is invalid"],
    ["a trigger without a summary", pagerDutyTrigger({}, { summary: undefined }), "'payload.summary' is missing or blank"],
    ["a trigger without a source", pagerDutyTrigger({}, { source: "" }), "'payload.source' is missing or blank"],
    ["a severity outside the enum", pagerDutyTrigger({}, { severity: "fatal" }), "'payload.severity' is invalid"],
    ["a summary of 1025 characters", pagerDutyTrigger({}, { summary: "s".repeat(1025) }), "'payload.summary' is 1025 characters (at most 1024)"],
    ["a dedup_key of 256 characters", pagerDutyTrigger({ dedup_key: "d".repeat(256) }), "'dedup_key' is 256 characters (at most 255)"],
    ["an acknowledge without a dedup_key", { routing_key: ROUTING_KEY, event_action: "acknowledge" }, "'dedup_key' is missing or blank"],
  ])("refuses %s with 400 invalid event", async (_case, body, error) => {
    const reply = await toChannel("events.pagerduty.com", "/v2/enqueue", body);

    expect(reply.status).toBe(400);
    const answer = JSON.parse(reply.text);
    expect(answer).toMatchObject({ status: "invalid event", message: "Event object is invalid" });
    expect(answer.errors.join("\n")).toContain(error);
    expect(only("pagerduty")[0]!.problems).toEqual(answer.errors);
  });
});

describe("Teams Workflows webhooks", () => {
  it("accept an Adaptive Card message with 202 and no body, recording the sig's fingerprint but not the sig", async () => {
    const reply = await toChannel(TEAMS_HOST, TEAMS_PATH, teamsMessage());

    expect(reply.status).toBe(202);
    expect(reply.text).toBe("");
    const [delivery] = only("teams");
    expect(delivery).toMatchObject({ host: TEAMS_HOST, status: 202, problems: [], credential: fingerprintOf(TEAMS_SIG) });
    expect(delivery!.path).not.toContain("sig=");
    expect(delivery!.path).toContain("api-version=2016-06-01");
  });

  it("serve Power Automate's workflow URLs on a Power Platform environment host", async () => {
    const host = "default4f1c2e3d5b6a7980a1b2c3d4e5f60718.9c.environment.api.powerplatform.com:443";
    const path = `/powerautomate/automations/direct/workflows/5b1e0c7a2d4f4e6a8c9b0d1e2f3a4b5c/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${TEAMS_SIG}`;

    const reply = await toChannel(host, path, teamsMessage());

    expect(reply.status).toBe(202);
    expect(only("teams")[0]).toMatchObject({ host, status: 202 });
  });

  it.each([
    ["a card newer than Workflows renders (1.5)", teamsMessage({ version: "1.5" }), /1\.5 is newer than Teams Workflows renders \(1\.4\)/],
    ["a message without attachments", { type: "message", text: "Failover started" }, /attachments must be a non-empty array/],
    ["a legacy MessageCard", { "@type": "MessageCard", summary: "Failover", attachments: [{ contentType: "application/vnd.microsoft.teams.card.o365connector", content: {} }] }, /contentType must be application\/vnd\.microsoft\.card\.adaptive/],
    ["a card without a body", teamsMessage({ body: undefined }), /body must be an array/],
  ])("refuse %s with 400", async (_case, body, problem) => {
    const reply = await toChannel(TEAMS_HOST, TEAMS_PATH, body);

    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).error.code).toBe("BadRequest");
    expect(only("teams")[0]!.problems.join("\n")).toMatch(problem);
  });

  it("answer an unsigned trigger call with Logic Apps' 401 DirectApiAuthorizationRequired", async () => {
    const reply = await toChannel(TEAMS_HOST, TEAMS_PATH.replace(/&sig=[^&]*/, ""), teamsMessage());

    expect(reply.status).toBe(401);
    expect(JSON.parse(reply.text).error.code).toBe("DirectApiAuthorizationRequired");
    expect(only("teams")[0]).toMatchObject({ status: 401 });
  });
});

describe("Standard Webhooks receivers", () => {
  it("accept a delivery signed with the host's secret with 204, recording the secret's fingerprint", async () => {
    estate.setWebhookSecret(WEBHOOK_HOST, WEBHOOK_SECRET);
    const body = JSON.stringify(webhookEvent);

    const reply = await toChannel(WEBHOOK_HOST, "/switchyard/events", body, signed(body));

    expect(reply.status).toBe(204);
    const [delivery] = only("webhook");
    expect(delivery).toMatchObject({ host: WEBHOOK_HOST, path: "/switchyard/<redacted>", status: 204, problems: [], credential: fingerprintOf(WEBHOOK_SECRET), body: webhookEvent });
    expect(Object.keys(delivery!.headers)).toEqual(["content-type", "webhook-id", "webhook-signature", "webhook-timestamp"]);
  });

  it("answer 401 when the body was changed after signing", async () => {
    estate.setWebhookSecret(WEBHOOK_HOST, WEBHOOK_SECRET);
    const headers = signed(JSON.stringify(webhookEvent));
    const tampered = JSON.stringify({ ...webhookEvent, data: { ...webhookEvent.data, region: "eastus2" } });

    const reply = await toChannel(WEBHOOK_HOST, "/switchyard/events", tampered, headers);

    expect(reply.status).toBe(401);
    expect(only("webhook")[0]).toMatchObject({ status: 401, problems: ["no v1 signature matches the host's secret"] });
    expect(only("webhook")[0]!.credential).toBeUndefined();
  });

  it("answer 401 for a signature made with another secret", async () => {
    estate.setWebhookSecret(WEBHOOK_HOST, WEBHOOK_SECRET);
    const body = JSON.stringify(webhookEvent);
    const otherSecret = `whsec_${Buffer.from("another-secret-of-32-bytes-long!").toString("base64")}`;

    const reply = await toChannel(WEBHOOK_HOST, "/switchyard/events", body, signed(body, now, otherSecret));

    expect(reply.status).toBe(401);
  });

  it("answer 400 for a correctly signed delivery whose timestamp is more than five minutes old on the receiver's clock", async () => {
    estate.setWebhookSecret(WEBHOOK_HOST, WEBHOOK_SECRET);
    const body = JSON.stringify(webhookEvent);
    const headers = signed(body, now);
    now += 5 * 60_000 + 1_000;

    const reply = await toChannel(WEBHOOK_HOST, "/switchyard/events", body, headers);

    expect(reply.status).toBe(400);
    expect(only("webhook")[0]!.problems).toEqual(["webhook-timestamp is more than 5 minutes from the receiver's clock"]);
  });

  it("check the shape only when no secret is known for the host", async () => {
    const body = JSON.stringify(webhookEvent);

    const unverified = await toChannel("alerts.fabrikam.example", "/in", body, signed(body, now, WEBHOOK_SECRET));
    const unsigned = await toChannel("alerts.fabrikam.example", "/in", body);

    expect(unverified.status).toBe(204);
    expect(unsigned.status).toBe(400);
    const [first, second] = only("webhook");
    expect(first!.credential).toBeUndefined();
    expect(second!.problems).toEqual(["no webhook-id header", "no webhook-timestamp header", "no webhook-signature header"]);
  });
});

describe("faults planted on the channels", () => {
  it("a throttle answers Slack's 429 rate_limited in text with Retry-After, then lets the next delivery through", async () => {
    estate.addFault({ kind: "throttle", operationId: "Slack_IncomingWebhook", count: 1, retryAfterSeconds: 7 });

    const throttled = await toChannel("hooks.slack.com", SLACK_PATH, slackMessage());
    const next = await toChannel("hooks.slack.com", SLACK_PATH, slackMessage());

    expect(throttled).toMatchObject({ status: 429, text: "rate_limited" });
    expect(throttled.headers["retry-after"]).toBe("7");
    expect(next.status).toBe(200);
    expect(only("slack").map((d) => [d.status, d.fault])).toEqual([
      [429, "TooManyRequests"],
      [200, undefined],
    ]);
  });

  it("a serverError answers PagerDuty's JSON with the planted status", async () => {
    estate.addFault({ kind: "serverError", operationId: "PagerDuty_Enqueue", count: 1, status: 503 });

    const reply = await toChannel("events.pagerduty.com", "/v2/enqueue", pagerDutyTrigger());

    expect(reply.status).toBe(503);
    expect(JSON.parse(reply.text)).toMatchObject({ status: "error" });
    expect(only("pagerduty")[0]).toMatchObject({ status: 503, fault: "ServiceUnavailable", problems: [] });
  });

  it("a scenario's fault narrowed to one host fails that host only", async () => {
    const planted = await call("POST", "/_estate/scenario", {
      body: { faults: [{ kind: "serverError", operationId: "Webhook_Post", count: 5, status: 500, resourceId: "/channels/hooks.contoso.example" }] },
    });
    const body = JSON.stringify(webhookEvent);

    const failed = await toChannel(WEBHOOK_HOST, "/switchyard/events", body, signed(body));
    const other = await toChannel("alerts.fabrikam.example", "/in", body, signed(body));

    expect(planted.status).toBe(200);
    expect(failed.status).toBe(500);
    expect(other.status).toBe(204);
  });

  it("latency longer than the client waits times the client out; the delivery is still processed and recorded", async () => {
    estate.addFault({ kind: "latency", operationId: "Teams_WorkflowTrigger", ms: 300, count: 1 });

    const reply = await call("POST", `/channels/${TEAMS_HOST}${TEAMS_PATH}`, { body: teamsMessage(), timeoutMs: 30 }).catch((error: Error) => error);

    expect(reply).toBeInstanceOf(Error);
    expect((reply as Error).message).toBe("the client stopped waiting");
    // The estate goes on with the request after the latency, as a service does when its client gave up.
    await vi.waitFor(() => expect(only("teams")).toHaveLength(1), { timeout: 5_000, interval: 20 });
    expect(only("teams")[0]).toMatchObject({ status: 202, clientGone: true });
  });
});

describe("Azure Communication Services email through @azure/communication-email", () => {
  it("sends: 202 with an Operation-Location on the Azure host, then Succeeded; the record holds the message and the operation", async () => {
    const client = emailClient();
    const locations: string[] = [];

    const poller = await client.beginSend(emailMessage(), { ...FAST, onResponse: (raw) => locations.push(raw.headers.get("operation-location") ?? "") });
    const result = await poller.pollUntilDone();

    expect(result.status).toBe("Succeeded");
    expect(new URL(locations[0]!).host).toBe(ACS_HOST);
    expect(locations[0]).toContain(`/emails/operations/${result.id}?api-version=2025-09-01`);
    const [delivery] = only("email");
    expect(delivery).toMatchObject({ channel: "email", host: ACS_HOST, status: 202, problems: [], operationId: result.id, operationStatus: "Succeeded", credential: fingerprintOf(EMAIL_TOKEN) });
    expect(delivery!.body).toMatchObject({ senderAddress: "DoNotReply@notify.contoso.example", content: { subject: "Failover started: contoso-orders" } });
  });

  it("runs for the send's duration on the estate's clock, telling the client how long to wait", async () => {
    estate.setTiming({ durations: { Email_Send: 20_000 } });
    const client = emailClient();
    const retryAfter: string[] = [];

    const poller = await client.beginSend(emailMessage(), { onResponse: (raw) => retryAfter.push(raw.headers.get("retry-after") ?? "-") });
    const running = poller.getOperationState().status;
    now += 20_000;
    await poller.poll();

    expect(running).toBe("running");
    expect(retryAfter.slice(0, 2)).toEqual(["20", "20"]);
    expect(poller.getOperationState().status).toBe("succeeded");
    expect(poller.getResult()?.status).toBe("Succeeded");
  });

  it("a repeated send with the same operation id is the same operation and delivers once", async () => {
    const client = emailClient();
    const operationId = randomUUID();

    const first = await (await client.beginSend(emailMessage(), { ...FAST, operationId })).pollUntilDone();
    const again = await (await client.beginSend(emailMessage(), { ...FAST, operationId })).pollUntilDone();

    expect(first.id).toBe(operationId);
    expect(again.id).toBe(operationId);
    expect(only("email")).toHaveLength(1);
    expect(only("email")[0]).toMatchObject({ operationId, repeats: 1, status: 202 });
  });

  it("refuses another message under an operation id already used", async () => {
    const client = emailClient();
    const operationId = randomUUID();
    await (await client.beginSend(emailMessage(), { ...FAST, operationId })).pollUntilDone();

    const error = await client.beginSend(emailMessage({ content: { subject: "Something else", plainText: "other" } }), { ...FAST, operationId }).catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 400, code: "BadRequest" });
    expect(only("email").map((d) => d.status)).toEqual([202, 400]);
  });

  it.each([
    ["no plain text or HTML", emailMessage({ content: { subject: "Failover started" } as unknown as EmailMessage["content"] }), /content needs plainText or html/],
    ["a recipient that is not an address", emailMessage({ recipients: { to: [{ address: "on call" }] } }), /recipients\.to\[0\]\.address is not an email address/],
    ["no recipients at all", emailMessage({ recipients: { to: [] } }), /recipients names no one/],
    ["51 recipients", emailMessage({ recipients: { to: Array.from({ length: 51 }, (_, i) => ({ address: `p${i}@contoso.example` })) } }), /51 addresses \(at most 50\)/],
  ])("refuses a message with %s: 400 in ACS's error shape", async (_case, message, problem) => {
    const error = await emailClient().beginSend(message, FAST).catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 400, code: "BadRequest" });
    const [delivery] = only("email");
    expect(delivery!.status).toBe(400);
    expect(delivery!.problems.join("\n")).toMatch(problem);
  });

  it("a planted throttle on Email_Send answers 429 with Retry-After to the client", async () => {
    estate.addFault({ kind: "throttle", operationId: "Email_Send", count: 1, retryAfterSeconds: 30 });

    const error = await emailClient().beginSend(emailMessage(), FAST).catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 429, code: "TooManyRequests" });
    expect((error as { response?: { headers: { get(name: string): string | undefined } } }).response?.headers.get("retry-after")).toBe("30");
    expect(only("email")[0]).toMatchObject({ status: 429, fault: "TooManyRequests" });
  });

  it("a planted serverError on Email_GetSendResult fails the poll, not the send", async () => {
    estate.addFault({ kind: "serverError", operationId: "Email_GetSendResult", count: 5, status: 500 });

    const error = await emailClient().beginSend(emailMessage(), FAST).catch((e: unknown) => e);

    expect(error).toMatchObject({ statusCode: 500 });
    expect(only("email")[0]).toMatchObject({ status: 202 });
  });

  it("a planted lroFailure makes the send end Failed (EmailDropped)", async () => {
    estate.addFault({ kind: "lroFailure", operationId: "Email_Send", count: 1 });

    const error = await emailClient()
      .beginSend(emailMessage(), FAST)
      .then((poller) => poller.pollUntilDone())
      .catch((e: unknown) => e);

    expect(String(error)).toContain("EmailDropped");
    expect(only("email")[0]).toMatchObject({ status: 202, operationStatus: "Failed" });
  });
});

describe("the delivery record", () => {
  it("never holds a credential that addressed a channel, in the notifications or the request log", async () => {
    estate.setWebhookSecret(WEBHOOK_HOST, WEBHOOK_SECRET);
    const body = JSON.stringify(webhookEvent);
    await toChannel("hooks.slack.com", SLACK_PATH, slackMessage());
    await toChannel("hooks.slack.com", SLACK_PATH, "not json");
    await toChannel("hooks.slack.com", `${SLACK_PATH}/extra`, slackMessage());
    await toChannel("events.pagerduty.com", "/v2/enqueue", pagerDutyTrigger());
    await toChannel("events.pagerduty.com", "/v2/enqueue", pagerDutyTrigger({ event_action: "fire" }));
    await toChannel(TEAMS_HOST, TEAMS_PATH, teamsMessage());
    await toChannel(TEAMS_HOST, TEAMS_PATH, teamsMessage({ version: "1.6" }));
    await toChannel(WEBHOOK_HOST, "/switchyard/events", body, signed(body));
    // A receiver of one's own with its token in the path and the query.
    await toChannel(WEBHOOK_HOST, "/hooks/PathTokenKnown7Yq2/events?token=QueryTokenKnown9Xw4", body, signed(body));
    await (await emailClient().beginSend(emailMessage(), FAST)).pollUntilDone();

    const notifications = await call("GET", "/_estate/notifications");
    const requests = await call("GET", "/_estate/requests");

    expect(notifications.status).toBe(200);
    const deliveries = JSON.parse(notifications.text).deliveries as { channel: string; credential?: string }[];
    expect(deliveries.map((d) => d.channel)).toEqual(["slack", "slack", "slack", "pagerduty", "pagerduty", "teams", "teams", "webhook", "webhook", "email"]);
    expect(deliveries.filter((d) => d.credential === undefined)).toHaveLength(1); // the URL that names no webhook
    const shown = `${notifications.text}\n${requests.text}`;
    for (const secret of [SLACK_SECRET, ROUTING_KEY, TEAMS_SIG, encodeURIComponent(TEAMS_SIG), WEBHOOK_SECRET, WEBHOOK_KEY.toString("base64"), EMAIL_TOKEN, "PathTokenKnown7Yq2", "QueryTokenKnown9Xw4"]) {
      expect(shown).not.toContain(secret);
    }
    expect(requests.text).toContain("/channels/hooks.slack.com/services/T0ABCDEF1/B0GHIJKL2/");
  });

  it("is cleared by DELETE /_estate/notifications", async () => {
    await toChannel("hooks.slack.com", SLACK_PATH, slackMessage());

    const cleared = await call("DELETE", "/_estate/notifications");

    expect(cleared.status).toBe(204);
    expect(estate.notifications()).toEqual([]);
  });

  it("takes a webhook secret over the control API, answering 400 for one that is not a Standard Webhooks secret", async () => {
    const body = JSON.stringify(webhookEvent);

    const set = await call("PUT", `/_estate/webhook-secrets/${WEBHOOK_HOST}`, { body: { secret: WEBHOOK_SECRET } });
    const bad = await call("PUT", `/_estate/webhook-secrets/${WEBHOOK_HOST}`, { body: { secret: "whsec_not base64!" } });
    const reply = await toChannel(WEBHOOK_HOST, "/switchyard/events", body, signed(body, now, `whsec_${Buffer.from("x".repeat(32)).toString("base64")}`));

    expect(set.status).toBe(204);
    expect(bad.status).toBe(400);
    expect(bad.text).not.toContain("not base64!");
    expect(reply.status).toBe(401);
  });
});

describe("an estate kept in a folder", () => {
  it("keeps the deliveries and an email operation in flight across a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), "estate-notifications-"));
    let clock = T0;
    try {
      const first = await startEstate({ stateDir: dir, clock: () => clock, timing: { durations: { Email_Send: 60_000 } } });
      const send = await call(
        "POST",
        `/communication/${ACS_HOST}/emails:send?api-version=2025-09-01`,
        { body: emailMessage(), headers: { Authorization: `Bearer ${EMAIL_TOKEN}` } },
        first,
      ).finally(() => first.close());
      clock += 60_000;
      const second = await startEstate({ stateDir: dir, clock: () => clock });
      const id = JSON.parse(send.text).id as string;

      const poll = await call("GET", `/communication/${ACS_HOST}/emails/operations/${id}?api-version=2025-09-01`, { headers: { Authorization: `Bearer ${EMAIL_TOKEN}` } }, second).finally(() => second.close());

      expect(send.status).toBe(202);
      expect(JSON.parse(poll.text)).toEqual({ id, status: "Succeeded" });
      expect(second.notifications()).toMatchObject([{ channel: "email", operationId: id, operationStatus: "Succeeded", status: 202 }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
