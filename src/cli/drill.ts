import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import { numberOption } from "./options.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { loadScenarioFile } from "../../estate/scenario.ts";
import { DEFAULT_DRILL_TIME_SCALE, formatDrillRun, formatDrillVerdict, runDrill } from "../local/drill.ts";
import { formatPlannedDrillEnd, runPlannedDrill } from "../local/plannedDrill.ts";
import { styleFor } from "./style.ts";
import { join } from "node:path";
import { formatReadiness } from "../core/readiness.ts";
import { runReadinessDrill, type ReadinessDrillResult } from "../local/readiness.ts";
import { lastPassedDrill } from "../readiness/round.ts";
import { FileDrillHistoryStore } from "../local/drillFiles.ts";

const EXAMPLE = fileURLToPath(new URL("../../examples/contoso.plan.yaml", import.meta.url));

/**
 * The kinds of drill `switchyard drill` runs, the first the default: `outage` (the primary region taken
 * down, a failover, a failback) and `planned` (a planned failover and failback with every region up, the
 * orchestration the scheduledDrill timer starts in Azure, and the plan's drill history) and `readiness`
 * (the readiness evaluation, which writes nothing). A new mode is a name here and a runner in MODES.
 */
export const DRILL_MODES = ["outage", "planned", "readiness"] as const;
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
  rbac?: boolean;
  withoutRole: string[];
}

/** Options that only some modes take: given with another mode, they are a usage error. */
const MODE_ONLY: readonly { readonly key: keyof DrillCommandOptions; readonly flag: string; readonly modes: readonly DrillMode[] }[] = [
  { key: "scenario", flag: "--scenario", modes: ["outage", "readiness"] },
  { key: "failback", flag: "--no-failback", modes: ["outage"] },
  { key: "approve", flag: "--no-approve", modes: ["outage"] },
  { key: "approvalTimeout", flag: "--approval-timeout", modes: ["outage"] },
  { key: "rbac", flag: "--rbac", modes: ["readiness"] },
  { key: "withoutRole", flag: "--without-role", modes: ["readiness"] },
  { key: "timeScale", flag: "--time-scale", modes: ["outage", "planned"] },
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

/** The readiness evaluation on the local estate: every check, then `ready` or what is not; the estate's log proves it wrote nothing. */
const readinessDrill: ModeRunner = async (o) => {
  const plan = await loadPlanFile(o.plan);
  const scenario = o.scenario ? await loadScenarioFile(o.scenario) : undefined;
  const enforce = o.rbac === true || o.withoutRole.length > 0;
  let drill: ReadinessDrillResult;
  try {
    drill = await runReadinessDrill({
      plan,
      ...(scenario ? { scenario } : {}),
      ...(enforce ? { rbac: { withoutRoles: o.withoutRole } } : {}),
      outputDir: o.out,
      // The planned drills `switchyard drill --mode planned` recorded under the same --out.
      lastDrill: lastPassedDrill(new FileDrillHistoryStore(join(o.out, "drills"))),
    });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    process.stderr.write(`error: --without-role: ${error.message}\n`);
    return 2;
  }
  const { result, writes, requests, rbac } = drill;
  if (o.json) write(JSON.stringify({ ...result, requests, writes, ...(rbac ? { rbac } : {}) }, null, 2));
  else {
    if (rbac) write(`RBAC enforced: the local identity holds ${rbac.assignments} role assignment(s) of switchyard plan roles${rbac.removed.length > 0 ? `, without ${rbac.removed.join(", ")}` : ""}`);
    write(formatReadiness(result));
    write(`${requests} request(s) to the estate, ${writes.length} of them writes${writes.length > 0 ? `: ${writes.map((w) => w.operationId).join(", ")}` : ""}`);
  }
  return result.ready && writes.length === 0 ? 0 : 1;
};

const MODES: Readonly<Record<DrillMode, ModeRunner>> = { outage: outageDrill, planned: plannedDrill, readiness: readinessDrill };

export function drillCommand(setCode: (code: number) => void): Command {
  return new Command("drill")
    .description("Run a DR drill on the local estate (no Azure account needed): by default an outage (primary down, failover, verify, failback, report); --mode planned for a planned failover and failback with the plan's drill history; --mode readiness to evaluate readiness, writing nothing.")
    .addOption(new Option("--mode <mode>", "the kind of drill").choices(DRILL_MODES).default(DRILL_MODES[0]))
    .option("--plan <file>", "plan file", EXAMPLE)
    .option("--scenario <file>", "outage: scenario file: outage, replication lag, faults, timing (default: the primary region down)")
    .option("--no-failback", "outage: stop after the failover")
    .option("--no-approve", "outage: do not approve a data-loss failover when the run asks (it then times out)")
    .option("--approval-timeout <seconds>", "outage: how long a run waits for approval (1 s to 7 days, as a plan's approvalTimeoutMinutes)", numberOption({ min: 1, max: 7 * 24 * 3600, integer: true, unit: "seconds" }), 120)
    .option("--time-scale <n>", `divide every Azure duration by N (default ${DEFAULT_DRILL_TIME_SCALE}: an Azure hour in one second)`, parseTimeScale, DEFAULT_DRILL_TIME_SCALE)
    .option("--out <dir>", "where reports, the drill log and (planned) the drill history go", ".switchyard")
    .option("--rbac", "readiness: the estate enforces RBAC, the local identity holding exactly the roles of `switchyard plan roles`")
    .option("--without-role <role>", "readiness: with --rbac, leave out this role's assignments (name or GUID; repeatable)", (value: string, all: string[]) => [...all, value], [] as string[])
    .option("--json", "print the result as JSON instead of text")
    .action(async (o: DrillCommandOptions, command: Command) => {
      const given = MODE_ONLY.filter((x) => !x.modes.includes(o.mode) && command.getOptionValueSource(x.key) === "cli");
      if (given.length > 0) {
        command.error(`error: ${given.map((x) => `${x.flag} applies to --mode ${x.modes.join(" or ")} only`).join("; ")}`, { exitCode: 2, code: "switchyard.drill.mode" });
      }
      setCode(await MODES[o.mode](o));
    });
}

/** `--time-scale`: a number from 1 (Azure's own durations) to 1,000,000. */
export const parseTimeScale = numberOption({ min: 1, max: 1_000_000 });
