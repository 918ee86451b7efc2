import { readFileSync } from "node:fs";
import type * as df from "durable-functions";
import { describe, expect, it } from "vitest";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { APPROVAL_EVENT, instanceIdFor, newRunId, Orchestrations } from "../../src/core/run/model.ts";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";
import { LocalRuns } from "../../src/runs/localRuns.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { DecisionNotDeliveredError, DecisionTakenError, type RunDecision } from "../../src/core/run/port.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { DECISION_SEND_LEASE_MS, DecisionClaims, decisionRecordOf, MemoryDecisionStore } from "../../src/runs/decisions.ts";
import { NotWaitingForDecisionError, ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { ManualClock } from "../helpers/clock.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

const RUN = "contoso-orders.20261128T100000Z.failover-abcd";

function claims() {
  const clock = new ManualClock(new Date("2026-11-28T10:00:00Z"));
  const store = new MemoryDecisionStore();
  const sent: RunDecision[] = [];
  const send = async (decision: RunDecision) => void sent.push(decision);
  return { clock, store, sent, send, claims: new DecisionClaims({ store, clock: clock.now }) };
}

const decision = (approve: boolean, by: string, at = "2026-11-28T10:00:00.000Z"): RunDecision => ({ runId: RUN, waitingFor: "approval", approve, by, reason: approve ? "accept the loss" : "wait for the region", at });

async function refusal(work: Promise<void>): Promise<DecisionTakenError> {
  const error = await work.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof DecisionTakenError)) throw new Error(`expected DecisionTakenError, got ${String(error)}`);
  return error;
}

describe("decision claims", () => {
  it("lets the first of many concurrent decisions through and sends only it; the others learn which one stands", async () => {
    const c = claims();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c.claims.decide(decision(i % 2 === 0, `op${i}`), c.send)));

    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
    expect(won).toHaveLength(1);
    expect(c.sent).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const error of lost) expect(error).toEqual(new DecisionTakenError(c.sent[0]!));
    expect(c.store.get(decision(true, "x"))).toEqual({ decision: c.sent[0], sentAt: "2026-11-28T10:00:00.000Z" });
  });

  it("claims each wait of a run apart: an abort of its re-protection wait is not refused by its approval's decision", async () => {
    const c = claims();
    await c.claims.decide(decision(true, "alice"), c.send);

    await c.claims.decide({ ...decision(false, "bob"), waitingFor: "reprotection" }, c.send);

    expect(c.sent.map((d) => [d.waitingFor, d.by])).toEqual([
      ["approval", "alice"],
      ["reprotection", "bob"],
    ]);
  });

  it("keeps a decision whose send failed as the one that stands, and the next request sends it again at once", async () => {
    const c = claims();
    const failed = await c.claims.decide(decision(true, "alice"), async () => Promise.reject(new Error("503 from the Durable extension"))).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(DecisionNotDeliveredError);

    const later = await refusal(c.claims.decide(decision(false, "bob"), c.send));

    expect(later.standing).toMatchObject({ approve: true, by: "alice" });
    expect(later.resent).toBe(true);
    expect(c.sent).toEqual([decision(true, "alice")]);
    // Delivered now: a further request does not send it again.
    expect((await refusal(c.claims.decide(decision(false, "carol"), c.send))).resent).toBe(false);
    expect(c.sent).toHaveLength(1);
  });

  it("leaves a decision whose sender may still be sending it alone until its lease runs out, then sends it again", async () => {
    const c = claims();
    // A sender that claimed and died before sending (or is still sending).
    await c.store.claim({ decision: decision(true, "alice"), sendingAt: "2026-11-28T10:00:00.000Z" });

    c.clock.advance(DECISION_SEND_LEASE_MS - 1);
    const early = await refusal(c.claims.decide(decision(false, "bob", c.clock.now().toISOString()), c.send));
    c.clock.advance(1);
    const late = await refusal(c.claims.decide(decision(false, "carol", c.clock.now().toISOString()), c.send));

    expect([early.resent, late.resent]).toEqual([false, true]);
    expect(c.sent).toEqual([decision(true, "alice")]);
  });

  it("lets one of several late requests take over the send of a stalled decision", async () => {
    const c = claims();
    await c.store.claim({ decision: decision(true, "alice") });

    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => c.claims.decide(decision(false, `op${i}`), c.send)));

    expect(results.map((r) => (r.status === "rejected" && r.reason instanceof DecisionTakenError ? r.reason.resent : "other")).filter((resent) => resent === true)).toHaveLength(1);
    expect(c.sent).toEqual([decision(true, "alice")]);
  });

  it("reads back only a whole record, naming what is wrong", () => {
    expect(() => decisionRecordOf({ decision: { runId: RUN, waitingFor: "coffee" } }, "decisions/x")).toThrow(/decisions\/x.*names no run and wait/);
    expect(() => decisionRecordOf({ decision: decision(true, "a"), sentAt: "yesterday" }, "decisions/x")).toThrow(/sentAt is not an ISO time/);
    expect(decisionRecordOf({ decision: decision(true, "a"), extra: 1 }, "decisions/x")).toEqual({ decision: decision(true, "a") });
  });
});

