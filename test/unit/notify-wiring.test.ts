import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import * as df from "durable-functions";
import { describe, expect, it } from "vitest";
import { notifyActivity, type NotifyDeps } from "../../src/activities/notify.ts";
import { wrapActivity } from "../../src/activities/wrap.ts";
import { ClientFactory } from "../../src/azure/clients.ts";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { Activities, APPROVAL_EVENT, Orchestrations, outlineOf, type NotifyInput, type RunOrchestrationInput, type RunOutput } from "../../src/core/run/model.ts";
import { LocalDurableHost, orchestratorTrigger } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { MemoryOutbox, type PlanChannel } from "../../src/notify/outbox.ts";
import { ORCHESTRATIONS } from "../../src/orchestrations/index.ts";
import { runOrchestration } from "../../src/orchestrations/run.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

const plan: Plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const P = plan.regions.primary.name;
const S = plan.regions.secondary.name;

/** A forced failover that needs approval (primary down, lag unknown), as the orchestration is started with it. */
function input(approvalTimeoutSeconds: number): RunOrchestrationInput {
  return {
    runId: "run-1",
    kind: "failover",
    mode: "auto",
    plan: outlineOf(plan),
    from: P,
    to: S,
    trigger: { source: "manual", by: "ops@contoso.com", reason: "test", detectedAt: "2026-01-01T00:00:00.000Z" },
    options: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 }, approvalTimeoutSeconds, timeScale: 1000 },
  };
}

interface Sent {
  readonly id: string;
  readonly kind: string;
  readonly at: string;
  readonly title: string;
  readonly facts: readonly { name: string; value: string }[];
}

/**
 * The activities a run needs up to an aborted approval: journal, notify, assess (primary down) and
 * measure (lag unknown). `onNotice` is called inside the notify activity, before it returns.
 */
function activities(sent: Sent[], onNotice: (n: Sent) => Promise<void> = async () => {}) {
  const answer = (name: string, fn: (i: any) => unknown) => wrapActivity(name, async (i: any) => fn(i));
  return {
    [Activities.journal]: answer(Activities.journal, () => null),
    [Activities.notify]: wrapActivity(Activities.notify, async (i: Sent) => {
      sent.push(i);
      await onNotice(i);
      return { delivered: true };
    }),
    [Activities.assessRegions]: answer(Activities.assessRegions, () => ({ at: "t", regions: { [P]: { healthy: false, probes: [] }, [S]: { healthy: true, probes: [] } } })),
    [Activities.measureReplication]: answer(Activities.measureReplication, () => ({ at: "t", sql: [], storage: [], maxLagSeconds: null })),
  };
}

async function until(condition: () => Promise<unknown> | unknown, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}

const ABORT = { approve: false, by: "oncall@contoso.com", reason: "the primary is coming back" };

