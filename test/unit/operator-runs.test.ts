import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import type { PlanState } from "../../src/core/detection/model.ts";
import { parsePlanText } from "../../src/core/plan/index.ts";
import type { RunOutput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { detectionControl } from "../../src/detection/control.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const NOW = "2026-11-28T10:00:00.000Z";
const OPERATOR_JOURNAL = "operator-contoso-orders-20261128";
const FAILED_ID = "contoso-orders.20261128T090000Z.failover-0a0a";
const OLDER_ID = "contoso-orders.20261127T090000Z.failover-0b0b";

function setup() {
  const runs = new MemoryRuns();
  const journal = new MemoryJournal();
  const store = new MemoryPlanStateStore();
  const clock = () => new Date(NOW);
  const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock, appServiceAuthOn: false, detection: detectionControl(store, clock) });
  return { runs, journal, store, api };
}

function request(params: Record<string, string>, body?: unknown, url = "http://localhost/api/x"): HttpRequest {
  return new HttpRequest({
    method: body === undefined ? "GET" : "POST",
    url,
    params,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: { string: JSON.stringify(body) } }),
  });
}

const body = (r: { jsonBody?: unknown }) => r.jsonBody as any;

function output(runId: string, outcome: RunOutput["outcome"], endedAt: string): RunOutput {
  return {
    runId,
    kind: "failover",
    outcome,
    from: "eastus2",
    to: "centralus",
    steps: [{ step: "data-tier", startedAt: endedAt, endedAt, outcome: outcome === "completed" ? "ok" : "failed" }],
    rtoSeconds: outcome === "completed" ? 95 : null,
    rtoTargetSeconds: 1800,
    rpoExposureSeconds: outcome === "completed" ? 4 : null,
    rpoBudgetSeconds: 300,
    dataLossAllowedBy: "none",
    message: outcome,
  };
}

/** A run's start and end in its journal, as the orchestration writes them. */
async function journaled(journal: MemoryJournal, runId: string, outcome: RunOutput["outcome"], at: string, mode: "planned" | "forced" = "planned") {
  const trigger = { source: "manual" as const, by: "oncall@contoso.com", reason: "eastus2 degraded", detectedAt: "2026-11-28T08:55:00.000Z" };
  await journal.append({ runId, at, kind: "run-started", message: "started", data: { kind: "failover", mode, plan: plan.name, from: "eastus2", to: "centralus", trigger, rtoTargetSeconds: 1800, rpoBudgetSeconds: 300 } });
  const endedAt = new Date(Date.parse(at) + 120_000).toISOString();
  await journal.append({ runId, at: endedAt, kind: "run-finished", message: outcome, data: { outcome, output: output(runId, outcome, endedAt) } });
}

/** The plan's run as the run port shows it after its orchestration ended with `outcome`. */
function ended(runId: string, outcome: RunOutput["outcome"], status: RunView["status"]): RunView {
  const trigger = { source: "manual" as const, by: "oncall@contoso.com", reason: "eastus2 degraded", detectedAt: "2026-11-28T08:55:00.000Z" };
  return { instanceId: "switchyard-contoso-orders", runId, status, kind: "failover", from: "eastus2", to: "centralus", trigger, output: output(runId, outcome, "2026-11-28T09:02:00.000Z") };
}

/** Detection holds eastus2 (home) down: its verdict and two signals down for an hour, seen in the last minutes. */
function homeDown(primary?: string): PlanState {
  return {
    plan: plan.name,
    signals: {
      eastus2: {
        "https://orders-eastus2.contoso.example/healthz": { source: "probe", status: "down", since: "2026-11-28T08:55:00.000Z", lastSeen: "2026-11-28T09:59:00.000Z", consecutiveFailures: 60, detail: "503" },
        "alert:orders-5xx": { source: "alert", status: "down", since: "2026-11-28T08:56:00.000Z", lastSeen: "2026-11-28T09:58:00.000Z", consecutiveFailures: 1, detail: "alert text Password=hunter2 here" },
      },
    },
    regions: { eastus2: { state: "down", since: "2026-11-28T09:00:00.000Z" } },
    policy: { autoFailovers: [] },
    seenAlerts: {},
    ...(primary ? { primary: { region: primary, since: "2026-11-28T09:05:00.000Z" } } : {}),
  };
}

