/**
 * The checks of run values read back from durable state and journals (src/core/run/parse.ts): every
 * output recorded from a real run reads back as itself, and a malformed value is refused with the path
 * of its bad field. Then where they are used: a run's view from its Durable instance, and the local
 * durable host's kept state and history.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parsePlanText, type Plan } from "../../src/core/plan/index.ts";
import { outlineOf, type RunInput, type RunOrchestrationInput, type RunOutput } from "../../src/core/run/model.ts";
import {
  checkRunInput,
  checkRunOrchestrationInput,
  checkRunOutput,
  MalformedValueError,
  parseRunInput,
  parseRunOrchestrationInput,
  parseRunOutput,
  requireValid,
} from "../../src/core/run/parse.ts";
import type * as df from "durable-functions";
import { instanceStateOf, LocalDurableHost } from "../../src/durable/durableHost.ts";
import { ActionType, EventType, replayActions } from "../../src/durable/extensionReplay.ts";
import { MemoryInstanceStore, type HistoryEvent, type InstanceState } from "../../src/durable/instanceStore.ts";
import { MemoryRunPlanStore } from "../../src/journal/runPlans.ts";
import { DurableRuns } from "../../src/runs/durableRuns.ts";
import { view } from "../../src/runs/localRuns.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { recordedRun, recordedRunNames } from "../helpers/recordedJournals.ts";

/** JSON in and out, as durable state and journals hand values back. */
const roundTrip = <T>(value: T): unknown => JSON.parse(JSON.stringify(value));

/** A copy of `value` with the field at `path` set to `to` (undefined: removed). */
function withField(value: unknown, path: readonly (string | number)[], to: unknown): unknown {
  const copy = roundTrip(value);
  let node: any = copy;
  for (const key of path.slice(0, -1)) node = node[key];
  const last = path[path.length - 1]!;
  if (to === undefined) delete node[last];
  else node[last] = to;
  return copy;
}

const outputs = recordedRunNames().map((name) => [name, recordedRun(name).output] as const);
const anOutput: RunOutput = outputs[0]![1];

