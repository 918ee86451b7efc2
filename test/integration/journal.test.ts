import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { BlobJournal } from "../../src/journal/blobJournal.ts";
import { FileJournal } from "../../src/journal/fileJournal.ts";
import { InvalidRunIdError } from "../../src/journal/guard.ts";
import type { DecisionEntry, Journal, JournalEntry } from "../../src/core/journal.ts";
import type { ParsedJournal } from "../../src/journal/lines.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { main } from "../../src/cli/main.ts";

/** What the contract needs from a backend: fresh instances over one store, and a raw write for damage. */
interface Backend {
  /** A new journal instance over the same store (a second Functions instance, a restarted process). */
  open(): Journal;
  /** Appends raw text to a run's record, bypassing the journal (a writer that crashed mid-append). */
  writeRaw(runId: string, text: string): Promise<void>;
}

const at = (s: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, 0) + s * 1000).toISOString();
const entry = (runId: string, i: number, patch: Partial<DecisionEntry> = {}): JournalEntry => ({
  runId,
  at: at(i),
  kind: "decision",
  step: "assess",
  message: `entry ${i}`,
  data: { i, probes: [{ url: "https://contoso-orders-eastus2.azurewebsites.net/healthz", ok: false, status: 503 }] },
  ...patch,
});
const trigger = { source: "manual", by: "ops", reason: "drill", detectedAt: at(0) } as const;
const started = (runId: string, i: number): JournalEntry => ({
  runId,
  at: at(i),
  kind: "run-started",
  message: "failover started",
  data: { kind: "failover", mode: "planned", plan: "contoso-orders", from: "eastus2", to: "centralus", trigger, rtoTargetSeconds: 1800, rpoBudgetSeconds: 300 },
});

let counter = 0;
const newRunId = (label: string) => `${label}-${process.pid}-${++counter}`;

/** The journal contract, run once per backend. */
function journalContract(name: string, backend: () => Backend) {
  describe(`${name}: journal contract`, () => {
    it("reads back what was appended, in order and unchanged", async () => {
      const journal = backend().open();
      const runId = newRunId("roundtrip");
      const entries: JournalEntry[] = [
        started(runId, 0),
        entry(runId, 1),
        { runId, at: at(2), kind: "write", step: "assess", message: "unicode ✓ and \"quotes\" and a\nnewline", data: { resourceId: "/subscriptions/x", operation: "Op", result: "accepted", requestIds: ["a-1", "b-2"], nested: { deep: [1, null, true] } } },
        entry(runId, 3, { kind: "decision", step: undefined, data: undefined }),
      ];
      for (const e of entries) await journal.append(e);
      const read = await journal.read(runId);
      expect(read).toEqual(entries.map((e) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined))));
      // A second instance over the same store sees the same record.
      expect(await backend().open().read(runId)).toEqual(read);
    });

    it("reads an unknown run as empty", async () => {
      expect(await backend().open().read(newRunId("never-written"))).toEqual([]);
    });

    it("lists runs newest first by their first entry's time", async () => {
      const journal = backend().open();
      // Written in the order b, a, c, but started at 10:00, 11:00 and 09:00.
      const tag = newRunId("list");
      const b = `${tag}-b`;
      const a = `${tag}-a`;
      const c = `${tag}-c`;
      await journal.append(entry(b, 0));
      await journal.append(entry(a, 3600));
      await journal.append(entry(c, -3600));
      await journal.append(entry(b, 7200)); // later entries do not reorder a run
      const mine = (await backend().open().listRuns()).filter((id) => id.startsWith(tag));
      expect(mine).toEqual([a, b, c]);
    });

    it("keeps every entry when two instances append to one run at once", async () => {
      const one = backend().open();
      const two = backend().open();
      const runId = newRunId("concurrent");
      // Both start the run at the same moment (both find no record and create it), then each keeps
      // appending one entry after the other while the other does the same.
      const writer = async (journal: Journal, who: string) => {
        for (let i = 0; i < 20; i++) await journal.append(entry(runId, i, { message: `${who} #${i}` }));
      };
      await Promise.all([writer(one, "one"), writer(two, "two")]);
      const read = await two.read(runId);
      expect(read).toHaveLength(40);
      const expected = ["one", "two"].flatMap((who) => Array.from({ length: 20 }, (_, i) => `${who} #${i}`));
      expect(new Set(read.map((e) => e.message))).toEqual(new Set(expected));
      // Each instance's entries land in the order it appended them.
      for (const who of ["one", "two"]) {
        expect(read.filter((e) => e.message.startsWith(who)).map((e) => e.message)).toEqual(expected.filter((m) => m.startsWith(who)));
      }
      // A burst of appends fired at once from both instances loses nothing either.
      const burst = newRunId("burst");
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? one : two).append(entry(burst, i))));
      expect((await one.read(burst)).map((e) => e.message).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `entry ${i}`).sort());
    });

    it("ignores a trailing partial line and keeps entries appended after it", async () => {
      const b = backend();
      const journal = b.open();
      const runId = newRunId("partial");
      await journal.append(entry(runId, 0));
      await journal.append(entry(runId, 1));
      // A writer died half-way through an append.
      await b.writeRaw(runId, JSON.stringify(entry(runId, 2)).slice(0, 60));
      expect((await journal.read(runId)).map((e) => e.message)).toEqual(["entry 0", "entry 1"]);
      await journal.append(entry(runId, 3));
      const reopened = b.open() as Journal & { readDetailed(runId: string): Promise<ParsedJournal> };
      expect((await reopened.read(runId)).map((e) => e.message)).toEqual(["entry 0", "entry 1", "entry 3"]);
      // The damage is reported, not hidden.
      expect((await reopened.readDetailed(runId)).skipped).toEqual([{ line: 3, reason: expect.stringMatching(/unfinished append/) }]);
    });

    it("refuses bad run ids before writing anything, and stores secret values redacted", async () => {
      const journal = backend().open();
      await expect(journal.append(entry("../escape", 0))).rejects.toThrow(InvalidRunIdError);
      await expect(journal.read("a/b")).rejects.toThrow(/^runId: /);
      const runId = newRunId("secret");
      await journal.append(entry(runId, 0, { data: { app: "orders", password: "hunter2" } }));
      expect((await journal.read(runId)).map((e) => e.data)).toEqual([{ app: "orders", password: "[redacted]" }]);
    });
  });
}

