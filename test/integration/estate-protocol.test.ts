import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { EXAMPLE_PLAN, rawRequest, useEstate } from "../helpers/estate.ts";

const API = "api-version=2021-11-01";

function fogPaths(plan: Plan) {
  const g = plan.sql[0]!;
  const sub = g.failoverGroup.subscriptionId;
  return {
    get: `${g.failoverGroup.id}?${API}`,
    failover: `/subscriptions/${sub}/resourceGroups/${g.partnerServer.resourceGroup}/providers/Microsoft.Sql/servers/${g.partnerServer.name}/failoverGroups/${g.failoverGroup.name}/failover?${API}`,
  };
}

describe("estate: ARM protocol", () => {
  const fx = useEstate();

  it("answers a request without a token with 401 AuthenticationFailed", async () => {
    const res = await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get, { auth: false });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("AuthenticationFailed");
  });

  it("answers a request without api-version with 400 MissingApiVersionParameter", async () => {
    const res = await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get.replace(`?${API}`, ""));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("MissingApiVersionParameter");
  });

  it("answers an unknown resource type with 404 InvalidResourceType and a known path with a wrong method with 405", async () => {
    const sub = fx.plan.sql[0]!.failoverGroup.subscriptionId;
    const unknown = await rawRequest(fx.estate, "GET", `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Sql/servers/s/elasticPools/p?${API}`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("InvalidResourceType");
    const wrongMethod = await rawRequest(fx.estate, "DELETE", fogPaths(fx.plan).get);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toContain("GET");
  });

  it("matches ARM paths without regard to case", async () => {
    const res = await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get.replace("/resourceGroups/", "/RESOURCEGROUPS/").replace("Microsoft.Sql", "microsoft.sql"));
    expect(res.status).toBe(200);
  });

  it("starts a long-running operation with 202, Azure-AsyncOperation, Location and Retry-After", async () => {
    const res = await rawRequest(fx.estate, "POST", fogPaths(fx.plan).failover);
    expect(res.status).toBe(202);
    expect(res.headers["azure-asyncoperation"]).toMatch(/\/providers\/Microsoft\.Sql\/locations\/centralus\/failoverGroupAzureAsyncOperation\/[0-9a-f-]{36}\?api-version=/);
    expect(res.headers.location).toMatch(/\/failoverGroupOperationResults\//);
    expect(res.headers["retry-after"]).toBe("0");
  });

  it("echoes the client request id and sends its own request id", async () => {
    const res = await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get, { headers: { "x-ms-client-request-id": "abc-123" } });
    expect(res.headers["x-ms-client-request-id"]).toBe("abc-123");
    expect(res.headers["x-ms-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("serves 500 and 429 faults for as many requests as planted, then recovers", async () => {
    await rawRequest(fx.estate, "POST", "/_estate/faults", { body: { kind: "serverError", operationId: "FailoverGroups_Get", count: 2, status: 503 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get)).status);
    expect(statuses).toEqual([503, 503, 200]);
  });
});

describe("estate: long-running operations follow the estate's clock", () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  let estate: Estate;
  let plan: Plan;
  beforeAll(async () => {
    plan = await loadPlanFile(EXAMPLE_PLAN);
    estate = await startEstate({ seed: seedFromPlans([plan]), clock: () => now, timing: { durations: { FailoverGroups_Failover: 30_000 }, retryAfterSeconds: 10 } });
  });
  afterAll(() => estate.close());

  it("reports InProgress until the operation's duration has passed, then Succeeded with the roles swapped", async () => {
    const started = await rawRequest(estate, "POST", fogPaths(plan).failover);
    expect(started.headers["retry-after"]).toBe("10");
    const asyncUrl = String(started.headers["azure-asyncoperation"]);
    const locationUrl = String(started.headers.location);

    const running = await rawRequest(estate, "GET", asyncUrl);
    expect(running.body.status).toBe("InProgress");
    expect((await rawRequest(estate, "GET", locationUrl)).status).toBe(202);
    expect((await rawRequest(estate, "GET", fogPaths(plan).get)).body.properties.replicationRole).toBe("Primary");

    now += 30_000;
    const done = await rawRequest(estate, "GET", asyncUrl);
    expect(done.body).toMatchObject({ status: "Succeeded", startTime: "2026-01-01T00:00:00.000Z", endTime: "2026-01-01T00:00:30.000Z" });
    const final = await rawRequest(estate, "GET", locationUrl);
    expect(final.status).toBe(200);
    expect(final.body.properties.replicationRole).toBe("Primary");
    expect((await rawRequest(estate, "GET", fogPaths(plan).get)).body.properties.replicationRole).toBe("Secondary");
  });

  it("decides a failover when it completes: a region that goes down meanwhile fails it", async () => {
    await estate.reset();
    const started = await rawRequest(estate, "POST", fogPaths(plan).failover);
    await estate.setRegion(plan.regions.primary.name, { down: true });
    now += 30_000;
    const done = await rawRequest(estate, "GET", String(started.headers["azure-asyncoperation"]));
    expect(done.body.status).toBe("Failed");
    expect(done.body.error.code).toBe("Conflict");
    const location = await rawRequest(estate, "GET", String(started.headers.location));
    expect(location.status).toBe(409);
    expect(location.body.error.code).toBe("Conflict");
  });
});

