/**
 * The Durable extension's half of an orchestration episode, for the local durable host.
 *
 * In Azure a JavaScript orchestrator does not schedule anything itself: it returns the list of actions
 * it yielded (one per `yield`, schema V3), and the extension's out-of-proc shim replays that list
 * through the Durable Task Framework (DTFx), one top-level action at a time, awaiting each before it
 * invokes the next (OutOfProcOrchestrationShim.ProcessAsyncActionsV2). DTFx gives every activity, timer
 * and sub-orchestration a sequence number in the order it is invoked; on replay each scheduling event
 * of the history must meet an action with the same number, type and name, or the orchestration fails
 * with a NonDeterministicOrchestrationException (DTFx TaskOrchestrationContext.HandleTaskScheduledEvent
 * and its siblings). Retries (`callActivityWithRetry`, `callSubOrchestratorWithRetry`) run on the
 * extension's side (DTFx RetryInterceptor: a timer between attempts, and an immediate timer after the
 * last failed one), and so do timers longer than the backend's maximum (split into intervals).
 *
 * `replayActions` does the same walk over a history and the orchestrator's actions: it checks every
 * recorded scheduling event against what the current code asks for, and returns the scheduling events
 * that are new in this episode (activities to run, timers to arm, sub-orchestrations to start), or the
 * runtime's non-determinism error. It is pure: no clock but the history's own timestamps.
 */
import { MalformedValueError } from "../core/run/parse.ts";
import type { HistoryEvent } from "./instanceStore.ts";

export const EventType = {
  ExecutionStarted: 0,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
} as const;

const EVENT_NAMES: Record<number, string> = Object.fromEntries(Object.entries(EventType).map(([name, type]) => [type, name]));

/** How an event is named in errors: its id and type. */
function eventLabel(event: HistoryEvent): string {
  return `history event ${event.EventId} (${EVENT_NAMES[event.EventType] ?? `type ${event.EventType}`})`;
}

/**
 * A field of a history event that must be a number (a task's or a timer's id). Events are read back
 * from storage: a missing or mistyped field fails here, naming the event and the field.
 */
export function eventNumber(event: HistoryEvent, field: string): number {
  const value = event[field];
  if (typeof value === "number") return value;
  throw new MalformedValueError(eventLabel(event), field, "expected a number");
}

/** A field of a history event that must be text (a name, a JSON input, a time), checked as eventNumber is. */
export function eventString(event: HistoryEvent, field: string): string {
  const value = event[field];
  if (typeof value === "string") return value;
  throw new MalformedValueError(eventLabel(event), field, "expected a string");
}

/** A field of a history event that holds JSON text (an input, a result), parsed; checked as eventNumber is. */
export function eventJson(event: HistoryEvent, field: string): unknown {
  const text = eventString(event, field);
  try {
    const value: unknown = JSON.parse(text);
    return value;
  } catch {
    throw new MalformedValueError(eventLabel(event), field, "expected JSON text");
  }
}

/** durable-functions' ActionType numbers. */
export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  WhenAny: 11,
  WhenAll: 12,
} as const;

/** Names of the durable-functions action types, for errors. */
export const ACTION_NAMES: Record<number, string> = {
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
  11: "Task.any",
  12: "Task.all",
  13: "lock",
  14: "lock release",
};

export interface RetryOptionsAction {
  readonly firstRetryIntervalInMilliseconds: number;
  readonly maxNumberOfAttempts: number;
  readonly backoffCoefficient?: number;
  readonly maxRetryIntervalInMilliseconds?: number;
  readonly retryTimeoutInMilliseconds?: number;
}

export interface OrchestratorAction {
  readonly actionType: number;
  readonly functionName?: string;
  readonly input?: unknown;
  readonly instanceId?: string;
  readonly fireAt?: string | Date;
  readonly isCanceled?: boolean;
  readonly externalEventName?: string;
  readonly retryOptions?: RetryOptionsAction;
  readonly compoundActions?: readonly OrchestratorAction[];
}

export interface ReplaySettings {
  /** The instance being replayed (names sub-orchestrations that have no instance id of their own). */
  readonly instanceId: string;
  /** Timers longer than this are split (the backend's maximum timer; sent to the worker too). */
  readonly maximumShortTimerMs: number;
  /** The length of each part of a split timer. */
  readonly longTimerIntervalMs: number;
  /** The extension's maxOrchestrationActions (default 100,000): more actions fail the orchestration. */
  readonly maxActions?: number;
}

