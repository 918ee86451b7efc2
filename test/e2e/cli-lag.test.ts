/**
 * `switchyard lag` on the local estate, on plans whose names, regions and resource mixes no code was
 * tuned to: SQL lag over TDS (the real tedious driver against the estate's listeners) and storage lag
 * from Resource Manager, both set on the estate by a scenario's `lag`.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { loadPlanFile } from "../../src/core/plan/index.ts";

const NORTHWIND = fileURLToPath(new URL("../fixtures/northwind.plan.yaml", import.meta.url));
const FABRIKAM = fileURLToPath(new URL("../fixtures/fabrikam.plan.json", import.meta.url));

let stdout: string[];
let stderr: string[];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-lag-"));
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => main(["node", "switchyard", "lag", ...args]);

interface LagJson {
  plan: string;
  rpoSeconds: number;
  tdsLogins: number;
  resources: Record<string, { kind: string; name: string; lagSeconds: number | null; withinRpo: boolean | null; state: string; source: string; measuredAt: string }>;
}

describe("switchyard lag --json on the local estate", () => {
  it.each([
    { label: "northwind (japaneast/japanwest, one group, two accounts)", file: NORTHWIND },
    { label: "fabrikam (westeurope/northeurope)", file: FABRIKAM },
  ])("reports a numeric lagSeconds for every SQL database and storage account of $label, as the scenario set them", async ({ file }) => {
    const plan = await loadPlanFile(file);
    // A different lag per resource, each under the plan's RPO.
    const lags = [...plan.sql.map((g) => g.failoverGroup.id), ...plan.storage.map((s) => s.account.id)].map((resourceId, i) => ({ resourceId, seconds: Math.min(plan.objectives.rpoSeconds - 5, 7 * (i + 1)) }));
    const scenario = join(dir, "lag.json");
    await writeFile(scenario, JSON.stringify({ lag: lags }));

    const code = await run("--plan", file, "--json", "--scenario", scenario);

    expect(code, stderr.join("")).toBe(0);
    const out = JSON.parse(stdout.join("")) as LagJson;
    expect(out.plan).toBe(plan.name);
    const databases = plan.sql.flatMap((g) => (g.databases ?? [`${g.failoverGroup.name}-db`]).map((db) => ({ db, group: g.failoverGroup, lag: lags.find((l) => l.resourceId === g.failoverGroup.id)!.seconds })));
    expect(out.tdsLogins).toBe(databases.length);
    for (const d of databases) {
      const id = `/subscriptions/${d.group.subscriptionId}/resourceGroups/${d.group.resourceGroup}/providers/Microsoft.Sql/servers/${d.group.names[0]}/databases/${d.db}`;
      const r = Object.entries(out.resources).find(([key]) => key.toLowerCase() === id.toLowerCase())?.[1];
      expect(r, `${id} in ${Object.keys(out.resources).join(", ")}`).toMatchObject({ kind: "sqlDatabase", lagSeconds: d.lag, withinRpo: true, state: "CATCH_UP", source: "tds:sys.dm_geo_replication_link_status" });
    }
    for (const s of plan.storage) {
      const r = out.resources[s.account.id]!;
      const set = lags.find((l) => l.resourceId === s.account.id)!.seconds;
      expect(r.kind).toBe("storageAccount");
      expect(typeof r.lagSeconds).toBe("number");
      // lastSyncTime is whole seconds: the lag reads the set value or one more.
      expect(r.lagSeconds! - set).toBeGreaterThanOrEqual(0);
      expect(r.lagSeconds! - set).toBeLessThanOrEqual(1);
    }
    expect(Object.keys(out.resources)).toHaveLength(databases.length + plan.storage.length);
  }, 60_000);

  it("exits 1 with the resource over the RPO, and with the databases unknown when their region is down", async () => {
    const plan = await loadPlanFile(NORTHWIND);
    const over = join(dir, "over.json");
    await writeFile(over, JSON.stringify({ lag: [{ resourceId: plan.sql[0]!.failoverGroup.id, seconds: plan.objectives.rpoSeconds + 1 }] }));
    expect(await run("--plan", NORTHWIND, "--scenario", over)).toBe(1);
    const text = stdout.join("");
    expect(text).toMatch(/sql nw-shipments\/shipments\s+901 s\s+CATCH_UP\s+\S+\s+OVER RPO/);
    expect(text).toContain(`3 resource(s) of ${plan.name}: 1 over the RPO of 900 s, 0 unknown`);

    stdout.length = 0;
    const down = join(dir, "down.json");
    await writeFile(down, JSON.stringify({ regions: { [plan.regions.primary.name]: { down: true, controlPlane: "down" } } }));
    expect(await run("--plan", NORTHWIND, "--scenario", down, "--json")).toBe(1);
    const out = JSON.parse(stdout.join("")) as LagJson;
    const db = Object.values(out.resources).find((r) => r.kind === "sqlDatabase")!;
    expect(db).toMatchObject({ lagSeconds: null, withinRpo: null, state: "unreachable" });
  }, 60_000);

  it("refuses bad command lines before measuring anything", async () => {
    expect(await run("--plan", NORTHWIND, "--concurrency", "0")).toBe(2);
    expect(stderr.join("")).toContain("It must be a whole number from 1 to 64.");
    expect(await run("--json")).toBe(2);
    expect(await run("--plan", NORTHWIND, "--azure", "--scenario", "x.yaml")).toBe(1);
    expect(stderr.join("")).toContain("--scenario plants conditions on the local estate: it cannot be used with --azure");
    expect(await run("--plan", "/nonexistent/plan.yaml")).toBe(1);
  });
});
