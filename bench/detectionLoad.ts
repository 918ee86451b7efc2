/**
 * Benchmark: the detection state under an alert storm and with many plans, against startLocalApp (the
 * local estate, Azurite holding the real BlobPlanStateStore, the local durable host). A measurement,
 * not a test: nothing here fails on a number.
 *
 *   storm       200 alerts with distinct ids and rule names at once through the webhook handler: the
 *               answers (5xx count), p50/p99 of the answer time, and how many times the state blob
 *               was written for them.
 *   growth      then 1,800 more distinct-rule alerts, 50 at a time (2,000 in all): the state blob's
 *               size, the size of GET /api/plans/{plan}, and one alert at a time before and after.
 *   many plans  200 plans: one health timer round (checkAllHealth, HEALTH_CONCURRENCY plans at a
 *               time) and webhook p50/p99 (one alert at a time) with 200 plans against 1 plan.
 *
 *   BENCH_DETECTION_PLANS        plans in the last part (default 200)
 *   BENCH_DETECTION_SKIP_STORM   set: only the last part
 *
 * The alerts are static-threshold metric alerts whose target is the plan's eastus2 web app: no rule is
 * named in the plan, so each is classified by its target and recorded as a signal of its own rule.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import azureFunctions from "@azure/functions";
import { parsePlanText, type Plan } from "../src/core/plan/index.ts";
import { buildHandlers } from "../src/app/handlers.ts";
import { createProbe } from "../src/activities/probe.ts";
import { BlobPlanStateStore } from "../src/detection/stateStore.ts";
import { startLocalApp, type LocalApp } from "../src/local/app.ts";
import type { Notifier } from "../src/notify/notifier.ts";
import { alertIdOf, metricAlert } from "../test/helpers/alertBodies.ts";

const { HttpRequest } = azureFunctions;

const PLANS = Number(process.env.BENCH_DETECTION_PLANS ?? 200);
const STORM = 200;
const GROWTH = 2000;
const WAVE = 50;

const exampleText = readFileSync(fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url)), "utf8");
/** The example plan, renamed `n` (its resources, endpoints and names all renamed with it). */
const planNamed = (n: string): Plan => parsePlanText(exampleText.replaceAll("contoso-orders", n).replaceAll("contosoorders", n.replaceAll("-", "")), `${n}.plan.yaml`);
const siteOf = (plan: Plan) => plan.appService.find((s) => s.region === "eastus2")!.site.id;

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const notifier: Notifier = { name: "none", notify: async () => undefined };

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;
function latency(samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `p50 ${ms(quantile(sorted, 0.5))} p99 ${ms(quantile(sorted, 0.99))} max ${ms(sorted.at(-1) ?? NaN)} (n=${samples.length})`;
}

/** The webhook of `app`, in-process: sends one alert, answers its status and time. */
function webhook(app: LocalApp) {
  const handler = app.routes.find((r) => r.name === "alerts")!.handler;
  return async (body: unknown): Promise<{ status: number; ms: number }> => {
    const started = performance.now();
    const request = new HttpRequest({ method: "POST", url: "http://127.0.0.1/api/alerts", headers: { "content-type": "application/json" }, body: { string: JSON.stringify(body) } });
    const status = (await handler(request)).status ?? 200;
    return { status, ms: performance.now() - started };
  };
}

const alertFor = (plan: Plan, id: string) => metricAlert({ alertId: alertIdOf(id), rule: `rule-${id}`, firedAt: new Date(Date.now() - 60_000), targets: [siteOf(plan)] });

function statuses(results: readonly { status: number }[]): string {
  const counts = new Map<number, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(" ");
}

const writes = (store: BlobPlanStateStore) => store.stats.writes;

async function oneAtATime(send: (body: unknown) => Promise<{ status: number; ms: number }>, plan: Plan, series: string, n: number) {
  const out: { status: number; ms: number }[] = [];
  for (let i = 0; i < n; i++) out.push(await send(alertFor(plan, `${series}-${i}`)));
  return out;
}