/** A scheduling event this episode adds, with what the host must do for it. */
export type NewWork =
  | { readonly kind: "activity"; readonly event: HistoryEvent; readonly name: string; readonly input: unknown }
  | { readonly kind: "timer"; readonly event: HistoryEvent; readonly fireAt: string }
  | { readonly kind: "suborchestration"; readonly event: HistoryEvent; readonly name: string; readonly instanceId: string; readonly input: unknown };

export interface ReplayOutcome {
  readonly work: NewWork[];
  /** Timer ids the orchestrator cancelled (never armed, or disarmed). */
  readonly canceledTimers: number[];
  /** Set when the orchestrator asked to continue as new (the input of the next execution). */
  readonly continueAsNew?: { readonly input: unknown };
  /** The runtime's failure for this episode: non-determinism, or too many actions. */
  readonly error?: string;
}

const DEFAULT_MAX_ACTIONS = 100_000;

class NonDeterminism extends Error {}

interface Node {
  done: boolean;
  /** Called by a child when it completes. */
  onChild?: (child: Node) => void;
  parent?: Node;
}

/**
 * Walks the history against the actions as the extension and DTFx do, and returns what is new.
 * `history` holds every event of the execution, this episode's new ones included (after its
 * OrchestratorStarted). `actions`: the orchestrator's top-level actions in order (schema V3).
 */
