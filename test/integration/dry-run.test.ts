/**
 * `POST /api/plans/{plan}/failover?dryRun=true` (and failback) on the local estate with the real SDK
 * clients: the dry run reads what the run would read, answers the writes the run would make, and
 * makes none (the estate's request log); the real run made right after writes exactly those.
 */
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { planDryRun } from "../../src/activities/dryRun.ts";
import { createProbe } from "../../src/activities/probe.ts";
import type { Logger } from "../../src/core/logger.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { canonicalResource, useRunWorld, writes } from "../helpers/runHarness.ts";

const world = useRunWorld();
const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function api() {
  return operatorHandlers({
    plans: new StaticPlanCatalog(world.plans),
    runs: world.runs,
    journal: world.journal,
    clock: () => new Date(),
    appServiceAuthOn: false,
    dryRun: (input) => planDryRun(input, { clients: world.clients, probe: createProbe(world.clients), log: silent }),
  });
}

function post(action: "failover" | "failback", query: string, body: unknown = { reason: "rehearse before the maintenance window" }): HttpRequest {
  const plan = world.plan.name;
  return new HttpRequest({
    method: "POST",
    url: `http://localhost/api/plans/${plan}/${action}${query}`,
    params: { plan },
    headers: { "content-type": "application/json" },
    body: { string: JSON.stringify(body) },
  });
}

/** The estate's last request so far: what follows it is what the code under test sent. */
const lastSeq = () => world.estate.requests().at(-1)?.seq ?? 0;

/** `operation resource` of each write the estate accepted since `since`, as one sorted set. */
const estateWrites = (since: number) => [...new Set(writes(world.estate, { since }).map((g) => `${g.operationId} ${g.resource}`))].sort();

/** The same for a dry run's answer (the journal's operation names carry a suffix after the Azure operation id). */
const dryWrites = (answer: { writes: { operation: string; resourceId: string }[] }) =>
  [...new Set(answer.writes.map((w) => `${w.operation.split(" ")[0]} ${canonicalResource(w.resourceId)}`))].sort();

const operatorJournal = () => `operator-${world.plan.name}-${new Date().toISOString().slice(0, 10).replace(/-/g, "")}`;

async function runToCompletion(kind: "failover" | "failback", mode: "planned" | "forced" = "planned") {
  await world.runs.start(world.runInput(kind, { mode }));
  const done = await world.runs.waitFor(world.plan.name);
  expect(done.output?.outcome, JSON.stringify(done.output)).toBe("completed");
}

