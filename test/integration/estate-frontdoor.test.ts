import type { ForwardingConfiguration, FrontDoor } from "@azure/arm-frontdoor";
import { describe, expect, it } from "vitest";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { collect, FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

/** The plan's classic Front Door, its client, and its backend addresses by role. */
function classic(fx: EstateFixture) {
  const fd = fx.plan.frontDoor.classic[0]!;
  return {
    client: fx.clients.frontDoor(fd.frontDoor.subscriptionId),
    id: fd.frontDoor.id,
    rg: fd.frontDoor.resourceGroup,
    name: fd.frontDoor.name,
    pool: fd.backendPool,
    primary: fd.backends[fx.plan.regions.primary.name]!,
    secondary: fd.backends[fx.plan.regions.secondary.name]!,
  };
}

/** The backends of `pool`, by address. */
function backendsOf(fd: FrontDoor, pool: string) {
  const found = fd.backendPools?.find((p) => p.name === pool);
  if (!found?.backends) throw new Error(`no backend pool ${pool}`);
  return found.backends;
}

function backend(fd: FrontDoor, pool: string, address: string) {
  const found = backendsOf(fd, pool).find((b) => b.address === address);
  if (!found) throw new Error(`no backend ${address} in ${pool}`);
  return found;
}

function forwardTo(backendPoolId: string): ForwardingConfiguration {
  return { odataType: "#Microsoft.Azure.FrontDoor.Models.FrontdoorForwardingConfiguration", backendPool: { id: backendPoolId } };
}

/** The id of another Front Door in the same resource group. */
const sibling = (id: string, name: string) => `${id.slice(0, id.lastIndexOf("/"))}/${name}`;

const EXAMPLE_ID = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/frontDoors/frontDoor1";

/**
 * FrontdoorCreate.json's request body as the modular SDK's model (it flattens `properties` into their
 * owner and calls `@odata.type` `odataType`), with the example's Front Door id replaced by `id`.
 */
function exampleFrontDoor(id: string): FrontDoor {
  const rest = corpusExample("frontdoor/2020-11-01/FrontdoorCreate.json").parameters.frontDoorParameters;
  const toModel = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(toModel);
    if (typeof value !== "object" || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "properties" && typeof v === "object" && v !== null) Object.assign(out, toModel(v));
      else out[k === "@odata.type" ? "odataType" : k] = toModel(v);
    }
    return out;
  };
  return toModel(JSON.parse(JSON.stringify(rest).replaceAll(EXAMPLE_ID, id))) as FrontDoor;
}

