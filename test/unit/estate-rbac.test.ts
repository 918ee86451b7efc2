import { describe, expect, it } from "vitest";
import { EstateCredential, LOCAL_IDENTITY_APP_ID, LOCAL_IDENTITY_OBJECT_ID } from "../../src/azure/clients.ts";
import { EstateHttpError } from "../../estate/errors.ts";
import {
  armScope,
  callerOf,
  OPERATION_AUTHORIZATION,
  OPERATION_STATUS_ACTIONS,
  operationStatusAction,
  Rbac,
  RbacSettingsError,
  requestAuthorization,
  scopeCovers,
  type OperationLookup,
  type RequestAuthorization,
} from "../../estate/rbac.ts";
import { actionMatches, BUILT_IN_ROLES, findBuiltInRole, grants, type BuiltInRole } from "../../estate/roles.ts";
import { parseScenario, ScenarioError } from "../../estate/scenario.ts";
import { serviceRoutes } from "../../estate/services/index.ts";
import { EstateState } from "../../estate/state.ts";

const SUB = "6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const RG = `/subscriptions/${SUB}/resourceGroups/rg-data`;
const SERVER = `${RG}/providers/Microsoft.Sql/servers/orders-sql-centralus`;

const role = (name: string): BuiltInRole => {
  const found = findBuiltInRole(name);
  if (!found) throw new Error(`no role ${name}`);
  return found;
};
const roleGrants = (name: string, action: string, kind: "action" | "dataAction" = "action") => grants(role(name).permissions, action, kind);

/** A JWT as a token service would shape it (the estate checks no signature). */
const jwt = (claims: Record<string, string>) => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
const ALICE = "0a11ce00-0000-4000-8000-000000000001";

describe("built-in role definitions", () => {
  it("holds the sixteen roles Switchyard's plans use, each once, by its Azure GUID", () => {
    const names = BUILT_IN_ROLES.map((r) => r.roleName).sort();

    expect(names).toEqual(
      [
        "CDN Endpoint Contributor",
        "CDN Profile Contributor",
        "Contributor",
        "Key Vault Reader",
        "Key Vault Secrets Officer",
        "Key Vault Secrets User",
        "Monitoring Reader",
        "Network Contributor",
        "Owner",
        "Reader",
        "SQL DB Contributor",
        "SQL Server Contributor",
        "Storage Account Contributor",
        "Storage Blob Data Contributor",
        "Web Plan Contributor",
        "Website Contributor",
      ].sort(),
    );
    expect(new Set(BUILT_IN_ROLES.map((r) => r.id)).size).toBe(BUILT_IN_ROLES.length);
    expect(role("Reader").id).toBe("acdd72a7-3385-48ef-bd42-f606fba81ae7");
    expect(role("SQL Server Contributor").roleDefinitionId).toBe("/providers/Microsoft.Authorization/roleDefinitions/6d8ee4ec-f05a-4a1d-8b00-a9b17e38b437");
  });

  it("finds a role by display name in any case, by GUID, or by role definition id with or without a subscription", () => {
    const officer = role("Key Vault Secrets Officer");

    expect(findBuiltInRole("key vault secrets officer")).toBe(officer);
    expect(findBuiltInRole(officer.id.toUpperCase())).toBe(officer);
    expect(findBuiltInRole(`/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/${officer.id}`)).toBe(officer);
    expect(findBuiltInRole("Key Vault Secrets")).toBeUndefined();
    expect(findBuiltInRole("00000000-0000-0000-0000-000000000000")).toBeUndefined();
  });
});

