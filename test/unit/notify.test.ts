import { PassThrough } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { notifyActivity, type NotifyDeps } from "../../src/activities/notify.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import type { Plan } from "../../src/core/plan/index.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { ConsoleNotifier, FanOutNotifier, JournalNotifier, type Notifier } from "../../src/notify/index.ts";

let plan: Plan;
beforeAll(async () => {
  plan = await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname);
});

const input = (patch: Partial<NotifyInput> = {}): NotifyInput => ({
  runId: "run-7",
  plan,
  event: "approval-needed",
  severity: "critical",
  message: "lag 420 s is above the RPO budget of 300 s:\napprove or abort within 30 min",
  details: { lagSeconds: 420, rpoSeconds: 300 },
  ...patch,
});

const clock = () => new Date("2025-03-01T10:00:05.000Z");

function deps(notifier: Notifier): NotifyDeps & { journal: MemoryJournal; warnings: string[] } {
  const warnings: string[] = [];
  return {
    clients: new ClientFactory({ target: { kind: "estate", url: "https://127.0.0.1:1", ca: "" } }),
    journal: new MemoryJournal(),
    probe: () => Promise.reject(new Error("no probes in these tests")),
    log: { info: () => {}, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`), error: () => {} },
    clock,
    pollIntervalMs: 1,
    notifier,
    warnings,
  };
}

class Recording implements Notifier {
  readonly seen: NotifyInput[] = [];
  constructor(readonly name: string, private readonly failWith?: string) {}
  async notify(n: NotifyInput): Promise<void> {
    this.seen.push(n);
    if (this.failWith) throw new Error(this.failWith);
  }
}

function collect(stream: PassThrough): () => string {
  const chunks: string[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c.toString()));
  return () => chunks.join("");
}

describe("notifiers", () => {
  it("ConsoleNotifier writes exactly one line with severity, plan, run, event and message", async () => {
    const stream = new PassThrough();
    const text = collect(stream);
    await new ConsoleNotifier(stream).notify(input());
    expect(text()).toBe("switchyard [CRITICAL] contoso-orders run-7 approval-needed: lag 420 s is above the RPO budget of 300 s: approve or abort within 30 min\n");
  });

  it("ConsoleNotifier never writes a control character raw: a terminal escape in a quoted reason is shown escaped", async () => {
    const stream = new PassThrough();
    const text = collect(stream);
    await new ConsoleNotifier(stream).notify(input({ message: "drill\r\nswitchyard [INFO] FAKE\u001b[2K\u001b[1A\u0000end" }));
    expect(text()).toBe("switchyard [CRITICAL] contoso-orders run-7 approval-needed: drill switchyard [INFO] FAKE\\u001b[2K\\u001b[1A\\u0000end\n");
  });

  it("JournalNotifier journals a notification entry with event, severity and details", async () => {
    const journal = new MemoryJournal();
    await new JournalNotifier(journal, clock).notify(input());
    expect(await journal.read("run-7")).toEqual([
      {
        runId: "run-7",
        at: "2025-03-01T10:00:05.000Z",
        kind: "notification",
        step: "notify",
        message: "critical approval-needed: lag 420 s is above the RPO budget of 300 s:\napprove or abort within 30 min",
        data: { event: "approval-needed", severity: "critical", plan: "contoso-orders", details: { lagSeconds: 420, rpoSeconds: 300 } },
      },
    ]);
  });

  it("FanOutNotifier tries every channel and reports each failure", async () => {
    const ok = new Recording("console");
    const down = new Recording("ops-teams", "503 from webhook");
    const alsoOk = new Recording("dr-email");
    const fan = new FanOutNotifier([ok, down, alsoOk]);
    expect(fan.name).toBe("console+ops-teams+dr-email");
    await expect(fan.notify(input())).rejects.toThrow("notification approval-needed not delivered to ops-teams: 503 from webhook");
    expect([ok.seen.length, down.seen.length, alsoOk.seen.length]).toEqual([1, 1, 1]);
  });
});

describe("notifyActivity", () => {
  it("journals the notification, then delivers it", async () => {
    const channel = new Recording("console");
    const d = deps(channel);
    expect(await notifyActivity(input(), d)).toEqual({ delivered: true, id: expect.stringMatching(/^contoso-orders\.approval-needed\.[0-9a-f]{20}$/) });
    expect(channel.seen).toEqual([input()]);
    const journaled = await d.journal.read("run-7");
    expect(journaled).toHaveLength(1);
    expect(journaled[0]!.kind).toBe("notification");
    // The local notifier and every channel of the plan (their deliveries are journaled as they settle).
    expect(journaled[0]!.data).toMatchObject({ event: "approval-needed", severity: "critical", channels: `console+${plan.notifications.map((c) => c.name).join("+")}` });
  });

  it("a channel that fails does not fail the activity: the failure is journaled, logged and returned", async () => {
    const d = deps(new Recording("ops-teams", "webhook answered 503"));
    expect(await notifyActivity(input(), d)).toMatchObject({ delivered: false, error: "webhook answered 503" });
    const journaled = await d.journal.read("run-7");
    expect(journaled.map((e) => e.message)).toEqual([
      "critical approval-needed: lag 420 s is above the RPO budget of 300 s:\napprove or abort within 30 min",
      "delivery of approval-needed failed: webhook answered 503",
    ]);
    expect(journaled[1]!.data).toMatchObject({ delivery: "failed", channels: "ops-teams" });
    expect(d.warnings).toHaveLength(1);
  });

  it("withholds a channel error that quotes a secret instead of failing on the journal guard", async () => {
    const d = deps(new Recording("ops-teams", "POST https://hooks.example/x?sv=1&sig=abcdef failed"));
    const result = await notifyActivity(input(), d);
    expect(result.delivered).toBe(false);
    expect(result.error).not.toContain("sig=");
    expect(JSON.stringify(await d.journal.read("run-7"))).not.toContain("abcdef");
  });

  it("masks secret-looking parts of the notification (an alert rule's name in a reason) before the journal and the channel", async () => {
    const channel = new Recording("ops-teams");
    const d = deps(channel);
    const given = { ...input(), message: "auto failover: rule Bearer TokenValidationFailuresHigh fired; conn Password=hunter2;x" };
    expect(await notifyActivity(given, d)).toMatchObject({ delivered: true });
    expect(channel.seen[0]!.message).toBe("auto failover: rule [redacted] fired; conn [redacted];x");
    expect(JSON.stringify(await d.journal.read("run-7"))).not.toMatch(/hunter2|TokenValidation/);
  });

  it("is at least once: a re-run journals and delivers again", async () => {
    const channel = new Recording("console");
    const d = deps(channel);
    await notifyActivity(input(), d);
    await notifyActivity(input(), d);
    expect(channel.seen).toHaveLength(2);
    expect(await d.journal.read("run-7")).toHaveLength(2);
  });
});