describe("parseRunOutput", () => {
  it("has recorded outputs to check against, a failed step's detail among them", () => {
    expect(outputs.length).toBeGreaterThanOrEqual(6);
    expect(outputs.some(([, o]) => o.steps.some((s) => s.detail !== undefined))).toBe(true);
    expect(outputs.some(([, o]) => o.rtoSeconds === null)).toBe(true);
  });

  it.each(outputs)("reads the output recorded in %s as it is", (_name, output) => {
    expect(parseRunOutput(roundTrip(output))).toStrictEqual(output);
    expect(checkRunOutput(output)).toStrictEqual({ ok: true, value: output });
  });

  it("keeps only the fields a run output has", () => {
    const extra = { ...anOutput, note: "not part of a run output", steps: anOutput.steps.map((s) => ({ ...s, extra: 1 })) };
    expect(parseRunOutput(extra)).toStrictEqual(anOutput);
  });

  it.each([
    ["the value itself", null, [], ""],
    ["an array", [anOutput], [], ""],
    ["a missing runId", withField(anOutput, ["runId"], undefined), ["runId"], "runId"],
    ["a kind that is not one", withField(anOutput, ["kind"], "failsideways"), ["kind"], "kind"],
    ["an unknown outcome", withField(anOutput, ["outcome"], "finished"), ["outcome"], "outcome"],
    ["a numeric region", withField(anOutput, ["to"], 7), ["to"], "to"],
    ["steps that are not a list", withField(anOutput, ["steps"], {}), ["steps"], "steps"],
    ["a step that is not an object", withField(anOutput, ["steps", 1], "assess"), ["steps", 1], "steps[1]"],
    ["a step's bad outcome", withField(anOutput, ["steps", 2, "outcome"], "done"), ["steps", 2, "outcome"], "steps[2].outcome"],
    ["a step's missing end", withField(anOutput, ["steps", 0, "endedAt"], undefined), ["steps", 0, "endedAt"], "steps[0].endedAt"],
    ["a step's detail that is not text", withField(anOutput, ["steps", 0, "detail"], { code: 1 }), ["steps", 0, "detail"], "steps[0].detail"],
    ["an RTO given as text", withField(anOutput, ["rtoSeconds"], "25.3"), ["rtoSeconds"], "rtoSeconds"],
    ["a missing RTO target", withField(anOutput, ["rtoTargetSeconds"], undefined), ["rtoTargetSeconds"], "rtoTargetSeconds"],
    ["a null RPO budget", withField(anOutput, ["rpoBudgetSeconds"], null), ["rpoBudgetSeconds"], "rpoBudgetSeconds"],
    ["an unknown data-loss approver", withField(anOutput, ["dataLossAllowedBy"], "someone"), ["dataLossAllowedBy"], "dataLossAllowedBy"],
    ["a missing message", withField(anOutput, ["message"], undefined), ["message"], "message"],
  ])("refuses %s, naming its path", (_what, value, _path, expected) => {
    expect(parseRunOutput(value)).toBeUndefined();
    const result = checkRunOutput(value);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.path).toBe(expected);
  });

  it("refuses figures JSON cannot carry (NaN, Infinity)", () => {
    expect(checkRunOutput({ ...anOutput, rtoSeconds: Number.NaN })).toMatchObject({ ok: false, path: "rtoSeconds" });
    expect(checkRunOutput({ ...anOutput, rpoExposureSeconds: Number.POSITIVE_INFINITY })).toMatchObject({ ok: false, path: "rpoExposureSeconds" });
  });

  it("says what it found without quoting long text", () => {
    const result = checkRunOutput({ ...anOutput, outcome: "x".repeat(500) });
    expect(result).toMatchObject({ ok: false, path: "outcome" });
    if (!result.ok) {
      expect(result.problem).toContain('one of "completed"');
      expect(result.problem).toContain("a string of 500 characters");
    }
  });
});

describe("requireValid", () => {
  it("hands back a valid value", () => {
    expect(requireValid(checkRunOutput(anOutput), "the output")).toStrictEqual(anOutput);
  });

  it("throws a MalformedValueError naming what was read and the bad field's path", () => {
    const value = withField(anOutput, ["steps", 1, "outcome"], 3);
    expect(() => requireValid(checkRunOutput(value), "the output of instance switchyard-x")).toThrow(MalformedValueError);
    expect(() => requireValid(checkRunOutput(value), "the output of instance switchyard-x")).toThrow(
      "the output of instance switchyard-x is malformed at steps[1].outcome: expected one of \"ok\", \"failed\", \"skipped\", found 3",
    );
    expect(() => requireValid(checkRunOutput("text"), "the output")).toThrow("the output is malformed at its root: expected an object, found \"text\"");
  });
});

const plan: Plan = parsePlanText(readFileSync(new URL("../fixtures/tailspin.plan.json", import.meta.url), "utf8"), "tailspin.plan.json");
const input: RunInput = {
  runId: "tailspin-tickets.20260101T000000Z.failover-0a1b",
  kind: "failover",
  mode: "auto",
  plan,
  from: "westeurope",
  to: "northeurope",
  trigger: { source: "alert", by: "rule weu-down", reason: "westeurope probes fail", detectedAt: "2026-01-01T00:00:00.000Z" },
  options: { retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 }, approvalTimeoutSeconds: 60, timeScale: 3600 },
};