export function replayActions(history: readonly HistoryEvent[], actions: readonly OrchestratorAction[], settings: ReplaySettings): ReplayOutcome {
  const recorded = new Map<number, HistoryEvent>();
  for (const e of history) if (isScheduling(e.EventType)) recorded.set(e.EventId, e);
  const work: NewWork[] = [];
  const canceledTimers: number[] = [];
  const open = new Map<number, (event: HistoryEvent) => void>();
  const waiting = new Map<string, Array<(event: HistoryEvent) => void>>();
  const buffered = new Map<string, HistoryEvent[]>();
  let sequence = 0;
  let now = firstStartTime(history);
  let continueAsNew: { input: unknown } | undefined;
  const maxActions = settings.maxActions ?? DEFAULT_MAX_ACTIONS;

  const complete = (node: Node) => {
    if (node.done) return;
    node.done = true;
    node.parent?.onChild?.(node);
  };

  /** Gives the next sequence number to a scheduling call and checks it against the history. */
  const allocate = (kind: "activity" | "timer" | "suborchestration", name: string | undefined, make: (id: number, at: string) => NewWork): number => {
    const id = sequence++;
    if (sequence > maxActions) throw new Error(`Maximum amount of orchestration actions (${maxActions}) has been reached. This value can be configured in host.json file as MaxOrchestrationActions.`);
    const past = recorded.get(id);
    if (past) {
      checkSame(past, kind, name);
      recorded.delete(id);
    } else {
      work.push(make(id, iso(now)));
    }
    return id;
  };

  const activity = (name: string, input: unknown, onResult: (event: HistoryEvent) => void) => {
    const id = allocate("activity", name, (eventId, at) => ({
      kind: "activity",
      name,
      input,
      event: { EventType: EventType.TaskScheduled, EventId: eventId, IsPlayed: false, Timestamp: at, Name: name, Input: JSON.stringify(input ?? null) },
    }));
    open.set(id, onResult);
  };

  const subOrchestration = (name: string, instanceId: string | undefined, input: unknown, onResult: (event: HistoryEvent) => void) => {
    const id = allocate("suborchestration", name, (eventId, at) => {
      const child = instanceId || `${settings.instanceId}:${eventId}`;
      return {
        kind: "suborchestration",
        name,
        instanceId: child,
        input,
        event: { EventType: EventType.SubOrchestrationInstanceCreated, EventId: eventId, IsPlayed: false, Timestamp: at, Name: name, InstanceId: child, Input: JSON.stringify(input ?? null) },
      };
    });
    open.set(id, onResult);
  };

  /** A durable timer; one longer than the backend's maximum becomes a chain of shorter ones. */
  const timer = (fireAtMs: number, canceled: boolean, onFired: () => void) => {
    const next = fireAtMs - now > settings.maximumShortTimerMs ? now + settings.longTimerIntervalMs : fireAtMs;
    const id = allocate("timer", undefined, (eventId, at) => ({
      kind: "timer",
      fireAt: iso(next),
      event: { EventType: EventType.TimerCreated, EventId: eventId, IsPlayed: false, Timestamp: at, FireAt: iso(next) },
    }));
    if (canceled) {
      canceledTimers.push(id);
      onFired();
      return;
    }
    open.set(id, () => (next >= fireAtMs ? onFired() : timer(fireAtMs, false, onFired)));
  };

  const retrying = (node: Node, options: RetryOptionsAction, attemptOnce: (onResult: (event: HistoryEvent) => void) => void) => {
    const firstAttempt = now;
    let attempt = 1;
    const run = () =>
      attemptOnce((event) => {
        if (event.EventType === EventType.TaskCompleted || event.EventType === EventType.SubOrchestrationInstanceCompleted) return complete(node);
        if (attempt >= options.maxNumberOfAttempts) {
          // DTFx schedules one more timer, due at once, after the last failed attempt (kept for replay compatibility).
          return timer(now, false, () => complete(node));
        }
        const delay = nextRetryDelay(options, attempt - 1, firstAttempt, now);
        if (delay <= 0) return complete(node);
        timer(now + delay, false, () => {
          attempt += 1;
          run();
        });
      });
    run();
  };

  const invoke = (action: OrchestratorAction, parent?: Node): Node => {
    const node: Node = { done: false, ...(parent ? { parent } : {}) };
    switch (action.actionType) {
      case ActionType.CallActivity:
        activity(action.functionName!, fromWorker(action.input), () => complete(node));
        break;
      case ActionType.CallActivityWithRetry:
        retrying(node, action.retryOptions!, (onResult) => activity(action.functionName!, fromWorker(action.input), onResult));
        break;
      case ActionType.CallSubOrchestrator:
        subOrchestration(action.functionName!, action.instanceId, action.input, () => complete(node));
        break;
      case ActionType.CallSubOrchestratorWithRetry:
        retrying(node, action.retryOptions!, (onResult) => subOrchestration(action.functionName!, action.instanceId, action.input, onResult));
        break;
      case ActionType.CreateTimer:
        timer(Date.parse(String(action.fireAt instanceof Date ? action.fireAt.toISOString() : action.fireAt)), action.isCanceled === true, () => complete(node));
        break;
      case ActionType.WaitForExternalEvent: {
        const name = (action.externalEventName ?? "").toLowerCase();
        const early = buffered.get(name);
        if (early?.length) {
          early.shift();
          complete(node);
        } else {
          const list = waiting.get(name) ?? [];
          list.push(() => complete(node));
          waiting.set(name, list);
        }
        break;
      }
      case ActionType.ContinueAsNew:
        continueAsNew = { input: fromWorker(action.input) };
        complete(node);
        break;
      case ActionType.WhenAll:
      case ActionType.WhenAny: {
        const children = action.compoundActions ?? [];
        const any = action.actionType === ActionType.WhenAny;
        let left = children.length;
        node.onChild = () => {
          left -= 1;
          if (any || left === 0) complete(node);
        };
        for (const child of children) invoke(child, node);
        if (children.length === 0) complete(node);
        break;
      }
      default:
        throw new Error(`the local durable host does not support ${ACTION_NAMES[action.actionType] ?? `action type ${action.actionType}`}: the orchestration cannot run here`);
    }
    return node;
  };

  const deliver = (event: HistoryEvent) => {
    switch (event.EventType) {
      case EventType.OrchestratorStarted:
        now = Math.max(now, Date.parse(event.Timestamp));
        return;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed:
      case EventType.TimerFired: {
        const key = event.EventType === EventType.TimerFired ? eventNumber(event, "TimerId") : eventNumber(event, "TaskScheduledId");
        const handler = open.get(key);
        // A result for a task already settled or never opened is a duplicate: DTFx logs and ignores it.
        if (!handler) return;
        open.delete(key);
        handler(event);
        return;
      }
      case EventType.EventRaised: {
        const name = String(event.Name ?? "").toLowerCase();
        const list = waiting.get(name);
        if (list?.length) list.shift()!(event);
        else buffered.set(name, [...(buffered.get(name) ?? []), event]);
        return;
      }
    }
  };

  try {
    let index = 0;
    let current: Node | undefined;
    const advance = () => {
      while (continueAsNew === undefined && index < actions.length && (!current || current.done)) current = invoke(actions[index++]!);
    };
    advance();
    for (const event of history) {
      deliver(event);
      advance();
    }
    const missing = [...recorded.values()].sort((a, b) => a.EventId - b.EventId)[0];
    if (missing) throw new NonDeterminism(notScheduled(missing));
  } catch (error) {
    const message = error instanceof NonDeterminism ? `Non-Deterministic workflow detected: ${error.message}` : error instanceof Error ? error.message : String(error);
    return { work: [], canceledTimers: [], error: message };
  }
  return { work, canceledTimers, ...(continueAsNew ? { continueAsNew } : {}) };
}

