import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { numberOption } from "./options.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { loadScenarioFile } from "../../estate/scenario.ts";
import { DEFAULT_DRILL_TIME_SCALE, formatDrillRun, formatDrillVerdict, runDrill } from "../local/drill.ts";
import { styleFor } from "./style.ts";

const EXAMPLE = fileURLToPath(new URL("../../examples/contoso.plan.yaml", import.meta.url));

export function drillCommand(setCode: (code: number) => void): Command {
  return new Command("drill")
    .description("Run a full DR drill on the local estate: outage, failover, verify, failback, report. No Azure account needed.")
    .option("--plan <file>", "plan file", EXAMPLE)
    .option("--scenario <file>", "scenario file: outage, replication lag, faults, timing (default: the primary region down)")
    .option("--no-failback", "stop after the failover")
    .option("--no-approve", "do not approve a data-loss failover when the run asks (it then times out)")
    .option("--approval-timeout <seconds>", "how long a run waits for approval (1 s to 7 days, as a plan's approvalTimeoutMinutes)", numberOption({ min: 1, max: 7 * 24 * 3600, integer: true, unit: "seconds" }), 120)
    .option("--time-scale <n>", `divide every Azure duration by N (default ${DEFAULT_DRILL_TIME_SCALE}: an Azure hour in one second)`, parseTimeScale, DEFAULT_DRILL_TIME_SCALE)
    .option("--out <dir>", "where reports and the drill log go", ".switchyard")
    .option("--json", "print the result as JSON instead of text")
    .action(async (o: { plan: string; scenario?: string; failback: boolean; approve: boolean; approvalTimeout: number; timeScale: number; out: string; json?: boolean }) => {
      const plan = await loadPlanFile(o.plan);
      const scenario = o.scenario ? await loadScenarioFile(o.scenario) : undefined;
      const write = (line: string) => process.stdout.write(`${line}\n`);
      const style = styleFor(process.stdout);
      const result = await runDrill({
        plan,
        ...(scenario ? { scenario } : {}),
        failback: o.failback,
        approve: o.approve,
        approvalTimeoutSeconds: o.approvalTimeout,
        timeScale: o.timeScale,
        outputDir: o.out,
        // Each run's summary as soon as it ends: the failover's comes before the failback starts.
        ...(o.json ? {} : { progress: write, onRunEnd: (label, run) => write(formatDrillRun(label, run, style)) }),
      });
      write(o.json ? JSON.stringify(result, null, 2) : formatDrillVerdict(result, style));
      setCode(result.ok ? 0 : 1);
    });
}

/** `--time-scale`: a number from 1 (Azure's own durations) to 1,000,000. */
export const parseTimeScale = numberOption({ min: 1, max: 1_000_000 });
