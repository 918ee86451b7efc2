import { Command, CommanderError } from "commander";
import { planCommand } from "./plan.ts";
import { estateCommand } from "./estate.ts";
import { drillCommand } from "./drill.ts";
import { lagCommand } from "./lag.ts";
import { secretsCommand } from "./secrets.ts";
import { serveCommand } from "./serve.ts";
import { reportCommand } from "./report.ts";
import { operateCommands } from "./operate.ts";
import { infraCommand } from "./infra.ts";
import { readFileSync } from "node:fs";

/** The package's version, for `--version`. */
export const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/**
 * Exit codes, the same for every command: 0 done, 1 a run or an input (plan, run id) failed, 2 the
 * command line itself was wrong (unknown command or option, missing argument, bad number) or the
 * command could not start (a busy port or state folder). Commander's own errors are usage errors: every
 * command, not only the root, throws them instead of exiting, so they all map here.
 */
function throwUsageErrors(command: Command): void {
  command.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const sub of command.commands) throwUsageErrors(sub);
}

/** Runs the CLI; resolves to the exit code. Commands that serve keep the process alive until a signal. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name("switchyard")
    .description("Automated regional disaster recovery for two-region Azure applications.")
    .version(VERSION, "-V, --version", "print the version");
  let code = 0;
  const setCode = (c: number) => (code = c);
  program.addCommand(planCommand(setCode));
  program.addCommand(estateCommand(setCode));
  program.addCommand(drillCommand(setCode));
  program.addCommand(serveCommand(setCode));
  program.addCommand(lagCommand(setCode));
  program.addCommand(secretsCommand(setCode));
  program.addCommand(reportCommand(setCode));
  program.addCommand(infraCommand(setCode));
  for (const command of operateCommands(setCode)) program.addCommand(command);
  throwUsageErrors(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // Help and --version end with exit code 0 (commander.helpDisplayed, commander.version); a command
    // given without its subcommand shows its help as an error (commander.help): usage, like the rest.
    if (error instanceof CommanderError) return error.exitCode === 0 && error.code !== "commander.help" ? 0 : 2;
    process.stderr.write(`switchyard: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  return code;
}
