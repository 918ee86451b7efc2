import * as df from "durable-functions";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LocalDurableHost } from "../../src/durable/durableHost.ts";
import { EventType } from "../../src/durable/extensionReplay.ts";
import { MemoryInstanceStore } from "../../src/durable/instanceStore.ts";

/*
 * The local durable host behaves as the Durable Functions runtime does where it matters to Switchyard:
 * each test drives a tiny orchestration through the real durable-functions orchestrator.
 */

type Ctx = df.OrchestrationContext;

function hostWith(orchestration: (context: Ctx) => Generator<unknown, unknown, any>, activities: Record<string, (input: unknown) => Promise<unknown>> = {}) {
  return new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: { o: orchestration as never }, activities });
}

const settle = (ms = 80) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `reached` holds (checked every few ms): for states the host reaches by itself, without betting on how long it takes. */
async function until(reached: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await reached())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${what}`);
    await settle(2);
  }
}

describe("the local durable host, as strict as the runtime", () => {
  it("accepts an event for an instance that has finished and drops it, as the Durable client does", async () => {
    const h = hostWith(function* () {
      return "done";
    });
    await h.start("o", null, "i1");
    const finished = await h.waitForCompletion("i1");

    await expect(h.raiseEvent("i1", "approval", { approve: true })).resolves.toBeUndefined();

    expect(await h.getStatus("i1")).toMatchObject({ runtimeStatus: "Completed", output: "done", lastUpdatedTime: finished.lastUpdatedTime });
  });

  it("still refuses an event for an instance that does not exist", async () => {
    const h = hostWith(function* () {
      return null;
    });
    await expect(h.raiseEvent("nobody", "approval", {})).rejects.toThrow(/no instance/);
  });

  it("fails an instance that asks for an action it cannot carry out, naming it, instead of leaving it waiting", async () => {
    const h = hostWith(function* (context: Ctx) {
      yield context.df.callEntity(new df.EntityId("counter", "k"), "add", 1);
      return "unreachable";
    });
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toMatch(/does not support callEntity/);
  });

  it("fails an orchestration whose custom status is over 16 KB, as the Durable extension does", async () => {
    const h = hostWith(function* (context: Ctx) {
      context.df.setCustomStatus({ note: "x".repeat(9_000) });
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 1));
      return "unreachable";
    });
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toMatch(/must not exceed 16 KB/);
  });

  it("hands activities a JSON copy of their input: no shared objects, dates as strings", async () => {
    const seen: unknown[] = [];
    const h = hostWith(
      function* (context: Ctx) {
        const shared = { when: new Date("2026-12-02T00:00:00Z"), list: [1] };
        yield context.df.Task.all([context.df.callActivity("a", shared), context.df.callActivity("b", shared)]);
        return shared.list.length;
      },
      {
        a: async (input) => {
          (input as { list: number[] }).list.push(2);
          seen.push(input);
          return { ok: true, value: null };
        },
        b: async (input) => {
          await settle(10);
          seen.push(input);
          return { ok: true, value: null };
        },
      },
    );
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.output).toBe(1);
    expect(seen).toContainEqual({ when: "2026-12-02T00:00:00.000Z", list: [1] });
    expect(seen).toContainEqual({ when: "2026-12-02T00:00:00.000Z", list: [1, 2] });
  });

  it("waits for a durable timer due in a month without firing it early (Node caps one delay at about 24.8 days)", async () => {
    const store = new MemoryInstanceStore();
    const h = new LocalDurableHost({
      store,
      orchestrations: {
        o: function* (context: Ctx) {
          yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 30 * 24 * 3600 * 1000));
          return "fired";
        } as never,
      },
      activities: {},
    });
    await h.start("o", null, "i1");
    await settle(100);

    const state = await store.get("i1");
    const created = state!.history.filter((e) => e.EventType === 10);
    expect(state!.runtimeStatus).toBe("Running");
    // Fired early, the timer would be created again and again (the orchestrator re-arms a timer that
    // fires before its time); waited for, it is created once and has not fired. Longer than the
    // backend's 6-day maximum, it is waited for in 3-day parts (schema V3 long timers).
    expect(created).toHaveLength(1);
    expect(Date.parse(created[0]!.FireAt as string) - Date.parse(state!.history.find((e) => e.EventType === 12)!.Timestamp)).toBe(3 * 24 * 3600 * 1000);
    expect(state!.history.filter((e) => e.EventType === 11)).toHaveLength(0);
    h.stop();
  });
});

describe("executions of one instance id", () => {
  it("drops the result of an activity a terminated execution left running, and runs the new execution's own", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const h = hostWith(
      function* (context: Ctx) {
        return yield context.df.callActivity("slow", null);
      },
      {
        slow: async () => {
          calls++;
          if (calls === 1) {
            await gate;
            return "from the terminated execution";
          }
          return "from this execution";
        },
      },
    );
    await h.start("o", null, "i1");
    await until(() => calls === 1, "the first execution's activity started");
    await h.terminate("i1", "pre-empted");
    await h.waitForCompletion("i1");
    await h.start("o", null, "i1");
    await until(() => calls === 2, "the second execution's activity ran");
    release();

    const status = await h.waitForCompletion("i1");

    expect(status.output).toBe("from this execution");
    expect(calls).toBe(2);
  });
});

describe("terminate, as the Durable client does it", () => {
  // Fake timers: the control queue's 30 ms delay passes only when the test says so, so "still running
  // right after the terminate" does not race a real 30 ms timer.
  beforeEach(() => void vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => void vi.useRealTimers());

  it("returns while the instance still runs and ends it in a later episode; a start in between is refused", async () => {
    const h = new LocalDurableHost({
      store: new MemoryInstanceStore(),
      orchestrations: {
        o: function* (context: Ctx) {
          yield context.df.waitForExternalEvent("go");
          return "unreachable";
        } as never,
      },
      activities: {},
      controlQueueDelayMs: 30,
    });
    await h.start("o", null, "i1");
    while ((await h.getStatus("i1"))?.runtimeStatus !== "Running") await vi.advanceTimersByTimeAsync(0);

    const answered = await h.terminate("i1", "pre-empted by an incident");
    await vi.advanceTimersByTimeAsync(29);
    const right = await h.getStatus("i1");
    const restart = h.start("o", null, "i1");

    expect(answered?.runtimeStatus).toBe("Running");
    expect(right?.runtimeStatus).toBe("Running");
    await expect(restart).rejects.toThrow(/already running/);
    await vi.advanceTimersByTimeAsync(1);
    const ended = await h.waitForCompletion("i1");
    expect(ended).toMatchObject({ runtimeStatus: "Terminated", error: "pre-empted by an incident" });
    await expect(h.start("o", null, "i1")).resolves.toMatchObject({ runtimeStatus: "Pending" });
    h.stop();
  });
});

describe("a changed orchestration replayed over a recorded history", () => {
  function* recorded(context: Ctx): Generator<unknown, unknown, any> {
    yield context.df.callActivity("readGroup", null);
    yield context.df.waitForExternalEvent("approval");
    yield context.df.callActivity("failoverGroup", null);
    return "done";
  }
  const activities = { readGroup: async () => "ok", failoverGroup: async () => "ok", readGroupV2: async () => "ok" };

  /** Runs the recorded orchestration up to its approval wait, then "deploys" `changed` and resumes it. */
  async function upgradeMidRun(changed: (context: Ctx) => Generator<unknown, unknown, any>) {
    const store = new MemoryInstanceStore();
    const before = new LocalDurableHost({ store, orchestrations: { o: recorded as never }, activities });
    await before.start("o", null, "i1");
    // Until the episode after readGroup's result has ended: the instance waits for the approval.
    await until(async () => {
      const history = (await store.get("i1"))?.history ?? [];
      return history.some((e) => e.EventType === EventType.TaskCompleted) && history.at(-1)?.EventType === EventType.OrchestratorCompleted;
    }, "the recorded orchestration waits for its approval");
    before.stop();
    const after = new LocalDurableHost({ store, orchestrations: { o: changed as never }, activities });
    await after.resume();
    await after.raiseEvent("i1", "approval", true);
    return after.waitForCompletion("i1");
  }

  it("fails with the runtime's error when an activity was renamed", async () => {
    const status = await upgradeMidRun(function* (context: Ctx) {
      yield context.df.callActivity("readGroupV2", null);
      yield context.df.waitForExternalEvent("approval");
      yield context.df.callActivity("failoverGroup", null);
      return "done";
    });

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toBe(
      "Non-Deterministic workflow detected: A previous execution of this orchestration scheduled an activity task with sequence number 0 named 'readGroup', but the current orchestration replay instead scheduled an activity task named 'readGroupV2' with this sequence number. Was a change made to the orchestrator code after this instance had already started running?",
    );
  });

  it("fails when a timer now stands where an activity was", async () => {
    const status = await upgradeMidRun(function* (context: Ctx) {
      yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 10));
      yield context.df.waitForExternalEvent("approval");
      return "done";
    });

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toMatch(/^Non-Deterministic workflow detected: .*sequence number 0 named 'readGroup', but the current orchestration replay instead produced a CreateTimerOrchestratorAction/);
  });

  it("fails when a step that already ran was removed", async () => {
    const status = await upgradeMidRun(function* (context: Ctx) {
      yield context.df.waitForExternalEvent("approval");
      yield context.df.callActivity("failoverGroup", null);
      return "done";
    });

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toMatch(/^Non-Deterministic workflow detected: .*(sequence number 0 named 'readGroup'.*'failoverGroup'|sequence ID 0 and name 'readGroup'.*hasn't \(yet\?\) scheduled)/);
  });

  it("completes when the change only appends after the point reached", async () => {
    const status = await upgradeMidRun(function* (context: Ctx) {
      yield context.df.callActivity("readGroup", null);
      yield context.df.waitForExternalEvent("approval");
      yield context.df.callActivity("failoverGroup", null);
      yield context.df.callActivity("readGroup", null);
      return "done, with a check";
    });

    expect(status).toMatchObject({ runtimeStatus: "Completed", output: "done, with a check" });
  });
});

describe("callActivityWithRetry, retried by the runtime", () => {
  it("retries a failing activity after the interval and returns its eventual result", async () => {
    const attempts: number[] = [];
    const store = new MemoryInstanceStore();
    const h = new LocalDurableHost({
      store,
      orchestrations: {
        o: function* (context: Ctx): Generator<unknown, unknown, any> {
          const options = new df.RetryOptions(5, 3);
          return yield context.df.callActivityWithRetry("flaky", options, "x");
        } as never,
      },
      activities: {
        flaky: async () => {
          attempts.push(attempts.length + 1);
          if (attempts.length < 3) throw new Error(`attempt ${attempts.length} failed`);
          return "third time";
        },
      },
    });
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status).toMatchObject({ runtimeStatus: "Completed", output: "third time" });
    expect(attempts).toEqual([1, 2, 3]);
    const kinds = (await store.get("i1"))!.history.filter((e) => e.EventType === 4 || e.EventType === 10).map((e) => `${e.EventType === 4 ? "task" : "timer"}#${e.EventId}`);
    expect(kinds).toEqual(["task#0", "timer#1", "task#2", "timer#3", "task#4"]);
  });

  it("gives up after the last attempt and hands the orchestrator the last failure", async () => {
    let calls = 0;
    const h = hostWith(
      function* (context: Ctx) {
        try {
          yield context.df.callActivityWithRetry("broken", new df.RetryOptions(5, 2), null);
          return "unreachable";
        } catch (error) {
          return `caught: ${(error as Error).message}`;
        }
      },
      {
        broken: async () => {
          calls++;
          throw new Error(`failure ${calls}`);
        },
      },
    );
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Completed");
    expect(String(status.output)).toMatch(/^caught: .*failure 2/);
    expect(calls).toBe(2);
  });

  it("keeps two retried activities of one Task.all apart (sequence numbers interleave as the runtime gives them)", async () => {
    const counts: Record<string, number> = { a: 0, b: 0 };
    const h = hostWith(
      function* (context: Ctx) {
        const options = new df.RetryOptions(5, 4);
        return yield context.df.Task.all([context.df.callActivityWithRetry("act", options, "a"), context.df.callActivityWithRetry("act", options, "b")]);
      },
      {
        act: async (input) => {
          const key = input as string;
          counts[key]! += 1;
          if (key === "a" && counts[key]! < 3) throw new Error("a not yet");
          if (key === "b" && counts[key]! < 2) throw new Error("b not yet");
          return `${key} after ${counts[key]}`;
        },
      },
    );
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status).toMatchObject({ runtimeStatus: "Completed", output: ["a after 3", "b after 2"] });
  });
});

