import type { NotifyInput } from "../../src/core/run/model.ts";
import type { RunOutput } from "../../src/core/run/model.ts";
import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { OPERATOR_ROLE } from "../../src/http/auth.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import type { Journal, JournalEntry } from "../../src/core/journal.ts";
import type { Logger } from "../../src/core/logger.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { ReservingRuns } from "../../src/runs/reservingRuns.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";
import { MemoryLagStore } from "../../src/lag/store.ts";
import { MemoryReadinessStore } from "../../src/readiness/store.ts";

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));

function setup(options: { auth?: boolean } = {}) {
  const runs = new MemoryRuns();
  const journal = new MemoryJournal();
  const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: options.auth ?? false });
  return { runs, journal, api };
}

function principal(name: string, roles: string[]): string {
  return Buffer.from(JSON.stringify({ auth_typ: "aad", claims: [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))] })).toString("base64");
}

function request(params: Record<string, string>, body?: unknown, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({
    method: "POST",
    url: "http://localhost/api/x",
    params,
    headers: { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: { string: typeof body === "string" ? body : JSON.stringify(body) } }),
  });
}

const body = (r: { jsonBody?: unknown }) => r.jsonBody as any;
const OPERATOR_JOURNAL = "operator-contoso-orders-20261128";

describe("manual override API", () => {
  it("starts a planned failover to the secondary and says where to follow it", async () => {
    const { api, runs } = setup();
    const res = await api.failover(request({ plan: plan.name }, { reason: "eastus2 degraded" }));
    expect(res.status).toBe(202);
    expect(body(res)).toMatchObject({ kind: "failover", mode: "planned", from: "eastus2", to: "centralus" });
    expect(body(res).statusUrl).toBe(`/api/runs/${runs.started[0]!.runId}`);
    expect(runs.started[0]!.trigger).toMatchObject({ source: "manual", by: "function-key caller", reason: "eastus2 degraded" });
  });

  it("refuses a second run while one is in progress, naming it, and journals the refusal", async () => {
    const { api, runs, journal } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "first" }));
    const res = await api.failover(request({ plan: plan.name }, { reason: "second", mode: "forced" }));
    expect(res.status).toBe(409);
    expect(body(res).error).toMatchObject({ code: "RunInProgress", details: { runningRunId: runs.started[0]!.runId } });
    const entries = await journal.read("operator-contoso-orders-20261128");
    expect(entries.map((e) => e.data?.outcome)).toEqual([`started run ${runs.started[0]!.runId}`, `refused: run ${runs.started[0]!.runId} is in progress`]);
  });

  it("answers a bad body with 400 naming every bad field, and starts nothing", async () => {
    const { api, runs } = setup();
    const res = await api.failover(request({ plan: plan.name }, { mode: "yolo", reason: "", extra: 1 }));
    expect(res.status).toBe(400);
    const paths = body(res).error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(["mode", "reason", "(body)"]));
    expect(runs.started).toEqual([]);
    for (const raw of ["", "{", "[]", "null", "42"]) expect((await api.failover(request({ plan: plan.name }, raw))).status).toBe(400);
  });

  it("answers an unknown plan with 404", async () => {
    const { api } = setup();
    const res = await api.failover(request({ plan: "nope" }, { reason: "x y z" }));
    expect(res.status).toBe(404);
    expect(body(res).error.code).toBe("PlanNotFound");
  });

  it("with App Service authentication on, refuses callers without the operator role (403) and changes nothing", async () => {
    const { api, runs, journal } = setup({ auth: true });
    const unsigned = await api.failover(request({ plan: plan.name }, { reason: "try" }));
    const reader = await api.failover(request({ plan: plan.name }, { reason: "try" }, { "x-ms-client-principal": principal("reader@contoso.com", ["Reader"]) }));
    expect([unsigned.status, reader.status]).toEqual([401, 403]);
    expect(runs.started).toEqual([]);
    expect(await journal.listRuns()).toEqual([]);

    const ok = await api.failover(request({ plan: plan.name }, { reason: "outage" }, { "x-ms-client-principal": principal("oncall@contoso.com", [OPERATOR_ROLE]) }));
    expect(ok.status).toBe(202);
    expect(runs.started[0]!.trigger.by).toBe("oncall@contoso.com");
  });

  it("approves a run only while it waits for approval", async () => {
    const { api, runs } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "outage" }));
    const runId = runs.started[0]!.runId;
    expect((await api.approve(request({ id: runId }, { reason: "go ahead" }))).status).toBe(409);
    runs.current = { ...runs.current!, progress: { runId, kind: "failover", stepStartedAt: "2026-01-01T00:00:00.000Z", step: "approval", waitingFor: "approval" } };
    const res = await api.approve(request({ id: runId }, { reason: "region lost" }));
    expect(res.status).toBe(202);
    // Taken: this approval is the run's decision for this wait, and was sent to it.
    expect(body(res)).toEqual({ runId, decision: "approve", status: "taken", statusUrl: `/api/runs/${runId}` });
    expect(runs.approvals).toEqual([{ approve: true, by: "function-key caller", reason: "region lost" }]);
    expect(runs.targets).toEqual([{ runId, waitingFor: "approval" }]);
    expect((await api.abort(request({ id: "not-a-run" }, { reason: "x y z" }))).status).toBe(404);
  });

  it("aborts, but never approves, a failback that waits for storage re-protection", async () => {
    const { api, runs } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "outage" }));
    const runId = runs.started[0]!.runId;
    runs.current = { ...runs.current!, progress: { runId, kind: "failback", stepStartedAt: "2026-01-01T00:00:00.000Z", step: "reprotect", waitingFor: "reprotection" } };
    expect((await api.approve(request({ id: runId }, { reason: "go ahead" }))).status).toBe(409);
    const res = await api.abort(request({ id: runId }, { reason: "stay in the secondary this week" }));
    expect(res.status).toBe(202);
    expect(runs.approvals).toEqual([{ approve: false, by: "function-key caller", reason: "stay in the secondary this week" }]);
  });

  it("refuses a failback when the plan's primary is already primary", async () => {
    const { api } = setup();
    const res = await api.failback(request({ plan: plan.name }, { reason: "back home" }));
    expect(res.status).toBe(409);
    expect(body(res).error.code).toBe("NothingToFailBack");
  });

  it("reads a finished run from its journal", async () => {
    const { api, journal } = setup();
    const runId = "contoso-orders.20261128T090000Z.failover-abcd";
    const output: RunOutput = { runId, kind: "failover", outcome: "completed", from: "eastus2", to: "centralus", steps: [], rtoSeconds: 42, rtoTargetSeconds: 1800, rpoExposureSeconds: 0, rpoBudgetSeconds: 300, dataLossAllowedBy: "none", message: "done" };
    await journal.append({ runId, at: "2026-11-28T09:00:05Z", kind: "run-finished", message: "done", data: { outcome: "completed", output } });
    const res = await api.getRun(request({ id: runId }));
    expect(res.status).toBe(200);
    expect(body(res)).toMatchObject({ runId, status: "completed", output: { rtoSeconds: 42 } });
    expect((await api.getRun(request({ id: "contoso-orders.20261128T090000Z.failover-ffff" }))).status).toBe(404);
  });
});

