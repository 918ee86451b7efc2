import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { renderReport } from "../../src/core/run/report.ts";
import { FileJournal } from "../../src/journal/fileJournal.ts";
import { recordedRun } from "../helpers/recordedJournals.ts";

// Two runs recorded from real local runs (test/fixtures/record-journals.ts), in a local journal folder.
const shown = recordedRun("storage-failover-approved-over-budget");
const other = recordedRun("storage-failover-rpo-gate");
const { runId: RUN, entries } = shown;
/** The two run ids, newest first: by the time of each run's first entry. */
const NEWEST_FIRST = [shown, other].sort((a, b) => Date.parse(b.entries[0]!.at) - Date.parse(a.entries[0]!.at)).map((r) => r.runId);

let dir: string;

let stdout: string[];
let stderr: string[];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-cli-report-"));
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function seed(): Promise<void> {
  const journal = new FileJournal(dir);
  for (const e of [...other.entries, ...entries]) await journal.append(e);
}

describe("switchyard report", () => {
  it("prints the run's report from a local journal folder", async () => {
    await seed();
    expect(await main(["node", "switchyard", "report", RUN, "--journal-dir", dir])).toBe(0);
    const printed = stdout.join("");
    expect(printed).toBe(renderReport(entries));
    // The folder holds the run as the recording stored it, byte for byte.
    expect(await readFile(join(dir, `${RUN}.jsonl`), "utf8")).toBe(shown.text);
    expect(printed.split("\n")[0]).toBe(`# Switchyard run \`${RUN}\``);
    expect(printed).toContain("**met** (");
    expect(printed).toContain("**over budget** by ");
    expect(stderr.join("")).toBe("");
  });

  it("writes the report to --out and prints the file's path", async () => {
    await seed();
    const out = join(dir, "reports", `${RUN}.md`);
    expect(await main(["node", "switchyard", "report", RUN, "--journal-dir", dir, "--out", out])).toBe(0);
    expect(stdout.join("")).toBe(`${out}\n`);
    expect(await readFile(out, "utf8")).toBe(renderReport(entries));
  });

  it("exits 1 for an unknown run and lists the recent runs, newest first", async () => {
    await seed();
    expect(await main(["node", "switchyard", "report", "no-such-run", "--journal-dir", dir])).toBe(1);
    expect(stdout.join("")).toBe("");
    expect(stderr.join("")).toBe(`switchyard: no run 'no-such-run' in the journal folder ${dir}. Recent runs (newest first): ${NEWEST_FIRST.join(", ")}\n`);
  });

  it("says so when the journal holds no runs at all", async () => {
    expect(await main(["node", "switchyard", "report", "no-such-run", "--journal-dir", join(dir, "missing")])).toBe(1);
    expect(stderr.join("")).toMatch(/no run 'no-such-run' in the journal folder .*missing\. It holds no runs\.\n$/);
  });

  it("refuses a run id that is not one, naming it", async () => {
    expect(await main(["node", "switchyard", "report", "../../etc/passwd", "--journal-dir", dir])).toBe(1);
    expect(stderr.join("")).toMatch(/^switchyard: runId: '\.\.\/\.\.\/etc\/passwd' is not a run id/);
  });

  /** Runs the command in `cwd` with no Switchyard settings in the environment. */
  async function withoutSettingsIn(cwd: string, args: string[]): Promise<number> {
    const saved = { env: { ...process.env }, cwd: process.cwd() };
    try {
      for (const name of Object.keys(process.env)) if (name.startsWith("SWITCHYARD_")) delete process.env[name];
      process.chdir(cwd);
      return await main(["node", "switchyard", ...args]);
    } finally {
      process.chdir(saved.cwd);
      process.env = saved.env;
    }
  }

  it("without --journal-dir and without storage settings, reads .switchyard/journal, where drills and serve write", async () => {
    const journal = new FileJournal(join(dir, ".switchyard", "journal"));
    for (const e of entries) await journal.append(e);

    expect(await withoutSettingsIn(dir, ["report", RUN])).toBe(0);

    expect(stdout.join("")).toBe(renderReport(entries));
    expect(stderr.join("")).toBe("");
  });

  it("without --journal-dir and without storage settings, an unknown run names the folder it read and the settings a blob journal needs", async () => {
    expect(await withoutSettingsIn(dir, ["report", RUN])).toBe(1);
    expect(stderr.join("")).toMatch(/^switchyard: no run '.*' in the local journal folder \.switchyard\/journal\. It holds no runs\. \(the Function App's blob journal needs the storage settings \(.*SWITCHYARD_STORAGE_ACCOUNT_URL: set this or SWITCHYARD_STORAGE_CONNECTION_STRING.*\); pass --journal-dir DIR for another local folder\)\n$/);
  });
});
