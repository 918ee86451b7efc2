import type { ContainerClient } from "@azure/storage-blob";

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

export class MemoryInstanceStore implements InstanceStore {
  private readonly items = new Map<string, string>();
  async get(instanceId: string) {
    const text = this.items.get(instanceId);
    return text === undefined ? undefined : (JSON.parse(text) as InstanceState);
  }
  async put(state: InstanceState, json?: string) {
    this.items.set(state.instanceId, json ?? JSON.stringify(state));
  }
  async list() {
    return [...this.items.values()].map((t) => JSON.parse(t) as InstanceState);
  }
}

/** Instances as JSON blobs (`instances/{id}.json`) in a container: Azurite locally. */
export class BlobInstanceStore implements InstanceStore {
  private ready?: Promise<unknown>;
  constructor(private readonly container: ContainerClient) {}

  private ensure() {
    this.ready ??= this.container.createIfNotExists();
    return this.ready;
  }

  private blob(instanceId: string) {
    return this.container.getBlockBlobClient(`instances/${encodeURIComponent(instanceId)}.json`);
  }

  async get(instanceId: string) {
    await this.ensure();
    try {
      // One GET: a parallel ranged download could stitch together two versions of a blob being replaced.
      const response = await this.blob(instanceId).download(0);
      const chunks: Buffer[] = [];
      for await (const chunk of response.readableStreamBody!) chunks.push(Buffer.from(chunk as Buffer));
      return JSON.parse(Buffer.concat(chunks).toString("utf8")) as InstanceState;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  async put(state: InstanceState, json?: string) {
    await this.ensure();
    const body = Buffer.from(json ?? JSON.stringify(state));
    await this.blob(state.instanceId).upload(body, body.length, { blobHTTPHeaders: { blobContentType: "application/json" } });
  }

  async list() {
    await this.ensure();
    const out: InstanceState[] = [];
    for await (const item of this.container.listBlobsFlat({ prefix: "instances/" })) {
      const id = decodeURIComponent(item.name.slice("instances/".length, -".json".length));
      const state = await this.get(id);
      if (state) out.push(state);
    }
    return out;
  }
}