describe("GET /api/plans", () => {
  it("lists every plan with its regions' verdicts, the kill switch and the run in progress", async () => {
    const { api, runs, store } = setup();
    await store.update(plan.name, () => ({ ...homeDown(), policy: { autoFailovers: [], paused: { by: "oncall", reason: "maintenance", at: NOW } } }));
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 degraded" }));
    const runId = runs.current!.runId;
    runs.current = { ...runs.current!, progress: { runId, kind: "failover", step: "approval", stepStartedAt: NOW, waitingFor: "approval" } };

    const res = await api.listPlans(request({}));

    expect(res.status).toBe(200);
    expect(body(res)).toEqual({
      plans: [
        {
          plan: plan.name,
          primary: "eastus2",
          secondary: "centralus",
          currentPrimary: "eastus2",
          regions: { eastus2: { state: "down", since: "2026-11-28T09:00:00.000Z" }, centralus: { state: "healthy" } },
          autoFailover: "paused",
          currentRun: { runId, kind: "failover", status: "running", waitingFor: "approval" },
        },
      ],
    });
  });

  it("shows no current run once the plan's run has ended", async () => {
    const { api, runs } = setup();
    runs.current = ended(FAILED_ID, "failed", "failed");
    const res = await api.listPlans(request({}));
    expect(body(res).plans[0]).toMatchObject({ autoFailover: "enabled", currentRun: null, regions: { eastus2: { state: "healthy" } } });
  });
});

describe("GET /api/plans/{plan}/runs", () => {
  it("lists the plan's runs newest first from their journals, the live run first, and no other plan's", async () => {
    const { api, runs, journal } = setup();
    await journaled(journal, OLDER_ID, "completed", "2026-11-27T09:00:00.000Z");
    await journaled(journal, "other-app.20261128T080000Z.failover-0c0c", "completed", "2026-11-28T08:00:00.000Z");
    await journaled(journal, FAILED_ID, "stopped-aborted", "2026-11-28T09:00:00.000Z");
    await journal.append({ runId: OPERATOR_JOURNAL, at: NOW, kind: "decision", step: "override", message: "x" });
    await api.failover(request({ plan: plan.name }, { reason: "try again" }));
    const live = runs.current!.runId;

    const res = await api.listRuns(request({ plan: plan.name }));

    expect(res.status).toBe(200);
    expect(body(res).plan).toBe(plan.name);
    expect(body(res).runs.map((r: { runId: string }) => r.runId)).toEqual([live, FAILED_ID, OLDER_ID]);
    expect(body(res).runs[0]).toMatchObject({ runId: live, kind: "failover", from: "eastus2", to: "centralus", status: "running" });
    expect(body(res).runs[1]).toEqual({
      runId: FAILED_ID,
      kind: "failover",
      from: "eastus2",
      to: "centralus",
      status: "stopped",
      outcome: "stopped-aborted",
      startedAt: "2026-11-28T09:00:00.000Z",
      endedAt: "2026-11-28T09:02:00.000Z",
      trigger: { source: "manual", by: "oncall@contoso.com", reason: "eastus2 degraded", detectedAt: "2026-11-28T08:55:00.000Z" },
    });
    expect(body(res).runs[2]).toMatchObject({ status: "completed", outcome: "completed", rtoSeconds: 95, rpoExposureSeconds: 4 });
  });

  it("answers at most top runs", async () => {
    const { api, journal } = setup();
    await journaled(journal, OLDER_ID, "completed", "2026-11-27T09:00:00.000Z");
    await journaled(journal, FAILED_ID, "failed", "2026-11-28T09:00:00.000Z");
    const res = await api.listRuns(request({ plan: plan.name }, undefined, "http://localhost/api/plans/contoso-orders/runs?top=1"));
    expect(body(res).runs.map((r: { runId: string; status: string }) => [r.runId, r.status])).toEqual([[FAILED_ID, "failed"]]);
  });

  it("answers a top that is not an integer from 1 to 100 with 400 naming it, and an unknown plan with 404", async () => {
    const { api } = setup();
    for (const top of ["0", "101", "ten", "1.5", "-1", ""]) {
      const res = await api.listRuns(request({ plan: plan.name }, undefined, `http://localhost/api/plans/contoso-orders/runs?top=${top}`));
      expect(res.status, top).toBe(400);
      expect(body(res).error.details).toEqual([{ path: "top", message: "top must be an integer from 1 to 100" }]);
    }
    expect((await api.listRuns(request({ plan: "nope" }))).status).toBe(404);
  });
});