describe("matching actions as Azure does", () => {
  it.each([
    ["*/read", "Microsoft.Sql/servers/failoverGroups/read", true],
    ["*/read", "Microsoft.Sql/servers/failoverGroups/write", false],
    ["Microsoft.Sql/servers/*", "microsoft.sql/SERVERS/failovergroups/failover/action", true],
    ["Microsoft.Sql/servers/*", "Microsoft.Sql/managedInstances/read", false],
    ["Microsoft.CostManagement/*/query/*", "Microsoft.CostManagement/exports/query/read", true],
    ["Microsoft.Authorization/*/read", "Microsoft.Authorization/permissions/read", true],
    ["Microsoft.Sql/servers/read", "MicrosoftXSql/servers/read", false],
    ["*", "Microsoft.Network/frontDoors/write", true],
  ])("%s matches %s: %s", (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });

  it.each([
    ["Microsoft.Sql/**/read", "Microsoft.Sql/locations/failoverGroupOperationResults/read", true],
    ["Microsoft.Sql/*/read", "Microsoft.Sql/read", false],
    ["*a*b*", "xxbxxa", false],
    ["*a*b*", "xxaxxb", true],
    ["ab*ba", "aba", false],
  ])("%s matches %s: %s (runs of stars, parts in order, prefix and suffix apart)", (pattern, action, expected) => {
    expect(actionMatches(pattern, action)).toBe(expected);
  });

  it("matches patterns of thousands of stars against long actions, and answers", () => {
    const stars = `${"*".repeat(10_000)}Z`;
    const alternating = `${"*a".repeat(5_000)}*Z`;
    const as = "a".repeat(10_000);
    const endingInZ = `${"a".repeat(9_999)}z`;

    expect(actionMatches(stars, as)).toBe(false);
    expect(actionMatches(stars, endingInZ)).toBe(true);
    expect(actionMatches(alternating, as)).toBe(false);
    expect(actionMatches(alternating, endingInZ)).toBe(true);
    expect(actionMatches(alternating, `${"a".repeat(4_999)}z`)).toBe(false);
  });

  it("subtracts NotActions within a role: SQL Server Contributor fails over a group but edits no auditing", () => {
    expect(roleGrants("SQL Server Contributor", "Microsoft.Sql/servers/failoverGroups/failover/action")).toBe(true);
    expect(roleGrants("SQL Server Contributor", "Microsoft.Sql/servers/auditingSettings/write")).toBe(false);
    expect(roleGrants("Contributor", "Microsoft.Authorization/roleAssignments/write")).toBe(false);
    expect(roleGrants("Owner", "Microsoft.Authorization/roleAssignments/write")).toBe(true);
  });

  it("takes the union across roles: one role's NotActions do not take away what another grants", () => {
    const both = [...role("SQL Server Contributor").permissions, ...role("Owner").permissions];

    expect(grants(both, "Microsoft.Sql/servers/auditingSettings/write")).toBe(true);
  });

  it("keeps data actions apart from control actions: Owner's * reads no secret, Key Vault roles do", () => {
    const getSecret = "Microsoft.KeyVault/vaults/secrets/getSecret/action";
    const setSecret = "Microsoft.KeyVault/vaults/secrets/setSecret/action";

    expect(roleGrants("Owner", getSecret, "dataAction")).toBe(false);
    expect(roleGrants("Key Vault Secrets User", getSecret, "dataAction")).toBe(true);
    expect(roleGrants("Key Vault Secrets User", setSecret, "dataAction")).toBe(false);
    expect(roleGrants("Key Vault Secrets Officer", setSecret, "dataAction")).toBe(true);
    expect(roleGrants("Key Vault Secrets Officer", setSecret, "action")).toBe(false);
    expect(roleGrants("Key Vault Reader", getSecret, "dataAction")).toBe(false);
    expect(roleGrants("Key Vault Reader", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", "dataAction")).toBe(true);
  });

  it("grants an AFD origin write to CDN Profile Contributor, not to CDN Endpoint Contributor (classic CDN endpoints only)", () => {
    const write = OPERATION_AUTHORIZATION.AFDOrigins_Update!.action!;

    expect(roleGrants("CDN Profile Contributor", write)).toBe(true);
    expect(roleGrants("CDN Endpoint Contributor", write)).toBe(false);
    expect(roleGrants("Network Contributor", OPERATION_AUTHORIZATION.FrontDoors_CreateOrUpdate!.action!)).toBe(true);
  });
});

describe("the action of every request", () => {
  const routes = serviceRoutes().filter((r) => r.api === "arm" || r.api === "keyvault");

  it("knows the action of every Resource Manager and Key Vault route and checks them all, a status poll's from the operation it polls", () => {
    const missing = routes.filter((r) => OPERATION_AUTHORIZATION[r.operationId] === undefined).map((r) => r.operationId);
    const unchecked = [...new Set(routes.filter((r) => !OPERATION_AUTHORIZATION[r.operationId]!.enforced).map((r) => r.operationId))];
    const withoutAction = [...new Set(routes.filter((r) => !OPERATION_AUTHORIZATION[r.operationId]!.action).map((r) => r.operationId))];

    expect(missing).toEqual([]);
    expect(unchecked).toEqual([]);
    expect(withoutAction).toEqual(["Operations_GetStatus"]);
    expect(OPERATION_AUTHORIZATION.Operations_GetStatus!.note).toMatch(/OPERATION_STATUS_ACTIONS/);
  });

  it("names actions a built-in role can hold: control actions Owner holds, Key Vault data actions the Secrets Officer holds", () => {
    for (const route of routes) {
      const needs = OPERATION_AUTHORIZATION[route.operationId]!;
      if (!needs.action) continue;
      const holder = route.api === "keyvault" ? "Key Vault Secrets Officer" : "Owner";
      expect({ operationId: route.operationId, granted: roleGrants(holder, needs.action, needs.kind) }).toEqual({ operationId: route.operationId, granted: true });
      expect(needs.kind).toBe(route.api === "keyvault" ? "dataAction" : "action");
      expect(needs.action).toMatch(/^Microsoft\.[A-Za-z]+\/[A-Za-z/]+\/(read|write|delete|action)$/);
    }
  });

  it.each([
    ["FailoverGroups_Failover", "Microsoft.Sql/servers/failoverGroups/failover/action"],
    ["StorageAccounts_ListKeys", "Microsoft.Storage/storageAccounts/listkeys/action"],
    ["WebApps_ListApplicationSettings", "Microsoft.Web/sites/config/list/action"],
    ["AFDOrigins_Update", "Microsoft.Cdn/profiles/originGroups/origins/write"],
    ["FrontDoors_CreateOrUpdate", "Microsoft.Network/frontDoors/write"],
    ["GetSecret", "Microsoft.KeyVault/vaults/secrets/getSecret/action"],
    ["SetSecret", "Microsoft.KeyVault/vaults/secrets/setSecret/action"],
    ["GetSecrets", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"],
    ["UpdateSecret", "Microsoft.KeyVault/vaults/secrets/update/action"],
  ])("%s needs %s", (operationId, action) => {
    expect(OPERATION_AUTHORIZATION[operationId]?.action).toBe(action);
  });
});

describe("the scope a request names", () => {
  it.each([
    ["POST", `${SERVER}/failoverGroups/fog/failover`, `${SERVER}/failoverGroups/fog`],
    ["GET", `${SERVER}/failoverGroups`, SERVER],
    ["GET", `${SERVER}/failoverGroups/fog`, `${SERVER}/failoverGroups/fog`],
    ["POST", `${RG}/providers/Microsoft.Storage/storageAccounts/sa/listKeys`, `${RG}/providers/Microsoft.Storage/storageAccounts/sa`],
    ["POST", `${RG}/providers/Microsoft.Web/sites/app/config/appsettings/list`, `${RG}/providers/Microsoft.Web/sites/app/config/appsettings`],
    ["GET", `${RG}/providers/Microsoft.Network/frontDoors`, RG],
    ["GET", `${RG}/providers/Microsoft.Authorization/permissions`, RG],
    ["GET", `/subscriptions/${SUB}/resourcegroups/rg-data/providers/Microsoft.Sql//servers/s1/providers/Microsoft.Authorization/permissions`, `/subscriptions/${SUB}/resourcegroups/rg-data/providers/Microsoft.Sql/servers/s1`],
  ])("%s %s is over %s", (method, path, scope) => {
    expect(armScope(method, path)).toBe(scope);
  });

  it("applies an assignment at its scope and below, segment by segment, in any case", () => {
    expect(scopeCovers("/", SERVER)).toBe(true);
    expect(scopeCovers(`/subscriptions/${SUB}`, SERVER)).toBe(true);
    expect(scopeCovers(SERVER.toUpperCase(), `${SERVER}/failoverGroups/fog`)).toBe(true);
    expect(scopeCovers(`${SERVER}/failoverGroups/fog`, SERVER)).toBe(false);
    expect(scopeCovers(`${RG}`, `${RG}2/providers/Microsoft.Sql/servers/s1`)).toBe(false);
  });

  it("takes a Key Vault request's scope from the vault's ARM id as seeded, down to the secret it names", () => {
    const state = new EstateState(() => 0);
    const vaultId = `${RG}/providers/Microsoft.KeyVault/vaults/orders-kv`;
    state.seed({ regions: [{ name: "eastus2" }], vaults: [{ id: vaultId, location: "eastus2", secrets: [] }] });
    const route = serviceRoutes().find((r) => r.operationId === "SetSecret")!;

    const known = requestAuthorization(route, { method: "PUT", path: "/keyvault/orders-kv/secrets/db", params: { vaultName: "Orders-KV", secretName: "db" } }, state);
    const unknown = requestAuthorization(route, { method: "PUT", path: "/keyvault/other/secrets/db", params: { vaultName: "other", secretName: "db" } }, state);

    expect(known).toMatchObject({ action: "Microsoft.KeyVault/vaults/secrets/setSecret/action", kind: "dataAction", scope: `${vaultId}/secrets/db`, vault: { name: "orders-kv", location: "eastus2" } });
    expect(unknown?.scope).toBe("/providers/Microsoft.KeyVault/vaults/other/secrets/db");
  });
});

describe("the polls of a long-running operation", () => {
  const poll = serviceRoutes().find((r) => r.operationId === "Operations_GetStatus")!;
  const state = new EstateState(() => 0);
  const GROUP = `${SERVER}/failoverGroups/fog`;
  const operations: OperationLookup = {
    get: (id) => (id === "op-1" ? { subscriptionId: SUB, namespace: "Microsoft.Sql", resourceId: GROUP } : undefined),
  };
  const params = (segment: string, operationId = "op-1", subscriptionId = SUB) => ({ subscriptionId, namespace: "Microsoft.Sql", location: "eastus2", segment, operationId });
  const pathOf = (p: Record<string, string>) => `/subscriptions/${p.subscriptionId}/providers/Microsoft.Sql/locations/eastus2/${p.segment}/${p.operationId}`;
  const authorizationOf = (p: Record<string, string>) => requestAuthorization(poll, { method: "GET", path: pathOf(p), params: p }, state, operations);

  it("lists the status reads of each provider the estate's operations come from, as Azure names them", () => {
    expect(OPERATION_STATUS_ACTIONS).toEqual({
      "Microsoft.Sql": ["Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read", "Microsoft.Sql/locations/failoverGroupOperationResults/read"],
      "Microsoft.Storage": ["Microsoft.Storage/operations/read"],
      "Microsoft.Cdn": ["Microsoft.Cdn/operationresults/read"],
      "Microsoft.Network": ["Microsoft.Network/frontdooroperationresults/read"],
    });
  });

  it.each([
    ["Microsoft.Sql", "failoverGroupAzureAsyncOperation", "Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read"],
    ["microsoft.sql", "FAILOVERGROUPOPERATIONRESULTS", "Microsoft.Sql/locations/failoverGroupOperationResults/read"],
    ["Microsoft.Storage", "asyncoperations", "Microsoft.Storage/operations/read"],
    ["Microsoft.Storage", "operationResults", "Microsoft.Storage/operations/read"],
    ["Microsoft.Cdn", "operationresultlocations", "Microsoft.Cdn/operationresults/read"],
    ["Microsoft.Network", "frontdoorOperationResults", "Microsoft.Network/frontdooroperationresults/read"],
    ["Microsoft.Sql", "elasticPoolOperationResults", "Microsoft.Sql/locations/elasticPoolOperationResults/read"],
  ])("a poll of %s's %s URL needs %s", (namespace, segment, action) => {
    expect(operationStatusAction(namespace, segment)).toBe(action);
  });

  it("is authorized over the resource group of the resource the operation acts on, not over the status URL", () => {
    const p = params("failoverGroupAzureAsyncOperation");

    expect(authorizationOf(p)).toEqual({ action: "Microsoft.Sql/locations/failoverGroupAzureAsyncOperation/read", kind: "action", enforced: true, scope: RG });
  });

  it("needs nothing for an operation the estate does not know, or another subscription's: the poll answers as before", () => {
    expect(authorizationOf(params("failoverGroupAzureAsyncOperation", "op-2"))).toBeUndefined();
    expect(authorizationOf(params("failoverGroupAzureAsyncOperation", "op-1", "00000000-0000-4000-8000-000000000000"))).toBeUndefined();
    expect(requestAuthorization(poll, { method: "GET", path: pathOf(params("x")), params: params("x") }, state)).toBeUndefined();
  });

  it("is refused to a role held on the resource only, and allowed to the same role held on its resource group", () => {
    const alice = callerOf(`Bearer ${jwt({ oid: ALICE })}`);
    const needs = authorizationOf(params("failoverGroupOperationResults"))!;
    const onServer = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "SQL Server Contributor", scope: SERVER }] });
    const onGroup = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "SQL Server Contributor", scope: RG }] });

    expect(() => onServer.authorize(alice, needs)).toThrow(`does not have authorization to perform action 'Microsoft.Sql/locations/failoverGroupOperationResults/read' over scope '${RG}'`);
    expect(() => onGroup.authorize(alice, needs)).not.toThrow();
  });

  it.each([
    ["Owner", ["Microsoft.Sql", "Microsoft.Storage", "Microsoft.Cdn", "Microsoft.Network"]],
    ["Contributor", ["Microsoft.Sql", "Microsoft.Storage", "Microsoft.Cdn", "Microsoft.Network"]],
    ["Reader", ["Microsoft.Sql", "Microsoft.Storage", "Microsoft.Cdn", "Microsoft.Network"]],
    ["Monitoring Reader", ["Microsoft.Sql", "Microsoft.Storage", "Microsoft.Cdn", "Microsoft.Network"]],
    ["SQL Server Contributor", ["Microsoft.Sql"]],
    ["SQL DB Contributor", ["Microsoft.Sql"]],
    ["CDN Profile Contributor", ["Microsoft.Cdn"]],
    ["CDN Endpoint Contributor", ["Microsoft.Cdn"]],
    ["Network Contributor", ["Microsoft.Network"]],
    ["Storage Account Contributor", []],
    ["Website Contributor", []],
  ])("%s grants the status reads of %j", (name, namespaces) => {
    const granted = Object.entries(OPERATION_STATUS_ACTIONS)
      .filter(([, actions]) => actions.every((a) => roleGrants(name, a)))
      .map(([namespace]) => namespace);

    expect(granted).toEqual(namespaces);
  });
});