/**
 * durable-functions sends a string input of an activity or of continue-as-new as JSON text (its
 * `processInput`), which the extension passes on as that JSON: the callee receives the string itself.
 */
function fromWorker(input: unknown): unknown {
  if (typeof input !== "string") return input;
  const parsed: unknown = JSON.parse(input);
  return parsed;
}

/** DTFx RetryInterceptor's delay before attempt `retryCount + 2` (0: give up now). */
export function nextRetryDelay(options: RetryOptionsAction, retryCount: number, firstAttemptMs: number, nowMs: number): number {
  const timeout = options.retryTimeoutInMilliseconds;
  if (timeout !== undefined && timeout > 0 && nowMs >= firstAttemptMs + timeout) return 0;
  const delay = options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, retryCount);
  const cap = options.maxRetryIntervalInMilliseconds;
  return cap !== undefined && cap > 0 && delay > cap ? cap : delay;
}

function isScheduling(type: number): boolean {
  return type === EventType.TaskScheduled || type === EventType.TimerCreated || type === EventType.SubOrchestrationInstanceCreated || type === EventType.EventSent;
}

const KIND_OF_EVENT: Record<number, "activity" | "timer" | "suborchestration" | "event"> = {
  [EventType.TaskScheduled]: "activity",
  [EventType.TimerCreated]: "timer",
  [EventType.SubOrchestrationInstanceCreated]: "suborchestration",
  [EventType.EventSent]: "event",
};

const DTFX_ACTION_NAMES = { activity: "ScheduleTaskOrchestratorAction", timer: "CreateTimerOrchestratorAction", suborchestration: "CreateSubOrchestrationAction" } as const;

/** DTFx's checks of a recorded scheduling event against the action now at its sequence number. */
function checkSame(past: HistoryEvent, kind: "activity" | "timer" | "suborchestration", name: string | undefined): void {
  const pastKind = KIND_OF_EVENT[past.EventType];
  const id = past.EventId;
  const tail = "Was a change made to the orchestrator code after this instance had already started running?";
  if (pastKind !== kind) {
    const what = pastKind === "activity" ? `an activity task with sequence number ${id} named '${String(past.Name)}'` : pastKind === "timer" ? `a timer task with sequence number ${id}` : `a sub-orchestration task with sequence ID ${id} and name '${String(past.Name)}'`;
    throw new NonDeterminism(`A previous execution of this orchestration scheduled ${what}, but the current orchestration replay instead produced a ${DTFX_ACTION_NAMES[kind]} action with this sequence number. ${tail}`);
  }
  if (kind !== "timer" && String(past.Name).toLowerCase() !== String(name).toLowerCase()) {
    const what = kind === "activity" ? "an activity task" : "a sub-orchestration task";
    throw new NonDeterminism(`A previous execution of this orchestration scheduled ${what} with sequence number ${id} named '${String(past.Name)}', but the current orchestration replay instead scheduled ${what} named '${String(name)}' with this sequence number. ${tail}`);
  }
}

function notScheduled(past: HistoryEvent): string {
  const kind = KIND_OF_EVENT[past.EventType];
  const what =
    kind === "activity"
      ? `an activity task with sequence ID ${past.EventId} and name '${String(past.Name)}'`
      : kind === "timer"
        ? `a timer task with sequence number ${past.EventId}`
        : kind === "suborchestration"
          ? `a sub-orchestration task with sequence ID ${past.EventId} and name '${String(past.Name)}' (instance ID '${String(past.InstanceId)}')`
          : `a send event task with sequence ID ${past.EventId}`;
  return `A previous execution of this orchestration scheduled ${what}, but the current replay execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator code after this instance had already started running?`;
}

function firstStartTime(history: readonly HistoryEvent[]): number {
  const started = history.find((e) => e.EventType === EventType.OrchestratorStarted);
  return started ? Date.parse(started.Timestamp) : 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
