/**
 * Benchmark: how long each step of a secret rotation takes on the local estate, for each kind of
 * secret of a plan no code was tuned to (harbor: a storage account key and a generated secret in two
 * regional vaults, two sites referencing them; plus a SQL login secret on a failover group's two
 * servers). Wall-clock milliseconds per step (the StepReport's durationMs: lease, reads, writes and
 * the step's own journal entries), median and max over the rounds. The estate models no Key Vault or
 * App Service latency: these figures are Switchyard's own work plus the estate's, not Azure's. A
 * measurement, not a test: nothing here fails on a number.
 *
 *   BENCH_ROTATION_ROUNDS   rotations per secret (default 5)
 */
import { readFileSync } from "node:fs";
import { parse, stringify } from "yaml";
import { parsePlanText } from "../src/core/plan/index.ts";
import { ROTATION_STEPS, rotationInstanceId, type RotationOutput } from "../src/core/rotation/model.ts";
import { startLocalApp } from "../src/local/app.ts";

const ROUNDS = Number(process.env.BENCH_ROTATION_ROUNDS ?? 5);
const doc = parse(readFileSync(new URL("../test/fixtures/harbor.plan.yaml", import.meta.url), "utf8")) as Record<string, any>;
const rg = "/subscriptions/3d2c1b0a-9f8e-4d7c-a6b5-4c3d2e1f0a9b/resourceGroups";
doc.sql = [{ failoverGroup: `${rg}/harbor-san/providers/Microsoft.Sql/servers/harbor-sql-san/failoverGroups/harbor-fog`, partnerServer: `${rg}/harbor-saw/providers/Microsoft.Sql/servers/harbor-sql-saw`, databases: ["bookings"] }];
doc.secrets.push({ name: "bookings-sql", vaults: doc.secrets[0].vaults, source: { kind: "sqlLogin", servers: [`${rg}/harbor-san/providers/Microsoft.Sql/servers/harbor-sql-san`, `${rg}/harbor-saw/providers/Microsoft.Sql/servers/harbor-sql-saw`], logins: ["bookings_a", "bookings_b"], database: "bookings" } });
const plan = parsePlanText(stringify(doc), "harbor + SQL login");
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const app = await startLocalApp({ plans: [plan], log: silent, notifier: { name: "none", notify: async () => undefined } });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  console.log(`rotation steps on the local estate (${plan.name}, ${ROUNDS} rotation(s) per secret; ms, median / max)`);
  for (const secret of plan.secrets) {
    const per = new Map<string, number[]>(ROTATION_STEPS.map((s) => [s, []]));
    const totals: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const started = Date.now();
      await app.rotations.start(plan, secret.name, { kind: "cli", by: "bench" });
      const status = await app.host.waitForCompletion(rotationInstanceId(plan.name, secret.name));
      totals.push(Date.now() - started);
      const output = status.output as RotationOutput;
      if (output.outcome !== "rotated") throw new Error(`${secret.name}: ${output.failedStep} failed: ${output.error}`);
      for (const step of output.steps) per.get(step.step)!.push(step.durationMs);
    }
    const cells = ROTATION_STEPS.map((s) => `${s} ${median(per.get(s)!)} / ${Math.max(...per.get(s)!)}`).join(", ");
    console.log(`  ${secret.name} (${secret.source.kind}): ${cells}; whole rotation ${median(totals)} / ${Math.max(...totals)}`);
  }
} finally {
  await app.stop();
}
