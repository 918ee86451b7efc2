/**
 * `switchyard infra roles`: the plans' role assignments as the file infra/main.bicep loads. Every
 * assignment `planRoles` lists is there once, at its scope, split into the parts a Bicep module
 * needs; the custom roles carry exactly their actions; bad input is refused with the field at fault;
 * a plan's primary region draws a warning.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { allAssignments, CUSTOM_ROLES, generateRoles, InfraRolesError, KIND_MODULES, regionWarnings, type GeneratedRoles } from "../../src/core/infraRoles.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { planNeeds, planRoles } from "../../src/core/roles.ts";

const files = {
  contoso: new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname,
  meridian: new URL("../fixtures/meridian.plan.yaml", import.meta.url).pathname,
  hanbit: new URL("../fixtures/hanbit.plan.yaml", import.meta.url).pathname,
};
const plans: Record<keyof typeof files, Plan> = {
  contoso: await loadPlanFile(files.contoso),
  meridian: await loadPlanFile(files.meridian),
  hanbit: await loadPlanFile(files.hanbit),
};
const all = Object.values(plans);

const out = mkdtempSync(join(tmpdir(), "switchyard-infra-roles-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** A region none of the plans uses as primary. */
const elsewhere = "swedencentral";

describe("the generated roles", () => {
  it.each(Object.keys(plans) as (keyof typeof plans)[])("hold every assignment plan roles lists for %s, once, with the parts of its scope", (name) => {
    const plan = plans[name];
    const roles = generateRoles([plan], elsewhere);
    const listed = planRoles(plan).assignments;
    const generated = allAssignments(roles);
    expect(generated).toHaveLength(listed.length);
    for (const a of listed) {
      const match = generated.filter((g) => g.scope === a.scope && g.role === a.role);
      expect(match, `${a.role} at ${a.scope}`).toHaveLength(1);
      const g = match[0]!;
      expect(a.scope.toLowerCase()).toContain(`/subscriptions/${g.subscriptionId}/resourcegroups/${g.resourceGroup}`.toLowerCase());
      if (g.name) expect(a.scope.endsWith(`/${g.name}`)).toBe(true);
      expect(g.roleDefinitionId).toBe(a.roleDefinitionId ?? "");
      expect(g.customRole ? CUSTOM_ROLES[g.customRole]!.name : "").toBe(a.custom?.name ?? "");
    }
  });

  it("put each assignment under the key of its scope's kind, and name every kind", () => {
    const roles = generateRoles(all, elsewhere);
    expect(Object.keys(roles.assignments).sort()).toEqual(Object.values(KIND_MODULES).map((m) => m.key).sort());
    for (const plan of all) {
      for (const need of planNeeds(plan)) {
        const key = KIND_MODULES[need.kind].key;
        const here = allAssignments(roles).filter((a) => a.scope.toLowerCase() === need.scope.toLowerCase());
        expect(here.length, need.scope).toBeGreaterThan(0);
        expect(here.every((a) => roles.assignments[key]!.includes(a)), need.scope).toBe(true);
        if (need.kind === "resource-group") expect(here.every((a) => a.name === "")).toBe(true);
      }
    }
  });

  it("define the custom roles with exactly their actions, assignable in each subscription they are used in", () => {
    const roles = generateRoles(all, elsewhere);
    for (const custom of roles.customRoles) {
      expect(custom.actions).toEqual(CUSTOM_ROLES[custom.key]!.actions);
      const used = allAssignments(roles).filter((a) => a.customRole === custom.key).map((a) => a.subscriptionId.toLowerCase());
      expect(custom.subscriptions).toEqual([...new Set(used)].sort());
    }
    // Every custom role an assignment names is defined.
    expect(new Set(allAssignments(roles).map((a) => a.customRole).filter(Boolean))).toEqual(new Set(roles.customRoles.map((r) => r.key)));
    // Hanbit has no classic Front Door: its file defines no Front Door (classic) role.
    expect(generateRoles([plans.hanbit], elsewhere).customRoles.map((r) => r.key)).toEqual(["operationStatusReader"]);
  });

  it("merge plans, adding up to the sum of their assignments when they share no resource", () => {
    const roles = generateRoles(all, elsewhere);
    expect(allAssignments(roles)).toHaveLength(all.reduce((n, p) => n + planRoles(p).assignments.length, 0));
    expect(roles.plans).toEqual(all.map((p) => p.name));
  });

  it("merge an assignment two plans need into one that names both", () => {
    const twin: Plan = { ...plans.contoso, name: "contoso-twin" };
    const roles = generateRoles([plans.contoso, twin], elsewhere);
    expect(allAssignments(roles)).toHaveLength(planRoles(plans.contoso).assignments.length);
    expect(allAssignments(roles).every((a) => a.plans.join(",") === "contoso-orders,contoso-twin")).toBe(true);
  });

  it("refuse a location that is not a region name, suggesting the one meant", () => {
    expect(() => generateRoles([plans.contoso], "East US 2")).toThrow(InfraRolesError);
    expect(() => generateRoles([plans.contoso], "East US 2")).toThrow(/--location: 'East US 2' is not an Azure region name.*did you mean 'eastus2'\?/);
    expect(() => generateRoles([plans.contoso], "atlantis")).toThrow(/--location: 'atlantis'/);
  });

  it("refuse the same plan twice", () => {
    expect(() => generateRoles([plans.meridian, plans.meridian], elsewhere)).toThrow(/--plan: plan 'meridian-claims' is given more than once/);
  });

  it("warn about a plan's primary region, and only that", () => {
    for (const plan of all) {
      expect(regionWarnings([plan], plan.regions.primary.name)).toEqual([expect.stringContaining(`primary region of plan ${plan.name}`)]);
      expect(regionWarnings([plan], plan.regions.primary.name)[0]).toContain(`secondary region (${plan.regions.secondary.name})`);
      expect(regionWarnings([plan], plan.regions.secondary.name)).toEqual([]);
    }
  });
});

