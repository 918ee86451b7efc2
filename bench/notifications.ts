/**
 * Benchmark: how long after a run asks for approval each stakeholder has the message, at Azure time
 * (time scale 1: the estate's durations are Azure's own, the delivery timer runs every 15 s as in
 * Azure). The example plan with its five channels; the primary region down with a lag over the RPO, so
 * the gate asks a person. Per round: a failover starts, the approval-needed notice is made, and each
 * channel's delivery is timed from the notice's time (the orchestration's clock when it asked) to the
 * estate's record of the request (email: to its send operation's end, ACS's Succeeded). The run is then
 * aborted. A measurement, not a test: nothing here fails on a number.
 *
 *   BENCH_NOTIFY_ROUNDS   rounds (default 3)
 */
import { fileURLToPath } from "node:url";
import { loadPlanFile } from "../src/core/plan/index.ts";
import { newRunId, type RunInput } from "../src/core/run/model.ts";
import { isRunActive } from "../src/core/detection/policy.ts";
import { startLocalApp } from "../src/local/app.ts";
import { localChannelSettings } from "../src/local/channelSettings.ts";
import { deliveryLine } from "../src/local/received.ts";

const ROUNDS = Number(process.env.BENCH_NOTIFY_ROUNDS ?? 3);
const plan = await loadPlanFile(fileURLToPath(new URL("../examples/contoso.plan.yaml", import.meta.url)));
const channels = localChannelSettings(plan);
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };
const app = await startLocalApp({ plans: [plan], timeScale: 1, log: silent, notifier: { name: "none", notify: async () => undefined }, channelSettings: channels.settings, deliveryTimer: true });
for (const { host, secret } of channels.webhookSecrets) app.estate.setWebhookSecret(host, secret);

const primary = plan.regions.primary.name;
const lagged = plan.storage[0]!.account.id;
app.estate.setLag(lagged, plan.objectives.rpoSeconds * 2);
await app.measureLag();
await app.estate.setRegion(primary, { down: true, healthWhenDown: "refused", controlPlane: "down" });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const byChannel = new Map<string, number[]>();
const obj = (v: unknown) => (v !== null && typeof v === "object" ? (v as Record<string, unknown>) : {});

try {
  for (let round = 1; round <= ROUNDS; round++) {
    const since = Math.max(0, ...app.estate.notifications().map((d) => d.seq));
    const started = Date.now();
    const runId = newRunId(plan.name, "bench-failover", new Date());
    const input: RunInput = { runId, kind: "failover", mode: "auto", plan, from: primary, to: plan.regions.secondary.name, trigger: { source: "manual", by: "bench", reason: "notification latency", detectedAt: new Date().toISOString() }, options: { approvalTimeoutSeconds: 3600, timeScale: 1 } };
    await app.runs.start(input);
    for (;;) {
      const run = await app.runs.get(plan.name);
      if (run?.progress?.waitingFor === "approval" || !run || !isRunActive(run)) break;
      await sleep(50);
    }
    // The notice's own time: the webhook receiver has the whole event.
    const deadline = Date.now() + 120_000;
    let askedAt: number | undefined;
    const got = new Map<string, number>();
    while (Date.now() < deadline && got.size < plan.notifications.length) {
      for (const d of app.estate.notifications({ since })) {
        const name = channels.identify(d.host, d.credential);
        if (!name || got.has(name) || !/approval/i.test(deliveryLine(d)) || /answered|approved|aborted/i.test(deliveryLine(d))) continue;
        if (d.channel === "webhook") askedAt ??= Date.parse(String(obj(obj(d.body).data).at));
        if (d.channel === "email" && d.operationStatus !== "Succeeded") continue;
        // Email: when its send operation is seen Succeeded (the estate answers from its clock; polled every 100 ms here).
        got.set(name, d.channel === "email" ? Date.now() : Date.parse(d.at));
      }
      await sleep(100);
    }
    for (const [name, at] of got) if (askedAt !== undefined) byChannel.set(name, [...(byChannel.get(name) ?? []), (at - askedAt) / 1000]);
    const missing = plan.notifications.map((c) => c.name).filter((n) => !got.has(n));
    console.log(`round ${round}: approval asked ${askedAt === undefined ? "?" : ((askedAt - started) / 1000).toFixed(1)} s after the start; ${[...got].map(([n, at]) => `${n} ${askedAt === undefined ? "?" : ((at - askedAt) / 1000).toFixed(2)} s`).join(", ")}${missing.length ? `; not received: ${missing.join(", ")}` : ""}`);
    await app.runs.approve(plan.name, { approve: false, by: "bench", reason: "benchmark round over" });
    await app.runs.waitFor(plan.name);
  }
} finally {
  await app.stop();
}

console.log("approval-needed delivered after the run asked (seconds at Azure time; email: until ACS's Succeeded):");
for (const [name, values] of byChannel) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`  ${name.padEnd(18)} median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} s  max ${sorted.at(-1)!.toFixed(2)} s  (${sorted.length} rounds)`);
}
