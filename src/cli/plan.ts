import { Command } from "commander";
import { formatIssue, loadPlanFile, planWarnings, PlanValidationError } from "../core/plan/index.ts";

export function planCommand(setCode: (code: number) => void): Command {
  const plan = new Command("plan").description("Work with plan files.");
  plan
    .command("validate")
    .description("Validate plan files (YAML or JSON); prints OK or every error with the path of the bad field.")
    .argument("<files...>", "plan files")
    .action(async (files: string[]) => {
      let failed = false;
      for (const file of files) {
        try {
          const warnings = planWarnings(await loadPlanFile(file));
          process.stdout.write(files.length > 1 ? `${file}: OK\n` : "OK\n");
          for (const warning of warnings) process.stdout.write(`  warning: ${formatIssue(warning)}\n`);
        } catch (error) {
          if (!(error instanceof PlanValidationError)) throw error;
          failed = true;
          process.stdout.write(`${file}: ${error.issues.length} error${error.issues.length === 1 ? "" : "s"}\n`);
          for (const issue of error.issues) process.stdout.write(`  ${formatIssue(issue)}\n`);
        }
      }
      setCode(failed ? 1 : 0);
    });
  return plan;
}
