import { Activities, type ActivityName, type ActivityResult } from "../core/run/model.ts";
import type { JournalEntry } from "../journal/journal.ts";
import type { NotifyDeps } from "./notify.ts";
import { notifyActivity } from "./notify.ts";
import { switchAppService } from "./appService.ts";
import { pollFrontDoorClassic, pollFrontDoorStandard, switchFrontDoorClassic, switchFrontDoorStandard } from "./frontdoor.ts";
import { assessRegions } from "./health.ts";
import { measureReplication } from "./replication.ts";
import { failoverSqlGroup, pollSqlFailover } from "./sql.ts";
import { reprotectStorageAccount } from "./reprotect.ts";
import { failoverStorageAccount, pollStorageFailover } from "./storage.ts";
import { checkReprotection, verifyPrimary } from "./verify.ts";
import { wrapActivity } from "./wrap.ts";

export type ActivityHandlers = Record<ActivityName, (input: unknown) => Promise<ActivityResult<unknown>>>;

/** The journal activity: appends the orchestrator's entries (decisions, waits, step boundaries). */
async function journalActivity(input: { runId: string; entries: JournalEntry[] }, deps: NotifyDeps): Promise<null> {
  for (const entry of input.entries) await deps.journal.append(entry);
  return null;
}

/** Every activity, bound to its dependencies and wrapped so that failures come back as data. */
export function createActivities(deps: NotifyDeps): ActivityHandlers {
  const bind = <I>(name: ActivityName, fn: (input: I, deps: NotifyDeps) => Promise<unknown>) => wrapActivity(name, (input: I) => fn(input, deps), deps.log);
  return {
    [Activities.assessRegions]: bind(Activities.assessRegions, assessRegions),
    [Activities.measureReplication]: bind(Activities.measureReplication, measureReplication),
    [Activities.failoverSqlGroup]: bind(Activities.failoverSqlGroup, failoverSqlGroup),
    [Activities.failoverStorageAccount]: bind(Activities.failoverStorageAccount, failoverStorageAccount),
    [Activities.reprotectStorageAccount]: bind(Activities.reprotectStorageAccount, reprotectStorageAccount),
    [Activities.switchFrontDoorStandard]: bind(Activities.switchFrontDoorStandard, switchFrontDoorStandard),
    [Activities.switchFrontDoorClassic]: bind(Activities.switchFrontDoorClassic, switchFrontDoorClassic),
    [Activities.switchAppService]: bind(Activities.switchAppService, switchAppService),
    [Activities.verifyPrimary]: bind(Activities.verifyPrimary, verifyPrimary),
    [Activities.checkReprotection]: bind(Activities.checkReprotection, checkReprotection),
    [Activities.pollSqlFailover]: bind(Activities.pollSqlFailover, pollSqlFailover),
    [Activities.pollStorageFailover]: bind(Activities.pollStorageFailover, pollStorageFailover),
    [Activities.pollFrontDoorStandard]: bind(Activities.pollFrontDoorStandard, pollFrontDoorStandard),
    [Activities.pollFrontDoorClassic]: bind(Activities.pollFrontDoorClassic, pollFrontDoorClassic),
    [Activities.notify]: bind(Activities.notify, notifyActivity),
    [Activities.journal]: bind(Activities.journal, journalActivity),
  } as ActivityHandlers;
}