describe("parseRunInput", () => {
  it("reads a run input kept as JSON back as it was, its plan's parsed ARM ids included", () => {
    expect(plan.frontDoor.standard.length + plan.appService.length).toBeGreaterThan(0);
    expect(parseRunInput(roundTrip(input))).toStrictEqual(input);
    const { options: _options, ...bare } = input;
    expect(parseRunInput(roundTrip(bare))).toStrictEqual(bare);
  });

  it.each([
    ["a missing runId", ["runId"], undefined, "runId"],
    ["an unknown mode", ["mode"], "gentle", "mode"],
    ["an unknown trigger source", ["trigger", "source"], "pager", "trigger.source"],
    ["a trigger without its detection time", ["trigger", "detectedAt"], undefined, "trigger.detectedAt"],
    ["options that are not an object", ["options"], "fast", "options"],
    ["a retry count as text", ["options", "retry", "maxAttempts"], "3", "options.retry.maxAttempts"],
    ["a time scale as text", ["options", "timeScale"], "3600", "options.timeScale"],
    ["no plan", ["plan"], undefined, "plan"],
    ["a plan without a name", ["plan", "name"], undefined, "plan.name"],
    ["a plan with a bad objective", ["plan", "objectives", "rtoMinutes"], "soon", "plan.objectives.rtoMinutes"],
  ])("refuses %s, naming its path", (_what, path, to, expected) => {
    const value = withField(input, path, to);
    expect(parseRunInput(value)).toBeUndefined();
    expect(checkRunInput(value)).toMatchObject({ ok: false, path: expected });
  });

  it("refuses an outline where a whole plan belongs", () => {
    const result = checkRunInput({ ...input, plan: outlineOf(input.plan) });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.path).toMatch(/^plan/);
  });
});

describe("parseRunOrchestrationInput", () => {
  const durable: RunOrchestrationInput = { ...input, plan: outlineOf(input.plan) };

  it("reads what a run is started with (its plan as an outline) as it was", () => {
    expect(parseRunOrchestrationInput(roundTrip(durable))).toStrictEqual(durable);
  });

  it("keeps a version 1 run's whole plan whole", () => {
    const kept = roundTrip(input);
    expect(parseRunOrchestrationInput(kept)?.plan).toBe((kept as { plan: unknown }).plan);
  });

  it.each([
    ["a kind that is not one", ["kind"], "failsideways", "kind"],
    ["a region that is not text", ["from"], null, "from"],
    ["an outline without objectives", ["plan", "objectives"], undefined, "plan.objectives"],
    ["an approval timeout as text", ["plan", "autoFailover", "approvalTimeoutMinutes"], "30", "plan.autoFailover.approvalTimeoutMinutes"],
    ["storage that is not a list", ["plan", "storage"], {}, "plan.storage"],
    ["a classic Front Door without its id", ["plan", "frontDoor", "classic"], [{ frontDoor: {} }], "plan.frontDoor.classic[0].frontDoor.id"],
    ["a site region that is not text", ["plan", "appService"], [{ region: 1 }], "plan.appService[0].region"],
  ])("refuses %s, naming its path", (_what, path, to, expected) => {
    const value = withField(durable, path, to);
    expect(parseRunOrchestrationInput(value)).toBeUndefined();
    expect(checkRunOrchestrationInput(value)).toMatchObject({ ok: false, path: expected });
  });
});

// ---- where the checks are used -----------------------------------------------------------------------

