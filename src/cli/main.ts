import { Command, CommanderError } from "commander";
import { planCommand } from "./plan.ts";
import { estateCommand } from "./estate.ts";
import { drillCommand } from "./drill.ts";
import { serveCommand } from "./serve.ts";
import { reportCommand } from "./report.ts";
import { operateCommands } from "./operate.ts";

/** Runs the CLI; resolves to the exit code. Commands that serve keep the process alive until a signal. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name("switchyard")
    .description("Automated regional disaster recovery for two-region Azure applications.")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  let code = 0;
  const setCode = (c: number) => (code = c);
  program.addCommand(planCommand(setCode));
  program.addCommand(estateCommand(setCode));
  program.addCommand(drillCommand(setCode));
  program.addCommand(serveCommand(setCode));
  program.addCommand(reportCommand(setCode));
  for (const command of operateCommands(setCode)) program.addCommand(command);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    process.stderr.write(`switchyard: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  return code;
}
