/**
 * The local durable host: runs Switchyard's orchestrations through the real durable-functions
 * orchestrator (it replays the history exactly as the Durable extension hands it over in Azure),
 * executes activities in-process, fires durable timers, takes external events, and persists every
 * instance's history, so a process that dies mid-run resumes its runs when started again.
 *
 * It implements the part of the Durable Task protocol Switchyard uses: activity calls, timers, external
 * events, and their combinations (Task.all / Task.any). It is a local stand-in for the Functions host,
 * not a production engine: in Azure, Durable Functions runs the same orchestrations.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import * as df from "durable-functions";
import { encodeEnvelope, toEnvelope } from "../core/errors.ts";
import { formatTimeSpan } from "./hostJson.ts";
import type { HistoryEvent, InstanceState, InstanceStore, RuntimeStatus } from "./instanceStore.ts";

const require = createRequire(import.meta.url);
// The orchestrator the durable-functions library itself uses to execute a generator against a history.
const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js") as {
  Orchestrator: new (fn: unknown) => { listen(): (trigger: unknown, context: unknown) => Promise<OrchestratorState> };
};

interface OrchestratorAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  compoundActions?: OrchestratorAction[];
}

interface OrchestratorState {
  isDone: boolean;
  actions: OrchestratorAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

const EventType = {
  ExecutionStarted: 0,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
} as const;

const ActionType = { CallActivity: 0, CallActivityWithRetry: 1, CreateTimer: 5, WaitForExternalEvent: 6, WhenAny: 11, WhenAll: 12 } as const;

/** Names of the durable-functions action types, for errors (durable-functions' ActionType enum). */
const ACTION_NAMES: Record<number, string> = {
  0: "callActivity",
  1: "callActivityWithRetry",
  2: "callSubOrchestrator",
  3: "callSubOrchestratorWithRetry",
  4: "continueAsNew",
  5: "createTimer",
  6: "waitForExternalEvent",
  7: "callEntity",
  8: "callHttp",
  9: "signalEntity",
  10: "callSubOrchestrator (schema v2)",
  11: "Task.any",
  12: "Task.all",
};

/** The Durable extension's limit on an orchestration's custom status (UTF-16 bytes of its JSON). */
const CUSTOM_STATUS_LIMIT_BYTES = 16 * 1024;

/** Node's largest timer delay (2^31−1 ms, about 24.8 days): longer ones are armed in parts. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

const SCHEDULING_EVENTS = new Set<number>([EventType.TaskScheduled, EventType.TimerCreated, EventType.SubOrchestrationInstanceCreated, EventType.EventSent]);

export type OrchestrationFunction = (context: df.OrchestrationContext) => Generator<unknown, unknown, unknown>;
export type ActivityFunction = (input: unknown) => Promise<unknown>;

export interface InstanceStatus {
  readonly instanceId: string;
  readonly name: string;
  readonly runtimeStatus: RuntimeStatus;
  readonly input: unknown;
  readonly customStatus?: unknown;
  readonly output?: unknown;
  readonly error?: string;
  readonly createdTime: string;
  readonly lastUpdatedTime: string;
}

export class InstanceRunningError extends Error {
  constructor(readonly instanceId: string, readonly existing: InstanceStatus) {
    super(`instance ${instanceId} is already ${existing.runtimeStatus.toLowerCase()}`);
    this.name = "InstanceRunningError";
  }
}

/** Where the host may be told to "crash" (tests): after an activity returned, before its result is kept. */
export type CrashPoint = { readonly afterActivity: string; readonly eventId: number };

export interface LocalDurableHostOptions {
  readonly store: InstanceStore;
  readonly orchestrations: Record<string, OrchestrationFunction>;
  readonly activities: Record<string, ActivityFunction>;
  readonly clock?: () => number;
  /** Called after every episode and status change (live progress). */
  readonly onStatus?: (status: InstanceStatus) => void;
  /** Return true to make the host stop dead at that point (crash simulation). */
  readonly crashAt?: (point: CrashPoint) => boolean;
  /**
   * The Functions host's `functionTimeout` as it applies here (host.json's, divided by the time scale):
   * an activity still running after it fails with the host's timeout error, and whatever it returns
   * later is dropped, as when the Functions host gives up on an invocation. Unset: no limit.
   */
  readonly activityTimeoutMs?: number;
  /** The unscaled functionTimeout the error message names (default: activityTimeoutMs). */
  readonly functionTimeoutMs?: number;
}

