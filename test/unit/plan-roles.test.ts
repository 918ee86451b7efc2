import { describe, expect, it } from "vitest";
import { loadPlanFile } from "../../src/core/plan/index.ts";
import { CLASSIC_FRONT_DOOR_ROLE, OPERATION_STATUS_ROLE, permissionsGrant, planNeeds, planRoles, ROLES } from "../../src/core/roles.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

describe("switchyard plan roles", () => {
  it("scopes every assignment to one resource the plan names, never a resource group or subscription", async () => {
    for (const file of ["northwind.plan.yaml", "fabrikam.plan.json", "harbor.plan.yaml", "tailspin.plan.json"]) {
      const plan = await loadPlanFile(fixture(file));
      const roles = planRoles(plan);
      expect(roles.assignments.length).toBeGreaterThan(0);
      for (const a of roles.assignments) {
        // /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}: exactly 8 segments; only the
        // status reads of long-running operations are at a resource group (4), where Azure answers them.
        expect(a.scope.split("/").filter(Boolean), a.scope).toHaveLength(a.role === OPERATION_STATUS_ROLE.name ? 4 : 8);
        expect(a.actions.length).toBeGreaterThan(0);
        expect(a.why.length).toBeGreaterThan(0);
      }
      // Every scope is one the plan names (a failover group's servers, an origin group's profile, ...).
      const text = JSON.stringify(plan).toLowerCase();
      for (const a of roles.assignments) expect(text).toContain(a.scope.toLowerCase());
    }
  });

  it("asks for the secret rotation's actions only where the plan rotates", async () => {
    const tailspin = await loadPlanFile(fixture("tailspin.plan.json"));
    expect(tailspin.secrets).toHaveLength(0);
    const actions = planNeeds(tailspin).flatMap((n) => n.actions.map((a) => a.action));
    expect(actions.some((a) => /regeneratekey|KeyVault|configreferences/i.test(a))).toBe(false);

    const harbor = await loadPlanFile(fixture("harbor.plan.yaml"));
    const vaults = planRoles(harbor).assignments.filter((a) => a.role === ROLES.keyVaultSecretsOfficer.name);
    expect(vaults.length).toBe(new Set(harbor.secrets.flatMap((s) => s.vaults.map((v) => v.id.toLowerCase()))).size);
    for (const a of vaults) {
      expect(a.actions.filter((x) => x.data === true).map((x) => x.action.split("/").at(-2))).toEqual(["readMetadata", "getSecret", "setSecret", "update"]);
      expect(a.actions.filter((x) => x.data !== true).map((x) => x.action)).toEqual(["Microsoft.Authorization/permissions/read"]);
    }
  });

  it("gives each resource group of a resource whose operations Switchyard follows the status reads, and no other", async () => {
    const plan = await loadPlanFile(fixture("meridian.plan.yaml"));
    const status = planRoles(plan).assignments.filter((a) => a.role === OPERATION_STATUS_ROLE.name);
    // SQL servers and the storage account in mer-aue/mer-ause, both Front Doors in mer-edge; the sites' and vaults' writes are synchronous.
    expect(status.map((a) => a.scope.split("/")[4]).sort()).toEqual(["mer-aue", "mer-ause", "mer-edge"]);
    const edge = status.find((a) => a.scope.endsWith("/mer-edge"))!;
    expect(edge.actions.map((a) => a.action)).toEqual(["Microsoft.Cdn/operationresults/read", "Microsoft.Network/frontdooroperationresults/read", "Microsoft.Authorization/permissions/read"]);
    expect(status.every((a) => a.custom === OPERATION_STATUS_ROLE)).toBe(true);
  });

  it("gives classic Front Door a custom role of its own actions, not Network Contributor", async () => {
    const plan = await loadPlanFile(fixture("northwind.plan.yaml"));
    const classic = planRoles(plan).assignments.filter((a) => /Microsoft\.Network\/frontDoors/i.test(a.scope));
    expect(classic.map((a) => a.role).sort()).toEqual([CLASSIC_FRONT_DOOR_ROLE.name, ROLES.reader.name].sort());
    expect(classic.find((a) => a.custom)?.custom?.actions).toEqual(["Microsoft.Network/frontDoors/read", "Microsoft.Network/frontDoors/write", "Microsoft.Authorization/permissions/read"]);
    expect(planRoles(plan).assignments.some((a) => /Network Contributor/.test(a.role))).toBe(false);
  });

  it("lists each SQL failover group's two servers once, however many groups share them", async () => {
    const plan = await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname);
    const sql = planRoles(plan).assignments.filter((a) => a.role === ROLES.sqlServerContributor.name);
    expect(plan.sql.length).toBe(2);
    expect(sql).toHaveLength(2);
  });
});

