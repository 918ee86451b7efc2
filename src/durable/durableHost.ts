/**
 * The local durable host: runs Switchyard's orchestrations through the real durable-functions
 * orchestrator (it replays the history exactly as the Durable extension hands it over in Azure),
 * executes activities in-process, fires durable timers, takes external events, and persists every
 * instance's history, so a process that dies mid-run resumes its runs when started again.
 *
 * It plays the extension's part of each episode (src/durable/extensionReplay.ts): activity calls with and
 * without retries, timers (long ones split), external events, sub-orchestrations, continue-as-new, and
 * their combinations (Task.all / Task.any), with the runtime's non-determinism check on replay. It is a
 * local stand-in for the Functions host, not a production engine: in Azure, Durable Functions runs the
 * same orchestrations.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import * as df from "durable-functions";
import { encodeEnvelope, toEnvelope } from "../core/errors.ts";
import { isObject } from "../core/guards.ts";
import { MalformedValueError } from "../core/run/parse.ts";
import { formatTimeSpan } from "./hostJson.ts";
import { eventJson, eventNumber, eventString, EventType, replayActions, type OrchestratorAction } from "./extensionReplay.ts";
import type { HistoryEvent, InstanceState, InstanceStore, RuntimeStatus } from "./instanceStore.ts";

const require = createRequire(import.meta.url);
// The orchestrator the durable-functions library itself uses to execute a generator against a history.
const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js") as {
  Orchestrator: new (fn: unknown) => { listen(): (trigger: unknown, context: unknown) => Promise<OrchestratorState> };
};

interface OrchestratorState {
  isDone: boolean;
  actions: OrchestratorAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
}

/** The Durable extension's limit on an orchestration's custom status (UTF-16 bytes of its JSON). */
const CUSTOM_STATUS_LIMIT_BYTES = 16 * 1024;

/**
 * The Azure Storage backend's longest single durable timer and the step a longer one advances by
 * (the extension's MaximumShortTimerDuration and LongRunningTimerIntervalDuration for Azure Storage).
 */
const MAXIMUM_SHORT_TIMER_MS = 6 * 86_400_000;
const LONG_TIMER_INTERVAL_MS = 3 * 86_400_000;

/** Where durable-functions puts the orchestrator's state in the error it throws (OrchestrationFailureError). */
const OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:";

/** Node's largest timer delay (2^31−1 ms, about 24.8 days): longer ones are armed in parts. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** An orchestration as durable-functions registers it. */
export type OrchestrationFunction = df.OrchestrationHandler;
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
  /**
   * How long a message to an idle instance (a terminate) waits before the instance takes it up. With
   * the Azure Storage backend an idle task hub polls its control queues at up to
   * maxQueuePollingInterval (30 s by default); local apps pass that divided by their time scale.
   * Default 0: taken up on the next turn of the event loop, never within the terminate call.
   */
  readonly controlQueueDelayMs?: number;
}