describe("manual override API: which way a run goes", () => {
  it("refuses a failover while the secondary serves: going home is a failback, which re-protects first", async () => {
    const { api, runs } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "outage" }));
    runs.current = { ...runs.current!, status: "completed", output: { outcome: "completed" } as never };
    const res = await api.failover(request({ plan: plan.name }, { reason: "secondary degraded" }));
    expect(res.status).toBe(409);
    expect(body(res).error.code).toBe("UseFailback");
    expect(runs.started).toHaveLength(1);
    const back = await api.failback(request({ plan: plan.name }, { reason: "primary recovered" }));
    expect(back.status).toBe(202);
    expect(runs.started[1]).toMatchObject({ kind: "failback", from: "centralus", to: "eastus2" });
  });

  it("takes the current primary from detection when the last run did not complete its switch", async () => {
    const runs = new MemoryRuns();
    const detection = { setAutoFailover: async () => undefined, status: async () => undefined as never, currentPrimary: async () => "centralus", regionDown: async () => undefined };
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false, detection });
    runs.current = { instanceId: "i", runId: "contoso-orders.20261128T090000Z.failback-0001", status: "completed", kind: "failback", from: "centralus", to: "eastus2", output: { outcome: "refused-not-reprotected" } as never };
    const res = await api.failback(request({ plan: plan.name }, { reason: "try again" }));
    expect(res.status).toBe(202);
    expect(runs.started[0]).toMatchObject({ kind: "failback", from: "centralus", to: "eastus2" });
  });

  it("starts a failover whose reason carries a credential, and records the reason redacted", async () => {
    const { api, runs, journal } = setup();
    const res = await api.failover(request({ plan: plan.name }, { reason: "again Password=hunter2; test" }));
    expect(res.status).toBe(202);
    expect(JSON.stringify(body(res))).not.toContain("hunter2");
    expect(runs.started[0]!.trigger.reason).toBe("again [redacted]; test");
    const entries = await journal.read(OPERATOR_JOURNAL);
    expect(entries.map((e) => e.data?.reason)).toEqual(["again [redacted]; test"]);
    expect(JSON.stringify(entries)).not.toContain("hunter2");
  });
});