describe("a run's view, from its instance as a Durable runtime hands it back", () => {
  const durable: RunOrchestrationInput = { ...input, plan: outlineOf(input.plan) };
  const recorded = { ...anOutput, runId: input.runId };

  /** DurableRuns over a Durable client that knows one instance, as Durable's status query returns it. */
  const durableRuns = (status: Record<string, unknown>) =>
    new DurableRuns({ getStatus: async (instanceId: string) => ({ instanceId, input: roundTrip(durable), ...status }) } as never, new MemoryRunPlanStore());

  it("shows a completed run's output, checked", async () => {
    const view = await durableRuns({ runtimeStatus: "Completed", output: roundTrip(recorded) }).get(plan.name);
    expect(view).toMatchObject({ runId: input.runId, status: "completed", kind: "failover", from: "westeurope", to: "northeurope", trigger: input.trigger });
    expect(view?.output).toStrictEqual(recorded);
    expect(view?.error).toBeUndefined();
  });

  it("shows the text Durable gives as a failed or terminated run's output as its error, not as a run output", async () => {
    const terminated = await durableRuns({ runtimeStatus: "Terminated", output: "an incident pre-empts this drill" }).get(plan.name);
    expect(terminated).toMatchObject({ status: "terminated", error: "an incident pre-empts this drill" });
    expect(terminated?.output).toBeUndefined();
    const failed = await durableRuns({ runtimeStatus: "Failed", output: "Orchestrator function 'failoverRunV2' failed: boom" }).get(plan.name);
    expect(failed).toMatchObject({ status: "failed", error: "Orchestrator function 'failoverRunV2' failed: boom" });
    const running = await durableRuns({ runtimeStatus: "Running", output: null }).get(plan.name);
    expect(running).not.toHaveProperty("output");
    expect(running).not.toHaveProperty("error");
  });

  it("refuses a completed run whose output is malformed, naming the instance and the field", async () => {
    const runs = durableRuns({ runtimeStatus: "Completed", output: withField(recorded, ["steps", 0, "outcome"], "fine") });
    await expect(runs.get(plan.name)).rejects.toThrow(MalformedValueError);
    await expect(runs.get(plan.name)).rejects.toThrow(`the output of instance switchyard-${plan.name} is malformed at steps[0].outcome: expected one of "ok", "failed", "skipped", found "fine"`);
  });

  it("refuses an input that is not a run's, naming the instance and the field", async () => {
    const runs = durableRuns({ runtimeStatus: "Running", input: withField(durable, ["trigger", "detectedAt"], 1767225600000) });
    await expect(runs.get(plan.name)).rejects.toThrow(`the input of instance switchyard-${plan.name} is malformed at trigger.detectedAt: expected a string, found 1767225600000`);
  });

  it("maps the local host's runtime statuses, and keeps its error", () => {
    const base = { instanceId: "i", name: "failoverRunV2", input: durable, createdTime: "t", lastUpdatedTime: "t" } as const;
    expect(view({ ...base, runtimeStatus: "Pending" }).status).toBe("pending");
    expect(view({ ...base, runtimeStatus: "Running" }).status).toBe("running");
    expect(view({ ...base, runtimeStatus: "Completed", output: recorded })).toMatchObject({ status: "completed", output: recorded });
    expect(view({ ...base, runtimeStatus: "Failed", error: "boom" })).toMatchObject({ status: "failed", error: "boom" });
    expect(view({ ...base, runtimeStatus: "Terminated", error: "pre-empted" })).toMatchObject({ status: "terminated", error: "pre-empted" });
  });
});

describe("a start over a last run that cannot be read back", () => {
  it("reserves as if the plan had no run, and leaves refusing a run in progress to the run port", async () => {
    const started: string[] = [];
    const inner = {
      get: async () => {
        throw new MalformedValueError("the output of instance switchyard-x", "steps", "expected an array, found nothing");
      },
      start: async (run: RunInput) => {
        started.push(run.runId);
        return { instanceId: "switchyard-x", runId: run.runId, status: "pending" as const, kind: run.kind, from: run.from, to: run.to };
      },
      approve: async () => undefined,
      terminate: async () => undefined,
    };
    const warnings: string[] = [];
    const log = { warn: (message: string) => warnings.push(message), info: () => undefined, error: () => undefined, debug: () => undefined };
    const runs = new ReservingRuns(inner, { store: new MemoryPlanStateStore(), clock: () => new Date("2026-01-01T00:00:00Z"), log: log as never });
    await runs.start(input);
    expect(started).toEqual([input.runId]);
    expect(warnings).toHaveLength(1);
  });
});

