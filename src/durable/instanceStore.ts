import type { ContainerClient } from "@azure/storage-blob";
import { budgetOptions, readBody } from "../azure/budget.ts";
import { statusCodeOf } from "../azure/restErrors.ts";
import { isObject } from "../core/guards.ts";

/** One entry of an orchestration's history, in the shape the Durable extension hands to the orchestrator. */
export interface HistoryEvent {
  EventType: number;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  [field: string]: unknown;
}

export type RuntimeStatus = "Pending" | "Running" | "Completed" | "Failed" | "Terminated";

/** Everything the local host keeps about one orchestration instance. */
export interface InstanceState {
  instanceId: string;
  name: string;
  input: unknown;
  runtimeStatus: RuntimeStatus;
  createdTime: string;
  lastUpdatedTime: string;
  customStatus?: unknown;
  output?: unknown;
  error?: string;
  history: HistoryEvent[];
  /** Events that arrived since the last episode (completions, fired timers, raised events). */
  inbox: HistoryEvent[];
  /** Timer event ids the orchestrator cancelled (never fired on resume). */
  canceledTimers: number[];
  /**
   * This execution of the instance id (a new one per start): results of another execution's activities,
   * still running when it was terminated, are dropped, as the runtime drops events of other executions.
   */
  executionId?: string;
  /** Set on a sub-orchestration: the instance (and its execution) waiting for it, and the task it answers. */
  parent?: { instanceId: string; executionId?: string; taskScheduledId: number };
}

export interface InstanceStore {
  get(instanceId: string): Promise<InstanceState | undefined>;
  /** `json`: `JSON.stringify(state)` when the caller already made it (it is not made twice). */
  put(state: InstanceState, json?: string): Promise<void>;
  list(): Promise<InstanceState[]>;
}

const RUNTIME_STATUSES: readonly unknown[] = ["Pending", "Running", "Completed", "Failed", "Terminated"];

function isHistoryEvent(value: unknown): value is HistoryEvent {
  return isObject(value) && typeof value.EventType === "number" && typeof value.EventId === "number" && typeof value.IsPlayed === "boolean" && typeof value.Timestamp === "string";
}

function isParent(value: unknown): boolean {
  return isObject(value) && typeof value.instanceId === "string" && typeof value.taskScheduledId === "number" && optionalString(value.executionId);
}

const optionalString = (value: unknown) => value === undefined || typeof value === "string";
const isEvents = (value: unknown) => Array.isArray(value) && value.every(isHistoryEvent);

/** What keeps a stored document from being an instance's state (undefined: nothing). */
function problemOf(value: unknown): string | undefined {
  if (!isObject(value)) return "not a JSON object";
  for (const key of ["instanceId", "name", "createdTime", "lastUpdatedTime"]) if (typeof value[key] !== "string") return `no ${key}`;
  if (!RUNTIME_STATUSES.includes(value.runtimeStatus)) return `runtimeStatus '${String(value.runtimeStatus)}' is not a runtime status`;
  if (!isEvents(value.history) || !isEvents(value.inbox)) return "history or inbox is not a list of history events";
  if (!Array.isArray(value.canceledTimers) || !value.canceledTimers.every((id) => typeof id === "number")) return "canceledTimers is not a list of event ids";
  if (!optionalString(value.error) || !optionalString(value.executionId)) return "error or executionId is not a string";
  if (value.parent !== undefined && !isParent(value.parent)) return "parent does not name an instance and a task";
  return undefined;
}

function isInstanceState(value: unknown): value is InstanceState {
  return problemOf(value) === undefined;
}

/** A stored document back as an instance's state; `where` names what held it, for the error when it is not one. */
function readInstance(text: string, where: string): InstanceState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (isInstanceState(value)) return value;
  throw new Error(`${where} is not an orchestration instance's state: ${problemOf(value)}`);
}

export class MemoryInstanceStore implements InstanceStore {
  private readonly items = new Map<string, string>();
  async get(instanceId: string) {
    const text = this.items.get(instanceId);
    return text === undefined ? undefined : readInstance(text, `the stored instance ${instanceId}`);
  }
  async put(state: InstanceState, json?: string) {
    this.items.set(state.instanceId, json ?? JSON.stringify(state));
  }
  async list() {
    return [...this.items].map(([id, text]) => readInstance(text, `the stored instance ${id}`));
  }
}

/**
 * Instances as JSON blobs (`instances/{id}.json`) in a container: Azurite locally. Each request (and
 * the reading of a downloaded body) carries the time budget of the work that makes it, if it has one.
 */
export class BlobInstanceStore implements InstanceStore {
  private created = false;
  constructor(private readonly container: ContainerClient) {}

  /** Creates the container until a create has succeeded (each caller under its own budget; a failed create is tried again). */
  private async ensure(): Promise<void> {
    if (this.created) return;
    await this.container.createIfNotExists(budgetOptions());
    this.created = true;
  }

  private blob(instanceId: string) {
    return this.container.getBlockBlobClient(`instances/${encodeURIComponent(instanceId)}.json`);
  }

  async get(instanceId: string) {
    await this.ensure();
    const blob = this.blob(instanceId);
    let body: Buffer;
    try {
      // One GET: a parallel ranged download could stitch together two versions of a blob being replaced.
      const response = await blob.download(0, undefined, budgetOptions());
      body = await readBody(response.readableStreamBody);
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
    return readInstance(body.toString("utf8"), `blob ${blob.name} in container ${this.container.containerName}`);
  }

  async put(state: InstanceState, json?: string) {
    await this.ensure();
    const body = Buffer.from(json ?? JSON.stringify(state));
    await this.blob(state.instanceId).upload(body, body.length, { blobHTTPHeaders: { blobContentType: "application/json" }, ...budgetOptions() });
  }

  async list() {
    await this.ensure();
    const out: InstanceState[] = [];
    for await (const item of this.container.listBlobsFlat({ prefix: "instances/", ...budgetOptions() })) {
      const id = decodeURIComponent(item.name.slice("instances/".length, -".json".length));
      const state = await this.get(id);
      if (state) out.push(state);
    }
    return out;
  }
}