/** The kill switch as the API sees it: records every change it is asked to make. */
function recordingDetection() {
  const changes: { enabled: boolean; by: string; reason: string; at: string }[] = [];
  return {
    changes,
    setAutoFailover: async (_plan: unknown, change: (typeof changes)[number]) => void changes.push(change),
    status: async () => undefined as never,
    currentPrimary: async () => plan.regions.primary.name,
    regionDown: async () => undefined,
  };
}

/** A journal whose store is down: every append fails. */
class DownJournal implements Journal {
  async append(_entry: JournalEntry): Promise<void> {
    throw new Error("the journal container answered 503 ServerBusy");
  }
  async read(): Promise<JournalEntry[]> {
    return [];
  }
  async listRuns(): Promise<string[]> {
    return [];
  }
}

function recordingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  const log: Logger = { info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

const waitingForApproval = (runs: MemoryRuns) => {
  const runId = runs.current!.runId;
  runs.current = { ...runs.current!, progress: { runId, kind: "failover", stepStartedAt: "2026-11-28T10:00:00.000Z", step: "approval", waitingFor: "approval" } };
  return runId;
};

describe("manual override API: untrusted text never blocks or fails a safety action", () => {
  it("pauses auto-failover for a caller whose name and reason look like credentials, and records both redacted", async () => {
    const detection = recordingDetection();
    const journal = new MemoryJournal();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true, detection });
    const caller = { "x-ms-client-principal": principal("svc;Password=hunter2", [OPERATOR_ROLE]) };

    const res = await api.autoFailover(request({ plan: plan.name }, { enabled: false, reason: "maintenance, Password=hunter2; on the bridge" }, caller));

    expect(res.status).toBe(200);
    expect(body(res)).toMatchObject({ autoFailover: "paused" });
    expect(detection.changes).toEqual([{ enabled: false, by: "svc;[redacted]", reason: "maintenance, [redacted]; on the bridge", at: "2026-11-28T10:00:00.000Z" }]);
    const entries = await journal.read(OPERATOR_JOURNAL);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.data).toMatchObject({ action: "pause-auto-failover", by: "svc;[redacted]", reason: "maintenance, [redacted]; on the bridge", outcome: "auto-failover paused" });
    expect(JSON.stringify([body(res), entries])).not.toContain("hunter2");
  });

  it("tells the plan's stakeholders who paused and resumed auto-failover, redacted; a notifier that fails changes no answer", async () => {
    const told: NotifyInput[] = [];
    const notifier = { name: "test", notify: async (n: NotifyInput) => void told.push(n) };
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true, detection: recordingDetection(), notifier });
    const caller = { "x-ms-client-principal": principal("oncall@contoso.com", [OPERATOR_ROLE]) };

    await api.autoFailover(request({ plan: plan.name }, { enabled: false, reason: "maintenance, Password=hunter2; on the bridge" }, caller));
    await api.autoFailover(request({ plan: plan.name }, { enabled: true, reason: "maintenance over" }, caller));
    const broken = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true, detection: recordingDetection(), notifier: { name: "down", notify: () => Promise.reject(new Error("channel down")) } });
    const stillAnswered = await broken.autoFailover(request({ plan: plan.name }, { enabled: false, reason: "maintenance window" }, caller));

    expect(told.map((n) => [n.kind, n.severity])).toEqual([["auto-failover-paused", "warning"], ["auto-failover-resumed", "info"]]);
    expect(told[0]!.title).toContain("paused by oncall@contoso.com");
    expect(JSON.stringify(told)).not.toContain("hunter2");
    expect(stillAnswered.status).toBe(200);
  });

  it("records a reason as one line: control characters (line breaks, terminal escapes) become spaces, and one made only of them is too short", async () => {
    const { api, runs } = setup();
    const res = await api.failover(request({ plan: plan.name }, { reason: "drill\nswitchyard [INFO] FAKE\u001b[2K\u001b[1A" }));
    expect(res.status).toBe(202);
    expect(runs.started[0]!.trigger.reason).toBe("drill switchyard [INFO] FAKE [2K [1A");
    const blank = await api.failback(request({ plan: plan.name }, { reason: "\u0000\u001b\r\n\t" }));
    expect(blank.status).toBe(400);
  });

  it("still answers 400 for a reason that is missing, too short or too long, on every override, and changes nothing", async () => {
    const detection = recordingDetection();
    const runs = new MemoryRuns();
    const journal = new MemoryJournal();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false, detection });
    const runId = "contoso-orders.20261128T090000Z.failover-abcd";
    const overrides = [
      () => [api.failover, { plan: plan.name }, {}] as const,
      () => [api.failback, { plan: plan.name }, {}] as const,
      () => [api.autoFailover, { plan: plan.name }, { enabled: false }] as const,
      () => [api.approve, { id: runId }, {}] as const,
      () => [api.abort, { id: runId }, {}] as const,
    ];
    for (const override of overrides) {
      const [handler, params, rest] = override();
      for (const reason of [undefined, "  ok  ", "x".repeat(501)]) {
        const res = await handler(request(params, { ...rest, ...(reason === undefined ? {} : { reason }) }));
        expect(res.status, `${JSON.stringify(params)} ${String(reason).slice(0, 10)}`).toBe(400);
        expect(body(res).error.details.map((d: { path: string }) => d.path)).toContain("reason");
      }
    }
    expect([runs.started, runs.approvals, detection.changes]).toEqual([[], [], []]);
    expect(await journal.listRuns()).toEqual([]);
  });

  it("answers with what happened when the journal fails after the action took effect: paused (200), started (202), approved (202)", async () => {
    const detection = recordingDetection();
    const runs = new MemoryRuns();
    const { log, lines } = recordingLog();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new DownJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false, detection, log });

    const paused = await api.autoFailover(request({ plan: plan.name }, { enabled: false, reason: "maintenance window" }));
    const started = await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }));
    const runId = waitingForApproval(runs);
    const approved = await api.approve(request({ id: runId }, { reason: "accept the loss" }));

    expect([paused.status, started.status, approved.status]).toEqual([200, 202, 202]);
    expect(detection.changes.map((c) => c.enabled)).toEqual([false]);
    expect(runs.started.map((r) => r.runId)).toEqual([runId]);
    expect(runs.approvals.map((a) => a.approve)).toEqual([true]);
    expect(lines.map((l) => [l.level, l.fields?.action, l.fields?.outcome])).toEqual([
      ["error", "pause-auto-failover", "auto-failover paused"],
      ["error", "failover", `started run ${runId}`],
      ["error", "approve", "taken"],
    ]);
    expect(lines.every((l) => String(l.fields?.error).includes("ServerBusy"))).toBe(true);
  });

  it("answers a refusal as a refusal when the journal fails too (409, not 500)", async () => {
    const runs = new MemoryRuns();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new DownJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false });
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }));

    const second = await api.failover(request({ plan: plan.name }, { reason: "again" }));
    const notWaiting = await api.abort(request({ id: runs.current!.runId }, { reason: "stop it" }));

    expect([second.status, notWaiting.status]).toEqual([409, 409]);
  });
});

