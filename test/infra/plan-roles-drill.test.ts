/**
 * The role assignments the deployment makes (the file `switchyard infra roles` writes, as
 * infra/main.bicep assigns it) are enough for a whole drill: on an estate that enforces RBAC with the
 * local identity holding exactly the file's assignments, a drill (outage, failover, failback) of two
 * plans is never refused, and every action it performed is granted by one of the file's assignments
 * at a scope covering the request. Taking one assignment away is caught: the drill's own actions are
 * no longer covered, and readiness finds what is missing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LOCAL_IDENTITY_OBJECT_ID } from "../../src/azure/clients.ts";
import { allAssignments, CUSTOM_ROLES, generateRoles, type GeneratedAssignment, type GeneratedRoles } from "../../src/core/infraRoles.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { runDrill } from "../../src/local/drill.ts";
import { runReadinessDrill } from "../../src/local/readiness.ts";
import type { LocalApp } from "../../src/local/app.ts";
import type { Scenario } from "../../estate/scenario.ts";
import { findBuiltInRole, grants, type RolePermission } from "../../estate/roles.ts";
import type { LoggedRequest } from "../../estate/server.ts";

const out = mkdtempSync(join(tmpdir(), "switchyard-plan-roles-drill-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The file as the deployment reads it (JSON, not the objects that made it). */
const asDeployed = (roles: GeneratedRoles) => JSON.parse(JSON.stringify(roles)) as GeneratedRoles;

function permissionsOf(roles: GeneratedRoles, a: GeneratedAssignment): readonly RolePermission[] {
  if (a.customRole) {
    const custom = roles.customRoles.find((r) => r.key === a.customRole)!;
    return [{ actions: [...custom.actions], notActions: [], dataActions: [], notDataActions: [] }];
  }
  const role = findBuiltInRole(a.roleDefinitionId);
  if (!role) throw new Error(`no built-in role ${a.roleDefinitionId}`);
  return role.permissions;
}

/** The estate's RBAC with the local identity holding exactly the file's assignments (less those `drop` names). */
function rbacFrom(roles: GeneratedRoles, drop: (a: GeneratedAssignment) => boolean = () => false): NonNullable<Scenario["rbac"]> {
  return {
    enabled: true,
    assignments: allAssignments(roles)
      .filter((a) => !drop(a))
      .map((a) =>
        a.customRole
          ? { principalId: LOCAL_IDENTITY_OBJECT_ID, scope: a.scope, roleName: roles.customRoles.find((r) => r.key === a.customRole)!.name, permissions: [{ actions: [...roles.customRoles.find((r) => r.key === a.customRole)!.actions] }] }
          : { principalId: LOCAL_IDENTITY_OBJECT_ID, scope: a.scope, role: a.roleDefinitionId },
      ),
  };
}

const covers = (scope: string, requested: string) => requested.toLowerCase() === scope.toLowerCase() || requested.toLowerCase().startsWith(`${scope.toLowerCase()}/`);

/** Each logged action no assignment of the file grants at a scope covering the request's. */
function uncovered(requests: readonly LoggedRequest[], roles: GeneratedRoles, drop: (a: GeneratedAssignment) => boolean = () => false): string[] {
  const held = allAssignments(roles).filter((a) => !drop(a));
  return requests
    .filter((r) => r.action && r.scope)
    .filter((r) => !held.some((a) => covers(a.scope, r.scope!) && grants(permissionsOf(roles, a), r.action!, r.actionKind ?? "action")))
    .map((r) => `${r.operationId}: ${r.action} on ${r.scope}`);
}

const plans: Plan[] = [await loadPlanFile(new URL("../../examples/contoso.plan.yaml", import.meta.url).pathname), await loadPlanFile(new URL("../fixtures/meridian.plan.yaml", import.meta.url).pathname)];

describe.each(plans.map((p) => [p.name, p] as const))("the deployment's role assignments for %s", (name, plan) => {
  // Switchyard in the plan's secondary region, as the deployment advises.
  const roles = asDeployed(generateRoles([plan], plan.regions.secondary.name));
  let requests: LoggedRequest[] = [];

  it("let a whole drill run on an estate that enforces them, and grant every action it performed", async () => {
    const result = await runDrill({
      plan,
      scenario: { regions: { [plan.regions.primary.name]: { down: true, healthWhenDown: "refused", controlPlane: "down" } }, rbac: rbacFrom(roles) },
      failback: true,
      approve: true,
      outputDir: join(out, name, "drill"),
      inspect: (app: LocalApp) => {
        requests = app.estate.requests();
      },
    });
    const refused = requests.filter((r) => r.status === 403).map((r) => `${r.operationId} ${r.action}`);
    expect(refused).toEqual([]);
    expect(result.failover.output.outcome, JSON.stringify(result.failover.output)).toBe("completed");
    expect(result.failback?.output.outcome, JSON.stringify(result.failback?.output)).toBe("completed");
    const checked = requests.filter((r) => r.action && r.scope);
    expect(checked.length).toBeGreaterThan(20);
    expect(uncovered(requests, roles)).toEqual([]);
  }, 180_000);

  it("with the assignment that grants the data tier's failover taken away, the drill's actions are not all granted", () => {
    expect(requests.length).toBeGreaterThan(0);
    const failover = requests.find((r) => r.operationId === "FailoverGroups_Failover" && r.status < 300)!;
    expect(failover).toBeDefined();
    const granting = (a: GeneratedAssignment) => covers(a.scope, failover.scope!) && grants(permissionsOf(roles, a), failover.action!);
    expect(allAssignments(roles).filter(granting)).toHaveLength(1);
    expect(uncovered(requests, roles, granting)).toContain(`FailoverGroups_Failover: ${failover.action} on ${failover.scope}`);
  });

  it("with one assignment taken away, readiness on an estate that enforces the rest is not ready and names it", async () => {
    const site = allAssignments(roles).find((a) => a.role === "Website Contributor")!;
    const { result } = await runReadinessDrill({ plan, outputDir: join(out, name, "ready"), prepare: (app) => app.estate.setRbac(rbacFrom(roles, (a) => a === site)) });
    expect(result.ready).toBe(false);
    const failed = result.checks.filter((c) => c.area === "permissions" && c.result !== "pass").map((c) => c.resourceId);
    expect(failed).toEqual([site.scope]);
  });
});

describe("the custom roles the deployment defines", () => {
  it("are the ones the estate enforced above, action for action", () => {
    const roles = generateRoles(plans, "swedencentral");
    for (const custom of roles.customRoles) expect(custom.actions).toEqual([...CUSTOM_ROLES[custom.key]!.actions]);
  });
});
