/**
 * Benchmark: how fast the alert webhook answers, in-process (the route handler `app.routes` serves,
 * called with an HttpRequest as the Functions host would hand it over) and over loopback HTTP
 * (serveHttp), against startLocalApp: the local estate, Azurite (detection state and the journal) and
 * the local durable host. One request at a time; p50/p99 of the answer time. A measurement, not a
 * test: nothing here fails on a number.
 *
 *   BENCH_WEBHOOK_N     requests in-process (default 2000)
 *   BENCH_WEBHOOK_HTTP  requests over loopback HTTP (default 1000; 0 skips)
 *
 * The mix, drawn in a fixed pseudo-random order:
 *   40 % recorded   a fresh Fired/Resolved alert of a rule the plan names (202; the state is updated)
 *   20 % duplicate  an earlier recorded alert again, as action groups retry (200)
 *   20 % ignored    a corpus payload no plan names, under a fresh alert id (200)
 *   20 % invalid    malformed JSON, a wrong schemaId, missing fields (400)
 * The plan is examples/contoso.plan.yaml with one alertRules entry; its quorum (2 for 180 s) is not
 * reached by one rule, so no run starts. Every recorded alert adds a dedupe key the plan's state keeps
 * for 24 h, so the state document grows over the run (as it would in a real alert storm).
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import azureFunctions from "@azure/functions";
import { parse, stringify } from "yaml";
import { parsePlanText } from "../src/core/plan/index.ts";
import { serveHttp } from "../src/http/server.ts";
import { startLocalApp } from "../src/local/app.ts";
import type { Notifier } from "../src/notify/notifier.ts";
import { alertIdOf, corpusAlertFiles, corpusBody, metricAlert } from "../test/helpers/alertBodies.ts";

const { HttpRequest } = azureFunctions;

const N = Number(process.env.BENCH_WEBHOOK_N ?? 2000);
const N_HTTP = Number(process.env.BENCH_WEBHOOK_HTTP ?? 1000);
const RULE = "orders-api-5xx";

const doc = parse(readFileSync(fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url)), "utf8")) as Record<string, unknown>;
const plan = parsePlanText(stringify({ ...doc, alertRules: [{ rule: RULE, region: "eastus2" }] }), "contoso.plan.yaml + alertRules");

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const notifier: Notifier = { name: "none", notify: async () => undefined };

type Kind = "recorded" | "duplicate" | "ignored" | "invalid";
interface Sample {
  kind: Kind;
  ms: number;
  status: number;
}

/** A small seeded generator: the same mix every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ignoredBodies = corpusAlertFiles();
const invalidBodies: string[] = [
  "{not json",
  "",
  "[]",
  JSON.stringify({ schemaId: "Microsoft.Insights/activityLogs", data: {} }),
  JSON.stringify({ ...corpusBody("metric-alert-static-threshold.alertContext.json"), data: { essentials: { alertRule: RULE } } }),
];

/** The bodies of one series: `n` requests in the mix, with alert ids unique to `series`. */
function bodies(series: string, n: number): { kind: Kind; text: string }[] {
  const random = rng(n * 7919 + series.length);
  const recorded: string[] = [];
  const out: { kind: Kind; text: string }[] = [];
  for (let i = 0; i < n; i++) {
    const r = random();
    if (r < 0.4 || (r < 0.6 && recorded.length === 0)) {
      const condition = random() < 0.5 ? "Fired" : "Resolved";
      const text = JSON.stringify(metricAlert({ alertId: alertIdOf(`${series}-${i}`), rule: RULE, condition, firedAt: new Date(Date.now() - 60_000), resolvedAt: new Date() }));
      recorded.push(text);
      out.push({ kind: "recorded", text });
    } else if (r < 0.6) {
      out.push({ kind: "duplicate", text: recorded[Math.floor(random() * recorded.length)]! });
    } else if (r < 0.8) {
      const file = ignoredBodies[Math.floor(random() * ignoredBodies.length)]!;
      const body = corpusBody(file);
      body.data.essentials.alertId = alertIdOf(`${series}-ignored-${i}`);
      out.push({ kind: "ignored", text: JSON.stringify(body) });
    } else {
      out.push({ kind: "invalid", text: invalidBodies[Math.floor(random() * invalidBodies.length)]! });
    }
  }
  return out;
}

const EXPECTED: Record<Kind, number> = { recorded: 202, duplicate: 200, ignored: 200, invalid: 400 };

function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function report(label: string, samples: readonly Sample[]): void {
  const line = (name: string, list: readonly Sample[]) => {
    const sorted = list.map((s) => s.ms).sort((a, b) => a - b);
    return `${name} p50 ${quantile(sorted, 0.5).toFixed(2)} ms p99 ${quantile(sorted, 0.99).toFixed(2)} ms (n=${list.length})`;
  };
  console.log(line(`webhook ${label}`, samples));
  for (const kind of ["recorded", "duplicate", "ignored", "invalid"] as const) console.log(`  ${line(kind.padEnd(9), samples.filter((s) => s.kind === kind))}`);
  // The state document grows with every recorded alert (24 h of dedupe keys): early vs late answers.
  const recorded = samples.filter((s) => s.kind === "recorded" || s.kind === "duplicate");
  const tenth = Math.max(1, Math.floor(recorded.length / 10));
  console.log(`  ${line("recorded+duplicate, first 10 %", recorded.slice(0, tenth))}; ${line("last 10 %", recorded.slice(-tenth))}`);
  const unexpected = samples.filter((s) => s.status !== EXPECTED[s.kind]);
  if (unexpected.length > 0) console.log(`  unexpected answers: ${unexpected.length} (${[...new Set(unexpected.map((s) => `${s.kind}→${s.status}`))].join(", ")})`);
}

const app = await startLocalApp({ plans: [plan], log: silent, notifier });
const http = N_HTTP > 0 ? await serveHttp(app.routes) : undefined;
try {
  const handler = app.routes.find((r) => r.name === "alerts")!.handler;
  const inProcess = async (text: string) => {
    const request = new HttpRequest({ method: "POST", url: "http://127.0.0.1/api/alerts", headers: { "content-type": "application/json" }, ...(text ? { body: { string: text } } : {}) });
    return (await handler(request)).status ?? 200;
  };
  const overHttp = async (text: string) => {
    const response = await fetch(`${http!.url}/api/alerts`, { method: "POST", headers: { "content-type": "application/json" }, body: text });
    await response.arrayBuffer();
    return response.status;
  };

  const measure = async (label: string, series: string, n: number, send: (text: string) => Promise<number>) => {
    for (const b of bodies(`${series}-warmup`, 20)) await send(b.text); // connections, JIT, containers
    const samples: Sample[] = [];
    for (const b of bodies(series, n)) {
      const started = performance.now();
      const status = await send(b.text);
      samples.push({ kind: b.kind, ms: performance.now() - started, status });
    }
    report(label, samples);
  };

  await measure("in-process", "inproc", N, inProcess);
  if (http) await measure("loopback HTTP", "http", N_HTTP, overHttp);
  const { state } = await app.store.get(plan.name);
  console.log(`  state after the runs: ${Object.keys(state.seenAlerts).length} dedupe keys, ${JSON.stringify(state).length} bytes; run started: ${(await app.runs.get(plan.name)) ? "yes" : "no"}`);
} finally {
  await http?.close();
  await app.stop();
}