export class LocalDurableHost {
  private readonly handlers = new Map<string, (trigger: unknown, context: unknown) => Promise<OrchestratorState>>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly waiters = new Map<string, Set<(status: InstanceStatus) => void>>();
  private readonly inFlight = new Set<string>();
  /**
   * The state this host last kept (or read to change) of each instance, as JSON. Every change to an
   * instance goes through this host's `mutate`, so what it kept is what the store holds: reading it
   * back from here spares a download of the whole instance at every change. The store is read on a
   * miss (after a restart, or an instance this host never changed).
   */
  private readonly kept = new Map<string, string>();
  /** The status of each kept instance, made on the first query after it was kept (status polls are frequent). */
  private readonly keptStatus = new Map<string, InstanceStatus>();
  private readonly clock: () => number;
  private dead = false;
  private crashed?: CrashPoint;

  constructor(private readonly options: LocalDurableHostOptions) {
    this.clock = options.clock ?? Date.now;
    for (const [name, fn] of Object.entries(options.orchestrations)) this.handlers.set(name, new Orchestrator(fn).listen());
  }

  /** True once the host stopped at a crash point; it does nothing more. */
  get crashPoint(): CrashPoint | undefined {
    return this.crashed;
  }

  /** Starts an orchestration; refused while an instance with the same id is pending or running. */
  async start(name: string, input: unknown, instanceId: string): Promise<InstanceStatus> {
    if (!this.handlers.has(name)) throw new Error(`no orchestration named ${name}`);
    return this.mutate(instanceId, async () => {
      const existing = await this.load(instanceId);
      if (existing && (existing.runtimeStatus === "Running" || existing.runtimeStatus === "Pending")) {
        throw new InstanceRunningError(instanceId, statusOf(existing));
      }
      const now = this.iso();
      const state: InstanceState = {
        instanceId,
        name,
        input,
        runtimeStatus: "Pending",
        createdTime: now,
        lastUpdatedTime: now,
        history: [],
        inbox: [{ EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: now, Name: name, Input: JSON.stringify(input ?? null) }],
        canceledTimers: [],
        executionId: randomUUID(),
      };
      await this.keep(state);
      this.schedule(instanceId);
      return statusOf(state);
    });
  }

  async raiseEvent(instanceId: string, eventName: string, data: unknown): Promise<void> {
    await this.mutate(instanceId, async () => {
      const state = await this.load(instanceId);
      if (!state) throw new Error(`no instance ${instanceId}`);
      // The Durable client accepts an event for an instance that has finished (the 410 it gets is not
      // surfaced): the event is dropped. Callers learn the outcome from the instance's status.
      if (state.runtimeStatus !== "Running" && state.runtimeStatus !== "Pending") return;
      state.inbox.push({ EventType: EventType.EventRaised, EventId: -1, IsPlayed: false, Timestamp: this.iso(), Name: eventName, Input: JSON.stringify(data ?? null) });
      await this.keep(state);
      this.schedule(instanceId);
    });
  }

  async getStatus(instanceId: string): Promise<InstanceStatus | undefined> {
    const kept = this.kept.get(instanceId);
    if (kept !== undefined) {
      let status = this.keptStatus.get(instanceId);
      if (!status) this.keptStatus.set(instanceId, (status = statusOf(JSON.parse(kept) as InstanceState)));
      return status;
    }
    // Not remembered on a miss: an instance this host does not change may be changing elsewhere.
    const state = await this.options.store.get(instanceId);
    return state ? statusOf(state) : undefined;
  }

  /** Resolves when the instance completes, fails or is terminated. */
  async waitForCompletion(instanceId: string): Promise<InstanceStatus> {
    const current = await this.getStatus(instanceId);
    if (current && isFinal(current.runtimeStatus)) return current;
    return new Promise((resolve) => {
      const set = this.waiters.get(instanceId) ?? new Set();
      set.add(resolve);
      this.waiters.set(instanceId, set);
    });
  }

  /**
   * Ends a pending or running instance now (Durable's terminate): it records the reason, stops its
   * timers, and drops the results of its activities still in flight. No-op for a finished instance.
   */
  async terminate(instanceId: string, reason: string): Promise<InstanceStatus | undefined> {
    return this.mutate(instanceId, async () => {
      const state = await this.load(instanceId);
      if (!state || isFinal(state.runtimeStatus)) return state ? statusOf(state) : undefined;
      state.runtimeStatus = "Terminated";
      state.error = reason;
      state.lastUpdatedTime = this.iso();
      for (const key of [...this.timers.keys()].filter((k) => k.startsWith(`${instanceId}#`))) this.clearTimer(instanceId, Number(key.split("#")[1]));
      await this.keep(state);
      this.announce(state);
      return statusOf(state);
    });
  }

