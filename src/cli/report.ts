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

/** The journal the settings name (blob store + SWITCHYARD_JOURNAL_CONTAINER), or a local folder. */
export function openJournal(options: { journalDir?: string }, env: Readonly<Record<string, string | undefined>> = process.env): { journal: ReadableJournal; where: string } {
  if (options.journalDir) return { journal: new FileJournal(options.journalDir), where: `the journal folder ${options.journalDir}` };
  let settings;
  try {
    settings = readSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) throw new SettingsError(`${error.message} (or pass --journal-dir DIR to read a local journal folder)`);
    throw error;
  }
  const container = new ClientFactory(settings.clients).blobService().getContainerClient(settings.journalContainer);
  return { journal: new BlobJournal(container), where: `the journal container '${settings.journalContainer}'` };
}

export function reportCommand(setCode: (code: number) => void, env: Readonly<Record<string, string | undefined>> = process.env): Command {
  return new Command("report")
    .description("Render a run's journal as Markdown: timeline, per-step durations, RTO against target, RPO exposure against budget, decisions and why.")
    .argument("<runId>", "the run id")
    .option("--out <file>", "write the report to this file (and print its path) instead of printing it")
    .option("--journal-dir <dir>", "read a local journal folder (one {runId}.jsonl per run) instead of the blob store in the settings")
    .action(async (runId: string, options: { out?: string; journalDir?: string }) => {
      assertRunId(runId);
      const { journal, where } = openJournal(options, env);
      const { entries, skipped } = await journal.readDetailed(runId);
      if (entries.length === 0) {
        const recent = (await journal.listRuns()).slice(0, RECENT);
        process.stderr.write(
          `switchyard: no run '${runId}' in ${where}. ${recent.length > 0 ? `Recent runs (newest first): ${recent.join(", ")}` : "It holds no runs."}\n`,
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
