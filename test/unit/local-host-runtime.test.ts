import * as df from "durable-functions";
import { describe, expect, it } from "vitest";
import { LocalDurableHost } from "../../src/local/durableHost.ts";
import { MemoryInstanceStore } from "../../src/local/instanceStore.ts";

/*
 * The local durable host behaves as the Durable Functions runtime does where it matters to Switchyard:
 * each test drives a tiny orchestration through the real durable-functions orchestrator.
 */

type Ctx = df.OrchestrationContext;

function hostWith(orchestration: (context: Ctx) => Generator<unknown, unknown, any>, activities: Record<string, (input: unknown) => Promise<unknown>> = {}) {
  return new LocalDurableHost({ store: new MemoryInstanceStore(), orchestrations: { o: orchestration as never }, activities });
}

const settle = (ms = 80) => new Promise((resolve) => setTimeout(resolve, ms));

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
      yield context.df.callSubOrchestrator("child", null);
      return "unreachable";
    });
    await h.start("o", null, "i1");

    const status = await h.waitForCompletion("i1");

    expect(status.runtimeStatus).toBe("Failed");
    expect(status.error).toMatch(/does not support callSubOrchestrator/);
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
    // fires before its time); waited for, it is created once and has not fired.
    expect(created).toHaveLength(1);
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
    await settle(30);
    await h.terminate("i1", "pre-empted");
    await h.start("o", null, "i1");
    await settle(30);
    release();

    const status = await h.waitForCompletion("i1");

    expect(status.output).toBe("from this execution");
    expect(calls).toBe(2);
  });
});
