import { Command } from "commander";
import { loadPlanFile } from "../core/plan/index.ts";
import { rotateLocally, unknownSecrets } from "../local/rotate.ts";

interface RotateOptions {
  plan: string;
  secret?: string[];
  out: string;
  json?: boolean;
}

/**
 * `switchyard secrets rotate`: rotates a plan's secrets on a local estate seeded from the plan, with
 * the orchestration and activities the Functions app runs in Azure (in Azure, rotations start from Key
 * Vault's events, the daily sweep or POST /api/plans/{plan}/secrets/{name}/rotate). Exit code 0 when
 * every secret rotated, 1 otherwise.
 */
export function secretsCommand(setCode: (code: number) => void): Command {
  const secrets = new Command("secrets").description("A plan's Key Vault secrets.");
  secrets.addCommand(
    new Command("rotate")
      .description("Rotate a plan's secrets on a local estate seeded from the plan: each step as it finishes, and the new version in every vault.")
      .requiredOption("--plan <file>", "plan file")
      .option("--secret <name>", "a secret to rotate (repeatable; default: every secret of the plan)", (value: string, previous: string[] = []) => [...previous, value])
      .option("--out <dir>", "where the log goes", ".switchyard")
      .option("--json", "print the rotations' outputs as JSON (no progress lines)")
      .action(async (o: RotateOptions) => {
        const plan = await loadPlanFile(o.plan);
        if (plan.secrets.length === 0) throw new Error(`plan ${plan.name} names no secrets`);
        const unknown = unknownSecrets(plan, o.secret ?? []);
        if (unknown.length > 0) throw new Error(`plan ${plan.name} names no secret ${unknown.map((n) => `'${n.slice(0, 127)}'`).join(", ")} (its secrets: ${plan.secrets.map((s) => s.name).join(", ")})`);
        const write = (line: string) => process.stdout.write(`${line}\n`);
        const result = await rotateLocally({ plan, ...(o.secret ? { secrets: o.secret } : {}), outputDir: o.out, ...(o.json ? {} : { progress: write }) });
        if (o.json) write(JSON.stringify({ plan: result.plan, ok: result.ok, rotations: result.rotations }, null, 2));
        else write(result.ok ? `rotated ${result.rotations.length} secret(s) in ${result.wallSeconds.toFixed(1)} s` : `${result.rotations.filter((r) => r.outcome !== "rotated").length} of ${result.rotations.length} secret(s) not rotated`);
        setCode(result.ok ? 0 : 1);
      }),
  );
  return secrets;
}