describe("POST /api/runs/{id}/resume", () => {
  it("starts a new run of the same kind, from, to and mode as a run that failed, counting the RTO from its detection", async () => {
    const { api, runs, journal } = setup();
    await journaled(journal, FAILED_ID, "failed", "2026-11-28T09:00:00.000Z", "forced");
    runs.current = ended(FAILED_ID, "failed", "failed");

    const res = await api.resume(request({ id: FAILED_ID }, { reason: "the SQL failover was throttled; try again" }));

    expect(res.status).toBe(202);
    const started = runs.started[0]!;
    expect(body(res)).toEqual({ runId: started.runId, resumes: FAILED_ID, kind: "failover", mode: "forced", from: "eastus2", to: "centralus", statusUrl: `/api/runs/${started.runId}` });
    expect(started).toMatchObject({ kind: "failover", mode: "forced", from: "eastus2", to: "centralus" });
    expect(started.trigger).toEqual({ source: "manual", by: "function-key caller", reason: "the SQL failover was throttled; try again", detectedAt: "2026-11-28T08:55:00.000Z" });
    const entries = await journal.read(OPERATOR_JOURNAL);
    expect(entries.map((e) => [e.data?.action, e.data?.outcome])).toEqual([["resume", `started run ${started.runId} (resumes ${FAILED_ID})`]]);
  });

  it("resumes a run that stopped short (terminated, or refused by its checks)", async () => {
    for (const view of [{ ...ended(FAILED_ID, "failed", "terminated"), output: undefined }, ended(FAILED_ID, "refused-target-unhealthy", "stopped")]) {
      const { api, runs } = setup();
      runs.current = view;
      expect((await api.resume(request({ id: FAILED_ID }, { reason: "centralus is healthy now" }))).status).toBe(202);
      expect(runs.started).toHaveLength(1);
    }
  });

  it("refuses with 409 NotResumable a run that completed its switch, is still running, or is not the plan's latest, and journals why", async () => {
    const { api, runs, journal } = setup();
    await journaled(journal, OLDER_ID, "failed", "2026-11-27T09:00:00.000Z");
    const cases: [RunView, string, string][] = [
      [ended(FAILED_ID, "completed", "completed"), FAILED_ID, "it completed its switch"],
      [{ ...ended(FAILED_ID, "completed", "running"), output: undefined }, FAILED_ID, "it is still running"],
      [ended(FAILED_ID, "failed", "failed"), OLDER_ID, `it is not the latest run of contoso-orders (${FAILED_ID} is)`],
    ];
    for (const [current, id, because] of cases) {
      runs.current = current;
      const res = await api.resume(request({ id }, { reason: "try again" }));
      expect(res.status, because).toBe(409);
      expect(body(res).error).toMatchObject({ code: "NotResumable", details: { runId: id, reason: because } });
    }
    expect(runs.started).toEqual([]);
    const outcomes = (await journal.read(OPERATOR_JOURNAL)).map((e) => e.data?.outcome);
    expect(outcomes).toEqual(cases.map(([, , because]) => `refused: ${because}`));
  });

  it("answers an unknown run with 404 and a bad body with 400, starting nothing", async () => {
    const { api, runs } = setup();
    runs.current = ended(FAILED_ID, "failed", "failed");
    expect((await api.resume(request({ id: "contoso-orders.20261128T070000Z.failover-ffff" }, { reason: "try again" }))).status).toBe(404);
    expect((await api.resume(request({ id: "not-a-run" }, { reason: "try again" }))).status).toBe(404);
    const bad = await api.resume(request({ id: FAILED_ID }, { reason: "x", mode: "forced" }));
    expect(bad.status).toBe(400);
    expect(body(bad).error.details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(["reason", "(body)"]));
    expect(runs.started).toEqual([]);
  });
});

