import { Command, InvalidArgumentError } from "commander";
import { formatIssue, loadPlanFile, planWarnings, PlanValidationError } from "../core/plan/index.ts";
import { planRoles, type PlanRoles } from "../core/roles.ts";
import { containerFor, type PushTarget } from "./pushTarget.ts";
import { PlanPushError, pushPlan, readPlanForPush } from "../plan/push.ts";

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
  plan
    .command("push")
    .description("Validate a plan and upload it to the plans container the Function App reads (Azure, or Azurite with a connection string). An invalid plan is refused and nothing is sent.")
    .requiredOption("--plan <file>", "plan file (YAML or JSON); stored as {plan name}.yaml")
    .option("--account-url <url>", "the storage account's blob endpoint, e.g. https://contososwitchyard.blob.core.windows.net (signed in with DefaultAzureCredential: az login, azd auth login, or a managed identity)")
    .option("--connection-string <text>", "a storage connection string instead (Azurite: UseDevelopmentStorage=true); default SWITCHYARD_STORAGE_CONNECTION_STRING")
    .option("--container <name>", "the plans container (default SWITCHYARD_PLANS_CONTAINER, else switchyard-plans)")
    .option("--create-container", "create the container when it does not exist (Azurite; azd provision creates it in Azure)")
    .option("--json", "print the result as JSON")
    .action(async (o: PushTarget & { plan: string; createContainer?: boolean; json?: boolean }) => {
      let input;
      try {
        input = await readPlanForPush(o.plan);
      } catch (error) {
        if (!(error instanceof PlanValidationError)) throw error;
        process.stdout.write(`${o.plan}: ${error.issues.length} error${error.issues.length === 1 ? "" : "s"}; not pushed\n`);
        for (const issue of error.issues) process.stdout.write(`  ${formatIssue(issue)}\n`);
        setCode(1);
        return;
      }
      let container;
      try {
        container = await containerFor(o);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        process.stderr.write(`switchyard: ${error.message}\n`);
        setCode(2);
        return;
      }
      try {
        const result = await pushPlan(container, input, { createContainer: o.createContainer === true });
        if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          process.stdout.write(`plan ${result.plan} ${result.outcome === "unchanged" ? "unchanged (the container already holds this text)" : result.outcome}: ${result.url}\n`);
          for (const warning of result.warnings) process.stdout.write(`  warning: ${warning}\n`);
          for (const blob of result.invalidBlobs) process.stdout.write(`  note: blob ${blob} in the container is not a valid plan: the app ignores it\n`);
          if (result.outcome !== "unchanged") process.stdout.write("  the app reads the plans container at most a minute after a change\n");
        }
        setCode(0);
      } catch (error) {
        if (!(error instanceof PlanPushError)) throw error;
        process.stderr.write(`switchyard: ${error.message}\n`);
        setCode(1);
      }
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