describe("the scope of a request whose path is percent-encoded", () => {
  it.each([
    ["POST", `${RG}/providers/Microsoft.Sql/servers/mer%2Dsql%2Daue/failoverGroups/fog/failover`, `${RG}/providers/Microsoft.Sql/servers/mer-sql-aue/failoverGroups/fog`],
    ["GET", `/subscriptions/${SUB}/resourceGroups/rg%2Ddata/providers/Microsoft.Sql/servers/s1/failoverGroups`, `${RG}/providers/Microsoft.Sql/servers/s1`],
    ["GET", `${RG}/providers/Microsoft.Sql/servers/s1%2FfailoverGroups%2Ffog`, `${RG}/providers/Microsoft.Sql/servers/s1%2FfailoverGroups%2Ffog`],
    ["GET", `/subscriptions/${SUB}/resourceGroups/rg-data%2F..%2Frg-other/providers/Microsoft.Sql/servers/s1/failoverGroups/fog`, `/subscriptions/${SUB}/resourceGroups/rg-data%2F..%2Frg-other/providers/Microsoft.Sql/servers/s1/failoverGroups/fog`],
    ["GET", `${RG}/providers/Microsoft.Sql/servers/s1%252F/failoverGroups/fog`, `${RG}/providers/Microsoft.Sql/servers/s1%252F/failoverGroups/fog`],
  ])("%s %s is over %s", (method, path, scope) => {
    expect(armScope(method, path)).toBe(scope);
  });

  it("never lets %2F inside a name widen a scope: no assignment on a prefix of the name covers it", () => {
    const scope = armScope("GET", `${RG}/providers/Microsoft.Sql/servers/s1%2FfailoverGroups%2Ffog`);
    const escaped = armScope("GET", `/subscriptions/${SUB}/resourceGroups/rg-data%2F..%2Frg-other/providers/Microsoft.Sql/servers/s1/failoverGroups/fog`);

    expect(scopeCovers(`${RG}/providers/Microsoft.Sql/servers/s1`, scope)).toBe(false);
    expect(scopeCovers(RG, scope)).toBe(true);
    expect(scopeCovers(RG, escaped)).toBe(false);
    expect(scopeCovers(`/subscriptions/${SUB}/resourceGroups/rg-other`, escaped)).toBe(false);
  });

  it("keeps a Key Vault secret or vault name with a slash in one segment of its scope", () => {
    const state = new EstateState(() => 0);
    const vaultId = `${RG}/providers/Microsoft.KeyVault/vaults/orders-kv`;
    state.seed({ regions: [{ name: "eastus2" }], vaults: [{ id: vaultId, location: "eastus2", secrets: [] }] });
    const route = serviceRoutes().find((r) => r.operationId === "SetSecret")!;

    const secret = requestAuthorization(route, { method: "PUT", path: "/keyvault/orders-kv/secrets/db%2Fx", params: { vaultName: "orders-kv", secretName: "db/x" } }, state);
    const vault = requestAuthorization(route, { method: "PUT", path: "/keyvault/a%2Fb/secrets/db", params: { vaultName: "a/b", secretName: "db" } }, state);

    expect(secret?.scope).toBe(`${vaultId}/secrets/db%2Fx`);
    expect(scopeCovers(`${vaultId}/secrets/db`, secret!.scope)).toBe(false);
    expect(vault?.scope).toBe("/providers/Microsoft.KeyVault/vaults/a%2Fb/secrets/db");
  });
});