describe("GET /api/runs/{id}: what an operator can do next", () => {
  it("shows a run waiting for approval with its deadline, why, what is at stake and how to decide", async () => {
    const { api, runs, journal } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }));
    const runId = runs.current!.runId;
    await journal.append({ runId, at: NOW, kind: "decision", step: "gate", message: "gate", data: { decision: "needs-approval", primaryHealthy: false, maxLagSeconds: 420, rpoSeconds: 300 } });
    await journal.append({ runId, at: NOW, kind: "wait", step: "approval", message: "waiting", data: { until: "2026-11-28T10:30:00.000Z", why: "the measured lag 420 s exceeds the RPO budget of 300 s" } });
    runs.current = { ...runs.current!, progress: { runId, kind: "failover", step: "approval", stepStartedAt: NOW, waitingFor: "approval" } };

    const res = await api.getRun(request({ id: runId }));

    expect(body(res).approval).toEqual({
      deadline: "2026-11-28T10:30:00.000Z",
      why: "the measured lag 420 s exceeds the RPO budget of 300 s",
      atStake: "up to 420 s of writes not yet replicated (measured lag; RPO budget 300 s)",
      approve: `POST /api/runs/${runId}/approve`,
      abort: `POST /api/runs/${runId}/abort`,
    });
    expect(body(res).resume).toBeUndefined();
  });

  it("says when the lag at stake comes from the last samples before the outage", async () => {
    const { api, runs, journal } = setup();
    await api.failover(request({ plan: plan.name }, { reason: "eastus2 is down" }));
    const runId = runs.current!.runId;
    await journal.append({ runId, at: NOW, kind: "decision", step: "gate", message: "gate", data: { decision: "needs-approval", primaryHealthy: false, maxLagSeconds: 610, rpoSeconds: 300, lagBasis: { live: 2, lastKnown: 3, unknown: 0 } } });
    await journal.append({ runId, at: NOW, kind: "wait", step: "approval", message: "waiting", data: { until: "2026-11-28T10:30:00.000Z", why: "..." } });
    runs.current = { ...runs.current!, progress: { runId, kind: "failover", step: "approval", stepStartedAt: NOW, waitingFor: "approval" } };
    expect(body(await api.getRun(request({ id: runId }))).approval.atStake).toBe("up to 610 s of writes not yet replicated (the largest lag, from the last samples before the outage where the primary could not be asked; RPO budget 300 s)");
  });

  it("shows how to resume a run that stopped, and not one that completed its switch", async () => {
    const { api, runs } = setup();
    runs.current = ended(FAILED_ID, "stopped-approval-timeout", "stopped");
    expect(body(await api.getRun(request({ id: FAILED_ID }))).resume).toBe(`POST /api/runs/${FAILED_ID}/resume`);
    runs.current = ended(FAILED_ID, "completed", "completed");
    const done = body(await api.getRun(request({ id: FAILED_ID })));
    expect([done.status, done.resume, done.approval]).toEqual(["completed", undefined, undefined]);
  });

  it("reads a finished run's status from its outcome, never completed over a run that stopped", async () => {
    const { api, journal } = setup();
    await journaled(journal, OLDER_ID, "refused-not-reprotected", "2026-11-27T09:00:00.000Z");
    expect(body(await api.getRun(request({ id: OLDER_ID })))).toMatchObject({ status: "stopped", output: { outcome: "refused-not-reprotected" } });
  });
});

describe("POST /api/plans/{plan}/failover and failback: data loss and home's health", () => {
  it("says that a planned failover asks for approval before it loses data", async () => {
    const { api, runs } = setup();
    const res = await api.failover(request({ plan: plan.name }, { reason: "eastus2 degraded" }));
    const runId = runs.started[0]!.runId;
    expect(body(res).approval).toBe(`if the primary cannot be reached and data could be lost, the run asks for approval: POST /api/runs/${runId}/approve or abort`);
    const forced = setup();
    expect(body(await forced.api.failover(request({ plan: plan.name }, { mode: "forced", reason: "eastus2 is gone" }))).approval).toBeUndefined();
  });

  it("refuses a failback while detection holds home down (409 HomeRegionDown with the verdict and its signals, redacted), journals it and starts nothing", async () => {
    const { api, runs, store, journal } = setup();
    await store.update(plan.name, () => homeDown("centralus"));

    const res = await api.failback(request({ plan: plan.name }, { reason: "eastus2 looks better" }));

    expect(res.status).toBe(409);
    const error = body(res).error;
    expect(error).toMatchObject({ code: "HomeRegionDown", details: { region: "eastus2", verdict: { state: "down", since: "2026-11-28T09:00:00.000Z" } } });
    expect(error.details.signals.map((s: { name: string }) => s.name)).toEqual(["alert:orders-5xx", "https://orders-eastus2.contoso.example/healthz"]);
    expect(JSON.stringify(error)).not.toContain("hunter2");
    expect(runs.started).toEqual([]);
    const entries = await journal.read(OPERATOR_JOURNAL);
    expect(entries.map((e) => e.data?.outcome)).toEqual(["refused: detection holds eastus2 down since 2026-11-28T09:00:00.000Z"]);
  });

  it("refuses to resume a failback while home is held down, and starts a failback once home is healthy", async () => {
    const { api, runs, store } = setup();
    await store.update(plan.name, () => homeDown("centralus"));
    const failback = "contoso-orders.20261128T093000Z.failback-0d0d";
    runs.current = { ...ended(failback, "failed", "failed"), kind: "failback", from: "centralus", to: "eastus2" };
    expect(body(await api.resume(request({ id: failback }, { reason: "try again" }))).error.code).toBe("HomeRegionDown");

    await store.update(plan.name, (s) => ({ ...s, signals: {}, regions: { eastus2: { state: "healthy", since: NOW } } }));
    const res = await api.failback(request({ plan: plan.name }, { reason: "eastus2 recovered" }));
    expect(res.status).toBe(202);
    expect(runs.started.map((r) => [r.kind, r.from, r.to])).toEqual([["failback", "centralus", "eastus2"]]);
  });
});
