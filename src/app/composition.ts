import type { InvocationContext } from "@azure/functions";
import { ClientFactory } from "../azure/clients.ts";
import { readSettings, type Settings } from "../config/settings.ts";
import { createActivities, type ActivityHandlers } from "../activities/registry.ts";
import type { Logger } from "../activities/deps.ts";
import { createProbe } from "../activities/probe.ts";
import { BlobJournal } from "../journal/blobJournal.ts";
import { ConsoleNotifier } from "../notify/consoleNotifier.ts";

/**
 * The composition root of the Functions app: settings → clients → activity dependencies. Built once
 * per worker process on first use.
 */
let built: { settings: Settings; activities: ActivityHandlers } | undefined;

export function appActivities(): ActivityHandlers {
  if (!built) {
    const settings = readSettings();
    const clients = new ClientFactory(settings.clients);
    const journal = new BlobJournal(clients.blobService().getContainerClient(settings.journalContainer));
    const log = jsonLogger();
    built = {
      settings,
      activities: createActivities({ clients, journal, probe: createProbe(clients), log, clock: () => new Date(), pollIntervalMs: 5_000, notifier: new ConsoleNotifier() }),
    };
  }
  return built.activities;
}

/** Structured JSON lines: every line carries the fields it was given (plan, run, resource). */
export function jsonLogger(write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Logger {
  const emit = (level: string) => (message: string, fields?: Record<string, unknown>) => write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  return { info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** A logger that writes through the Functions invocation context (Application Insights in Azure). */
export function contextLogger(context: InvocationContext): Logger {
  return {
    info: (message, fields) => context.info(message, fields ?? {}),
    warn: (message, fields) => context.warn(message, fields ?? {}),
    error: (message, fields) => context.error(message, fields ?? {}),
  };
}
