// Benchmark: how fast the real SDK clients complete operations against the local estate (in-process).
// Prints p50/p99 per operation. A measurement, not a test: nothing here fails on a number.
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { ClientFactory } from "../src/azure/clients.ts";
import { loadPlanFile } from "../src/core/plan/index.ts";
import { startEstate } from "../estate/server.ts";
import { seedFromPlans } from "../src/local/estateSeed.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 200);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(name: string, rounds: number, op: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 10; i++) await op(i); // warm-up: connections, JIT
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    await op(i);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} n=${rounds}  p50 ${quantile(times, 0.5).toFixed(2)} ms  p99 ${quantile(times, 0.99).toFixed(2)} ms`);
}

const plan = await loadPlanFile(fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url)));
const estate = await startEstate({ seed: seedFromPlans([plan]) });
try {
  const clients = new ClientFactory({ target: estate.clientTarget() });
  const g = plan.sql[0]!;
  const sql = clients.sql(g.failoverGroup.subscriptionId);
  await measure("FailoverGroups_Get", ROUNDS, () => sql.failoverGroups.get(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, g.failoverGroup.name));
  const servers = [
    { rg: g.partnerServer.resourceGroup, name: g.partnerServer.name },
    { rg: g.failoverGroup.resourceGroup, name: g.failoverGroup.names[0]! },
  ];
  await measure("FailoverGroups_Failover (LRO, 0 ms duration)", Math.min(ROUNDS, 100), (i) => {
    const s = servers[i % 2]!;
    return sql.failoverGroups.beginFailoverAndWait(s.rg, s.name, g.failoverGroup.name, { updateIntervalInMs: 1 });
  });
  const secret = plan.secrets[0]!;
  const kv = clients.secrets(secret.vaults[0]!.name);
  await measure("Key Vault GetSecret", ROUNDS, () => kv.getSecret(secret.name).catch(() => undefined));
} finally {
  await estate.close();
}
