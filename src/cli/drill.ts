import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { numberOption } from "./options.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { loadScenarioFile } from "../../estate/scenario.ts";
import { DEFAULT_DRILL_TIME_SCALE, formatDrillRun, formatDrillVerdict, runDrill } from "../local/drill.ts";
import { formatPlannedDrillEnd, runPlannedDrill } from "../local/plannedDrill.ts";
import { styleFor } from "./style.ts";

const EXAMPLE = fileURLToPath(new URL("../../examples/contoso.plan.yaml", import.meta.url));

/**
 * The kinds of drill `switchyard drill` runs, the first the default: `outage` (the primary region taken
 * down, a failover, a failback) and `planned` (a planned failover and failback with every region up, the
 * orchestration the scheduledDrill timer starts in Azure, and the plan's drill history). A new mode is a
 * name here and a runner in MODES.
 */
export const DRILL_MODES = ["outage", "planned"] as const;
export type DrillMode = (typeof DRILL_MODES)[number];

interface DrillCommandOptions {
  mode: DrillMode;
  plan: string;
  scenario?: string;
  failback: boolean;
  approve: boolean;
  approvalTimeout: number;
  timeScale: number;
  out: string;
  json?: boolean;
}

/** Options that only an outage drill takes: given with another mode, they are a usage error. */
const OUTAGE_ONLY: readonly { readonly key: keyof DrillCommandOptions; readonly flag: string }[] = [
  { key: "scenario", flag: "--scenario" },
  { key: "failback", flag: "--no-failback" },
  { key: "approve", flag: "--no-approve" },
  { key: "approvalTimeout", flag: "--approval-timeout" },
];

type ModeRunner = (o: DrillCommandOptions) => Promise<number>;

const write = (line: string) => process.stdout.write(`${line}\n`);

/** Today's drill: the primary region down, failover, verify, failback, reports. */
const outageDrill: ModeRunner = async (o) => {
  const plan = await loadPlanFile(o.plan);
  const scenario = o.scenario ? await loadScenarioFile(o.scenario) : undefined;
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
  return result.ok ? 0 : 1;
};

/** A planned drill of the plan with every region up, through plannedDrillV1; the history's trend at the end. */
const plannedDrill: ModeRunner = async (o) => {
  const plan = await loadPlanFile(o.plan);
  const style = styleFor(process.stdout);
  const result = await runPlannedDrill({
    plan,
    timeScale: o.timeScale,
    outputDir: o.out,
    ...(o.json ? {} : { progress: write, onRunEnd: (label, run) => write(formatDrillRun(label, run, style)) }),
  });
  write(o.json ? JSON.stringify(result, null, 2) : formatPlannedDrillEnd(result, style));
  return result.ok ? 0 : 1;
};

const MODES: Readonly<Record<DrillMode, ModeRunner>> = { outage: outageDrill, planned: plannedDrill };

export function drillCommand(setCode: (code: number) => void): Command {
  return new Command("drill")
    .description("Run a DR drill on the local estate (no Azure account needed): by default an outage (primary down, failover, verify, failback, report); --mode planned for a planned failover and failback with the plan's drill history.")
    .addOption(new Option("--mode <mode>", "the kind of drill").choices(DRILL_MODES).default(DRILL_MODES[0]))
    .option("--plan <file>", "plan file", EXAMPLE)
    .option("--scenario <file>", "outage: scenario file: outage, replication lag, faults, timing (default: the primary region down)")
    .option("--no-failback", "outage: stop after the failover")
    .option("--no-approve", "outage: do not approve a data-loss failover when the run asks (it then times out)")
    .option("--approval-timeout <seconds>", "outage: how long a run waits for approval (1 s to 7 days, as a plan's approvalTimeoutMinutes)", numberOption({ min: 1, max: 7 * 24 * 3600, integer: true, unit: "seconds" }), 120)
    .option("--time-scale <n>", `divide every Azure duration by N (default ${DEFAULT_DRILL_TIME_SCALE}: an Azure hour in one second)`, parseTimeScale, DEFAULT_DRILL_TIME_SCALE)
    .option("--out <dir>", "where reports, the drill log and (planned) the drill history go", ".switchyard")
    .option("--json", "print the result as JSON instead of text")
    .action(async (o: DrillCommandOptions, command: Command) => {
      if (o.mode !== "outage") {
        const given = OUTAGE_ONLY.filter((x) => command.getOptionValueSource(x.key) === "cli").map((x) => x.flag);
        if (given.length > 0) command.error(`error: ${given.join(", ")} ${given.length > 1 ? "apply" : "applies"} to --mode outage only`, { exitCode: 2, code: "switchyard.drill.mode" });
      }
      setCode(await MODES[o.mode](o));
    });
}

/** `--time-scale`: a number from 1 (Azure's own durations) to 1,000,000. */
export const parseTimeScale = numberOption({ min: 1, max: 1_000_000 });
