import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Operation, PlantedLroFailure, LroTiming } from "./lro.ts";
import { parseSeed, type EstateSeed } from "./seed.ts";
import { faultSchema } from "./scenario.ts";
import type { EstateStateData } from "./state.ts";
import type { RequestFaultSpec } from "./faults.ts";

/*
 * An estate kept in a folder, so that a new estate on the same folder carries on where the last one
 * stopped, however it stopped. `estate.json` holds everything but the request log: resources,
 * regions, the edge, long-running operations in flight (as data: see Completion in lro.ts), planted
 * faults, timing, the seeds (reset applies them again) and the port (operation URLs name it). It is
 * saved before the estate answers a request that changed it, as a temporary file renamed over the
 * last one: a change Azure acknowledged survives a kill, and a kill never leaves half a file.
 * `requests.jsonl` is the request log, one line per request, appended before the answer too.
 */

export const ESTATE_FILE = "estate.json";
export const REQUESTS_FILE = "requests.jsonl";
const FORMAT = "switchyard-estate/1";

export interface EstateDocument {
  readonly format: typeof FORMAT;
  readonly port: number;
  readonly seeds: readonly EstateSeed[];
  readonly timing: LroTiming;
  readonly faults: readonly { spec: RequestFaultSpec; remaining: number | null }[];
  readonly operations: { readonly operations: readonly Operation[]; readonly failNext: readonly PlantedLroFailure[] };
  readonly state: EstateStateData;
}

export class EstateFileError extends Error {}

const documentSchema = z.object({
  format: z.literal(FORMAT),
  port: z.number().int().min(1).max(65535),
  seeds: z.array(z.unknown()),
  timing: z.object({ durations: z.record(z.string(), z.number()), retryAfterSeconds: z.number() }),
  faults: z.array(z.object({ spec: faultSchema, remaining: z.number().nullable() })),
  operations: z.object({ operations: z.array(z.object({ id: z.string(), completion: z.object({ kind: z.string(), data: z.unknown() }) }).passthrough()), failNext: z.array(z.unknown()) }),
  state: z.object({ regions: z.array(z.unknown()), edge: z.object({ queue: z.array(z.unknown()) }).passthrough() }).passthrough(),
});

/** The folder's files: reads what is kept, saves changes (only when the state changed), appends requests. */
export class EstateFolder {
  private lastSaved = "";
  private readonly estateFile: string;
  private readonly requestsFile: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.estateFile = join(dir, ESTATE_FILE);
    this.requestsFile = join(dir, REQUESTS_FILE);
  }

  /** The kept estate, or undefined for a new folder. Throws EstateFileError naming the file and the problem. */
  load(): EstateDocument | undefined {
    if (!existsSync(this.estateFile)) return undefined;
    const text = readFileSync(this.estateFile, "utf8");
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new EstateFileError(`${this.estateFile} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const parsed = documentSchema.safeParse(json);
    if (!parsed.success) {
      throw new EstateFileError(`${this.estateFile} is not a kept estate (${FORMAT}): ${parsed.error.issues.map((i) => `${i.path.join(".") || "(document)"}: ${i.message}`).join("; ")}`);
    }
    const seeds = parsed.data.seeds.map((seed, i) => {
      try {
        return parseSeed(seed);
      } catch (error) {
        throw new EstateFileError(`${this.estateFile}: seeds[${i}]: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    this.lastSaved = text;
    // Beyond the parts checked above, the file holds what this estate wrote (EstateState.toJSON and
    // Operations.toJSON), read back as written; each operation's completion data is checked when it completes.
    return { ...(json as EstateDocument), seeds };
  }

  /** Writes the document when it differs from the one last written: a temporary file, then a rename. */
  save(document: EstateDocument): void {
    const text = JSON.stringify(document);
    if (text === this.lastSaved) return;
    const temp = `${this.estateFile}.${process.pid}.tmp`;
    writeFileSync(temp, text, { mode: 0o600 });
    renameSync(temp, this.estateFile);
    this.lastSaved = text;
  }

  /** The kept request log, oldest first, at most `max` entries (a line cut short by a kill is skipped). */
  loadRequests<T>(max: number): T[] {
    if (!existsSync(this.requestsFile)) return [];
    const entries: T[] = [];
    for (const line of readFileSync(this.requestsFile, "utf8").split("\n")) {
      if (!line) continue;
      try {
        entries.push(JSON.parse(line) as T);
      } catch {
        // The last line of a log whose writer was killed mid-line.
      }
    }
    const kept = entries.slice(-max);
    // Start a compact log holding what is kept.
    this.rewriteRequests(kept);
    return kept;
  }

  appendRequest(entry: unknown): void {
    appendFileSync(this.requestsFile, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  /** Rewrites the request log with these entries (when it has grown past the log's bound). */
  rewriteRequests(entries: readonly unknown[]): void {
    const temp = `${this.requestsFile}.${process.pid}.tmp`;
    writeFileSync(temp, entries.map((e) => `${JSON.stringify(e)}\n`).join(""), { mode: 0o600 });
    renameSync(temp, this.requestsFile);
  }
}