describe("manual override API: one decision per wait", () => {
  function claiming() {
    const memory = new MemoryRuns();
    const journal = new MemoryJournal();
    const clock = () => new Date("2026-11-28T10:00:00Z");
    const runs = new ReservingRuns(memory, { store: new MemoryPlanStateStore(), clock });
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock, appServiceAuthOn: true });
    const as = (name: string) => ({ "x-ms-client-principal": principal(name, [OPERATOR_ROLE]) });
    return { memory, journal, api, as };
  }

  it("refuses a decision after the first with 409 naming who decided what and when, and sends only the first", async () => {
    const { memory, journal, api, as } = claiming();
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }, as("oncall@contoso.com")));
    const runId = waitingForApproval(memory);

    const first = await api.abort(request({ id: runId }, { reason: "the region is coming back" }, as("alice@contoso.com")));
    const second = await api.approve(request({ id: runId }, { reason: "accept the loss" }, as("bob@contoso.com")));

    expect(first.status).toBe(202);
    expect(second.status).toBe(409);
    expect(body(second).error).toMatchObject({
      code: "DecisionTaken",
      message: expect.stringContaining("abort by alice@contoso.com at 2026-11-28T10:00:00.000Z"),
      details: { runId, standing: { decision: "abort", by: "alice@contoso.com", at: "2026-11-28T10:00:00.000Z", waitingFor: "approval" } },
    });
    expect(memory.approvals).toEqual([{ approve: false, by: "alice@contoso.com", reason: "the region is coming back" }]);
    const decisions = (await journal.read(OPERATOR_JOURNAL)).filter((e) => e.data?.action === "approve" || e.data?.action === "abort");
    expect(decisions.map((e) => [e.data?.action, e.data?.by, e.data?.outcome])).toEqual([
      ["abort", "alice@contoso.com", "taken"],
      ["approve", "bob@contoso.com", "refused: abort by alice@contoso.com at 2026-11-28T10:00:00.000Z stands"],
    ]);
  });

  it("keeps a decision whose delivery failed as the one that stands (503), and the next request delivers it, not itself", async () => {
    const { memory, journal, api, as } = claiming();
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }, as("oncall@contoso.com")));
    const runId = waitingForApproval(memory);
    memory.failApprove = new Error("the Durable extension answered 500");

    const undelivered = await api.approve(request({ id: runId }, { reason: "accept the loss" }, as("alice@contoso.com")));
    const next = await api.abort(request({ id: runId }, { reason: "changed my mind" }, as("bob@contoso.com")));

    expect(undelivered.status).toBe(503);
    expect(body(undelivered).error).toMatchObject({ code: "DecisionNotDelivered", details: { standing: { decision: "approve", by: "alice@contoso.com" } } });
    expect(next.status).toBe(409);
    expect(body(next).error.details).toMatchObject({ standing: { decision: "approve", by: "alice@contoso.com" }, resent: true });
    // The run got the decision that stands, once; bob's abort was never sent.
    expect(memory.approvals).toEqual([{ approve: true, by: "alice@contoso.com", reason: "accept the loss" }]);
    const outcomes = (await journal.read(OPERATOR_JOURNAL)).filter((e) => e.data?.action === "approve" || e.data?.action === "abort").map((e) => e.data?.outcome);
    expect(outcomes).toEqual(["taken, not delivered: the next approve or abort of the run sends it again", "refused: approve by alice@contoso.com at 2026-11-28T10:00:00.000Z stands"]);
  });

  it("journals a resend that failed as a refusal of the request that made it, not as its own decision taken", async () => {
    const { memory, journal, api, as } = claiming();
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }, as("oncall@contoso.com")));
    const runId = waitingForApproval(memory);
    memory.failApprove = new Error("the Durable extension answered 500");
    expect((await api.approve(request({ id: runId }, { reason: "accept the loss" }, as("alice@contoso.com")))).status).toBe(503);

    memory.failApprove = new Error("the Durable extension answered 500 again");
    const resend = await api.abort(request({ id: runId }, { reason: "changed my mind" }, as("bob@contoso.com")));

    expect(resend.status).toBe(503);
    expect(body(resend).error.details).toMatchObject({ standing: { decision: "approve", by: "alice@contoso.com" } });
    const decisions = (await journal.read(OPERATOR_JOURNAL)).filter((e) => e.data?.action === "approve" || e.data?.action === "abort");
    expect(decisions.map((e) => [e.data?.action, e.data?.by, e.data?.outcome])).toEqual([
      ["approve", "alice@contoso.com", "taken, not delivered: the next approve or abort of the run sends it again"],
      ["abort", "bob@contoso.com", "refused: approve by alice@contoso.com at 2026-11-28T10:00:00.000Z stands; sending it again failed (the next approve or abort tries again)"],
    ]);
    expect(memory.approvals).toEqual([]);
  });
});