async function stormAndGrowth(): Promise<void> {
  const plan = planNamed("contoso-orders");
  const app = await startLocalApp({ plans: [plan], log: silent, notifier });
  try {
    const send = webhook(app);
    await oneAtATime(send, plan, "warmup", 10);
    const before = await oneAtATime(send, plan, "first", 50);

    const writesBefore = writes(app.store);
    const started = performance.now();
    const storm = await Promise.all(Array.from({ length: STORM }, (_, i) => send(alertFor(plan, `storm-${i}`))));
    const wall = performance.now() - started;
    const stormWrites = writes(app.store) - writesBefore;
    console.log(`detection storm: ${STORM} concurrent distinct alerts in ${ms(wall)}: ${statuses(storm)}; ${latency(storm.map((r) => r.ms))}; state blob writes ${stormWrites}`);

    const growthWrites = writes(app.store);
    const growth: { status: number; ms: number }[] = [];
    for (let sent = STORM + 60; sent < GROWTH; sent += WAVE) {
      growth.push(...(await Promise.all(Array.from({ length: Math.min(WAVE, GROWTH - sent) }, (_, i) => send(alertFor(plan, `growth-${sent + i}`))))));
    }
    const writtenForGrowth = writes(app.store) - growthWrites;
    const after = await oneAtATime(send, plan, "last", 50);
    const props = await app.clients.blobService().getContainerClient("switchyard-state").getBlobClient(BlobPlanStateStore.blobName(plan.name)).getProperties();
    const view = await app.routes.find((r) => r.name === "planGet")!.handler(new HttpRequest({ method: "GET", url: `http://127.0.0.1/api/plans/${plan.name}`, params: { plan: plan.name } }));
    const { state } = await app.store.get(plan.name);
    const signals = Object.values(state.signals).reduce((n, byName) => n + Object.keys(byName).length, 0);
    console.log(`detection growth: ${GROWTH} distinct-rule alerts (the last ${growth.length} in waves of ${WAVE}: ${statuses(growth)}; ${latency(growth.map((r) => r.ms))}; state blob writes ${writtenForGrowth})`);
    console.log(`  state blob ${(props.contentLength! / 1024).toFixed(1)} KB (${Object.keys(state.seenAlerts).length} dedupe keys, ${signals} signals); GET /api/plans/${plan.name} ${(JSON.stringify(view.jsonBody ?? view.body ?? "").length / 1024).toFixed(1)} KB`);
    console.log(`  one alert at a time: first 50 ${latency(before.map((r) => r.ms))}; after ${GROWTH}: ${latency(after.map((r) => r.ms))}`);
  } finally {
    await app.stop();
  }
}

async function manyPlans(count: number): Promise<{ health: number; webhook: string }> {
  const plans = Array.from({ length: count }, (_, i) => (i === 0 ? planNamed("contoso-orders") : planNamed(`p${String(i).padStart(3, "0")}-orders`)));
  const app = await startLocalApp({ plans, log: silent, notifier });
  try {
    const send = webhook(app);
    await oneAtATime(send, plans[0]!, `warmup-${count}`, 10);
    const samples: number[] = [];
    // Alerts for one plan: what differs between the runs is only how many plans there are.
    for (let i = 0; i < 100; i++) samples.push((await send(alertFor(plans[0]!, `plans-${count}-${i}`))).ms);
    // The handlers the local app builds, over its services (the Functions timer builds the same).
    const handlers = buildHandlers({ plans: app.plans, runs: app.runs, store: app.store, journal: app.journal, clients: app.clients, probe: createProbe(app.clients), log: silent, clock: () => new Date(), appServiceAuthOn: false });
    const started = performance.now();
    await handlers.checkAllHealth();
    return { health: performance.now() - started, webhook: latency(samples) };
  } finally {
    await app.stop();
  }
}

if (!process.env.BENCH_DETECTION_SKIP_STORM) await stormAndGrowth();
const one = await manyPlans(1);
const many = await manyPlans(PLANS);
console.log(`detection with 1 plan: health round ${ms(one.health)}; webhook one at a time ${one.webhook}`);
console.log(`detection with ${PLANS} plans: health round ${ms(many.health)}; webhook one at a time ${many.webhook}`);