  /** Picks up every instance the store holds as pending or running (after a restart). */
  async resume(): Promise<string[]> {
    const resumed: string[] = [];
    for (const state of await this.options.store.list()) {
      if (state.runtimeStatus !== "Running" && state.runtimeStatus !== "Pending") continue;
      resumed.push(state.instanceId);
      await this.mutate(state.instanceId, async () => {
        const fresh = (await this.load(state.instanceId))!;
        this.restartWork(fresh);
      });
      this.schedule(state.instanceId);
    }
    return resumed;
  }

  /** Stops timers; in-flight activities finish but their results are dropped (as in a shutdown). */
  stop(): void {
    this.dead = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  // ---- engine --------------------------------------------------------------------------------

  private iso(): string {
    return new Date(this.clock()).toISOString();
  }

  /** The instance as this host last kept it, else as the store holds it. A fresh copy: callers change it. */
  private async load(instanceId: string): Promise<InstanceState | undefined> {
    const kept = this.kept.get(instanceId);
    if (kept !== undefined) return JSON.parse(kept) as InstanceState;
    const state = await this.options.store.get(instanceId);
    if (state) this.remember(instanceId, JSON.stringify(state));
    return state;
  }

  /** Writes the instance to the store, then remembers it (only once the store has it). */
  private async keep(state: InstanceState): Promise<void> {
    const text = JSON.stringify(state);
    await this.options.store.put(state, text);
    this.remember(state.instanceId, text);
  }

  private remember(instanceId: string, json: string): void {
    this.kept.set(instanceId, json);
    this.keptStatus.delete(instanceId);
  }

  /** Serialises every change to one instance. */
  private mutate<T>(instanceId: string, change: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(instanceId) ?? Promise.resolve();
    const next = previous.then(() => (this.dead ? Promise.reject(new Error("the host has stopped")) : change()));
    this.queues.set(instanceId, next.then(() => undefined, () => undefined));
    return next;
  }

  private schedule(instanceId: string): void {
    void this.mutate(instanceId, () => this.episode(instanceId)).catch(() => undefined);
  }

  /**
   * One orchestrator execution over the whole history plus what arrived since the last one. `loaded`:
   * the instance as the caller (inside `mutate`) just loaded and changed it, not yet kept.
   */
  private async episode(instanceId: string, loaded?: InstanceState): Promise<void> {
    const state = loaded ?? (await this.load(instanceId));
    if (!state || state.inbox.length === 0 || isFinal(state.runtimeStatus)) return;
    const handler = this.handlers.get(state.name)!;
    for (const event of state.history) event.IsPlayed = true;
    const now = this.iso();
    state.history.push({ EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: now }, ...state.inbox);
    state.inbox = [];
    state.runtimeStatus = "Running";

    let result: OrchestratorState;
    try {
      const context = new df.DummyOrchestrationContext(state.name, `${instanceId}:${state.history.length}`, () => undefined);
      result = await handler(
        orchestratorTrigger(structuredClone(state.history), state.input, instanceId),
        context,
      );
    } catch (error) {
      const failure = error as { message?: string; state?: OrchestratorState };
      state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
      state.runtimeStatus = "Failed";
      state.error = failure.state?.error ?? failure.message ?? String(error);
      state.customStatus = failure.state?.customStatus ?? state.customStatus;
      state.lastUpdatedTime = now;
      await this.keep(state);
      this.announce(state);
      return;
    }

    const scheduled = state.history.filter((e) => SCHEDULING_EVENTS.has(e.EventType)).length;
    const actions = flatten(result.actions.flat()).filter((a) => a.actionType !== ActionType.WaitForExternalEvent);
    const toRun: { eventId: number; name: string; input: unknown }[] = [];
    const toArm: { eventId: number; fireAt: string }[] = [];
    actions.forEach((action, position) => {
      if (action.actionType === ActionType.CreateTimer && action.isCanceled && position < scheduled && !state.canceledTimers.includes(position)) {
        state.canceledTimers.push(position);
        this.clearTimer(instanceId, position);
      }
    });
    // An action this host cannot carry out fails the instance at once, naming it, rather than leaving
    // the instance waiting for something that never comes.
    const unsupported = actions.slice(scheduled).find((a) => a.actionType !== ActionType.CallActivity && a.actionType !== ActionType.CreateTimer);
    // The Durable extension refuses a custom status whose JSON is over 16 KB (UTF-16), failing the orchestration.
    const statusSize = result.customStatus === undefined ? 0 : JSON.stringify(result.customStatus).length * 2;
    if (unsupported || statusSize > CUSTOM_STATUS_LIMIT_BYTES) {
      state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
      state.runtimeStatus = "Failed";
      state.error = unsupported
        ? `the local durable host does not support ${ACTION_NAMES[unsupported.actionType] ?? `action type ${unsupported.actionType}`}: the orchestration cannot run here`
        : `The UTF-16 size of the JSON-serialized custom status (${statusSize} bytes) must not exceed ${CUSTOM_STATUS_LIMIT_BYTES / 1024} KB.`;
      state.lastUpdatedTime = now;
      await this.keep(state);
      this.announce(state);
      return;
    }
    actions.slice(scheduled).forEach((action, i) => {
      const eventId = scheduled + i;
      switch (action.actionType) {
        case ActionType.CallActivity:
          state.history.push({ EventType: EventType.TaskScheduled, EventId: eventId, IsPlayed: false, Timestamp: now, Name: action.functionName, Input: JSON.stringify(action.input ?? null) });
          toRun.push({ eventId, name: action.functionName!, input: action.input });
          break;
        case ActionType.CreateTimer:
          state.history.push({ EventType: EventType.TimerCreated, EventId: eventId, IsPlayed: false, Timestamp: now, FireAt: action.fireAt });
          if (action.isCanceled) state.canceledTimers.push(eventId);
          else toArm.push({ eventId, fireAt: action.fireAt! });
          break;
      }
    });
    state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
    state.customStatus = result.customStatus;
    state.lastUpdatedTime = now;
    if (result.isDone) {
      state.runtimeStatus = "Completed";
      state.output = result.output;
      for (const id of [...this.timers.keys()].filter((k) => k.startsWith(`${instanceId}#`))) this.clearTimer(instanceId, Number(id.split("#")[1]));
    }
    // Kept before any activity starts: a crash from here on re-runs the activities (at least once).
    await this.keep(state);
    this.announce(state);
    if (result.isDone) return;
    for (const work of toRun) this.runActivity(instanceId, work.eventId, work.name, work.input, state.executionId);
    for (const timer of toArm) this.armTimer(instanceId, timer.eventId, timer.fireAt);
  }

  /** After a restart: re-run activities with no result and re-arm timers that have not fired. */
  private restartWork(state: InstanceState): void {
    const settled = new Set<number>();
    for (const e of [...state.history, ...state.inbox]) {
      if (e.EventType === EventType.TaskCompleted || e.EventType === EventType.TaskFailed) settled.add(e.TaskScheduledId as number);
      if (e.EventType === EventType.TimerFired) settled.add(e.TimerId as number);
    }
    for (const e of state.history) {
      if (settled.has(e.EventId)) continue;
      if (e.EventType === EventType.TaskScheduled) this.runActivity(state.instanceId, e.EventId, e.Name as string, JSON.parse(e.Input as string), state.executionId);
      if (e.EventType === EventType.TimerCreated && !state.canceledTimers.includes(e.EventId)) this.armTimer(state.instanceId, e.EventId, e.FireAt as string);
    }
  }

  private runActivity(instanceId: string, eventId: number, name: string, input: unknown, executionId: string | undefined): void {
    const key = `${instanceId}/${executionId ?? ""}@${eventId}`;
    if (this.inFlight.has(key)) return;
    this.inFlight.add(key);
    const activity = this.options.activities[name];
    // Inputs cross the Durable boundary as JSON, as in Azure: an activity never shares an object with
    // the orchestrator or a sibling, and a Date arrives as a string.
    const started = activity ? Promise.resolve().then(() => activity(JSON.parse(JSON.stringify(input ?? null)))) : Promise.reject(new Error(`no activity named ${name}`));
    const run = this.withTimeout(name, started);
    void run
      .then(
        (value) => ({ EventType: EventType.TaskCompleted, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TaskScheduledId: eventId, Result: JSON.stringify(value ?? null) }),
        (error) => ({ EventType: EventType.TaskFailed, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TaskScheduledId: eventId, Reason: encodeEnvelope(toEnvelope(error)), Details: "" }),
      )
      .then((event: HistoryEvent) => {
        this.inFlight.delete(key);
        if (this.dead) return;
        if (this.options.crashAt?.({ afterActivity: name, eventId })) {
          this.crashed = { afterActivity: name, eventId };
          this.stop();
          this.announceCrash(instanceId);
          return;
        }
        // The result is kept by the episode it starts, in one write of the instance: a crash before that
        // write loses it, and the activity runs again on resume (activities run at least once anyway).
        void this.mutate(instanceId, async () => {
          const state = await this.load(instanceId);
          // A result of another execution (one terminated while this activity ran) is not this one's.
          if (!state || isFinal(state.runtimeStatus) || state.executionId !== executionId) return;
          state.inbox.push(event);
          await this.episode(instanceId, state);
        }).catch(() => undefined);
      });
  }

  /**
   * The Functions host's limit on one invocation: past `functionTimeout` it fails the invocation with a
   * FunctionTimeoutException ("Timeout value of hh:mm:ss was exceeded by function: Functions.<name>")
   * and the orchestration sees the activity failed; nothing it produces afterwards is kept.
   */
  private withTimeout(name: string, run: Promise<unknown>): Promise<unknown> {
    const limit = this.options.activityTimeoutMs;
    if (limit === undefined || !Number.isFinite(limit)) return run;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const named = formatTimeSpan(this.options.functionTimeoutMs ?? limit);
        reject(Object.assign(new Error(`Timeout value of ${named} was exceeded by function: Functions.${name}`), { name: "FunctionTimeoutException" }));
      }, limit);
      timer.unref?.();
    });
    run.catch(() => undefined);
    return Promise.race([run, timeout]).finally(() => clearTimeout(timer));
  }

  private armTimer(instanceId: string, eventId: number, fireAt: string): void {
    const key = `${instanceId}#${eventId}`;
    if (this.timers.has(key) || this.dead) return;
    const delay = Math.max(0, Date.parse(fireAt) - this.clock());
    if (delay > MAX_TIMER_DELAY_MS) {
      // Node fires a longer delay at once: wait the longest it allows, then arm the rest.
      const part = setTimeout(() => {
        this.timers.delete(key);
        this.armTimer(instanceId, eventId, fireAt);
      }, MAX_TIMER_DELAY_MS);
      part.unref?.();
      this.timers.set(key, part);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (this.dead) return;
      void this.mutate(instanceId, async () => {
        const state = await this.load(instanceId);
        if (!state || isFinal(state.runtimeStatus) || state.canceledTimers.includes(eventId)) return;
        state.inbox.push({ EventType: EventType.TimerFired, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TimerId: eventId, FireAt: fireAt });
        await this.keep(state);
      })
        .then(() => this.schedule(instanceId))
        .catch(() => undefined);
    }, delay);
    timer.unref?.();
    this.timers.set(key, timer);
  }

  private clearTimer(instanceId: string, eventId: number): void {
    const key = `${instanceId}#${eventId}`;
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }

  private announce(state: InstanceState): void {
    const status = statusOf(state);
    this.options.onStatus?.(status);
    if (!isFinal(state.runtimeStatus)) return;
    const waiters = this.waiters.get(state.instanceId);
    this.waiters.delete(state.instanceId);
    for (const resolve of waiters ?? []) resolve(status);
  }

  private announceCrash(instanceId: string): void {
    const waiters = this.waiters.get(instanceId);
    this.waiters.delete(instanceId);
    for (const resolve of waiters ?? []) {
      resolve({ instanceId, name: "", runtimeStatus: "Running", input: undefined, createdTime: "", lastUpdatedTime: "", error: "the host crashed (simulated)" });
    }
  }
}