// ---- blob journal over Azurite ------------------------------------------------------------------

let azurite: AzuriteBlob;
let container: ContainerClient;
const containerName = "switchyard-journal-test";

beforeAll(async () => {
  azurite = await startAzuriteBlob();
  container = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } })
    .blobService()
    .getContainerClient(containerName);
});
afterAll(async () => {
  await azurite?.stop();
});

journalContract("BlobJournal (Azurite)", () => ({
  open: () => new BlobJournal(container),
  writeRaw: async (runId, text) => {
    await container.getAppendBlobClient(BlobJournal.blobName(runId)).appendBlock(text, Buffer.byteLength(text));
  },
}));

describe("BlobJournal specifics", () => {
  it("creates its container on the first append and stores one append blob per run", async () => {
    const service = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } }).blobService();
    const other = service.getContainerClient("journal-created-on-demand");
    expect(await other.exists()).toBe(false);
    const journal = new BlobJournal(other);
    expect(await journal.listRuns()).toEqual([]);
    expect(await journal.read("run-1")).toEqual([]);
    await journal.append(entry("run-1", 0));
    expect(await other.exists()).toBe(true);
    const props = await other.getBlobClient("runs/run-1.jsonl").getProperties();
    expect(props.blobType).toBe("AppendBlob");
    const text = (await other.getBlobClient("runs/run-1.jsonl").downloadToBuffer()).toString();
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\n")).toHaveLength(2);
    expect(JSON.parse(text.split("\n")[0]!).message).toBe("entry 0");
  });
});

// ---- file journal -------------------------------------------------------------------------------

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-journal-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

journalContract("FileJournal", () => ({
  open: () => new FileJournal(dir),
  writeRaw: (runId, text) => appendFile(new FileJournal(dir).fileOf(runId), text),
}));

// ---- the report command over the blob store the settings name -----------------------------------

describe("switchyard report reads the blob journal named by the settings", () => {
  it("prints the report of a run in SWITCHYARD_JOURNAL_CONTAINER", async () => {
    const journal = new BlobJournal(container);
    const runId = newRunId("cli");
    await journal.append(started(runId, 0));
    await journal.append(entry(runId, 1));
    const saved = { ...process.env };
    process.env.SWITCHYARD_STORAGE_CONNECTION_STRING = azurite.connectionString;
    process.env.SWITCHYARD_JOURNAL_CONTAINER = containerName;
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    try {
      expect(await main(["node", "switchyard", "report", runId])).toBe(0);
    } finally {
      spy.mockRestore();
      process.env = saved;
    }
    const md = out.join("");
    expect(md.split("\n")[0]).toBe(`# Switchyard run \`${runId}\``);
    expect(md).toContain("Failover of **contoso-orders** from **eastus2** to **centralus**");
    expect(md).toContain("1. **entry 1**");
  });
});
