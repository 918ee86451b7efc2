import { Command } from "commander";
import { formatIssue, loadPlanFile, planWarnings, PlanValidationError } from "../core/plan/index.ts";
import { planRoles, type PlanRoles } from "../core/roles.ts";

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
  plan
    .command("roles")
    .description("The least-privilege role assignments a plan needs: role, scope (the resource), why, and the actions it is for.")
    .requiredOption("--plan <file>", "plan file")
    .option("--json", "print them as JSON")
    .action(async (o: { plan: string; json?: boolean }) => {
      const roles = planRoles(await loadPlanFile(o.plan));
      process.stdout.write(o.json ? `${JSON.stringify(roles, null, 2)}\n` : formatPlanRoles(roles));
      setCode(0);
    });
  return plan;
}

/** `switchyard plan roles` for people: each assignment with its reason and actions, then the custom roles to define. */
export function formatPlanRoles(roles: PlanRoles): string {
  const lines = [`plan ${roles.plan}: ${roles.assignments.length} role assignment(s), each scoped to the resource it is for (operation status reads: its resource group)`];
  for (const a of roles.assignments) {
    lines.push("", `${a.role}${a.roleDefinitionId ? ` (${a.roleDefinitionId})` : " (custom role, defined below)"}`, `  scope:   ${a.scope}`, `  why:     ${a.why}`);
    lines.push(`  actions: ${a.actions.map((x) => `${x.action}${x.data ? " (data)" : ""}`).join(", ")}`);
  }
  const custom = [...new Map(roles.assignments.flatMap((a) => (a.custom ? [[a.custom.name, a.custom] as const] : []))).values()];
  for (const role of custom) {
    lines.push("", `custom role "${role.name}": ${role.description}`, `  actions: ${role.actions.join(", ")}`, `  assignable scopes: ${roles.assignments.filter((a) => a.custom?.name === role.name).map((a) => a.scope).join(", ")}`);
  }
  if (roles.own.length > 0) lines.push("", "and on Switchyard's own storage (not a resource of the plan):");
  for (const own of roles.own) lines.push(`${own.role} (${own.roleDefinitionId})`, `  scope:   ${own.scope}`, `  why:     ${own.why}`);
  if (roles.alsoRequired.length > 0) lines.push("", "also required (not Azure role assignments):", ...roles.alsoRequired.map((x) => `  - ${x}`));
  return `${lines.join("\n")}\n`;
}
