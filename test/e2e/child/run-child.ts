// A Switchyard process for the process-kill test: starts or resumes a run on the local durable host,
// with history in Azurite and Azure calls to the estate. With CRASH_AFTER it kills itself (SIGKILL)
// right after that activity returned, before the host keeps the result.
import { ClientFactory } from "../../../src/azure/clients.ts";
import { createActivities } from "../../../src/activities/registry.ts";
import { createProbe } from "../../../src/activities/probe.ts";
import type { RunInput } from "../../../src/core/run/model.ts";
import { BlobJournal } from "../../../src/journal/blobJournal.ts";
import { BlobRunPlanStore } from "../../../src/journal/runPlans.ts";
import { LocalDurableHost } from "../../../src/durable/durableHost.ts";
import { BlobInstanceStore } from "../../../src/durable/instanceStore.ts";
import { LocalRuns } from "../../../src/runs/localRuns.ts";
import { ORCHESTRATIONS } from "../../../src/orchestrations/index.ts";

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const target = JSON.parse(env("CHILD_TARGET"));
const clients = new ClientFactory({ target, blobStore: { connectionString: env("CHILD_AZURITE") }, maxRetries: 0 });
const journal = new BlobJournal(clients.blobService().getContainerClient(env("CHILD_JOURNAL")));
const store = new BlobInstanceStore(clients.blobService().getContainerClient(env("CHILD_STORE")));
const quiet = { info() {}, warn() {}, error() {} };
const runPlans = new BlobRunPlanStore(clients.blobService().getContainerClient(`${env("CHILD_STORE")}-plans`));
const activities = createActivities({ runPlans, clients, journal, probe: createProbe(clients), log: quiet, clock: () => new Date(), pollIntervalMs: 5, notifier: { name: "none", notify: async () => undefined } });
const crashAfter = process.env.CHILD_CRASH_AFTER;
const host = new LocalDurableHost({
  store,
  orchestrations: ORCHESTRATIONS as never,
  activities: activities as never,
  crashAt: (point) => {
    if (point.afterActivity === crashAfter) process.kill(process.pid, "SIGKILL");
    return false;
  },
});
const runs = new LocalRuns(host, { runPlans });
const input = JSON.parse(env("CHILD_INPUT")) as RunInput;
if (env("CHILD_ACTION") === "start") await runs.start(input);
else await host.resume();
// The host's durable timers do not hold the process open (unref'd, as a library's should not): this
// process lives until its run has finished.
const keepAlive = setInterval(() => undefined, 1_000);
const done = await runs.waitFor(input.plan.name);
clearInterval(keepAlive);
process.stdout.write(`${JSON.stringify(done)}\n`);
