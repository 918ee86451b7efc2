import type { ActivityDeps, Logger } from "../../src/activities/deps.ts";
import { createProbe } from "../../src/activities/probe.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import type { EstateFixture } from "./estate.ts";

export interface TestDeps extends ActivityDeps {
  readonly journal: MemoryJournal;
  readonly logged: { level: string; message: string; fields?: Record<string, unknown> }[];
}

/** Activity dependencies aimed at the fixture's estate, with an in-memory journal and a captured log. */
export function activityDeps(fx: EstateFixture): TestDeps {
  const logged: TestDeps["logged"] = [];
  const log: Logger = {
    info: (message, fields) => logged.push({ level: "info", message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => logged.push({ level: "warn", message, ...(fields ? { fields } : {}) }),
    error: (message, fields) => logged.push({ level: "error", message, ...(fields ? { fields } : {}) }),
  };
  return { clients: fx.clients, journal: new MemoryJournal(), probe: createProbe(fx.clients), log, logged, clock: () => new Date(), pollIntervalMs: 1 };
}

/** Writes the estate received since `since` (by its request log), as "METHOD operationId" lines. */
export function writesSince(fx: EstateFixture, since: number): string[] {
  return fx.estate.requests({ since, writesOnly: true }).map((r) => `${r.method} ${r.operationId}`);
}

/** The estate's current request sequence number (take before acting, pass to writesSince after). */
export function requestMark(fx: EstateFixture): number {
  return fx.estate.requests().at(-1)?.seq ?? 0;
}
