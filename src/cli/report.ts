import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { ClientFactory } from "../azure/clients.ts";
import { readSettings, SettingsError } from "../config/settings.ts";
import { renderReport } from "../core/run/report.ts";
import { BlobJournal } from "../journal/blobJournal.ts";
import { FileJournal } from "../journal/fileJournal.ts";
import { assertRunId } from "../journal/guard.ts";
import type { Journal } from "../core/journal.ts";
import type { ParsedJournal } from "../journal/lines.ts";

/** How many recent run ids an "unknown run" message lists. */
const RECENT = 10;

type ReadableJournal = Journal & { readDetailed(runId: string): Promise<ParsedJournal> };

/** Where `switchyard drill` (with its default --out) and `switchyard serve` keep a copy of every run's journal. */
export const DEFAULT_JOURNAL_DIR = ".switchyard/journal";

/**
 * The journal to read: the folder `--journal-dir` names; else the blob journal the settings name (blob
 * store + SWITCHYARD_JOURNAL_CONTAINER), as a Function App writes it; else, with no storage settings,
 * the local folder drills and `serve` write (DEFAULT_JOURNAL_DIR). `note` says why that folder was read.
 */
export function openJournal(options: { journalDir?: string }, env: Readonly<Record<string, string | undefined>> = process.env): { journal: ReadableJournal; where: string; note?: string } {
  if (options.journalDir) return { journal: new FileJournal(options.journalDir), where: `the journal folder ${options.journalDir}` };
  let settings;
  try {
    settings = readSettings(env);
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    return {
      journal: new FileJournal(DEFAULT_JOURNAL_DIR),
      where: `the local journal folder ${DEFAULT_JOURNAL_DIR}`,
      note: `the Function App's blob journal needs the storage settings (${error.message}); pass --journal-dir DIR for another local folder`,
    };
  }
  const container = new ClientFactory(settings.clients).blobService().getContainerClient(settings.journalContainer);
  return { journal: new BlobJournal(container), where: `the journal container '${settings.journalContainer}'` };
}

export function reportCommand(setCode: (code: number) => void, env: Readonly<Record<string, string | undefined>> = process.env): Command {
  return new Command("report")
    .description("Render a run's journal as Markdown: timeline, per-step durations, RTO against target, RPO exposure against budget, decisions and why.")
    .argument("<runId>", "the run id")
    .option("--out <file>", "write the report to this file (and print its path) instead of printing it")
    .option("--journal-dir <dir>", `read a local journal folder (one {runId}.jsonl per run) instead of the blob store in the settings (without storage settings: ${DEFAULT_JOURNAL_DIR}, where drills and serve write)`)
    .action(async (runId: string, options: { out?: string; journalDir?: string }) => {
      assertRunId(runId);
      const { journal, where, note } = openJournal(options, env);
      const { entries, skipped } = await journal.readDetailed(runId);
      if (entries.length === 0) {
        const recent = (await journal.listRuns()).slice(0, RECENT);
        process.stderr.write(
          `switchyard: no run '${runId}' in ${where}. ${recent.length > 0 ? `Recent runs (newest first): ${recent.join(", ")}` : "It holds no runs."}${note ? ` (${note})` : ""}\n`,
        );
        setCode(1);
        return;
      }
      for (const s of skipped) process.stderr.write(`switchyard: warning: ${runId} line ${s.line} skipped: ${s.reason}\n`);
      const markdown = renderReport(entries);
      if (options.out) {
        const file = resolve(options.out);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, markdown, "utf8");
        process.stdout.write(`${file}\n`);
      } else {
        process.stdout.write(markdown);
      }
      setCode(0);
    });
}
