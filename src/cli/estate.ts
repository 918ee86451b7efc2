import { Command } from "commander";
import { portOption } from "./options.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { startEstate } from "../../estate/server.ts";
import { seedFromPlans } from "../local/estateSeed.ts";
import { applyScenario, loadScenarioFile } from "../../estate/scenario.ts";

export function estateCommand(setCode: (code: number) => void): Command {
  const estate = new Command("estate").description("The local estate: Azure's APIs that Switchyard uses, simulated on loopback.");
  estate
    .command("serve")
    .description("Serve the estate, seeded from one or more plans, until interrupted.")
    .requiredOption("--plan <file...>", "plan file(s) whose resources to seed")
    .option("--port <n>", "HTTPS port (0 picks a free port)", portOption(), 0)
    .option("--scenario <file>", "scenario file to apply at start (regions, lag, faults, timing)")
    .option("--cert-dir <dir>", "folder for the generated CA certificate (default: a temporary folder)")
    .action(async (options: { plan: string[]; port: number; scenario?: string; certDir?: string }) => {
      const plans = await Promise.all(options.plan.map((file) => loadPlanFile(file)));
      const scenario = options.scenario ? await loadScenarioFile(options.scenario) : undefined;
      const server = await startEstate({ seed: seedFromPlans(plans), port: options.port, ...(options.certDir ? { certDir: options.certDir } : {}) });
      if (scenario) await applyScenario(server, scenario);
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`estate: ${server.url}`);
      out(`ca: ${server.ca.caPath}`);
      for (const region of server.state.regions.keys()) out(`region ${region}: ${server.regionUrl(region)}`);
      out(`plans: ${plans.map((p) => p.name).join(", ")}`);
      out(`state: ${server.url}/_estate/state (Ctrl+C stops)`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      await server.close();
      setCode(0);
    });
  estate
    .command("seed")
    .description("Print the estate seed (Azure's resources by ARM id, JSON) that plans translate to: POST it to a running estate's /_estate/seed.")
    .requiredOption("--plan <file...>", "plan file(s) to translate")
    .action(async (options: { plan: string[] }) => {
      const plans = await Promise.all(options.plan.map((file) => loadPlanFile(file)));
      process.stdout.write(`${JSON.stringify(seedFromPlans(plans), null, 2)}\n`);
      setCode(0);
    });
  return estate;
}
