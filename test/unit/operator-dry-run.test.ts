/**
 * The checks a dry run shares with a real start, over ports (the estate-backed dry run itself is in
 * test/integration/dry-run.test.ts): the operator role, the 409 refusals, journaled as a dry run.
 */
import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import type { DryRunInput, DryRunReport } from "../../src/activities/dryRun.ts";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { OPERATOR_ROLE } from "../../src/http/auth.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const EMPTY: DryRunReport = { regions: {}, dataLoss: { decision: "planned", why: "test" }, writes: [], unchanged: [], blocked: [], unknown: [] };

function setup(options: { auth?: boolean } = {}) {
  const asked: DryRunInput[] = [];
  const runs = new MemoryRuns();
  const journal = new MemoryJournal();
  const api = operatorHandlers({
    plans: new StaticPlanCatalog([plan]),
    runs,
    journal,
    clock: () => new Date("2026-11-28T10:00:00Z"),
    appServiceAuthOn: options.auth ?? false,
    dryRun: async (input) => {
      asked.push(input);
      return EMPTY;
    },
  });
  return { api, asked, runs, journal };
}

const principal = (name: string, roles: string[]) =>
  Buffer.from(JSON.stringify({ auth_typ: "aad", claims: [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))] })).toString("base64");

const post = (action: string, headers: Record<string, string> = {}) =>
  new HttpRequest({
    method: "POST",
    url: `http://localhost/api/plans/${plan.name}/${action}?dryRun=true`,
    params: { plan: plan.name },
    headers: { "content-type": "application/json", ...headers },
    body: { string: JSON.stringify({ reason: "rehearsal", mode: action === "failover" ? "forced" : undefined }) },
  });

describe("dry run checks", () => {
  it("needs the operator role when App Service authentication is on, and asks Azure nothing without it", async () => {
    const { api, asked } = setup({ auth: true });
    const reader = await api.failover(post("failover", { "x-ms-client-principal": principal("reader@contoso.com", ["Reader"]) }));
    expect(reader.status).toBe(403);
    expect(asked).toEqual([]);

    const operator = await api.failover(post("failover", { "x-ms-client-principal": principal("oncall@contoso.com", [OPERATOR_ROLE]) }));
    expect(operator.status).toBe(200);
    expect(operator.jsonBody).toMatchObject({ dryRun: true, kind: "failover", mode: "forced", from: "eastus2", to: "centralus" });
    expect(asked).toEqual([expect.objectContaining({ kind: "failover", mode: "forced", from: "eastus2", to: "centralus" })]);
  });

  it("answers 409 NothingToFailBack as the real start would, journaled as a dry run, starting nothing", async () => {
    const { api, asked, runs, journal } = setup();
    const res = await api.failback(post("failback"));
    expect(res.status).toBe(409);
    expect(res.jsonBody).toMatchObject({ error: { code: "NothingToFailBack" } });
    expect(asked).toEqual([]);
    expect(runs.started).toEqual([]);
    const entries = await journal.read("operator-contoso-orders-20261128");
    expect(entries.map((e) => e.data)).toEqual([expect.objectContaining({ action: "failback-dry-run", outcome: "refused: nothing to fail back" })]);
  });
});
