import { describe, expect, it } from "vitest";
import { LOCAL_IDENTITY_OBJECT_ID } from "../../src/azure/clients.ts";
import { OPERATION_STATUS_ACTIONS } from "../../estate/rbac.ts";
import { findBuiltInRole } from "../../estate/roles.ts";
import { collect, FAST_POLL, rawRequest, useEstate, type EstateFixture } from "../helpers/estate.ts";

const FAILOVER = "Microsoft.Sql/servers/failoverGroups/failover/action";
const SET_SECRET = "Microsoft.KeyVault/vaults/secrets/setSecret/action";
const SQL_STATUS = OPERATION_STATUS_ACTIONS["Microsoft.Sql"]!;

interface Assignment {
  principalId: string;
  scope: string;
  role?: string;
  roleName?: string;
  permissions?: { actions: readonly string[] }[];
}

const permissionsOf = (role: string) => {
  const [p] = findBuiltInRole(role)!.permissions;
  return { actions: p!.actions, notActions: p!.notActions, dataActions: p!.dataActions, notDataActions: p!.notDataActions };
};

describe("estate: RBAC as Resource Manager and Key Vault enforce it, through the real clients", () => {
  const fx = useEstate();

  /** The example plan's failover group: the partner server is where a failover is posted. */
  const sql = (f: EstateFixture) => {
    const { failoverGroup, partnerServer } = f.plan.sql[0]!;
    const serverId = (rg: string, name: string) => `/subscriptions/${failoverGroup.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Sql/servers/${name}`;
    return {
      subscriptionId: failoverGroup.subscriptionId,
      client: f.clients.sql(failoverGroup.subscriptionId),
      name: failoverGroup.name,
      primary: { rg: failoverGroup.resourceGroup, server: failoverGroup.names[0]!, id: serverId(failoverGroup.resourceGroup, failoverGroup.names[0]!) },
      partner: { rg: partnerServer.resourceGroup, server: partnerServer.name, id: serverId(partnerServer.resourceGroup, partnerServer.name) },
    };
  };
  const local = (role: string, scope: string): Assignment => ({ principalId: LOCAL_IDENTITY_OBJECT_ID, role, scope });
  const enforce = async (...assignments: Assignment[]) => {
    const answer = await rawRequest(fx.estate, "PUT", "/_estate/rbac", { body: { enabled: true, assignments } });
    expect(answer.status).toBe(200);
  };
  const failOver = () => {
    const { client, partner, name } = sql(fx);
    return client.failoverGroups.beginFailoverAndWait(partner.rg, partner.server, name, FAST_POLL);
  };
  const roleOnPartner = async () => {
    const { client, partner, name } = sql(fx);
    return (await client.failoverGroups.get(partner.rg, partner.server, name)).replicationRole;
  };

  it("refuses a failover group failover to a caller holding only Reader, with 403 AuthorizationFailed naming the action and scope", async () => {
    const { subscriptionId, partner, name } = sql(fx);
    await enforce(local("Reader", `/subscriptions/${subscriptionId}`));

    const failover = failOver();

    await expect(failover).rejects.toMatchObject({
      name: "RestError",
      statusCode: 403,
      code: "AuthorizationFailed",
      message: `The client '${LOCAL_IDENTITY_OBJECT_ID}' with object id '${LOCAL_IDENTITY_OBJECT_ID}' does not have authorization to perform action '${FAILOVER}' over scope '${partner.id}/failoverGroups/${name}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    });
    expect(await roleOnPartner()).toBe("Secondary");
  });

  it("lets SQL Server Contributor on the partner server start the failover but not follow it: the status poll is refused over the resource group", async () => {
    const { subscriptionId, partner } = sql(fx);
    await enforce(local("SQL Server Contributor", partner.id));
    const since = fx.estate.requests().at(-1)?.seq ?? 0;
    const group = `/subscriptions/${subscriptionId}/resourceGroups/${partner.rg}`;

    const failover = failOver();

    await expect(failover).rejects.toMatchObject({
      statusCode: 403,
      code: "AuthorizationFailed",
      message: expect.stringMatching(new RegExp(`perform action '(${SQL_STATUS.join("|")})' over scope '${group}'`)),
    });
    const logged = fx.estate.requests().filter((r) => r.seq > since);
    expect(logged.map((r) => `${r.operationId} ${r.status}`)).toEqual(["FailoverGroups_Failover 202", "Operations_GetStatus 403"]);
    expect(logged[1]).toMatchObject({ actionKind: "action", scope: group });
    expect(SQL_STATUS).toContain(logged[1]!.action);
    // The failover itself goes on: Azure runs an operation whether or not its caller may follow it.
    expect(await roleOnPartner()).toBe("Primary");
  });

  it("lets SQL Server Contributor on the partner's resource group fail the group over and follow it to the end", async () => {
    const { subscriptionId, partner } = sql(fx);
    await enforce(local("SQL Server Contributor", `/subscriptions/${subscriptionId}/resourceGroups/${partner.rg}`));
    const since = fx.estate.requests().at(-1)?.seq ?? 0;

    await failOver();

    const polls = fx.estate.requests().filter((r) => r.seq > since && r.operationId === "Operations_GetStatus");
    expect(await roleOnPartner()).toBe("Primary");
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((r) => r.status === 200 && r.scope === `/subscriptions/${subscriptionId}/resourceGroups/${partner.rg}` && SQL_STATUS.includes(r.action!))).toBe(true);
  });

  it("lets a role on the server plus only the status reads on its resource group follow the failover", async () => {
    const { subscriptionId, partner } = sql(fx);
    const group = `/subscriptions/${subscriptionId}/resourceGroups/${partner.rg}`;
    await enforce(local("SQL Server Contributor", partner.id), { principalId: LOCAL_IDENTITY_OBJECT_ID, roleName: "SQL operation status reader", permissions: [{ actions: SQL_STATUS }], scope: group });

    await failOver();

    expect(await roleOnPartner()).toBe("Primary");
  });

  it("answers a poll of an operation it does not know as before, with RBAC on and no role at all", async () => {
    const { subscriptionId } = sql(fx);
    await enforce();

    const answer = await rawRequest(fx.estate, "GET", `/subscriptions/${subscriptionId}/providers/Microsoft.Sql/locations/eastus2/failoverGroupAzureAsyncOperation/00000000-0000-4000-8000-000000000000?api-version=2021-11-01`);

    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe("OperationNotFound");
    expect(fx.estate.requests().at(-1)).not.toHaveProperty("action");
  });

  it("authorizes a percent-encoded path on the names it decodes to, as it serves it", async () => {
    const { partner, name } = sql(fx);
    await enforce({ principalId: "test", role: "SQL Server Contributor", scope: partner.id });
    const encoded = [...partner.server].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`).join("");

    const answer = await rawRequest(fx.estate, "GET", `${partner.id.replace(partner.server, encoded)}/failoverGroups/${name}?api-version=2021-11-01`);

    expect(answer.status).toBe(200);
    expect(answer.body.properties.replicationRole).toBe("Secondary");
    expect(fx.estate.requests().at(-1)).toMatchObject({ scope: `${partner.id}/failoverGroups/${name}` });
  });

  it("keeps %2F inside a name in one segment of the scope: a role on the server does not cover a name that only starts with it", async () => {
    const { partner, name } = sql(fx);
    await enforce({ principalId: "test", role: "SQL Server Contributor", scope: partner.id });

    const answer = await rawRequest(fx.estate, "GET", `${partner.id}%2F${name}/failoverGroups/${name}?api-version=2021-11-01`);

    expect(answer.status).toBe(403);
    expect(answer.body.error.message).toContain(`over scope '${partner.id}%2F${name}/failoverGroups/${name}'`);
  });

  it("refuses the failover when SQL Server Contributor is assigned on the other server", async () => {
    const { primary } = sql(fx);
    await enforce(local("SQL Server Contributor", primary.id));

    await expect(failOver()).rejects.toMatchObject({ statusCode: 403, code: "AuthorizationFailed" });
    await expect(roleOnPartner()).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining("'Microsoft.Sql/servers/failoverGroups/read'") });
  });

  it("refuses a Key Vault setSecret to Key Vault Secrets User and allows it to Key Vault Secrets Officer", async () => {
    const vault = fx.plan.secrets[0]!.vaults[0]!;
    const client = fx.clients.secrets(vault.name);
    const name = fx.plan.secrets[0]!.name;
    await enforce(local("Key Vault Secrets User", vault.id));

    const refused = client.setSecret(name, "next-value");
    await expect(refused).rejects.toMatchObject({ name: "RestError", statusCode: 403, code: "Forbidden", message: expect.stringContaining(`Action: '${SET_SECRET}'`) });
    const read = await client.getSecret(name);
    await enforce(local("Key Vault Secrets Officer", vault.id));
    const set = await client.setSecret(name, "next-value");

    expect(read.name).toBe(name);
    expect(set.value).toBe("next-value");
    const refusal = fx.estate.requests().find((r) => r.operationId === "SetSecret" && r.status === 403);
    expect(refusal).toMatchObject({ action: SET_SECRET, actionKind: "dataAction", scope: `${vault.id}/secrets/${name}` });
  });

  it("answers permissions.listForResource and listForResourceGroup with the permissions of each role assigned there or above", async () => {
    const { subscriptionId, partner } = sql(fx);
    await enforce(local("Reader", `/subscriptions/${subscriptionId}`), local("SQL Server Contributor", partner.id));
    const permissions = fx.clients.authorization(subscriptionId).permissions;

    const onServer = await collect(permissions.listForResource(partner.rg, "Microsoft.Sql", "", "servers", partner.server));
    const onGroup = await collect(permissions.listForResourceGroup(partner.rg));

    expect(onServer).toEqual([permissionsOf("Reader"), permissionsOf("SQL Server Contributor")]);
    expect(onGroup).toEqual([permissionsOf("Reader")]);
  });

  it("with the mode off serves every caller as before and lists every action as permitted", async () => {
    const { subscriptionId, partner } = sql(fx);

    await failOver();
    const listed = await collect(fx.clients.authorization(subscriptionId).permissions.listForResourceGroup(partner.rg));

    expect(await roleOnPartner()).toBe("Primary");
    expect(listed).toEqual([{ actions: ["*"], notActions: [], dataActions: ["*"], notDataActions: [] }]);
    expect((await rawRequest(fx.estate, "GET", "/_estate/rbac")).body).toEqual({ enabled: false, assignments: [] });
  });

  it("logs the action and scope each Resource Manager request needed, whether the mode is on or off", async () => {
    const { partner, name } = sql(fx);
    const since = fx.estate.requests().at(-1)?.seq ?? 0;

    await failOver();

    const failover = (await rawRequest(fx.estate, "GET", `/_estate/requests?since=${since}`)).body.value.find((r: { operationId: string }) => r.operationId === "FailoverGroups_Failover");
    expect(failover).toMatchObject({ action: FAILOVER, actionKind: "action", scope: `${partner.id}/failoverGroups/${name}`, status: 202 });
  });

  it("takes its setting from PUT /_estate/rbac, refusing an unknown role with the field's path, and from a scenario; reset turns it off", async () => {
    const { partner } = sql(fx);

    const unknown = await rawRequest(fx.estate, "PUT", "/_estate/rbac", { body: { enabled: true, assignments: [local("Reader", "/"), local("Global Administrator", "/")] } });
    const scenario = await rawRequest(fx.estate, "POST", "/_estate/scenario", { body: { rbac: { enabled: true, assignments: [local("sql server contributor", partner.id)] } } });
    const shown = await rawRequest(fx.estate, "GET", "/_estate/rbac");
    await fx.estate.reset();
    const afterReset = await rawRequest(fx.estate, "GET", "/_estate/rbac");

    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^assignments\.1\.role: 'Global Administrator' is not a built-in role/);
    expect(scenario.status).toBe(200);
    expect(shown.body).toEqual({
      enabled: true,
      assignments: [{ principalId: LOCAL_IDENTITY_OBJECT_ID, role: "SQL Server Contributor", roleDefinitionId: findBuiltInRole("SQL Server Contributor")!.roleDefinitionId, scope: partner.id }],
    });
    expect(afterReset.body).toEqual({ enabled: false, assignments: [] });
  });
});