describe("estate: Front Door classic through @azure/arm-frontdoor", () => {
  const fx = useEstate();

  it("reads the Front Door, the primary region's backend first by priority, and lists it in its resource group", async () => {
    const { client, rg, name, pool, primary, secondary } = classic(fx);

    const fd = await client.frontDoors.get(rg, name);
    const listed = await collect(client.frontDoors.listByResourceGroup(rg));

    expect(fd).toMatchObject({ name, resourceState: "Enabled", provisioningState: "Succeeded" });
    expect(backendsOf(fd, pool).map((b) => [b.address, b.priority, b.enabledState])).toEqual([
      [primary, 1, "Enabled"],
      [secondary, 2, "Enabled"],
    ]);
    expect(listed.map((f) => f.name)).toEqual([name]);
  });

  it("fails a backend pool over: GET, change the backends, PUT it back, GET shows the change", async () => {
    const { client, rg, name, pool, primary, secondary } = classic(fx);
    const fd = await client.frontDoors.get(rg, name);
    backend(fd, pool, primary).enabledState = "Disabled";
    backend(fd, pool, secondary).priority = 1;

    const result = await client.frontDoors.beginCreateOrUpdateAndWait(rg, name, fd, FAST_POLL);

    const after = await client.frontDoors.get(rg, name);
    expect(result.provisioningState).toBe("Succeeded");
    expect(backendsOf(after, pool).map((b) => [b.address, b.priority, b.enabledState])).toEqual([
      [primary, 1, "Disabled"],
      [secondary, 1, "Enabled"],
    ]);
    expect(after.frontdoorId).toBe(fd.frontdoorId);
    expect(after.routingRules?.map((r) => r.name)).toEqual(fd.routingRules?.map((r) => r.name));
  });

  it.each([
    ["a backend priority above 5", (fd: FrontDoor, pool: string) => void (backendsOf(fd, pool)[0]!.priority = 6)],
    ["a backend priority below 1", (fd: FrontDoor, pool: string) => void (backendsOf(fd, pool)[0]!.priority = 0)],
    ["a backend weight above 1000", (fd: FrontDoor, pool: string) => void (backendsOf(fd, pool)[0]!.weight = 1001)],
    ["a backend enabledState other than Enabled/Disabled", (fd: FrontDoor, pool: string) => void (backendsOf(fd, pool)[0]!.enabledState = "Off")],
    ["a routing rule naming a backend pool the Front Door lacks", (fd: FrontDoor) => void (fd.routingRules![0]!.routeConfiguration = forwardTo(`${fd.id}/backendPools/no-such-pool`))],
  ])("rejects %s with 400 and an ARM error, leaving the Front Door as it was", async (_label, spoil) => {
    const { client, rg, name, pool, primary } = classic(fx);
    const fd = await client.frontDoors.get(rg, name);
    spoil(fd, pool);

    const attempt = client.frontDoors.beginCreateOrUpdateAndWait(rg, name, fd, FAST_POLL);

    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    expect(backend(await client.frontDoors.get(rg, name), pool, primary)).toMatchObject({ priority: 1, weight: 50, enabledState: "Enabled" });
  });

  it("rejects a Front Door with no properties with 400", async () => {
    const { client, rg, name } = classic(fx);

    const attempt = client.frontDoors.beginCreateOrUpdateAndWait(rg, name, { location: "global" }, FAST_POLL);

    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    expect((await client.frontDoors.get(rg, name)).backendPools).toHaveLength(1);
  });

  it("answers an unknown Front Door with 404 ResourceNotFound", async () => {
    const { client, rg } = classic(fx);

    const attempt = client.frontDoors.get(rg, "no-such-front-door");

    await expect(attempt).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
  });

  it("creates a Front Door: 201 with Azure-AsyncOperation, then it can be read", async () => {
    const { client, id, rg, name } = classic(fx);
    const all = captureRaw();

    await client.frontDoors.beginCreateOrUpdateAndWait(rg, "created-fd", exampleFrontDoor(sibling(id, "created-fd")), { ...FAST_POLL, ...all.options });

    expect(all.seen[0]!.status).toBe(201);
    expect(all.seen[0]!.headers["azure-asyncoperation"]).toMatch(/\/providers\/Microsoft\.Network\/.+\?api-version=/);
    expect(await client.frontDoors.get(rg, "created-fd")).toMatchObject({ name: "created-fd", resourceState: "Enabled", cname: "created-fd.azurefd.net" });
    expect((await collect(client.frontDoors.listByResourceGroup(rg))).map((f) => f.name).sort()).toEqual(["created-fd", name].sort());
  });

  it("still takes Front Door writes while the primary region is down (the resource is global)", async () => {
    const { client, rg, name, pool, primary } = classic(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const fd = await client.frontDoors.get(rg, name);
    backend(fd, pool, primary).enabledState = "Disabled";

    await client.frontDoors.beginCreateOrUpdateAndWait(rg, name, fd, FAST_POLL);

    expect(backend(await client.frontDoors.get(rg, name), pool, primary).enabledState).toBe("Disabled");
  });

  it("ends the operation Failed when a failure is planted, leaving the backends as they were and provisioningState Failed", async () => {
    const { client, rg, name, pool, primary } = classic(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "FrontDoors_CreateOrUpdate", count: 1 });
    const fd = await client.frontDoors.get(rg, name);
    backend(fd, pool, primary).enabledState = "Disabled";

    const attempt = client.frontDoors.beginCreateOrUpdateAndWait(rg, name, fd, FAST_POLL);

    await expect(attempt).rejects.toThrow();
    const after = await client.frontDoors.get(rg, name);
    expect([backend(after, pool, primary).enabledState, after.provisioningState, after.resourceState]).toEqual(["Enabled", "Failed", "Enabled"]);
  });
});