export class LocalDurableHost {
  private readonly handlers = new Map<string, (trigger: unknown, context: unknown) => Promise<OrchestratorState>>();
  private readonly queues = new Map<string, Promise<void>>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly waiters = new Map<string, Set<(status: InstanceStatus) => void>>();
  private readonly inFlight = new Set<string>();
  /** Events waiting for their instance's next episode (see `deliver`). */
  private readonly arrived = new Map<string, { executionId: string | undefined; event: HistoryEvent; accept?: (state: InstanceState) => boolean }[]>();
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
      const state = this.fresh(instanceId, name, input);
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
      if (!status) this.keptStatus.set(instanceId, (status = statusOf(instanceStateOf(JSON.parse(kept), instanceId))));
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
   * Asks a pending or running instance to end (Durable's terminate): like the Durable client, it returns
   * once the request is queued, with the instance still running; the host applies it in the instance's
   * next episode (recording the reason, stopping its timers, dropping results of activities in flight).
   * No-op for a finished instance.
   */
  async terminate(instanceId: string, reason: string): Promise<InstanceStatus | undefined> {
    return this.mutate(instanceId, async () => {
      const state = await this.load(instanceId);
      if (!state || isFinal(state.runtimeStatus)) return state ? statusOf(state) : undefined;
      state.inbox.push({ EventType: EventType.ExecutionTerminated, EventId: -1, IsPlayed: false, Timestamp: this.iso(), Input: JSON.stringify(reason) });
      await this.keep(state);
      const pickUp = setTimeout(() => this.schedule(instanceId), this.options.controlQueueDelayMs ?? 0);
      pickUp.unref?.();
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
    if (kept !== undefined) return instanceStateOf(JSON.parse(kept), instanceId);
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
    const now = this.iso();
    for (const event of state.history) event.IsPlayed = true;

    // A termination waits in the queue like any other message and ends the instance when the runtime
    // next takes the instance up (DTFx HandleExecutionTerminatedEvent): the client's terminate call has
    // returned long before, and until then the instance reads as running.
    const terminated = state.inbox.find((e) => e.EventType === EventType.ExecutionTerminated);
    if (terminated) {
      state.history.push({ EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: now }, terminated, { EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
      state.inbox = [];
      return this.finish(state, "Terminated", { error: terminationReason(terminated) });
    }

    const handler = this.handlers.get(state.name)!;
    state.history.push({ EventType: EventType.OrchestratorStarted, EventId: -1, IsPlayed: false, Timestamp: now }, ...state.inbox);
    state.inbox = [];
    state.runtimeStatus = "Running";

    let result: OrchestratorState;
    try {
      const context = new df.DummyOrchestrationContext(state.name, `${instanceId}:${state.history.length}`, () => undefined);
      result = await handler(orchestratorTrigger(structuredClone(state.history), state.input, instanceId, state.parent?.instanceId), context);
    } catch (error) {
      // durable-functions throws the orchestrator's state after a label; the extension reads the error
      // from it and fails the instance with "Orchestrator function '<name>' failed: <error>".
      const text = error instanceof Error ? error.message : String(error);
      const at = text.indexOf(OUT_OF_PROC_LABEL);
      const thrown = at >= 0 ? failureState(text.slice(at + OUT_OF_PROC_LABEL.length)) : undefined;
      state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
      if (thrown?.customStatus !== undefined) state.customStatus = thrown.customStatus;
      return this.finish(state, "Failed", { error: `Orchestrator function '${state.name}' failed: ${thrown?.error ?? text}` });
    }

    // The extension's side: replay the actions against the history (non-determinism check) and take
    // what is new in this episode.
    const replay = replayActions(state.history, result.actions.flat(), {
      instanceId,
      maximumShortTimerMs: MAXIMUM_SHORT_TIMER_MS,
      longTimerIntervalMs: LONG_TIMER_INTERVAL_MS,
    });
    // The Durable extension refuses a custom status whose JSON is over 16 KB (UTF-16), failing the orchestration.
    const statusSize = result.customStatus === undefined ? 0 : JSON.stringify(result.customStatus).length * 2;
    if (replay.error || statusSize > CUSTOM_STATUS_LIMIT_BYTES) {
      state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
      return this.finish(state, "Failed", {
        error: replay.error ?? `The UTF-16 size of the JSON-serialized custom status (${statusSize} bytes) must not exceed ${CUSTOM_STATUS_LIMIT_BYTES / 1024} KB.`,
      });
    }
    for (const id of replay.canceledTimers) {
      if (!state.canceledTimers.includes(id)) state.canceledTimers.push(id);
      this.clearTimer(instanceId, id);
    }
    for (const work of replay.work) state.history.push({ ...work.event, Timestamp: now });
    state.history.push({ EventType: EventType.OrchestratorCompleted, EventId: -1, IsPlayed: false, Timestamp: now });
    state.customStatus = result.customStatus;
    state.lastUpdatedTime = now;

    if (replay.continueAsNew) {
      // A new execution of the same instance id, starting from a fresh history with the new input; the
      // old execution's activities and timers still in flight are not delivered to it.
      this.clearTimers(instanceId);
      state.input = replay.continueAsNew.input;
      state.history = [];
      state.canceledTimers = [];
      state.executionId = randomUUID();
      state.inbox = [{ EventType: EventType.ExecutionStarted, EventId: -1, IsPlayed: false, Timestamp: now, Name: state.name, Input: JSON.stringify(replay.continueAsNew.input ?? null) }];
      await this.keep(state);
      this.announce(state);
      this.schedule(instanceId);
      return;
    }
    if (result.isDone) return this.finish(state, "Completed", { output: result.output });

    // Kept before any work starts: a crash from here on re-runs the activities (at least once).
    await this.keep(state);
    this.announce(state);
    for (const work of replay.work) {
      if (work.kind === "activity") this.runActivity(instanceId, work.event.EventId, work.name, work.input, state.executionId);
      else if (work.kind === "timer") {
        if (!state.canceledTimers.includes(work.event.EventId)) this.armTimer(instanceId, work.event.EventId, work.fireAt, state.executionId);
      } else this.startChild(state, work.event.EventId, work.name, work.instanceId, work.input);
    }
  }

  /** Ends an instance (kept, announced) and tells its parent, if it is a sub-orchestration. */
  private async finish(state: InstanceState, status: "Completed" | "Failed" | "Terminated", end: { output?: unknown; error?: string }): Promise<void> {
    state.runtimeStatus = status;
    if (end.output !== undefined) state.output = end.output;
    if (end.error !== undefined) state.error = end.error;
    state.lastUpdatedTime = this.iso();
    this.clearTimers(state.instanceId);
    await this.keep(state);
    this.announce(state);
    if (state.parent) this.tellParent(state);
  }

  /**
   * A sub-orchestration's end reaches its parent as SubOrchestrationInstanceCompleted, or Failed (for a
   * failure or a termination), addressed to the parent's execution that started it.
   */
  private tellParent(child: InstanceState): void {
    const parent = child.parent!;
    const event: HistoryEvent =
      child.runtimeStatus === "Completed"
        ? { EventType: EventType.SubOrchestrationInstanceCompleted, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TaskScheduledId: parent.taskScheduledId, Result: JSON.stringify(child.output ?? null) }
        : { EventType: EventType.SubOrchestrationInstanceFailed, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TaskScheduledId: parent.taskScheduledId, Reason: child.error ?? `sub-orchestration ${child.instanceId} ${child.runtimeStatus.toLowerCase()}`, Details: "" };
    const settled = (state: InstanceState) =>
      [...state.history, ...state.inbox].some((e) => (e.EventType === EventType.SubOrchestrationInstanceCompleted || e.EventType === EventType.SubOrchestrationInstanceFailed) && e.TaskScheduledId === parent.taskScheduledId);
    this.deliver(parent.instanceId, parent.executionId, event, (state) => !settled(state));
  }

  /** Creates a sub-orchestration's instance (once: a restart that finds it created leaves it be). */
  private startChild(parent: InstanceState, taskScheduledId: number, name: string, instanceId: string, input: unknown): void {
    const link = { instanceId: parent.instanceId, ...(parent.executionId ? { executionId: parent.executionId } : {}), taskScheduledId };
    void this.mutate(instanceId, async () => {
      const existing = await this.load(instanceId);
      if (existing && existing.parent?.instanceId === link.instanceId && existing.parent.executionId === link.executionId && existing.parent.taskScheduledId === taskScheduledId) {
        if (isFinal(existing.runtimeStatus)) this.tellParent(existing);
        return;
      }
      if (!this.handlers.has(name) || (existing && !isFinal(existing.runtimeStatus))) {
        const reason = !this.handlers.has(name) ? `The function '${name}' doesn't exist, is disabled, or is not an orchestrator function.` : `An orchestration instance with ID '${instanceId}' is already ${existing!.runtimeStatus.toLowerCase()}.`;
        this.tellParent({ ...(existing ?? this.fresh(instanceId, name, input)), instanceId, runtimeStatus: "Failed", error: reason, parent: link });
        return;
      }
      const state = { ...this.fresh(instanceId, name, input), parent: link };
      await this.keep(state);
      this.schedule(instanceId);
    }).catch(() => undefined);
  }

  private fresh(instanceId: string, name: string, input: unknown): InstanceState {
    const now = this.iso();
    return {
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
  }

  /** After a restart: re-run activities with no result, re-arm timers that have not fired, and settle sub-orchestrations. */
  private restartWork(state: InstanceState): void {
    const settled = new Set<number>();
    for (const e of [...state.history, ...state.inbox]) {
      if (e.EventType === EventType.TaskCompleted || e.EventType === EventType.TaskFailed) settled.add(eventNumber(e, "TaskScheduledId"));
      if (e.EventType === EventType.SubOrchestrationInstanceCompleted || e.EventType === EventType.SubOrchestrationInstanceFailed) settled.add(eventNumber(e, "TaskScheduledId"));
      if (e.EventType === EventType.TimerFired) settled.add(eventNumber(e, "TimerId"));
    }
    for (const e of state.history) {
      if (settled.has(e.EventId)) continue;
      if (e.EventType === EventType.TaskScheduled) this.runActivity(state.instanceId, e.EventId, eventString(e, "Name"), eventJson(e, "Input"), state.executionId);
      if (e.EventType === EventType.TimerCreated && !state.canceledTimers.includes(e.EventId)) this.armTimer(state.instanceId, e.EventId, eventString(e, "FireAt"), state.executionId);
      if (e.EventType === EventType.SubOrchestrationInstanceCreated) this.startChild(state, e.EventId, eventString(e, "Name"), eventString(e, "InstanceId"), eventJson(e, "Input"));
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
        // A result of another execution (one terminated while this activity ran) is not this one's.
        this.deliver(instanceId, executionId, event);
      });
  }

  /**
   * Hands an event (an activity's result, a fired timer, a sub-orchestration's end) to the instance's
   * execution `executionId`: events that arrive while the instance is busy wait and are taken together
   * by its next episode, as the runtime takes a batch of messages from the queue. Nothing is kept
   * before that episode: a crash loses the events, and a restart re-runs their activities and re-arms
   * their timers. `accept`: a last check against the instance as loaded (e.g. a timer since cancelled).
   */
  private deliver(instanceId: string, executionId: string | undefined, event: HistoryEvent, accept?: (state: InstanceState) => boolean): void {
    const queued = this.arrived.get(instanceId);
    const item = { executionId, event, ...(accept ? { accept } : {}) };
    if (queued) {
      queued.push(item);
      return;
    }
    this.arrived.set(instanceId, [item]);
    void this.mutate(instanceId, async () => {
      const batch = this.arrived.get(instanceId) ?? [];
      this.arrived.delete(instanceId);
      const state = await this.load(instanceId);
      if (!state || isFinal(state.runtimeStatus)) return;
      const taken = batch.filter((b) => b.executionId === state.executionId && (b.accept?.(state) ?? true));
      if (taken.length === 0) return;
      state.inbox.push(...taken.map((b) => b.event));
      await this.episode(instanceId, state);
    }).catch(() => undefined);
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

  private armTimer(instanceId: string, eventId: number, fireAt: string, executionId: string | undefined): void {
    const key = `${instanceId}#${eventId}`;
    if (this.timers.has(key) || this.dead) return;
    const delay = Math.max(0, Date.parse(fireAt) - this.clock());
    if (delay > MAX_TIMER_DELAY_MS) {
      // Node fires a longer delay at once: wait the longest it allows, then arm the rest.
      const part = setTimeout(() => {
        this.timers.delete(key);
        this.armTimer(instanceId, eventId, fireAt, executionId);
      }, MAX_TIMER_DELAY_MS);
      part.unref?.();
      this.timers.set(key, part);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (this.dead) return;
      // A timer of another execution (one that ended or continued as new) is not this one's.
      this.deliver(instanceId, executionId, { EventType: EventType.TimerFired, EventId: -1, IsPlayed: false, Timestamp: this.iso(), TimerId: eventId, FireAt: fireAt }, (state) => !state.canceledTimers.includes(eventId));
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

  private clearTimers(instanceId: string): void {
    for (const key of [...this.timers.keys()].filter((k) => k.startsWith(`${instanceId}#`))) this.clearTimer(instanceId, Number(key.slice(instanceId.length + 1)));
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
 * What the Durable extension hands an orchestrator: the history, the input, and the replay settings.
 * The extension announces out-of-proc schema V2 as `upperSchemaVersion` and V3 as `upperSchemaVersionNew`
 * (OrchestrationTriggerAttributeBindingProvider); durable-functions takes the newer, so orchestrators
 * run with schema V3 (compound actions for Task.all / Task.any, long timers split by the worker).
 */
export function orchestratorTrigger(history: readonly unknown[], input: unknown, instanceId: string, parentInstanceId = "") {
  return {
    history,
    input,
    instanceId,
    isReplaying: false,
    parentInstanceId,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: 2,
    longRunningTimerIntervalDuration: formatDuration(LONG_TIMER_INTERVAL_MS),
    maximumShortTimerDuration: formatDuration(MAXIMUM_SHORT_TIMER_MS),
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
}

/** A .NET TimeSpan string (d.hh:mm:ss) for a whole number of seconds. */
function formatDuration(ms: number): string {
  const total = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${Math.floor(total / 86_400)}.${pad(Math.floor((total % 86_400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}

/**
 * The reason a terminate call gave (JSON text in the termination event). The instance ends terminated
 * whatever the event holds: a reason that cannot be read is said to be so, not left to stop the end.
 */
function terminationReason(event: HistoryEvent): string {
  const text = event.Input;
  if (typeof text !== "string") return "terminated (the reason could not be read)";
  try {
    const reason: unknown = JSON.parse(text);
    return typeof reason === "string" ? reason : text;
  } catch {
    return text;
  }
}

/**
 * What durable-functions put after its label in the error an orchestrator threw: the orchestrator's
 * error and custom status, when they are there (anything else reads as nothing, and the whole error
 * text is the failure).
 */
function failureState(text: string): { error?: string; customStatus?: unknown } | undefined {
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(state)) return undefined;
  return { ...(typeof state.error === "string" ? { error: state.error } : {}), ...(state.customStatus !== undefined ? { customStatus: state.customStatus } : {}) };
}

const RUNTIME_STATUSES: readonly RuntimeStatus[] = ["Pending", "Running", "Completed", "Failed", "Terminated"];

/**
 * An instance as this host kept it (JSON text), checked field by field: a field of the wrong type
 * fails here, naming the instance and the field's path, instead of as a TypeError in an episode.
 * History events are checked for the fields every event has; the fields of each kind are checked
 * where they are read (eventNumber, eventString, eventJson).
 */
export function instanceStateOf(value: unknown, instanceId: string): InstanceState {
  const what = `the kept state of instance ${instanceId}`;
  const fail = (path: string, expected: string): never => {
    throw new MalformedValueError(what, path, `expected ${expected}`);
  };
  if (!isObject(value)) return fail("", "an object");
  const text = (key: string): string => {
    const field = value[key];
    return typeof field === "string" ? field : fail(key, "a string");
  };
  const optionalText = (record: Record<string, unknown>, key: string, path: string): string | undefined => {
    const field = record[key];
    return field === undefined ? undefined : typeof field === "string" ? field : fail(path, "a string");
  };
  const events = (key: string): HistoryEvent[] => {
    const list = value[key];
    if (!Array.isArray(list)) return fail(key, "an array");
    return list.map((event: unknown, i): HistoryEvent => {
      const path = `${key}[${i}]`;
      if (!isObject(event)) return fail(path, "an object");
      const { EventType: type, EventId: id, IsPlayed: played, Timestamp: at } = event;
      if (typeof type !== "number") return fail(`${path}.EventType`, "a number");
      if (typeof id !== "number") return fail(`${path}.EventId`, "a number");
      if (typeof played !== "boolean") return fail(`${path}.IsPlayed`, "a boolean");
      if (typeof at !== "string") return fail(`${path}.Timestamp`, "a string");
      return { ...event, EventType: type, EventId: id, IsPlayed: played, Timestamp: at };
    });
  };
  const parentOf = (): InstanceState["parent"] => {
    const parent = value.parent;
    if (parent === undefined) return undefined;
    if (!isObject(parent)) return fail("parent", "an object");
    const instanceId = typeof parent.instanceId === "string" ? parent.instanceId : fail("parent.instanceId", "a string");
    const taskScheduledId = typeof parent.taskScheduledId === "number" ? parent.taskScheduledId : fail("parent.taskScheduledId", "a number");
    const executionId = optionalText(parent, "executionId", "parent.executionId");
    return { instanceId, ...(executionId !== undefined ? { executionId } : {}), taskScheduledId };
  };
  const runtimeStatus = RUNTIME_STATUSES.find((s) => s === value.runtimeStatus) ?? fail("runtimeStatus", `one of ${RUNTIME_STATUSES.join(", ")}`);
  const canceled = value.canceledTimers;
  if (!Array.isArray(canceled)) return fail("canceledTimers", "an array");
  const canceledTimers = canceled.map((id: unknown, i) => (typeof id === "number" ? id : fail(`canceledTimers[${i}]`, "a number")));
  const error = optionalText(value, "error", "error");
  const executionId = optionalText(value, "executionId", "executionId");
  const parent = parentOf();
  return {
    instanceId: text("instanceId"),
    name: text("name"),
    input: value.input,
    runtimeStatus,
    createdTime: text("createdTime"),
    lastUpdatedTime: text("lastUpdatedTime"),
    ...(value.customStatus !== undefined ? { customStatus: value.customStatus } : {}),
    ...(value.output !== undefined ? { output: value.output } : {}),
    ...(error !== undefined ? { error } : {}),
    history: events("history"),
    inbox: events("inbox"),
    canceledTimers,
    ...(executionId !== undefined ? { executionId } : {}),
    ...(parent ? { parent } : {}),
  };
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