describe("dry run of a failover", () => {
  it("answers the writes the real run then makes, and writes nothing itself", async () => {
    const before = lastSeq();
    const res = await api().failover(post("failover", "?dryRun=true"));
    const answer = res.jsonBody as any;

    expect(res.status).toBe(200);
    expect(answer).toMatchObject({ dryRun: true, kind: "failover", from: "eastus2", to: "centralus", mode: "planned", unknown: [], blocked: [] });
    expect(world.estate.requests({ since: before, writesOnly: true }), "the dry run sent no write").toEqual([]);
    expect(world.estate.requests({ since: before }).length, "the dry run read the estate").toBeGreaterThan(0);
    expect(await world.runs.get(world.plan.name), "no run started").toBeUndefined();
    const kinds = new Set(answer.writes.map((w: { kind: string }) => w.kind));
    expect([...kinds].sort()).toEqual(["app-service", "front-door-classic", "front-door-origin", "sql-failover-group", "storage-account"]);
    const sql = answer.writes.find((w: { kind: string }) => w.kind === "sql-failover-group");
    expect(sql).toMatchObject({ operation: "FailoverGroups_Failover", current: { serverIn: { region: "centralus", replicationRole: "Secondary" }, primaryServer: "contoso-orders-sql-eastus2" }, target: { region: "centralus", allowDataLoss: false } });

    // Setting values can be secrets: the answer names settings, never a value.
    const text = JSON.stringify(answer);
    const values = world.plan.appService.flatMap((s) => [...s.appSettings, ...s.connectionStrings]).flatMap((s) => Object.values(s.values)).filter((v) => v.includes("."));
    expect(values.length).toBeGreaterThan(0);
    expect(values.filter((v) => text.includes(v))).toEqual([]);
    expect(answer.writes.filter((w: { kind: string }) => w.kind === "app-service").map((w: { current: object }) => w.current)).toContainEqual({ connectionStrings: { Cache: "the value for eastus2" } });

    const journaled = (await world.journal.read(operatorJournal())).filter((e) => e.data?.action === "failover-dry-run");
    expect(journaled).toHaveLength(1);
    expect(journaled[0]!.data).toMatchObject({ dryRun: true, by: "function-key caller", reason: "rehearse before the maintenance window", from: "eastus2", to: "centralus" });

    const afterDry = lastSeq();
    await runToCompletion("failover");
    expect(estateWrites(afterDry)).toEqual(dryWrites(answer));
  });

  it("with the primary's control plane down, answers 200 and reports the resources it could not read as unknown", async () => {
    await world.estate.setRegion("eastus2", { controlPlane: "down" });
    const before = lastSeq();

    const res = await api().failover(post("failover", "?dryRun=true"));
    const answer = res.jsonBody as any;

    expect(res.status).toBe(200);
    const eastSite = world.plan.appService.find((s) => s.region === "eastus2")!.site.id;
    expect(answer.unknown.map((u: { resourceId: string }) => u.resourceId)).toEqual([eastSite]);
    expect(answer.unknown[0].reason).toMatch(/^unknown: .*503.*eastus2/);
    // What lives elsewhere (the target's servers, global Front Doors, storage readable from its secondary) is still planned.
    expect(answer.writes.map((w: { kind: string }) => w.kind)).toEqual(expect.arrayContaining(["sql-failover-group", "storage-account", "front-door-origin", "front-door-classic"]));
    expect(world.estate.requests({ since: before, writesOnly: true })).toEqual([]);
  });

  it("refuses dryRun=maybe with a 400 naming the parameter, and changes nothing", async () => {
    const before = lastSeq();
    const res = await api().failover(post("failover", "?dryRun=maybe"));
    expect(res.status).toBe(400);
    expect(res.jsonBody).toMatchObject({ error: { code: "InvalidQuery" } });
    expect(JSON.stringify(res.jsonBody)).toContain("dryRun");
    expect(world.estate.requests({ since: before })).toEqual([]);
    expect(await world.runs.get(world.plan.name)).toBeUndefined();
    expect(await world.journal.read(operatorJournal())).toEqual([]);
  });
});

describe("dry run of a failback", () => {
  it("after a failover: answers the writes the real failback then makes, writes nothing, and a failover dry run is refused as the start would be", async () => {
    await runToCompletion("failover");

    const refused = await api().failover(post("failover", "?dryRun=true"));
    expect(refused.status).toBe(409);
    expect(refused.jsonBody).toMatchObject({ error: { code: "UseFailback" } });

    const before = lastSeq();
    const res = await api().failback(post("failback", "?dryRun=true"));
    const answer = res.jsonBody as any;
    expect(res.status).toBe(200);
    expect(answer).toMatchObject({ dryRun: true, kind: "failback", from: "centralus", to: "eastus2", mode: "planned", unknown: [], blocked: [] });
    expect(answer.writes.length).toBeGreaterThan(0);
    expect(world.estate.requests({ since: before, writesOnly: true })).toEqual([]);

    const afterDry = lastSeq();
    await runToCompletion("failback");
    expect(estateWrites(afterDry)).toEqual(dryWrites(answer));
  });

  it("after a forced failover that left storage LRS: the re-protection's SKU change first, and the same writes as the real failback", async () => {
    await world.estate.setRegion("eastus2", { down: true });
    await runToCompletion("failover", "forced");
    await world.estate.setRegion("eastus2", { down: false });

    const before = lastSeq();
    const res = await api().failback(post("failback", "?dryRun=true"));
    const answer = res.jsonBody as any;
    expect(res.status).toBe(200);
    const reprotect = answer.writes.filter((w: { phase: string }) => w.phase === "reprotect");
    expect(reprotect.length).toBeGreaterThan(0);
    for (const w of reprotect) expect(w).toMatchObject({ kind: "storage-account", operation: "StorageAccounts_Update", current: { sku: "Standard_LRS" } });
    expect(answer.writes[0].phase).toBe("reprotect");
    expect(world.estate.requests({ since: before, writesOnly: true })).toEqual([]);

    const afterDry = lastSeq();
    await runToCompletion("failback");
    expect(estateWrites(afterDry)).toEqual(dryWrites(answer));
  });
});
