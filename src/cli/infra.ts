import { Command } from "commander";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatIssue, loadPlanFile, PlanValidationError, type Plan } from "../core/plan/index.ts";
import { allAssignments, emptyRoles, generateRoles, InfraRolesError, regionWarnings, type GeneratedRoles } from "../core/infraRoles.ts";

const PLAN_FILE = /\.(ya?ml|json)$/i;

/** The plan files of a folder (YAML or JSON), sorted; a folder that does not exist has none. */
async function plansIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && PLAN_FILE.test(e.name))
      .map((e) => join(dir, e.name))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new InfraRolesError(`--plans-dir: cannot read ${dir}: ${(error as Error).message}`);
  }
}

function summary(roles: GeneratedRoles, out: string): string {
  const lines = [`${out}: ${allAssignments(roles).length} role assignment(s) for ${roles.plans.length} plan(s) (Switchyard in ${roles.location || "an unknown location"})`];
  for (const plan of roles.plans) {
    const mine = allAssignments(roles).filter((a) => a.plans.includes(plan));
    lines.push(`  ${plan}: ${mine.length} assignment(s) on ${new Set(mine.map((a) => a.scope.toLowerCase())).size} scope(s)`);
  }
  for (const [kind, list] of Object.entries(roles.assignments)) if (list.length > 0) lines.push(`  ${kind}: ${list.length}`);
  for (const role of roles.customRoles) lines.push(`  custom role '${role.name}' (${role.actions.length} actions), assignable in ${role.subscriptions.length} subscription(s)`);
  lines.push("  own: Storage Blob Data Contributor (and the Functions host's queue and table roles) on Switchyard's storage account, by infra/core/storage.bicep");
  if (roles.alsoRequired.length > 0) {
    lines.push("", "To do by hand (not Azure role assignments):");
    for (const item of roles.alsoRequired) lines.push(`  - ${item}`);
  }
  return `${lines.join("\n")}\n`;
}

export function infraCommand(setCode: (code: number) => void): Command {
  const infra = new Command("infra").description("Deployment helpers (the azd hooks of azure.yaml).");
  infra
    .command("roles")
    .description("Write the role assignments the plans need (least privilege, at each resource) as the JSON file infra/main.bicep loads, and warn when Switchyard would run in a plan's primary region.")
    .option("--plan <file>", "a plan file (repeat for several)", (value: string, previous: string[] = []) => [...previous, value])
    .option("--plans-dir <dir>", "also every plan file (.yaml, .yml, .json) in this folder")
    .requiredOption("--location <region>", "the region Switchyard is deployed to (azd: $AZURE_LOCATION)")
    .option("--out <file>", "the file to write", "infra/plan-roles.json")
    .option("--json", "print the generated file instead of a summary")
    .action(async (o: { plan?: string[]; plansDir?: string; location: string; out: string; json?: boolean }) => {
      try {
        const files = [...(o.plan ?? []), ...(o.plansDir ? await plansIn(o.plansDir) : [])];
        const plans: Plan[] = [];
        let invalid = false;
        for (const file of files) {
          try {
            plans.push(await loadPlanFile(file));
          } catch (error) {
            if (!(error instanceof PlanValidationError)) throw error;
            invalid = true;
            process.stderr.write(`${file}: ${error.issues.length} error${error.issues.length === 1 ? "" : "s"}\n`);
            for (const issue of error.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
          }
        }
        if (invalid) {
          process.stderr.write(`switchyard infra roles: ${o.out} not written (fix the plans above)\n`);
          setCode(1);
          return;
        }
        const roles = plans.length > 0 ? generateRoles(plans, o.location) : emptyRoles(o.location);
        if (plans.length === 0) {
          generateRoles([], o.location); // the location is still checked
          process.stderr.write(`switchyard infra roles: no plan given${o.plansDir ? ` (none in ${o.plansDir})` : ""}; writing no plan role assignment. Add plans and provision again.\n`);
        }
        for (const warning of regionWarnings(plans, roles.location)) process.stderr.write(`WARNING: ${warning}\n`);
        await mkdir(dirname(o.out), { recursive: true });
        await writeFile(o.out, `${JSON.stringify(roles, null, 2)}\n`);
        process.stdout.write(o.json ? `${JSON.stringify(roles, null, 2)}\n` : summary(roles, o.out));
        setCode(0);
      } catch (error) {
        if (!(error instanceof InfraRolesError)) throw error;
        process.stderr.write(`switchyard infra roles: ${error.message}\n`);
        setCode(1);
      }
    });
  return infra;
}