describe("the caller", () => {
  it("is the oid of a JWT, read without checking a signature", () => {
    const caller = callerOf(`Bearer ${jwt({ oid: ALICE, appid: "app-1", upn: "alice@contoso.example" })}`);

    expect(caller).toMatchObject({ objectId: ALICE, appId: "app-1", userName: "alice@contoso.example" });
    expect(caller.is(ALICE.toUpperCase())).toBe(true);
    expect(caller.is("someone-else")).toBe(false);
  });

  it("is any other token itself, known by its fingerprint and never holding its text", () => {
    const caller = callerOf("Bearer opaque-token-value");

    expect(caller.objectId).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(caller.is("opaque-token-value")).toBe(true);
    expect(caller.is(caller.objectId)).toBe(true);
    expect(caller.is("another-token")).toBe(false);
    expect(JSON.stringify(caller)).not.toContain("opaque-token-value");
  });

  it("is Switchyard's local identity for the estate credential's tokens", async () => {
    const token = await new EstateCredential().getToken("https://management.azure.com/.default");

    const caller = callerOf(`Bearer ${token.token}`);

    expect(caller).toMatchObject({ objectId: LOCAL_IDENTITY_OBJECT_ID, appId: LOCAL_IDENTITY_APP_ID });
    expect(token.token.split(".")).toHaveLength(3);
    expect(JSON.parse(Buffer.from(token.token.split(".")[0]!, "base64url").toString())).toEqual({ alg: "none", typ: "JWT" });
  });
});