describe("manual override API: identity headers", () => {
  it("answers 401 on every override to a principal header that decodes to JSON null, and changes nothing", async () => {
    const detection = recordingDetection();
    const runs = new MemoryRuns();
    const journal = new MemoryJournal();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true, detection });
    const runId = "contoso-orders.20261128T090000Z.failover-abcd";
    runs.current = { instanceId: "i", runId, status: "running", kind: "failover", from: "eastus2", to: "centralus", progress: { runId, kind: "failover", step: "approval", stepStartedAt: "2026-11-28T09:00:00.000Z", waitingFor: "approval" } };
    const nullPrincipal = { "x-ms-client-principal": Buffer.from("null").toString("base64") };
    const overrides = [
      [api.failover, { plan: plan.name }, { reason: "eastus2 is down" }],
      [api.failback, { plan: plan.name }, { reason: "eastus2 is back" }],
      [api.autoFailover, { plan: plan.name }, { enabled: false, reason: "maintenance window" }],
      [api.approve, { id: runId }, { reason: "accept the loss" }],
      [api.abort, { id: runId }, { reason: "the region is coming back" }],
    ] as const;

    for (const [handler, params, given] of overrides) {
      const res = await handler(request(params, given, nullPrincipal));
      expect(res.status, JSON.stringify(params)).toBe(401);
      expect(body(res).error.code).toBe("InvalidClientPrincipal");
    }
    expect([runs.started, runs.approvals, detection.changes]).toEqual([[], [], []]);
    expect(await journal.listRuns()).toEqual([]);
  });
});

