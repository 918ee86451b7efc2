import type { Journal, JournalEntry } from "../core/journal.ts";

/**
 * A journal that records who wrote each entry: every entry appended through it names `activity` and,
 * when the call serves one, the run's `step` (an activity writes under its own name otherwise). Reads
 * go to the journal underneath, whose identity `baseJournal` gives back (reads in progress are shared
 * per journal, not per activity call).
 */
const bases = new WeakMap<Journal, Journal>();

export function stampedJournal(journal: Journal, activity: string, step: string | undefined): Journal {
  const base = baseJournal(journal);
  const stamped: Journal = {
    append: (entry: JournalEntry) => base.append({ ...entry, activity, ...(step !== undefined ? { step } : {}) }),
    read: (runId) => base.read(runId),
    listRuns: () => base.listRuns(),
  };
  bases.set(stamped, base);
  return stamped;
}

/** The journal a stamped journal writes to (a journal that is not stamped: itself). */
export function baseJournal(journal: Journal): Journal {
  return bases.get(journal) ?? journal;
}
