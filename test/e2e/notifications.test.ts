/**
 * Notifications end to end on a plan no code was tuned to (northwind: japaneast → japanwest), with every
 * kind of channel: a drill whose gate asks for approval (lag over the RPO), the estate playing Teams,
 * Slack, PagerDuty, a Standard Webhooks receiver and ACS email. Credentials are seeded with known values
 * and searched for in everything the drill wrote.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { runDrill, type DrillResult } from "../../src/local/drill.ts";
import type { LocalApp } from "../../src/local/app.ts";
import type { Scenario } from "../../estate/scenario.ts";
import type { ReceivedByChannel } from "../../src/local/received.ts";

const doc = parse(readFileSync(new URL("../fixtures/northwind.plan.yaml", import.meta.url), "utf8")) as Record<string, unknown>;
const plan: Plan = parsePlanText(
  stringify({
    ...doc,
    notifications: [
      { name: "nw-teams", kind: "teams", urlSetting: "NW_TEAMS_URL" },
      { name: "nw-slack", kind: "slack", urlSetting: "NW_SLACK_URL" },
      { name: "nw-pager", kind: "pagerduty", routingKeySetting: "NW_PD_KEY" },
      { name: "nw-mail", kind: "email", to: ["dispatch@northwind.example"], from: "dr@northwind.example", endpointSetting: "NW_ACS", events: ["approval-needed", "approval-answered", "run-finished"] },
      { name: "nw-hook", kind: "webhook", urlSetting: "NW_HOOK_URL", secretSetting: "NW_HOOK_SECRET" },
    ],
  }),
  "northwind + channels",
);

/** Known credentials, searched for afterwards (each long and unlike anything else in the output). */
const SECRETS = {
  NW_TEAMS_URL: "https://prod-41.japaneast.logic.azure.com:443/workflows/0f4e1c2d3b4a59687766554433221100/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=TeamsSigKnownValue7Q2w9E4r1T6y3U8i5O0pAsDfGh",
  NW_SLACK_URL: "https://hooks.slack.com/services/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Qw",
  NW_PD_KEY: "e93facc04764012d7bfb002500d5d1a6",
  NW_ACS: "https://northwind-comms.japan.communication.azure.com",
  NW_HOOK_URL: "https://hooks.northwind.example/switchyard/HookPathKnownValue44",
  NW_HOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
};
const credentialParts = ["TeamsSigKnownValue7Q2w9E4r1T6y3U8i5O0pAsDfGh", "SlackTokenKnownValueZx81Qw", SECRETS.NW_PD_KEY, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "HookPathKnownValue44"];

const lagged = plan.storage[1]!.account.id;
const outage = (slackAnswers500: boolean): Scenario => ({
  regions: { japaneast: { down: true, healthWhenDown: "refused", controlPlane: "down" } },
  // Over the 900 s RPO: the gate asks a person.
  lag: [{ resourceId: lagged, seconds: 1800 }],
  ...(slackAnswers500 ? { faults: [{ kind: "serverError", operationId: "Slack_IncomingWebhook", count: 1000, status: 500 }] } : {}),
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

async function blobsText(app: LocalApp): Promise<string> {
  const service = app.clients.blobService();
  const parts: string[] = [];
  for await (const container of service.listContainers()) {
    const client = service.getContainerClient(container.name);
    for await (const blob of client.listBlobsFlat()) parts.push((await client.getBlobClient(blob.name).downloadToBuffer()).toString("utf8"));
  }
  return parts.join("\n");
}

async function drill(slackAnswers500: boolean): Promise<{ result: DrillResult; out: string; stored: string; lines: string[] }> {
  const out = mkdtempSync(join(tmpdir(), "switchyard-notify-"));
  const lines: string[] = [];
  let stored = "";
  const result = await runDrill({
    plan,
    scenario: outage(slackAnswers500),
    failback: false,
    approve: true,
    outputDir: out,
    timeScale: 3600,
    channelSettings: SECRETS,
    progress: (line) => lines.push(line),
    inspect: async (app) => {
      stored = await blobsText(app);
    },
  });
  return { result, out, stored, lines };
}

const lineOf = (r: readonly ReceivedByChannel[], channel: string) => r.find((c) => c.channel === channel)!.messages;

describe("notifications on a plan no code was tuned to", () => {
  it("reaches every channel with the approval request and its answer; Slack answering 500 forever changes nothing else; no credential anywhere", async () => {
    const healthy = await drill(false);
    const broken = await drill(true);

    for (const { result } of [healthy, broken]) {
      expect(result.failover.output).toMatchObject({ outcome: "completed", dataLossAllowedBy: "approval" });
    }
    // The same steps, in the same order, with or without a broken channel.
    expect(broken.result.failover.output.steps.map((s) => s.step)).toEqual(healthy.result.failover.output.steps.map((s) => s.step));

    const got = healthy.result.notifications!;
    for (const channel of ["nw-teams", "nw-hook", "nw-mail"]) {
      const said = lineOf(got, channel).map((m) => m.line).join("\n");
      expect(said, channel).toMatch(/approval/i);
      expect(said, channel).toMatch(/approved by switchyard drill/i);
      expect(lineOf(got, channel).every((m) => m.accepted), channel).toBe(true);
    }
    // PagerDuty: paged (critical) for the approval, and the incident resolved when the run completed.
    const pages = lineOf(got, "nw-pager").map((m) => m.line);
    expect(pages[0]).toMatch(/^trigger \(critical\): .*needs approval/);
    expect(pages.at(-1)).toMatch(/^resolve switchyard\/northwind-logistics\/runs$/);
    // Each event once per channel: no repeats although the delivery timer ran beside the first attempts.
    for (const channel of got) expect(new Set(channel.messages.map((m) => m.line)).size, channel.channel).toBe(channel.messages.length);

    // Slack refused every attempt; the others were unaffected.
    // (The lag breach before the outage went through: the fault is planted with the outage.)
    const slack = lineOf(broken.result.notifications!, "nw-slack");
    const duringRun = slack.filter((m) => !/replication lag/.test(m.line));
    expect(duringRun.length).toBeGreaterThan(1);
    expect(duringRun.every((m) => m.status === 500)).toBe(true);
    expect(lineOf(broken.result.notifications!, "nw-teams").map((m) => m.line)).toEqual(lineOf(got, "nw-teams").map((m) => m.line));

    // The drill's output lists each channel with what it received.
    expect(healthy.lines.join("\n")).toMatch(/notifications received[\s\S]*nw-teams \(teams\): \d+ accepted[\s\S]*nw-mail \(email to dispatch@northwind.example\)/);

    // No credential in the log, journals, reports, durable histories, outbox or detection state.
    for (const { out, stored, lines } of [healthy, broken]) {
      const written = [...filesUnder(out).map((f) => readFileSync(f, "utf8")), stored, lines.join("\n")].join("\n");
      expect(written).toContain("northwind-logistics");
      for (const secret of credentialParts) expect(written.includes(secret), secret).toBe(false);
    }
  }, 240_000);
});
