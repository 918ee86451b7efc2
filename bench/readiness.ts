/**
 * Benchmark: how long a readiness evaluation takes on the local estate, and how many requests it
 * sends, for plans no code was tuned to (meridian: every kind of resource, australiaeast →
 * australiasoutheast; northwind: japaneast → japanwest) and the example plan — with RBAC off, and with
 * the estate enforcing the plan's roles (the permission checks then answer from role assignments).
 * Wall-clock milliseconds per evaluation (`evaluateReadiness`), median and max over the rounds, on one
 * started app per plan. The estate models no ARM or Key Vault latency beyond its profile's: these are
 * Switchyard's own work plus the estate's. A measurement, not a test: nothing here fails on a number,
 * except an evaluation that writes to Azure or is not ready on a clean estate.
 *
 *   BENCH_READINESS_ROUNDS   evaluations per plan and mode (default 10)
 */
import { createProbe } from "../src/activities/probe.ts";
import { loadPlanFile } from "../src/core/plan/index.ts";
import { startLocalApp } from "../src/local/app.ts";
import { planRbac } from "../src/local/readiness.ts";
import { evaluateReadiness } from "../src/readiness/evaluate.ts";

const ROUNDS = Number(process.env.BENCH_READINESS_ROUNDS ?? 10);
const PLANS = ["test/fixtures/meridian.plan.yaml", "test/fixtures/northwind.plan.yaml", "examples/contoso.plan.yaml"];
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`readiness evaluations on the local estate (${ROUNDS} per plan and mode; ms, median / max; requests per evaluation)`);
for (const file of PLANS) {
  const plan = await loadPlanFile(new URL(`../${file}`, import.meta.url).pathname);
  const app = await startLocalApp({ plans: [plan], log: silent, notifier: { name: "none", notify: async () => undefined } });
  try {
    for (const rbac of [false, true]) {
      app.estate.setRbac(rbac ? planRbac(plan) : { enabled: false });
      const times: number[] = [];
      let requests = 0;
      let checks = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const since = app.estate.requests().at(-1)?.seq ?? 0;
        const started = performance.now();
        const result = await evaluateReadiness(plan, { clients: app.clients, probe: createProbe(app.clients), clock: () => new Date() });
        times.push(performance.now() - started);
        const sent = app.estate.requests({ since });
        if (sent.some((r) => r.write)) throw new Error(`${plan.name}: an evaluation wrote to Azure`);
        if (!result.ready) throw new Error(`${plan.name}: not ready on a clean estate`);
        requests = sent.length;
        checks = result.checks.length;
      }
      console.log(`  ${plan.name.padEnd(22)} RBAC ${rbac ? "on " : "off"}  ${median(times).toFixed(0).padStart(4)} / ${Math.max(...times).toFixed(0).padStart(4)} ms  ${checks} checks, ${requests} requests, 0 writes`);
    }
  } finally {
    await app.stop();
  }
}