describe("the RBAC mode", () => {
  const failover: RequestAuthorization = { action: "Microsoft.Sql/servers/failoverGroups/failover/action", kind: "action", scope: `${SERVER}/failoverGroups/fog`, enforced: true };
  const alice = callerOf(`Bearer ${jwt({ oid: ALICE })}`);
  const refusal = (rbac: Rbac, request: RequestAuthorization) => {
    try {
      rbac.authorize(alice, request);
    } catch (error) {
      if (error instanceof EstateHttpError) return { status: error.status, body: error.body() };
      throw error;
    }
    return undefined;
  };

  it("refuses nothing while off", () => {
    expect(refusal(new Rbac(), failover)).toBeUndefined();
  });

  it("refuses an action no assigned role grants with Resource Manager's 403 AuthorizationFailed", () => {
    const rbac = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "Reader", scope: `/subscriptions/${SUB}` }] });

    expect(refusal(rbac, failover)).toEqual({
      status: 403,
      body: {
        error: {
          code: "AuthorizationFailed",
          message: `The client '${ALICE}' with object id '${ALICE}' does not have authorization to perform action 'Microsoft.Sql/servers/failoverGroups/failover/action' over scope '${SERVER}/failoverGroups/fog' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        },
      },
    });
  });

  it("allows it with a granting role at the scope or above, for that principal only, and checks nothing not enforced", () => {
    const rbac = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "SQL Server Contributor", scope: SERVER }] });
    const other = new Rbac({ enabled: true, assignments: [{ principalId: "b0b00000-0000-4000-8000-000000000002", role: "SQL Server Contributor", scope: SERVER }] });

    expect(refusal(rbac, failover)).toBeUndefined();
    expect(refusal(other, failover)?.status).toBe(403);
    expect(refusal(other, { ...failover, enforced: false })).toBeUndefined();
  });

  it("answers a Key Vault refusal in Key Vault's shape: Forbidden with ForbiddenByRbac, naming caller, action and resource", () => {
    const rbac = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "Key Vault Secrets User", scope: RG }] });
    const setSecret: RequestAuthorization = {
      action: "Microsoft.KeyVault/vaults/secrets/setSecret/action",
      kind: "dataAction",
      scope: `${RG}/providers/Microsoft.KeyVault/vaults/Orders-KV/secrets/db`,
      enforced: true,
      vault: { name: "Orders-KV", location: "eastus2" },
    };

    const answer = refusal(rbac, setSecret) as { status: number; body: { error: { code: string; message: string; innererror: { code: string } } } };

    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe("Forbidden");
    expect(answer.body.error.innererror).toEqual({ code: "ForbiddenByRbac" });
    expect(answer.body.error.message.split("\r\n")).toEqual([
      "Caller is not authorized to perform action on resource.",
      "If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.",
      `Caller: oid=${ALICE}`,
      "Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'",
      `Resource: '${`${RG}/providers/Microsoft.KeyVault/vaults/Orders-KV/secrets/db`.toLowerCase()}'`,
      "Assignment: (not found)",
      "DenyAssignmentId: null",
      "DecisionReason: 'DeniedWithNoValidRBAC' ",
      "Vault: Orders-KV;location=eastus2",
      "",
    ]);
  });

  it("lists one permission block per applicable assignment, inherited ones included, custom roles as given", () => {
    const rbac = new Rbac({
      enabled: true,
      assignments: [
        { principalId: ALICE, role: "Reader", scope: `/subscriptions/${SUB}` },
        { principalId: ALICE, role: "SQL Server Contributor", scope: SERVER },
        { principalId: ALICE, roleName: "Front Door writer", permissions: [{ actions: ["Microsoft.Network/frontDoors/write"] }], scope: RG },
        { principalId: "someone-else", role: "Owner", scope: "/" },
      ],
    });

    expect(rbac.permissionsAt(alice, RG).map((p) => p.actions)).toEqual([["*/read"], ["Microsoft.Network/frontDoors/write"]]);
    expect(rbac.permissionsAt(alice, SERVER)).toHaveLength(3);
    expect(rbac.report().assignments[2]).toMatchObject({ role: "Front Door writer", custom: true });
  });

  it("refuses an unknown role, or a role given both ways, changing nothing", () => {
    const rbac = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "Owner", scope: "/" }] });

    expect(() => rbac.configure({ enabled: false, assignments: [{ principalId: ALICE, role: "Global Administrator", scope: "/" }] })).toThrow(RbacSettingsError);
    expect(() => rbac.configure({ enabled: false, assignments: [{ principalId: ALICE, role: "Owner", roleName: "x", permissions: [{}], scope: "/" }] })).toThrow(/either role/);
    expect(rbac.report()).toMatchObject({ enabled: true, assignments: [{ role: "Owner" }] });
  });

  it("goes back to the setting it started with on reset", () => {
    const rbac = new Rbac({ enabled: true, assignments: [{ principalId: ALICE, role: "Reader", scope: "/" }] });
    rbac.configure({ enabled: false });

    rbac.reset();

    expect(rbac.report()).toEqual({ enabled: true, assignments: [{ principalId: ALICE, role: "Reader", roleDefinitionId: role("Reader").roleDefinitionId, scope: "/" }] });
  });

  it("is part of a scenario file, whose unknown role is named by its path", () => {
    const parse = () => parseScenario({ rbac: { enabled: true, assignments: [{ principalId: ALICE, role: "Reader", scope: "/" }, { principalId: ALICE, role: "Global Administrator", scope: "/" }] } });

    expect(parseScenario({ rbac: { enabled: true, assignments: [{ principalId: ALICE, role: "reader", scope: "/" }] } }).rbac?.assignments).toHaveLength(1);
    expect(parse).toThrow(ScenarioError);
    expect(parse).toThrow(/rbac\.assignments\[1\]\.role: 'Global Administrator' is not a built-in role/);
  });
});