describe("the approval wait (version 4): one external event task across the reminder and the deadline", () => {
  const require = createRequire(import.meta.url);
  const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js");
  const handler = new Orchestrator(runOrchestration).listen();
  const flatten = (actions: any[]): any[] => actions.flatMap((a) => (a.compoundActions ? flatten(a.compoundActions) : [a]));

  it("takes an answer that comes after the reminder (the second wait), and the same history replays to the same schedule", async () => {
    // Arrange: the answer is raised once the reminder went out and the run waits again.
    const sent: Sent[] = [];
    const store = new MemoryInstanceStore();
    const h = new LocalDurableHost({ store, orchestrations: ORCHESTRATIONS as never, activities: activities(sent) as never });
    const runInput = input(1);

    // Act
    await h.start(Orchestrations.failover, runInput, "i1");
    await until(async () => {
      const reminder = sent.find((n) => n.kind === "approval-reminder");
      const status = (await h.getStatus("i1"))?.customStatus as { waitingFor?: string; stepStartedAt?: string } | undefined;
      // The status is set again after the reminder: the run is in its second wait.
      return reminder !== undefined && status?.waitingFor === "approval" && Date.parse(status.stepStartedAt ?? "") >= Date.parse(reminder.at);
    });
    await h.raiseEvent("i1", APPROVAL_EVENT, ABORT);
    const output = (await h.waitForCompletion("i1")).output as RunOutput;

    // Assert: the answer won over the deadline, and was notified.
    expect(output.outcome).toBe("stopped-aborted");
    expect(sent.map((n) => n.kind)).toEqual(["run-started", "approval-needed", "approval-reminder", "approval-answered", "run-finished"]);
    expect(new Set(sent.map((n) => n.id)).size).toBe(sent.length);
    // Replayed from its full history, twice, the run asks for exactly what was recorded, and ends the same.
    const history = (await store.get("i1"))!.history;
    const recorded = history.filter((e: any) => e.EventType === 4 || e.EventType === 10).map((e: any) => (e.EventType === 4 ? e.Name : "timer"));
    const trigger = orchestratorTrigger(history.map((e: any) => ({ ...e })), runInput, "i1");
    const a = await handler(structuredClone(trigger), new df.DummyOrchestrationContext());
    const b = await handler(structuredClone(trigger), new df.DummyOrchestrationContext());
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(a.isDone).toBe(true);
    expect(a.output.outcome).toBe("stopped-aborted");
    expect(flatten(a.actions.flat()).filter((x) => x.actionType !== 6).map((x) => (x.actionType === 5 ? "timer" : x.functionName))).toEqual(recorded);
  });

  it("takes an answer that comes while the reminder is being sent, without a second wait", async () => {
    // Arrange: the answer is raised from inside the reminder's notify activity.
    const sent: Sent[] = [];
    const store = new MemoryInstanceStore();
    let h: LocalDurableHost | undefined;
    const onNotice = async (n: Sent) => {
      if (n.kind === "approval-reminder") await h!.raiseEvent("i1", APPROVAL_EVENT, ABORT);
    };
    h = new LocalDurableHost({ store, orchestrations: ORCHESTRATIONS as never, activities: activities(sent, onNotice) as never });

    // Act
    await h.start(Orchestrations.failover, input(1), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;

    // Assert: answered, not timed out; no timer for the deadline was ever made.
    expect(output.outcome).toBe("stopped-aborted");
    expect(sent.map((n) => n.kind)).toEqual(["run-started", "approval-needed", "approval-reminder", "approval-answered", "run-finished"]);
    const timers = (await store.get("i1"))!.history.filter((e: any) => e.EventType === 10);
    expect(timers).toHaveLength(1);
  });

  it("says in the reminder how much of the run's own deadline is left when it fires", async () => {
    // Arrange
    const sent: Sent[] = [];
    const h = new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: ORCHESTRATIONS as never, activities: activities(sent) as never });

    // Act: no answer; the run stops at its deadline.
    await h.start(Orchestrations.failover, input(1.6), "i1");
    const output = (await h.waitForCompletion("i1")).output as RunOutput;

    // Assert: the figure is the deadline (as the first notice gave it) less the reminder's own time.
    expect(output.outcome).toBe("stopped-approval-timeout");
    const needed = sent.find((n) => n.kind === "approval-needed")!;
    const reminder = sent.find((n) => n.kind === "approval-reminder")!;
    const deadline = Date.parse(needed.facts.find((f) => f.name === "Deadline")!.value.split(" ")[0]!);
    expect(reminder.title).toContain(`${Math.max(0, Math.round((deadline - Date.parse(reminder.at)) / 1000))} s left`);
  });
});

describe("notifyActivity: an error that escapes delivery", () => {
  const ROUTING_KEY = "e93facc04764012d9c7ad4f3b2d8c1a5";
  const pagerduty = { name: "oncall-pagerduty", kind: "pagerduty", routingKeySetting: "SWITCHYARD_PAGERDUTY_ROUTING_KEY" } satisfies PlanChannel;

  it("is journaled, logged and returned without a channel's credential, and does not fail the activity", async () => {
    // Arrange: the outbox refuses the record with an error that quotes the routing key.
    const journal = new MemoryJournal();
    const lines: string[] = [];
    const log = { info: (m: string, f?: object) => lines.push(m + JSON.stringify(f ?? {})), warn: (m: string, f?: object) => lines.push(m + JSON.stringify(f ?? {})), error: (m: string, f?: object) => lines.push(m + JSON.stringify(f ?? {})) };
    const outbox = new MemoryOutbox();
    outbox.create = async () => {
      throw new Error(`storage refused the record: routing key ${ROUTING_KEY} rejected`);
    };
    const deps: NotifyDeps = {
      clients: new ClientFactory({ target: { kind: "estate", url: "https://127.0.0.1:1", ca: "" } }),
      journal,
      probe: () => Promise.reject(new Error("no probes here")),
      log: log as never,
      clock: () => new Date("2026-01-01T00:00:05.000Z"),
      pollIntervalMs: 1,
      notifier: { name: "console", notify: async () => {} },
      channels: { outbox, transport: { post: async () => ({ status: 202, text: "" }), beginEmail: async () => ({ done: true }) as never, pollEmail: async () => ({ done: true }) as never }, setting: (name) => (name === "SWITCHYARD_PAGERDUTY_ROUTING_KEY" ? ROUTING_KEY : undefined) },
    };
    const runId = "contoso-orders.20260101T000000Z.failover-1a2b";
    const given: NotifyInput = { runId, plan: { ...plan, notifications: [pagerduty] }, id: `${runId}.1.run-started`, at: "2026-01-01T00:00:00.000Z", event: "failover-started", kind: "run-started", severity: "warning", message: "failover started" };

    // Act
    const result = await notifyActivity(given, deps);

    // Assert
    expect(result.delivered).toBe(false);
    const journaled = await journal.read(runId);
    expect(journaled.map((e) => e.data?.delivery ?? "notified")).toEqual(["notified", "failed"]);
    expect(JSON.stringify([result, journaled, lines])).not.toContain(ROUTING_KEY);
  });
});