const run = (argv: string[]) => runCli(...argv);

describe("switchyard infra roles", () => {
  it("writes the file for several plans and summarises it per plan, with what is left to do by hand", async () => {
    const file = join(out, "roles.json");
    const { code, stdout, stderr } = await run(["infra", "roles", "--plan", files.contoso, "--plan", files.hanbit, "--location", elsewhere, "--out", file]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    const written = JSON.parse(readFileSync(file, "utf8")) as GeneratedRoles;
    expect(written).toEqual(JSON.parse(JSON.stringify(generateRoles([plans.contoso, plans.hanbit], elsewhere))));
    expect(stdout).toContain(`contoso-orders: ${planRoles(plans.contoso).assignments.length} assignment(s)`);
    expect(stdout).toContain(`hanbit-pay: ${planRoles(plans.hanbit).assignments.length} assignment(s)`);
    for (const item of planRoles(plans.hanbit).alsoRequired) expect(stdout).toContain(item);
  });

  it("reads a folder of plans, and warns on stderr when Switchyard would share a plan's primary region", async () => {
    const dir = join(out, "plans");
    const file = join(out, "from-dir.json");
    rmSync(dir, { recursive: true, force: true });
    await import("node:fs/promises").then((fs) => fs.mkdir(dir));
    writeFileSync(join(dir, "meridian.yaml"), readFileSync(files.meridian));
    writeFileSync(join(dir, "notes.txt"), "not a plan");
    const { code, stderr } = await run(["infra", "roles", "--plans-dir", dir, "--location", plans.meridian.regions.primary.name, "--out", file]);
    expect(code).toBe(0);
    expect(stderr).toMatch(new RegExp(`^WARNING: Switchyard would run in ${plans.meridian.regions.primary.name}, the primary region of plan meridian-claims`, "m"));
    expect((JSON.parse(readFileSync(file, "utf8")) as GeneratedRoles).plans).toEqual(["meridian-claims"]);
  });

  it("writes an empty file when there is no plan yet, and says so", async () => {
    const file = join(out, "empty.json");
    const { code, stderr } = await run(["infra", "roles", "--plans-dir", join(out, "nothing-here"), "--location", elsewhere, "--out", file]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/no plan given \(none in .*nothing-here\)/);
    expect(allAssignments(JSON.parse(readFileSync(file, "utf8")) as GeneratedRoles)).toEqual([]);
  });

  it("refuses a missing plan file and a bad location with exit code 1, writing nothing", async () => {
    const file = join(out, "never.json");
    const missing = await run(["infra", "roles", "--plan", join(out, "nope.yaml"), "--location", elsewhere, "--out", file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("nope.yaml: 1 error");
    expect(missing.stderr).toContain("file not found");
    const badRegion = await run(["infra", "roles", "--plan", files.contoso, "--location", "westeurope2", "--out", file]);
    expect(badRegion.code).toBe(1);
    expect(badRegion.stderr).toMatch(/--location: 'westeurope2' is not an Azure region name/);
    expect(() => readFileSync(file)).toThrow();
  });

  it("needs --location (a usage error)", async () => {
    const { code } = await run(["infra", "roles", "--plan", files.contoso]);
    expect(code).toBe(2);
  });
});