describe("sub-orchestrations and continue-as-new", () => {
  it("runs a sub-orchestration under its own instance id and hands its result to the parent", async () => {
    const store = new MemoryInstanceStore();
    const h = new LocalDurableHost({
      store,
      orchestrations: {
        parent: function* (context: Ctx): Generator<unknown, unknown, any> {
          const child = yield context.df.callSubOrchestrator("child", { n: 20 }, "i1:child");
          return `parent got ${child}`;
        } as never,
        child: function* (context: Ctx): Generator<unknown, unknown, any> {
          const input = context.df.getInput() as { n: number };
          return yield context.df.callActivity("double", input.n);
        } as never,
      },
      activities: { double: async (n) => (n as number) * 2 },
    });
    await h.start("parent", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status).toMatchObject({ runtimeStatus: "Completed", output: "parent got 40" });
    expect(await h.getStatus("i1:child")).toMatchObject({ runtimeStatus: "Completed", output: 40 });
    expect((await store.get("i1:child"))!.parent).toMatchObject({ instanceId: "i1", taskScheduledId: 0 });
  });

  it("fails the parent's task when the sub-orchestration fails", async () => {
    const h = new LocalDurableHost({
      store: new MemoryInstanceStore(),
      orchestrations: {
        parent: function* (context: Ctx) {
          try {
            yield context.df.callSubOrchestrator("child", null, "i1:child");
            return "unreachable";
          } catch (error) {
            return `child failed: ${(error as Error).message}`;
          }
        } as never,
        child: function* () {
          throw new Error("child broke");
        } as never,
      },
      activities: {},
    });
    await h.start("parent", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Completed");
    expect(String(status.output)).toMatch(/^child failed: .*child broke/);
  });

  it("continues as new with a fresh history, so a long loop keeps a bounded history", async () => {
    const store = new MemoryInstanceStore();
    let largest = 0;
    const h = new LocalDurableHost({
      store,
      orchestrations: {
        loop: function* (context: Ctx) {
          const round = context.df.getInput() as number;
          yield context.df.callActivity("poll", round);
          yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 1));
          if (round >= 30) return `finished after ${round} rounds`;
          context.df.continueAsNew(round + 1);
          return undefined;
        } as never,
      },
      activities: { poll: async (round) => round },
      onStatus: () => undefined,
    });
    const watch = setInterval(() => {
      void store.get("i1").then((s) => (largest = Math.max(largest, s?.history.length ?? 0)));
    }, 1);
    await h.start("loop", 1, "i1");

    const status = await h.waitForCompletion("i1");
    clearInterval(watch);

    expect(status).toMatchObject({ runtimeStatus: "Completed", output: "finished after 30 rounds" });
    expect((await store.get("i1"))!.history.length).toBeLessThan(20);
    expect(largest).toBeLessThan(20);
  });
});