/**
 * What the Durable extension hands an orchestrator: the history, the input, and the replay settings
 * (schema V4: compound actions for Task.all / Task.any).
 */
export function orchestratorTrigger(history: readonly unknown[], input: unknown, instanceId: string) {
  return {
    history,
    input,
    instanceId,
    isReplaying: false,
    parentInstanceId: "",
    upperSchemaVersion: 3,
    longRunningTimerIntervalDuration: "3.00:00:00",
    maximumShortTimerDuration: "6.00:00:00",
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
}

function flatten(actions: OrchestratorAction[]): OrchestratorAction[] {
  return actions.flatMap((a) => (a.compoundActions ? flatten(a.compoundActions) : [a]));
}

function isFinal(status: RuntimeStatus): boolean {
  return status === "Completed" || status === "Failed" || status === "Terminated";
}

function statusOf(state: InstanceState): InstanceStatus {
  return {
    instanceId: state.instanceId,
    name: state.name,
    runtimeStatus: state.runtimeStatus,
    input: state.input,
    createdTime: state.createdTime,
    lastUpdatedTime: state.lastUpdatedTime,
    ...(state.customStatus !== undefined ? { customStatus: state.customStatus } : {}),
    ...(state.output !== undefined ? { output: state.output } : {}),
    ...(state.error !== undefined ? { error: state.error } : {}),
  };
}
