/**
 * Benchmark: one replication lag round (src/lag/measure.ts) over a large plan on the local estate, with
 * Resource Manager's throttling on at Azure's limits (estate/armThrottle.ts: reads 250 + 25/s per
 * principal and subscription). A measurement, not a test: nothing here fails on a number.
 *
 *   plan    BENCH_LAG_GROUPS failover groups (default 50) of BENCH_LAG_DATABASES databases each
 *           (default 10: 500 in all) and BENCH_LAG_ACCOUNTS storage accounts (default 100), in
 *           westus3/eastus, names no other plan uses.
 *   single  the latency of one TDS login + DMV query, and of one ARM read, each the median of 20 in a row.
 *   round   the whole round at the default concurrency (16 TDS logins, 8 ARM reads at once): wall
 *           time, ARM calls and how many were throttled, TDS logins, and the ratio to the ideal
 *           ceil(groups / 8) × ARM latency + ceil(databases / 16) × TDS latency (the storage reads run
 *           beside the SQL work and take less).
 */
import { performance } from "node:perf_hooks";
import { ClientFactory } from "../src/azure/clients.ts";
import { querySql } from "../src/azure/sqlQuery.ts";
import { parsePlan, type Plan } from "../src/core/plan/index.ts";
import { LAG_QUERY, measureLag } from "../src/lag/measure.ts";
import { seedFromPlans } from "../src/local/estateSeed.ts";
import { startEstate } from "../estate/server.ts";

const GROUPS = Number(process.env.BENCH_LAG_GROUPS ?? 50);
const DATABASES = Number(process.env.BENCH_LAG_DATABASES ?? 10);
const ACCOUNTS = Number(process.env.BENCH_LAG_ACCOUNTS ?? 100);
const TDS_CONCURRENCY = 16;
const ARM_CONCURRENCY = 8;

const sub = "/subscriptions/7d3e9a41-2b6c-4f8d-a1e0-5c4b3a291807";
const pad = (n: number) => String(n).padStart(3, "0");

function bigPlan(): Plan {
  return parsePlan({
    name: "lagbench-ledger",
    regions: {
      primary: { name: "westus3", healthEndpoints: [{ url: "https://ledger-wus3.lagbench.example/health" }] },
      secondary: { name: "eastus", healthEndpoints: [{ url: "https://ledger-eus.lagbench.example/health" }] },
    },
    objectives: { rpoSeconds: 120, rtoMinutes: 60 },
    sql: Array.from({ length: GROUPS }, (_, g) => ({
      failoverGroup: `${sub}/resourceGroups/ledger-wus3/providers/Microsoft.Sql/servers/ledger-sql-${pad(g)}-wus3/failoverGroups/ledger-fog-${pad(g)}`,
      partnerServer: `${sub}/resourceGroups/ledger-eus/providers/Microsoft.Sql/servers/ledger-sql-${pad(g)}-eus`,
      databases: Array.from({ length: DATABASES }, (_, d) => `shard${pad(g)}x${pad(d)}`),
    })),
    storage: Array.from({ length: ACCOUNTS }, (_, a) => ({ account: `${sub}/resourceGroups/ledger-wus3/providers/Microsoft.Storage/storageAccounts/ledgerblob${pad(a)}`, sku: "Standard_RAGRS" })),
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (n: number) => `${n.toFixed(1)} ms`;

const plan = bigPlan();
const estate = await startEstate({ seed: seedFromPlans([plan]), armThrottling: true });
try {
  const clients = new ClientFactory({ target: estate.clientTarget(), maxRetries: 3 });
  const first = plan.sql[0]!;
  const tds: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await querySql(clients.target, clients.credential, { server: first.failoverGroup.names[0]!, database: first.databases![i % DATABASES]!, statement: LAG_QUERY, connectTimeoutMs: 15_000, requestTimeoutMs: 10_000 });
    tds.push(performance.now() - started);
  }
  const arm: number[] = [];
  const account = plan.storage[0]!.account;
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await clients.storage(account.subscriptionId).storageAccounts.getProperties(account.resourceGroup, account.name, { expand: "geoReplicationStats" });
    arm.push(performance.now() - started);
  }
  const [tdsMs, armMs] = [median(tds), median(arm)];
  estate.armThrottle.reset();

  const databases = GROUPS * DATABASES;
  const ideal = Math.ceil(GROUPS / ARM_CONCURRENCY) * armMs + Math.ceil(databases / TDS_CONCURRENCY) * tdsMs;
  console.log(`lag round: ${GROUPS} failover groups × ${DATABASES} databases = ${databases} databases, ${ACCOUNTS} storage accounts; ARM throttling on at Azure's limits`);
  console.log(`  single: TDS login + DMV query ${ms(tdsMs)}, ARM read ${ms(armMs)} (medians of 20)`);
  for (const label of ["first round", "second round"]) {
    const before = estate.armThrottle.report();
    const started = performance.now();
    const round = await measureLag(plan, { clients, clock: () => new Date() }, { tdsConcurrency: TDS_CONCURRENCY, armConcurrency: ARM_CONCURRENCY });
    const wall = performance.now() - started;
    const after = estate.armThrottle.report();
    const unknown = round.samples.filter((s) => s.lagSeconds === null).length;
    const left = Math.min(...after.buckets.filter((b) => b.operationClass === "read" && b.principal !== undefined).map((b) => b.remaining));
    console.log(
      `  ${label}: ${ms(wall)} wall; ${round.samples.length} samples (${unknown} without a lag); ARM calls ${after.requests - before.requests} (throttled ${after.throttled - before.throttled}; ${left} read tokens left of 250); TDS logins ${round.tdsLogins}; ideal ${ms(ideal)}, ratio ${(wall / ideal).toFixed(2)}`,
    );
  }
} finally {
  await estate.close();
}
