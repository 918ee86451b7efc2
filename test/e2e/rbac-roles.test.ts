/**
 * The roles `switchyard plan roles` lists are the roles Switchyard needs: with the estate enforcing
 * RBAC and the local identity holding exactly those assignments, a whole drill (outage, failover,
 * failback), the rotation of every secret and a readiness evaluation are never refused, and every
 * action they performed is one the list declares for that resource. With one role taken away,
 * readiness names exactly the actions that are missing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { planNeeds, planRoles } from "../../src/core/roles.ts";
import { runDrill } from "../../src/local/drill.ts";
import { planRbac, runReadinessDrill } from "../../src/local/readiness.ts";
import { rotateLocally } from "../../src/local/rotate.ts";
import type { LocalApp } from "../../src/local/app.ts";
import type { LoggedRequest } from "../../estate/server.ts";

const out = mkdtempSync(join(tmpdir(), "switchyard-rbac-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const plan: Plan = await loadPlanFile(new URL("../fixtures/meridian.plan.yaml", import.meta.url).pathname);

const logged = (app: LocalApp) => app.estate.requests();

/** Each request whose action the plan's needs do not declare at a scope covering the request's. */
function undeclared(requests: readonly LoggedRequest[]): string[] {
  const needs = planNeeds(plan);
  return requests
    .filter((r) => r.action && r.scope && !/^Microsoft\.Insights\/metrics\/read$/i.test(r.action))
    .filter((r) => {
      const scope = r.scope!.toLowerCase();
      return !needs.some((n) => (scope === n.scope.toLowerCase() || scope.startsWith(`${n.scope.toLowerCase()}/`)) && n.actions.some((a) => a.action.toLowerCase() === r.action!.toLowerCase() && (a.data === true) === (r.actionKind === "dataAction")));
    })
    .map((r) => `${r.operationId}: ${r.action} on ${r.scope}`);
}