describe("GET /api/plans/{plan}: the latest replication lag", () => {
  const db = `${plan.sql[0]!.failoverGroup.id.split("/failoverGroups/")[0]}/databases/orders`;
  const sample = (lagSeconds: number | null, measuredAt: string) => ({ resourceId: db, kind: "sqlDatabase" as const, name: "orders", group: plan.sql[0]!.failoverGroup.id, lagSeconds, state: lagSeconds === null ? "unreachable" : "CATCH_UP", measuredAt, source: "tds:sys.dm_geo_replication_link_status" as const });
  const get = (api: ReturnType<typeof operatorHandlers>) => api.getPlan(new HttpRequest({ method: "GET", url: "http://localhost/api/plans/x", params: { plan: plan.name } }));

  it("shows each resource's latest sample against the RPO, and the last measured lag when the latest has none", async () => {
    const lag = new MemoryLagStore();
    await lag.record(plan.name, [sample(420, "2026-11-28T09:58:00Z")], plan.objectives.rpoSeconds, new Date("2026-11-28T09:58:00Z"));
    await lag.record(plan.name, [sample(null, "2026-11-28T09:59:00Z")], plan.objectives.rpoSeconds, new Date("2026-11-28T09:59:00Z"));
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false, lag });
    const res = await get(api);
    expect(res.status).toBe(200);
    expect(body(res).replicationLag).toEqual({
      plan: plan.name,
      rpoSeconds: 300,
      resources: [expect.objectContaining({ resourceId: db, lagSeconds: null, withinRpo: null, breached: true, lastMeasured: { lagSeconds: 420, measuredAt: "2026-11-28T09:58:00Z" } })],
    });
  });

  it("answers without the samples (null, logged) when their store cannot be read", async () => {
    const logged: string[] = [];
    const log: Logger = { info: () => undefined, warn: (m) => void logged.push(m), error: () => undefined };
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal: new MemoryJournal(), clock: () => new Date(), appServiceAuthOn: false, lag: { get: async () => Promise.reject(new Error("503 ServerBusy")) }, log });
    const res = await get(api);
    expect(res.status).toBe(200);
    expect(body(res).replicationLag).toBeNull();
    expect(logged).toEqual(["the lag samples could not be read for GET /api/plans/{plan}"]);
  });
});

describe("GET /api/plans/{plan}: readiness", () => {
  const get = (api: ReturnType<typeof operatorHandlers>) => api.getPlan(new HttpRequest({ method: "GET", url: "http://localhost/api/plans/x", params: { plan: plan.name } }));
  const base = { plans: new StaticPlanCatalog([plan]), runs: new MemoryRuns(), journal: new MemoryJournal(), clock: () => new Date("2026-12-03T10:00:00Z"), appServiceAuthOn: false };

  it("shows the latest evaluation's verdict and what blocks it, since when the plan has been so", async () => {
    const readiness = new MemoryReadinessStore();
    const checks = [{ area: "settings" as const, subject: "site a", result: "fail" as const, detail: "app setting(s) X missing", resourceId: "/subscriptions/x/site" }];
    await readiness.record({ plan: plan.name, evaluatedAt: "2026-12-03T09:30:00.000Z", primary: "eastus2", standby: "centralus", ready: false, checks });
    const res = await get(operatorHandlers({ ...base, readiness }));
    expect(body(res).readiness).toEqual({ state: "not-ready", since: "2026-12-03T09:30:00.000Z", evaluatedAt: "2026-12-03T09:30:00.000Z", ready: false, checks: 1, blocking: checks });
  });

  it("says when a plan was never evaluated, and null without a readiness store", async () => {
    expect(body(await get(operatorHandlers({ ...base, readiness: new MemoryReadinessStore() }))).readiness).toEqual({ state: "not-evaluated" });
    expect(body(await get(operatorHandlers(base))).readiness).toBeNull();
  });
});