describe("the local durable host's state, read back", () => {
  function* addOnce(context: df.OrchestrationContext): Generator<df.Task, number, number> {
    return yield context.df.callActivity("add", context.df.getInput<number>());
  }
  const hostOn = (store: MemoryInstanceStore) => new LocalDurableHost({ store, orchestrations: { addOnce: addOnce as never }, activities: { add: async (n) => Number(n) + 1 } });

  async function finishedState(): Promise<InstanceState> {
    const store = new MemoryInstanceStore();
    const host = hostOn(store);
    await host.start("addOnce", 1, "i1");
    await host.waitForCompletion("i1");
    return (await store.get("i1"))!;
  }

  it("reads a kept instance back as it was", async () => {
    const state = await finishedState();
    expect(state.history.length).toBeGreaterThan(3);
    expect(instanceStateOf(roundTrip(state), "i1")).toStrictEqual(roundTrip(state));
  });

  it.each([
    ["a runtime status that is not one", ["runtimeStatus"], "Done", "runtimeStatus"],
    ["a history that is not a list", ["history"], {}, "history"],
    ["an event id as text", ["history", 1, "EventId"], "1", "history[1].EventId"],
    ["an event without its time", ["history", 0, "Timestamp"], undefined, "history[0].Timestamp"],
    ["a cancelled timer id as text", ["canceledTimers"], ["3"], "canceledTimers[0]"],
    ["an error that is not text", ["error"], { message: "boom" }, "error"],
    ["a parent without its task", ["parent"], { instanceId: "p" }, "parent.taskScheduledId"],
  ])("refuses %s, naming the instance and the field", async (_what, path, to, expected) => {
    const state = withField(await finishedState(), path, to);
    expect(() => instanceStateOf(state, "i1")).toThrow(MalformedValueError);
    expect(() => instanceStateOf(state, "i1")).toThrow(`the kept state of instance i1 is malformed at ${expected}: expected`);
  });

  it("fails a replay whose history has a result without its task id, naming the event", () => {
    const at = "2026-01-01T00:00:00.000Z";
    const history: HistoryEvent[] = [
      { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: true, Timestamp: at },
      { EventType: EventType.TaskScheduled, EventId: 0, IsPlayed: true, Timestamp: at, Name: "add", Input: "1" },
      { EventType: EventType.TaskCompleted, EventId: -1, IsPlayed: false, Timestamp: at, Result: "2" },
    ];
    const outcome = replayActions(history, [{ actionType: ActionType.CallActivity, functionName: "add", input: 1 }], { instanceId: "i1", maximumShortTimerMs: 1e9, longTimerIntervalMs: 1e8 });
    expect(outcome.error).toBe("history event -1 (TaskCompleted) is malformed at TaskScheduledId: expected a number");
  });

  it("refuses to resume an instance whose scheduled activity has no name, naming the event", async () => {
    const store = new MemoryInstanceStore();
    const at = "2026-01-01T00:00:00.000Z";
    await store.put({
      instanceId: "i2",
      name: "addOnce",
      input: 1,
      runtimeStatus: "Running",
      createdTime: at,
      lastUpdatedTime: at,
      history: [
        { EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: true, Timestamp: at },
        { EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: true, Timestamp: at, Name: "addOnce", Input: "1" },
        { EventType: EventType.TaskScheduled, EventId: 0, IsPlayed: true, Timestamp: at, Input: "1" },
      ],
      inbox: [],
      canceledTimers: [],
    });
    const host = hostOn(store);
    await expect(host.resume()).rejects.toThrow("history event 0 (TaskScheduled) is malformed at Name: expected a string");
    host.stop();
  });
});

describe("approvalOf: the approval event as a run reads it", () => {
  it("approves only on approve: true, and reads any other shape as an abort", async () => {
    const { approvalOf } = await import("../../src/core/run/model.ts");
    expect(approvalOf({ approve: true, by: "ops", reason: "go" })).toEqual({ approve: true, by: "ops", reason: "go" });
    for (const odd of [{ approve: "true", by: "ops", reason: "go" }, { approve: 1 }, null, "approve", [true], { by: 7 }]) {
      expect(approvalOf(odd).approve, JSON.stringify(odd)).toBe(false);
      expect(typeof approvalOf(odd).by).toBe("string");
      expect(typeof approvalOf(odd).reason).toBe("string");
    }
  });
});
