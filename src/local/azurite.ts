import { mkdir } from "node:fs/promises";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Azurite's published development account (the same for every Azurite install). */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteBlob {
  readonly blobEndpoint: string;
  readonly connectionString: string;
  stop(): Promise<void>;
}

export interface AzuriteBlobOptions {
  /**
   * Keep blobs on disk in this folder (Azurite's own on-disk mode: its metadata databases and blob
   * extents), so that a new Azurite on the same folder serves them again. Absent: in memory.
   */
  readonly location?: string;
}

/*
 * The parts of Azurite's blob server used here. The `azurite` package ships its compiled JavaScript
 * without type declarations: these interfaces describe what this file calls.
 */
interface LokiDatabase {
  saveDatabase(callback: (error?: unknown) => void): void;
}
interface AzuriteBlobServer {
  readonly httpServer: Server;
  /** Blob, container and block metadata (LokiJS). */
  readonly metadataStore: { readonly db: LokiDatabase };
  /** Where each blob extent's bytes are (LokiJS). */
  readonly extentMetadataStore: { readonly db: LokiDatabase };
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
}
interface AzuriteModules {
  BlobServer: new (configuration: unknown) => AzuriteBlobServer;
  BlobConfiguration: new (...args: unknown[]) => unknown;
  MemoryExtentChunkStore: new (sizeLimit?: number) => unknown;
  DEFAULT_EXTENT_MEMORY_LIMIT: number;
}

function azuriteModules(): AzuriteModules {
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve("azurite/package.json")), "dist", "src");
  const memory = require(join(dist, "common", "persistence", "MemoryExtentStore.js"));
  return {
    BlobServer: require(join(dist, "blob", "BlobServer.js")).default,
    BlobConfiguration: require(join(dist, "blob", "BlobConfiguration.js")).default,
    MemoryExtentChunkStore: memory.MemoryExtentChunkStore,
    DEFAULT_EXTENT_MEMORY_LIMIT: memory.DEFAULT_EXTENT_MEMORY_LIMIT,
  };
}

/**
 * Starts Azurite's blob service (from the `azurite` npm package) in this process, on a free loopback
 * port, and resolves once it listens. In this process, it ends with it (even on SIGKILL): no emulator
 * outlives the app that started it.
 *
 * On disk, Azurite keeps its metadata in LokiJS databases that it saves every 5 seconds; a process
 * killed in between would lose blob writes Azure Storage had acknowledged. Here a write is answered
 * only once both databases are saved (LokiJS writes a temporary file and renames it), so an
 * acknowledged write survives a kill, as it does in Azure. The blob bytes are in extent files written
 * before the answer.
 */
export async function startAzuriteBlob(options: AzuriteBlobOptions = {}): Promise<AzuriteBlob> {
  const azurite = azuriteModules();
  const location = options.location;
  if (location !== undefined) await mkdir(join(location, "__blobstorage__"), { recursive: true });
  const configuration = new azurite.BlobConfiguration(
    "127.0.0.1",
    0,
    undefined, // keep-alive timeout: Azurite's default
    location ? join(location, "__azurite_db_blob__.json") : undefined,
    location ? join(location, "__azurite_db_blob_extent__.json") : undefined,
    location ? [{ locationId: "Default", locationPath: join(location, "__blobstorage__"), maxConcurrency: 1 }] : undefined,
    false, // access log
    undefined,
    false, // debug log
    undefined,
    true, // loose
    true, // skipApiVersionCheck
    "",
    "",
    "",
    undefined, // oauth
    false, // disableProductStyleUrl
    location === undefined, // in memory
    // Each in-memory Azurite its own chunk store (Azurite's default is one shared by the process).
    location === undefined ? new azurite.MemoryExtentChunkStore(azurite.DEFAULT_EXTENT_MEMORY_LIMIT) : undefined,
  );
  const server = new azurite.BlobServer(configuration);
  if (location !== undefined) answerWritesOnceSaved(server);
  await server.start();
  const port = Number(new URL(server.getHttpServerAddress()).port);
  const blobEndpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
  let stopped: Promise<void> | undefined;
  return {
    blobEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${blobEndpoint};`,
    // Closing saves the databases (on disk) and ends the connections.
    stop: () => (stopped ??= server.close()),
  };
}

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Holds the end of every answer to a write until Azurite's two metadata databases are saved. */
function answerWritesOnceSaved(server: AzuriteBlobServer): void {
  const http = server.httpServer;
  const listeners = http.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
  http.removeAllListeners("request");
  // LokiJS queues a save asked for while one runs and starts it once that ends: a save that
  // completes after this call has serialised the database as it is now.
  const save = (db: LokiDatabase) => new Promise<void>((resolve, reject) => db.saveDatabase((error) => (error ? reject(error) : resolve())));
  http.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (!READS.has((req.method ?? "GET").toUpperCase())) {
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        // The extents first: the blob metadata saved next may name them.
        save(server.extentMetadataStore.db)
          .then(() => save(server.metadataStore.db))
          .then(
            () => end(...args),
            // A write that could not be kept is not acknowledged.
            () => res.destroy(),
          );
        return res;
      }) as ServerResponse["end"];
    }
    for (const listener of listeners) listener(req, res);
  });
}