describe("the plan's roles against an estate that enforces RBAC", () => {
  it("let a whole drill run without a refusal, and it performs only the actions they are listed for", async () => {
    let requests: LoggedRequest[] = [];
    const result = await runDrill({
      plan,
      scenario: { regions: { [plan.regions.primary.name]: { down: true, healthWhenDown: "refused", controlPlane: "down" } }, rbac: planRbac(plan) },
      failback: true,
      approve: true,
      outputDir: join(out, "drill"),
      inspect: (app) => {
        requests = logged(app);
      },
    });
    expect(result.failover.output.outcome).toBe("completed");
    expect(result.failback?.output.outcome).toBe("completed");
    expect(requests.filter((r) => r.status === 403).map((r) => `${r.operationId} ${r.action}`)).toEqual([]);
    // The data tier, traffic and settings were all written under these roles.
    const written = new Set(requests.filter((r) => r.status < 300 && /Failover|Update|CreateOrUpdate/.test(r.operationId)).map((r) => r.operationId));
    expect([...written].sort()).toEqual(expect.arrayContaining(["AFDOrigins_Update", "FailoverGroups_Failover", "FrontDoors_CreateOrUpdate", "StorageAccounts_Failover", "WebApps_UpdateApplicationSettings"]));
    expect(undeclared(requests)).toEqual([]);
  }, 180_000);

  it("let every secret rotate without a refusal", async () => {
    let requests: LoggedRequest[] = [];
    const result = await rotateLocally({
      plan,
      outputDir: join(out, "rotate"),
      prepare: (app) => app.estate.setRbac(planRbac(plan)),
      inspect: async (app) => {
        requests = logged(app);
      },
    });
    expect(result.ok).toBe(true);
    expect(result.rotations.map((r) => r.outcome)).toEqual(["rotated", "rotated"]);
    expect(requests.filter((r) => r.status === 403).map((r) => `${r.operationId} ${r.action}`)).toEqual([]);
    expect(requests.some((r) => r.operationId === "StorageAccounts_RegenerateKey" && r.status === 200)).toBe(true);
    expect(undeclared(requests)).toEqual([]);
  }, 120_000);

  it("let readiness ask everything it asks, and then it is ready", async () => {
    const { result, rbac, writes } = await runReadinessDrill({ plan, outputDir: join(out, "ready"), rbac: { withoutRoles: [] } });
    expect(rbac?.assignments).toBe(planRoles(plan).assignments.length);
    expect(result.checks.filter((c) => c.result !== "pass")).toEqual([]);
    expect(writes).toEqual([]);
  });

  it("with one role taken away, readiness says which actions are missing, on which resources", async () => {
    const { result } = await runReadinessDrill({ plan, outputDir: join(out, "ready"), rbac: { withoutRoles: ["Website Contributor"] } });
    expect(result.ready).toBe(false);
    const permissions = result.checks.filter((c) => c.area === "permissions" && c.result !== "pass");
    const sites = plan.appService.map((s) => s.site.id);
    expect(permissions.map((c) => c.resourceId)).toEqual(sites);
    for (const check of permissions) {
      // The status role on the site's resource group still lets Azure answer the question: every action
      // Website Contributor was there for is named, and nothing else.
      const expected = planNeeds(plan).find((n) => n.scope === check.resourceId)!.actions.map((a) => a.action).filter((a) => a !== "Microsoft.Authorization/permissions/read");
      expect(check.result).toBe("fail");
      expect(check.missingActions).toEqual(expected);
      expect(check.detail).toBe(`missing ${expected.join(", ")} (granted by Website Contributor)`);
    }
    // The reads themselves were refused as Azure refuses them: the settings check cannot tell.
    const settings = result.checks.filter((c) => c.area === "settings");
    expect(settings.every((c) => c.result === "unknown" && /403 AuthorizationFailed/.test(c.detail))).toBe(true);
  });

  it("with no role left on a resource, Azure refuses even the question, which readiness reports as such", async () => {
    const { result } = await runReadinessDrill({ plan, outputDir: join(out, "ready"), rbac: { withoutRoles: ["Website Contributor", "Switchyard Operation Status Reader"] } });
    const sites = result.checks.filter((c) => c.area === "permissions" && c.resourceId?.includes("/Microsoft.Web/sites/"));
    expect(sites.map((c) => [c.result, c.missingActions])).toEqual(plan.appService.map(() => ["fail", ["Microsoft.Authorization/permissions/read"]]));
    expect(sites[0]!.detail).toMatch(/^Azure refused to list the identity's permissions here \(403\): missing at least Microsoft.Authorization\/permissions\/read; the plan needs Microsoft.Web\/sites\/config\/list\/action, .* \(granted by Website Contributor\)$/);
  });

  it("with a role that lacks one action, readiness names exactly that action", async () => {
    // Reader stays on the Front Door (classic) and the custom role loses its write: the read of the
    // permissions succeeds and answers without it.
    const rbac = planRbac(plan);
    const classic = plan.frontDoor.classic[0]!.frontDoor.id;
    const assignments = rbac.assignments.map((a) => ("permissions" in a && a.scope === classic ? { ...a, permissions: [{ ...a.permissions[0]!, actions: a.permissions[0]!.actions.filter((x) => !/write$/.test(x)) }] } : a));
    const { result } = await runReadinessDrill({ plan, outputDir: join(out, "ready"), prepare: (app) => app.estate.setRbac({ enabled: true, assignments }) });
    const failed = result.checks.filter((c) => c.area === "permissions" && c.result !== "pass");
    expect(failed.map((c) => [c.resourceId, c.missingActions])).toEqual([[classic, ["Microsoft.Network/frontDoors/write"]]]);
    expect(failed[0]!.detail).toBe("missing Microsoft.Network/frontDoors/write (granted by Switchyard Front Door (classic) Operator)");
    // Its reads still work: only the write a failover would make is missing.
    expect(result.checks.find((c) => c.area === "front-door" && c.resourceId === classic)?.result).toBe("pass");
  });
});