describe("the run port's decisions", () => {
  function port() {
    const clock = new ManualClock(new Date("2026-11-28T10:00:00Z"));
    const memory = new MemoryRuns();
    const runs = new ReservingRuns(memory, { store: new MemoryPlanStateStore(), clock: clock.now });
    memory.current = { instanceId: "i", runId: RUN, status: "running", kind: "failback", from: "centralus", to: "eastus2" };
    const waiting = (waitingFor: "approval" | "reprotection" | "operation") => {
      memory.current = { ...memory.current!, progress: { runId: RUN, kind: "failback", step: "reprotect", stepStartedAt: "2026-11-28T09:00:00.000Z", waitingFor } };
    };
    return { memory, runs, waiting };
  }

  it("without a target, answers the wait the run's status shows, and refuses one it does not wait for", async () => {
    const { memory, runs, waiting } = port();
    waiting("operation");
    await expect(runs.approve("contoso-orders", { approve: false, by: "drill", reason: "stop" })).rejects.toBeInstanceOf(NotWaitingForDecisionError);
    waiting("reprotection");
    await expect(runs.approve("contoso-orders", { approve: true, by: "drill", reason: "go" })).rejects.toBeInstanceOf(NotWaitingForDecisionError);

    await runs.approve("contoso-orders", { approve: false, by: "drill", reason: "stay in the secondary" });

    expect(memory.targets).toEqual([{ runId: RUN, waitingFor: "reprotection" }]);
  });

  it("sends and records the caller's name and reason redacted", async () => {
    const { memory, runs, waiting } = port();
    waiting("reprotection");

    await runs.approve("contoso-orders", { approve: false, by: "ops;Password=hunter2", reason: "key AccountKey=abc123== leaked" });

    expect(memory.approvals).toEqual([{ approve: false, by: "ops;[redacted]", reason: "key [redacted] leaked" }]);
  });
});

describe("the local run port's decisions", () => {
  it("drops a decision for a run the plan's instance no longer runs, and raises one for the run it runs", async () => {
    const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
    const host = new LocalDurableHost({
      store: new MemoryInstanceStore(),
      orchestrations: {
        // Returns the first approval event it reads.
        [Orchestrations.failover]: function* (context: df.OrchestrationContext) {
          return yield context.df.waitForExternalEvent(APPROVAL_EVENT);
        },
      },
      activities: {},
    });
    const runs = new LocalRuns(host);
    const at = new Date("2026-11-28T10:00:00Z");
    const runId = newRunId(plan.name, "failover", at);
    await runs.start({ runId, kind: "failover", mode: "auto", plan, from: "eastus2", to: "centralus", trigger: { source: "manual", by: "oncall", reason: "outage", detectedAt: at.toISOString() } });

    await runs.approve(plan.name, { approve: true, by: "for an earlier run", reason: "late" }, { runId: "contoso-orders.20261128T090000Z.failover-0001", waitingFor: "approval" });
    await runs.approve(plan.name, { approve: false, by: "for this run", reason: "stop" }, { runId, waitingFor: "approval" });

    expect((await host.waitForCompletion(instanceIdFor(plan.name))).output).toEqual({ approve: false, by: "for this run", reason: "stop" });
  });
});
