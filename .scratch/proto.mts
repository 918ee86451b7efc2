import * as df from "durable-functions";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Orchestrator } = require("durable-functions/lib/src/orchestrations/Orchestrator.js");

function* orch(context: any) {
  context.df.setCustomStatus({ step: "start" });
  const a = yield context.df.callActivity("A", 1);
  const [b, c] = yield context.df.Task.all([context.df.callActivity("B", a), context.df.callActivity("C", a)]);
  const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 1000));
  const ev = context.df.waitForExternalEvent("approval");
  const winner = yield context.df.Task.any([timer, ev]);
  if (winner === ev) timer.cancel();
  return { a, b, c, approved: winner === ev ? ev.result : null };
}
const handler = new Orchestrator(orch).listen();
const T = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const history: any[] = [
  { EventType: 12, EventId: -1, IsPlayed: false, Timestamp: T(0) },
  { EventType: 0, EventId: -1, IsPlayed: false, Timestamp: T(0), Name: "orch", Input: JSON.stringify({}) },
];
async function run(label: string) {
  const ctx = new df.DummyOrchestrationContext();
  const trigger = { history: structuredClone(history), input: {}, instanceId: "i1", isReplaying: false, parentInstanceId: "", upperSchemaVersion: 3, longRunningTimerIntervalDuration: "3.00:00:00", maximumShortTimerDuration: "6.00:00:00", defaultHttpAsyncRequestSleepTimeMillseconds: 30000 };
  try {
    const state = await handler(trigger, ctx);
    console.log(label, JSON.stringify(state));
  } catch (e: any) { console.log(label, "ERR", e.message); }
}
await run("1");
history.push({ EventType: 4, EventId: 0, IsPlayed: false, Timestamp: T(1), Name: "A" });
history.push({ EventType: 13, EventId: -1, IsPlayed: false, Timestamp: T(1) });
history.push({ EventType: 12, EventId: -1, IsPlayed: false, Timestamp: T(2) });
history.push({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: T(2), TaskScheduledId: 0, Result: JSON.stringify(10) });
await run("2");
history.push({ EventType: 4, EventId: 1, IsPlayed: false, Timestamp: T(3), Name: "B" });
history.push({ EventType: 4, EventId: 2, IsPlayed: false, Timestamp: T(3), Name: "C" });
history.push({ EventType: 12, EventId: -1, IsPlayed: false, Timestamp: T(4) });
history.push({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: T(4), TaskScheduledId: 2, Result: JSON.stringify(30) });
history.push({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: T(4), TaskScheduledId: 1, Result: JSON.stringify(20) });
await run("3");
history.push({ EventType: 10, EventId: 3, IsPlayed: false, Timestamp: T(5), FireAt: T(1004) });
history.push({ EventType: 12, EventId: -1, IsPlayed: false, Timestamp: T(6) });
history.push({ EventType: 15, EventId: -1, IsPlayed: false, Timestamp: T(6), Name: "approval", Input: JSON.stringify({ by: "ops" }) });
await run("4");
