import { Command } from "commander";
import { numberOption } from "./options.ts";
import { ClientFactory } from "../azure/clients.ts";
import { CLOUDS, type CloudName } from "../azure/clouds.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { measureLag } from "../lag/measure.ts";
import { formatLagView, viewOfSamples } from "../lag/view.ts";
import { startEstate } from "../../estate/server.ts";
import { applyScenario, loadScenarioFile } from "../../estate/scenario.ts";
import { seedFromPlans } from "../local/estateSeed.ts";

interface LagOptions {
  plan: string;
  json?: boolean;
  azure?: boolean;
  scenario?: string;
  concurrency: number;
}

/**
 * `switchyard lag`: the replication lag of every SQL database (over TDS, on its primary) and storage
 * account (from Resource Manager) of a plan, now. By default on a local estate seeded from the plan
 * (`--scenario` plants lag and outages); `--azure` measures in Azure with DefaultAzureCredential.
 * Exit code 0 when every lag is known and within the plan's RPO, 1 otherwise.
 */
export function lagCommand(setCode: (code: number) => void): Command {
  return new Command("lag")
    .description("Measure the replication lag of a plan's SQL databases and storage accounts: lag, state, when measured, within the RPO or not. Local estate by default; --azure for Azure.")
    .requiredOption("--plan <file>", "plan file")
    .option("--json", "print JSON: { plan, rpoSeconds, resources: { <resourceId>: { lagSeconds, ... } } }")
    .option("--azure", "measure in Azure (DefaultAzureCredential; SWITCHYARD_AZURE_CLOUD picks the cloud) instead of a local estate seeded from the plan")
    .option("--scenario <file>", "local estate only: a scenario file applied first (replication lag, regions down)")
    .option("--concurrency <n>", "TDS logins at once (each database is one login)", numberOption({ min: 1, max: 64, integer: true }), 16)
    .action(async (o: LagOptions) => {
      if (o.azure && o.scenario) throw new Error("--scenario plants conditions on the local estate: it cannot be used with --azure");
      const plan = await loadPlanFile(o.plan);
      const scenario = o.scenario ? await loadScenarioFile(o.scenario) : undefined;
      const estate = o.azure ? undefined : await startEstate({ seed: seedFromPlans([plan]) });
      try {
        if (estate && scenario) await applyScenario(estate, scenario);
        const clients = new ClientFactory({ target: estate ? estate.clientTarget() : { kind: "azure", cloud: cloudFromEnv(), ...(process.env.AZURE_CLIENT_ID ? { managedIdentityClientId: process.env.AZURE_CLIENT_ID } : {}) }, maxRetries: 3 });
        if (!o.json) process.stderr.write(`measuring ${plan.sql.length} failover group(s) and ${plan.storage.length} storage account(s) of ${plan.name} ${estate ? "on the local estate" : "in Azure"}...\n`);
        const round = await measureLag(plan, { clients, clock: () => new Date() }, { tdsConcurrency: o.concurrency });
        const view = viewOfSamples(plan, round.samples);
        if (o.json) {
          const resources = Object.fromEntries(view.resources.map(({ resourceId, ...rest }) => [resourceId, rest]));
          process.stdout.write(`${JSON.stringify({ plan: view.plan, rpoSeconds: view.rpoSeconds, target: estate ? "estate" : "azure", startedAt: round.startedAt, finishedAt: round.finishedAt, armReads: round.armReads, armPacedMs: Math.round(round.armPacedMs), tdsLogins: round.tdsLogins, failures: round.failures, resources }, null, 2)}\n`);
        } else {
          process.stdout.write(`${formatLagView(view)}\n`);
          for (const f of round.failures) process.stdout.write(`  could not list the databases of ${f.resourceId}: ${f.error}\n`);
        }
        setCode(round.failures.length === 0 && view.resources.every((r) => r.withinRpo === true) ? 0 : 1);
      } finally {
        await estate?.close();
      }
    });
}

function cloudFromEnv(): CloudName {
  const name = process.env.SWITCHYARD_AZURE_CLOUD;
  if (name === undefined || name === "") return "AzurePublicCloud";
  if (!(name in CLOUDS)) throw new Error(`SWITCHYARD_AZURE_CLOUD must be one of ${Object.keys(CLOUDS).join(", ")}`);
  return name as CloudName;
}