describe("permissionsGrant", () => {
  const p = (actions: string[], notActions: string[] = [], dataActions: string[] = [], notDataActions: string[] = []) => ({ actions, notActions, dataActions, notDataActions });

  it("matches wildcards anywhere, ignoring case", () => {
    expect(permissionsGrant([p(["Microsoft.Sql/servers/*"])], "microsoft.sql/servers/failoverGroups/failover/action")).toBe(true);
    expect(permissionsGrant([p(["*/read"])], "Microsoft.Cdn/profiles/originGroups/origins/read")).toBe(true);
    expect(permissionsGrant([p(["*/read"])], "Microsoft.Cdn/profiles/originGroups/origins/write")).toBe(false);
    expect(permissionsGrant([p(["Microsoft.Sql/servers/failoverGroups/read"])], "Microsoft.Sql/servers/failoverGroups/readX")).toBe(false);
  });

  it("takes notActions away from actions of the same entry only", () => {
    const contributor = p(["*"], ["Microsoft.Authorization/*/Write"]);
    expect(permissionsGrant([contributor], "Microsoft.Authorization/roleAssignments/write")).toBe(false);
    expect(permissionsGrant([contributor, p(["Microsoft.Authorization/*"])], "Microsoft.Authorization/roleAssignments/write")).toBe(true);
  });

  it("keeps data actions apart from control-plane actions", () => {
    expect(permissionsGrant([p(["*"])], "Microsoft.KeyVault/vaults/secrets/getSecret/action", true)).toBe(false);
    expect(permissionsGrant([p([], [], ["Microsoft.KeyVault/vaults/secrets/*"])], "Microsoft.KeyVault/vaults/secrets/getSecret/action", true)).toBe(true);
    expect(permissionsGrant([p([], [], ["Microsoft.KeyVault/vaults/secrets/*"], ["Microsoft.KeyVault/vaults/secrets/getSecret/action"])], "Microsoft.KeyVault/vaults/secrets/getSecret/action", true)).toBe(false);
  });
});

describe("the roles against Azure's published definitions (the estate's catalogue)", async () => {
  const { BUILT_IN_ROLES, findBuiltInRole, grants } = await import("../../estate/roles.ts");
  const plans = await Promise.all(["northwind.plan.yaml", "fabrikam.plan.json", "harbor.plan.yaml", "meridian.plan.yaml"].map((f) => loadPlanFile(fixture(f))));
  const permissionsOf = (a: { roleDefinitionId?: string; custom?: { actions: readonly string[] } }) =>
    a.custom ? [{ actions: [...a.custom.actions], notActions: [], dataActions: [], notDataActions: [] }] : findBuiltInRole(a.roleDefinitionId!)!.permissions;

  it("names each built-in role by its real id and name, and each grants the actions it is listed for", () => {
    for (const plan of plans) {
      for (const a of planRoles(plan).assignments) {
        if (a.roleDefinitionId) expect(findBuiltInRole(a.roleDefinitionId)?.roleName, a.role).toBe(a.role);
        for (const x of a.actions) expect(grants(permissionsOf(a), x.action, x.data ? "dataAction" : "action"), `${a.role} → ${x.action}`).toBe(true);
      }
    }
  });

  it("needs every assignment: each grants at its scope an action no other listed assignment there grants", () => {
    for (const plan of plans) {
      const listed = planRoles(plan).assignments;
      for (const a of listed) {
        const others = listed.filter((o) => o !== a && o.scope.toLowerCase() === a.scope.toLowerCase());
        const onlyThis = a.actions.filter((x) => !others.some((o) => grants(permissionsOf(o), x.action, x.data ? "dataAction" : "action")));
        expect(onlyThis.length, `${plan.name}: ${a.role} on ${a.scope}`).toBeGreaterThan(0);
      }
    }
  });

  it("picks no built-in role broader than another that would do", () => {
    // A role is narrower than another when everything it allows the other allows, and not the reverse.
    const allows = (outer: readonly { actions: readonly string[]; dataActions: readonly string[] }[], inner: readonly { actions: readonly string[]; dataActions: readonly string[] }[]) =>
      inner.every((p) => p.actions.every((x) => grants(outer as never, x)) && p.dataActions.every((x) => grants(outer as never, x, "dataAction")));
    for (const plan of plans) {
      for (const a of planRoles(plan).assignments.filter((x) => x.roleDefinitionId)) {
        const chosen = findBuiltInRole(a.roleDefinitionId!)!.permissions;
        const would = BUILT_IN_ROLES.filter((r) => a.actions.every((x) => grants(r.permissions, x.action, x.data ? "dataAction" : "action")));
        const narrower = would.filter((r) => r.id !== a.roleDefinitionId && allows(chosen, r.permissions) && !allows(r.permissions, chosen));
        expect(narrower.map((r) => r.roleName), `${a.role} on ${a.scope}`).toEqual([]);
      }
    }
  });
});

describe("permissionsGrant on patterns built to be slow", () => {
  it("answers for ten thousand stars against ten thousand characters", () => {
    const stars = `${"*".repeat(10_000)}Z`;
    expect(permissionsGrant([{ actions: [stars] }], "a".repeat(10_000))).toBe(false);
    expect(permissionsGrant([{ actions: [stars] }], `${"a".repeat(10_000)}z`)).toBe(true);
    expect(permissionsGrant([{ actions: ["*a*a*a*a*a*a*a*a*a*a*b"] }], "a".repeat(5_000))).toBe(false);
  });
});

describe("what a plan needs beyond role assignments", () => {
  it("names the vault model, database permission, login management and email only where the plan has them", async () => {
    const tailspin = planRoles(await loadPlanFile(fixture("tailspin.plan.json")));
    expect(tailspin.alsoRequired).toEqual([]);
    const northwind = planRoles(await loadPlanFile(fixture("northwind.plan.yaml")));
    expect(northwind.alsoRequired).toEqual([expect.stringContaining("VIEW DATABASE STATE")]);
    const harbor = planRoles(await loadPlanFile(fixture("harbor.plan.yaml")));
    expect(harbor.alsoRequired).toEqual([expect.stringContaining("Azure RBAC permission model")]);
  });
});