describe("estate: control endpoints", () => {
  const fx = useEstate();

  it("logs every request with its operation id and whether it wrote", async () => {
    await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get);
    await rawRequest(fx.estate, "POST", fogPaths(fx.plan).failover);
    const log = await rawRequest(fx.estate, "GET", "/_estate/requests?writes=true");
    expect(log.body.value.map((r: { operationId: string }) => r.operationId)).toEqual(["FailoverGroups_Failover"]);
  });

  it("resets resources, regions and faults to the seeded state", async () => {
    await rawRequest(fx.estate, "PUT", `/_estate/regions/${fx.plan.regions.primary.name}`, { body: { down: true } });
    await rawRequest(fx.estate, "POST", fogPaths(fx.plan).failover);
    await rawRequest(fx.estate, "GET", fogPaths(fx.plan).get); // settles the failover
    await rawRequest(fx.estate, "POST", "/_estate/reset");
    const state = await rawRequest(fx.estate, "GET", "/_estate/state");
    expect(state.body.regions[fx.plan.regions.primary.name].down).toBe(false);
    expect(state.body.failoverGroups[0].primaryServerId).toBe(`/subscriptions/${fx.plan.sql[0]!.failoverGroup.subscriptionId}/resourceGroups/${fx.plan.sql[0]!.failoverGroup.resourceGroup}/providers/Microsoft.Sql/servers/${fx.plan.sql[0]!.failoverGroup.names[0]}`);
    expect((await rawRequest(fx.estate, "GET", "/_estate/requests")).body.value.every((r: { api: string }) => r.api === "control")).toBe(true);
  });

  it("applies a scenario document and rejects a bad one with the path of the bad field", async () => {
    const ok = await rawRequest(fx.estate, "POST", "/_estate/scenario", {
      body: { regions: { [fx.plan.regions.primary.name]: { down: true, healthWhenDown: "503" } }, lag: [{ resourceId: fx.plan.storage[0]!.account.id, seconds: 120 }] },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.regions[fx.plan.regions.primary.name]).toMatchObject({ down: true, healthWhenDown: "503" });
    expect(ok.body.storageAccounts[0].lagSeconds).toBe(120);

    const bad = await rawRequest(fx.estate, "POST", "/_estate/scenario", { body: { faults: [{ kind: "throttle", operationId: "X", count: -1 }] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("faults.0.count");
  });

  it("refuses a region it does not have and lag for a resource it does not have", async () => {
    expect((await rawRequest(fx.estate, "PUT", "/_estate/regions/westus", { body: { down: true } })).status).toBe(404);
    const lag = await rawRequest(fx.estate, "PUT", "/_estate/lag", { body: { resourceId: "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/nope", seconds: 5 } });
    expect(lag.status).toBe(404);
  });
});

describe("estate: regional application health endpoints", () => {
  const fx = useEstate();
  const healthUrl = () => fx.clients.endpointUrl(fx.plan.regions.primary.healthEndpoints[0]!.url);

  it("answers 200 while the region is up", async () => {
    const res = await rawRequest(fx.estate, "GET", healthUrl(), { auth: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "Healthy", region: fx.plan.regions.primary.name, path: "/healthz" });
  });

  it("refuses connections while the region is down, and answers again when it is back", async () => {
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    await expect(rawRequest(fx.estate, "GET", healthUrl(), { auth: false })).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: false });
    expect((await rawRequest(fx.estate, "GET", healthUrl(), { auth: false })).status).toBe(200);
  });

  it("answers 503 while down when the scenario says so", async () => {
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true, healthWhenDown: "503" });
    expect((await rawRequest(fx.estate, "GET", healthUrl(), { auth: false })).status).toBe(503);
    const secondary = fx.clients.endpointUrl(fx.plan.regions.secondary.healthEndpoints[0]!.url);
    expect((await rawRequest(fx.estate, "GET", secondary, { auth: false })).status).toBe(200);
  });
});

describe("estate: health listeners under overlapping changes", () => {
  const fx = useEstate();

  it("ends in the state set last when changes overlap", async () => {
    const region = fx.plan.regions.primary.name;
    await fx.estate.setRegion(region, { down: true, healthWhenDown: "503" });
    await Promise.all([fx.estate.setRegion(region, { down: false }), fx.estate.setRegion(region, { down: true, healthWhenDown: "refused" })]);
    const url = fx.clients.endpointUrl(fx.plan.regions.primary.healthEndpoints[0]!.url);
    await expect(rawRequest(fx.estate, "GET", url, { auth: false })).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("serves the health endpoints of a seed posted after start as soon as the seeding call returns", async () => {
    const plan = await loadPlanFile(fileURLToPath(new URL("../fixtures/fabrikam.plan.json", import.meta.url)));
    const res = await rawRequest(fx.estate, "POST", "/_estate/seed", { body: seedFromPlans([plan]) });
    expect(res.status).toBe(201);
    const target = fx.estate.clientTarget();
    const host = new URL(plan.regions.secondary.healthEndpoints[0]!.url).host;
    expect(target.hosts[host]).toMatch(/^https:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect((await rawRequest(fx.estate, "GET", `${target.hosts[host]}/health`, { auth: false })).status).toBe(200);
  });

  it("refuses a seed whose failover group names a server it does not seed, and seeds none of it", async () => {
    const sub = "6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    const server = (name: string) => `/subscriptions/${sub}/resourceGroups/rg-x/providers/Microsoft.Sql/servers/${name}`;
    const seed = {
      regions: [{ name: "swedencentral" }],
      sqlServers: [{ id: server("x-primary"), location: "swedencentral" }],
      failoverGroups: [{ id: `${server("x-primary")}/failoverGroups/x-fog`, partnerServerId: server("x-missing"), databases: ["x"] }],
    };
    const res = await rawRequest(fx.estate, "POST", "/_estate/seed", { body: seed });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "InvalidSeed", message: expect.stringContaining("x-missing is not seeded") });
    const state = (await rawRequest(fx.estate, "GET", "/_estate/state")).body;
    expect(Object.keys(state.regions)).not.toContain("swedencentral");
    expect(state.sqlServers.map((s: { name: string }) => s.name)).not.toContain("x-primary");
  });
});
