import type { RunOutput } from "../../src/core/run/model.ts";
import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { OPERATOR_ROLE } from "../../src/http/auth.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

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
    // Sent, not "approved": the run may have ended meanwhile, and its own journal says what took effect.
    expect(body(res)).toEqual({ runId, decision: "approve", status: "sent" });
    expect(runs.approvals).toEqual([{ approve: true, by: "function-key caller", reason: "region lost" }]);
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
    const detection = { setAutoFailover: async () => undefined, status: async () => undefined, currentPrimary: async () => "centralus" };
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false, detection });
    runs.current = { instanceId: "i", runId: "contoso-orders.20261128T090000Z.failback-0001", status: "completed", kind: "failback", from: "centralus", to: "eastus2", output: { outcome: "refused-not-reprotected" } as never };
    const res = await api.failback(request({ plan: plan.name }, { reason: "try again" }));
    expect(res.status).toBe(202);
    expect(runs.started[0]).toMatchObject({ kind: "failback", from: "centralus", to: "eastus2" });
  });

  it("refuses a reason that carries a credential before anything starts or is journaled", async () => {
    const { api, runs, journal } = setup();
    const res = await api.failover(request({ plan: plan.name }, { reason: "again Password=hunter2 test" }));
    expect(res.status).toBe(400);
    expect(JSON.stringify(body(res))).not.toContain("hunter2");
    expect(runs.started).toEqual([]);
    expect(await journal.listRuns()).toEqual([]);
  });
});