describe("estate: a Front Door update in flight", () => {
  let now = Date.parse("2025-01-01T00:00:00Z");
  const fx = useEstate({ estate: { clock: () => now } });

  it("shows the stored body with provisioningState Updating until the operation completes", async () => {
    const { client, rg, name, pool, primary } = classic(fx);
    fx.estate.setTiming({ durations: { FrontDoors_CreateOrUpdate: 60_000 } });
    const fd = await client.frontDoors.get(rg, name);
    backend(fd, pool, primary).enabledState = "Disabled";

    const poller = client.frontDoors.createOrUpdate(rg, name, fd, FAST_POLL);
    await poller.submitted();
    const during = await client.frontDoors.get(rg, name);
    now += 60_000;
    await poller.pollUntilDone();
    const after = await client.frontDoors.get(rg, name);

    expect(during.provisioningState).toBe("Updating");
    expect(backend(during, pool, primary).enabledState).toBe("Enabled");
    expect(after.provisioningState).toBe("Succeeded");
    expect(backend(after, pool, primary).enabledState).toBe("Disabled");
  });
});

describe("estate: Front Door classic responses match the public REST examples", () => {
  const fx = useEstate();
  /*
   * Read-only fields of the Front Door model (frontdoor.json) that Azure returns and the examples do
   * not show: each sub-resource's `type` and `resourceState`, the ids of the health probe and load
   * balancing settings, and the Front Door's `frontdoorId`.
   */
  const SUB_RESOURCE_EXTRAS = [
    "properties.routingRules[0].properties.resourceState",
    "properties.routingRules[0].type",
    "properties.healthProbeSettings[0].properties.resourceState",
    "properties.healthProbeSettings[0].id",
    "properties.healthProbeSettings[0].type",
    "properties.loadBalancingSettings[0].properties.resourceState",
    "properties.loadBalancingSettings[0].id",
    "properties.loadBalancingSettings[0].type",
    "properties.backendPools[0].properties.resourceState",
    "properties.backendPools[0].type",
    "properties.frontendEndpoints[0].properties.resourceState",
    "properties.frontendEndpoints[0].type",
  ];

  /** Creates FrontdoorCreate's Front Door (as `frontDoor1`, next to the plan's) and returns what the calls saw. */
  async function createExample() {
    const { client, id, rg } = classic(fx);
    const all = captureRaw();
    await client.frontDoors.beginCreateOrUpdateAndWait(rg, "frontDoor1", exampleFrontDoor(sibling(id, "frontDoor1")), { ...FAST_POLL, ...all.options });
    return { client, rg, created: all.seen[0]! };
  }

  it("FrontDoors_CreateOrUpdate's 201 has FrontdoorCreate's 201 fields and types", async () => {
    const { created } = await createExample();

    const diff = shapeDiff(created.body, corpusExample("frontdoor/2020-11-01/FrontdoorCreate.json").responses["201"]!.body);

    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ properties: { resourceState: "Creating", provisioningState: "Provisioning" } });
    // rulesEngines (an empty list here) is in FrontdoorGet but not in FrontdoorCreate's responses.
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [...SUB_RESOURCE_EXTRAS, "properties.rulesEngines", "properties.frontdoorId"] });
  });

  it("FrontDoors_Get has FrontdoorGet's fields and types", async () => {
    const { client, rg } = await createExample();
    const raw = captureRaw();

    await client.frontDoors.get(rg, "frontDoor1", raw.options);

    const diff = shapeDiff(raw.last.body, corpusExample("frontdoor/2021-06-01/FrontdoorGet.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [...SUB_RESOURCE_EXTRAS, "properties.frontdoorId"] });
  });

  it("an update's 202 has FrontdoorCreate's 202 fields and types, with provisioningState Updating", async () => {
    const { client, rg } = await createExample();
    const fd = await client.frontDoors.get(rg, "frontDoor1");
    fd.backendPools![0]!.backends![0]!.enabledState = "Disabled";
    const all = captureRaw();

    await client.frontDoors.beginCreateOrUpdateAndWait(rg, "frontDoor1", fd, { ...FAST_POLL, ...all.options });

    const accepted = all.seen[0]!;
    const diff = shapeDiff(accepted.body, corpusExample("frontdoor/2020-11-01/FrontdoorCreate.json").responses["202"]!.body);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({ properties: { resourceState: "Enabled", provisioningState: "Updating" } });
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [...SUB_RESOURCE_EXTRAS, "properties.rulesEngines", "properties.frontdoorId"] });
  });
});
