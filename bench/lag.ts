/**
 * Benchmark: one replication lag round (src/lag/measure.ts) over a large plan, against the local estate
 * run in a process of its own (bench/lagEstate.ts), with Resource Manager's throttling on at Azure's
 * limits (estate/armThrottle.ts: reads 250 + 25/s per principal and subscription). A measurement, not a
 * test: nothing here fails on a number.
 *
 *   plan     BENCH_LAG_GROUPS failover groups (default 50) of BENCH_LAG_DATABASES databases each
 *            (default 10: 500 in all) and BENCH_LAG_ACCOUNTS storage accounts (default 100), in
 *            westus3/eastus, with names no other plan uses.
 *   latency  each TDS login is answered after BENCH_LAG_TDS_LATENCY_MS (default "0,50": both), the
 *            network and gateway time a login spends in Azure; 0 leaves only the work of both ends.
 *   single   one TDS login + DMV query, and one ARM read: medians of 20 in a row.
 *   round    the whole round at the default concurrency (16 TDS logins, 8 ARM reads at once), with the
 *            pacers full as a fresh worker has them, and at the last latency once more a minute later
 *            (the timer's next round: the storage pacer then holds 60 of its 100 reads): wall time,
 *            ARM calls and how many were throttled, the time the reads waited for the pacers, read
 *            tokens left, TDS logins, and the ratio to the ideal ceil(groups / 8) × ARM latency +
 *            ceil(databases / 16) × TDS latency (the storage reads run beside the SQL work). The
 *            client's own CPU per login (TLS handshake, the driver) is not in the ideal: where it
 *            dominates, the ratio says so.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { ClientFactory, type Target } from "../src/azure/clients.ts";
import { TokenBucketPacer } from "../src/azure/armPacer.ts";
import { querySql } from "../src/azure/sqlQuery.ts";
import { parsePlan, type PlanInput } from "../src/core/plan/index.ts";
import { LAG_QUERY, measureLag } from "../src/lag/measure.ts";
import { applyRound, DEFAULT_LAG_RETENTION, type LagDocument } from "../src/lag/store.ts";

const GROUPS = Number(process.env.BENCH_LAG_GROUPS ?? 50);
const DATABASES = Number(process.env.BENCH_LAG_DATABASES ?? 10);
const ACCOUNTS = Number(process.env.BENCH_LAG_ACCOUNTS ?? 100);
const LATENCIES = (process.env.BENCH_LAG_TDS_LATENCY_MS ?? "0,50").split(",").map(Number);
const TDS_CONCURRENCY = 16;
const ARM_CONCURRENCY = 8;

const sub = "/subscriptions/7d3e9a41-2b6c-4f8d-a1e0-5c4b3a291807";
const pad = (n: number) => String(n).padStart(3, "0");
const document: PlanInput = {
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
};
const plan = parsePlan(document);
const planFile = join(mkdtempSync(join(tmpdir(), "switchyard-lagbench-")), "plan.json");
writeFileSync(planFile, JSON.stringify(document));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (n: number) => `${n.toFixed(1)} ms`;

/** The estate in its own process; resolves with its client target and a stop function. */
async function childEstate(latencyMs: number): Promise<{ target: Extract<Target, { kind: "estate" }>; stop: () => Promise<void> }> {
  const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
  const child = spawn(process.execPath, [tsx, fileURLToPath(new URL("./lagEstate.ts", import.meta.url)), planFile, String(latencyMs)], { stdio: ["pipe", "pipe", "inherit"] });
  const [line] = await new Promise<string[]>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the estate exited (${code})`)));
    createInterface({ input: child.stdout! }).once("line", (l) => resolve([l]));
  });
  const target = JSON.parse(line!) as Extract<Target, { kind: "estate" }>;
  return { target, stop: () => new Promise<void>((resolve) => (child.once("exit", () => resolve()), child.stdin!.end())) };
}

async function throttling(target: { url: string; ca: string }): Promise<{ requests: number; throttled: number; buckets: { operationClass: string; principal?: string; remaining: number }[] }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    request(`${target.url}/_estate/throttling`, { ca: target.ca }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve(JSON.parse(text)));
    }).on("error", reject).end();
  });
}

console.log(`lag round: ${GROUPS} failover groups × ${DATABASES} databases = ${GROUPS * DATABASES} databases, ${ACCOUNTS} storage accounts; ARM throttling on at Azure's limits; the estate in its own process`);
let storedBytes = 0;
for (const latency of LATENCIES) {
  const estate = await childEstate(latency);
  try {
    const clients = new ClientFactory({ target: estate.target, maxRetries: 3 });
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
    const databases = GROUPS * DATABASES;
    const ideal = Math.ceil(GROUPS / ARM_CONCURRENCY) * armMs + Math.ceil(databases / TDS_CONCURRENCY) * tdsMs;
    console.log(`  TDS login latency planted ${latency} ms — single: TDS login + DMV query ${ms(tdsMs)}, ARM read ${ms(armMs)} (medians of 20)`);
    // The process's pacers as a fresh worker has them (full); the second round comes a minute later,
    // as the timer's next: Azure's read bucket is full again, the storage pacer's holds 60 of 100.
    const armPacer = new TokenBucketPacer(100, 20);
    const storagePacer = new TokenBucketPacer(100, 1);
    for (const label of latency === LATENCIES.at(-1) ? ["first round", "a minute later"] : ["first round"]) {
      if (label !== "first round") await new Promise((r) => setTimeout(r, 60_000));
      const before = await throttling(estate.target);
      const started = performance.now();
      const cpu = process.cpuUsage();
      const round = await measureLag(plan, { clients, clock: () => new Date() }, { tdsConcurrency: TDS_CONCURRENCY, armConcurrency: ARM_CONCURRENCY, armPacer, storagePacer });
      const wall = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const after = await throttling(estate.target);
      const unknown = round.samples.filter((s) => s.lagSeconds === null).length;
      const left = Math.min(...after.buckets.filter((b) => b.operationClass === "read" && b.principal !== undefined).map((b) => b.remaining));
      if (label === "first round" && latency === LATENCIES[0]) {
        // The stored document once it holds an hour of rounds (the default retention of 60 samples).
        let doc: LagDocument = { plan: plan.name, resources: {} };
        for (let i = 0; i < DEFAULT_LAG_RETENTION; i++) {
          const at = (s: string) => new Date(Date.parse(s) + i * 60_000).toISOString();
          doc = applyRound(doc, round.samples.map((s) => ({ ...s, measuredAt: at(s.measuredAt) })), plan.objectives.rpoSeconds, DEFAULT_LAG_RETENTION, new Date(Date.now() + i * 60_000)).doc;
        }
        storedBytes = Buffer.byteLength(JSON.stringify(doc));
      }
      console.log(
        `    ${label}: ${ms(wall)} wall (client CPU ${ms((used.user + used.system) / 1000)}); ${round.samples.length} samples (${unknown} without a lag); ARM calls ${after.requests - before.requests} (throttled ${after.throttled - before.throttled}; paced ${ms(round.armPacedMs)}; ${left} of 250 read tokens left); TDS logins ${round.tdsLogins}; ideal ${ms(ideal)}, ratio ${(wall / ideal).toFixed(2)}`,
      );
    }
  } finally {
    await estate.stop();
  }
}
console.log(`  the plan's lag document (lag/${plan.name}.json) with ${DEFAULT_LAG_RETENTION} rounds kept: ${(storedBytes / 1024).toFixed(0)} KB`);
