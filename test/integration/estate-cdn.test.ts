import { describe, expect, it } from "vitest";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { collect, FAST_POLL, useEstate, type EstateFixture } from "../helpers/estate.ts";

/** The plan's AFD origin group, its client, and its origins by role. */
function originGroup(fx: EstateFixture) {
  const g = fx.plan.frontDoor.standard[0]!;
  return {
    client: fx.clients.cdn(g.originGroup.subscriptionId),
    rg: g.originGroup.resourceGroup,
    profile: g.originGroup.names[0]!,
    group: g.originGroup.name,
    primary: g.origins[fx.plan.regions.primary.name]!,
    secondary: g.origins[fx.plan.regions.secondary.name]!,
  };
}

describe("estate: AFD origin groups and origins through @azure/arm-cdn", () => {
  const fx = useEstate();

  it("reads the origin group and its origins, the primary region's first by priority", async () => {
    const { client, rg, profile, group, primary, secondary } = originGroup(fx);

    const one = await client.afdOriginGroups.get(rg, profile, group);
    const groups = await collect(client.afdOriginGroups.listByProfile(rg, profile));
    const origins = await collect(client.afdOrigins.listByOriginGroup(rg, profile, group));

    expect(one).toMatchObject({ name: group, provisioningState: "Succeeded" });
    expect(groups.map((g) => g.name)).toEqual([group]);
    expect(origins.map((o) => [o.name, o.priority, o.enabledState, o.originGroupName])).toEqual([
      [primary, 1, "Enabled", group],
      [secondary, 2, "Enabled", group],
    ]);
  });

  it("disables the primary origin and raises the secondary, keeping what the PATCH does not name", async () => {
    const { client, rg, profile, group, primary, secondary } = originGroup(fx);
    const before = await client.afdOrigins.get(rg, profile, group, primary);

    const disabled = await client.afdOrigins.beginUpdateAndWait(rg, profile, group, primary, { enabledState: "Disabled" }, FAST_POLL);
    await client.afdOrigins.beginUpdateAndWait(rg, profile, group, secondary, { priority: 1 }, FAST_POLL);

    expect(disabled).toMatchObject({ enabledState: "Disabled", provisioningState: "Succeeded" });
    const primaryAfter = await client.afdOrigins.get(rg, profile, group, primary);
    const secondaryAfter = await client.afdOrigins.get(rg, profile, group, secondary);
    expect(primaryAfter).toMatchObject({ enabledState: "Disabled", priority: 1, weight: before.weight, hostName: before.hostName });
    expect(secondaryAfter).toMatchObject({ enabledState: "Enabled", priority: 1 });
  });

  it.each([
    ["priority above 5", { priority: 6 }],
    ["priority below 1", { priority: 0 }],
    ["weight above 1000", { weight: 1001 }],
    ["weight below 1", { weight: 0 }],
    ["an unknown enabledState", { enabledState: "Off" }],
  ])("rejects %s with 400 and an ARM error, leaving the origin as it was", async (_label, update) => {
    const { client, rg, profile, group, secondary } = originGroup(fx);

    const attempt = client.afdOrigins.beginUpdateAndWait(rg, profile, group, secondary, update, FAST_POLL);

    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    expect(await client.afdOrigins.get(rg, profile, group, secondary)).toMatchObject({ priority: 2, weight: 1000, enabledState: "Enabled" });
  });

  it("answers an unknown profile, origin group or origin with 404 ResourceNotFound", async () => {
    const { client, rg, profile, group } = originGroup(fx);

    const profileMissing = client.afdOriginGroups.get(rg, "no-such-profile", group);
    const groupMissing = collect(client.afdOrigins.listByOriginGroup(rg, profile, "no-such-group"));
    const originMissing = client.afdOrigins.get(rg, profile, group, "no-such-origin");

    await expect(profileMissing).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
    await expect(groupMissing).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
    await expect(originMissing).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
  });

  it("still takes origin writes while the primary region is down (the profile is global)", async () => {
    const { client, rg, profile, group, primary } = originGroup(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    await client.afdOrigins.beginUpdateAndWait(rg, profile, group, primary, { enabledState: "Disabled" }, FAST_POLL);

    expect((await client.afdOrigins.get(rg, profile, group, primary)).enabledState).toBe("Disabled");
  });

  it("ends the operation Failed when a failure is planted, leaving the origin as it was but provisioningState Failed", async () => {
    const { client, rg, profile, group, primary } = originGroup(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "AFDOrigins_Update", count: 1 });

    const attempt = client.afdOrigins.beginUpdateAndWait(rg, profile, group, primary, { enabledState: "Disabled" }, FAST_POLL);

    await expect(attempt).rejects.toThrow();
    expect(await client.afdOrigins.get(rg, profile, group, primary)).toMatchObject({ enabledState: "Enabled", provisioningState: "Failed" });
    // The next update that succeeds clears it.
    await client.afdOrigins.beginUpdateAndWait(rg, profile, group, primary, { enabledState: "Disabled" }, FAST_POLL);
    expect(await client.afdOrigins.get(rg, profile, group, primary)).toMatchObject({ enabledState: "Disabled", provisioningState: "Succeeded" });
  });
});

describe("estate: an AFD origin update in flight", () => {
  let now = Date.parse("2025-01-01T00:00:00Z");
  const fx = useEstate({ estate: { clock: () => now } });

  it("shows the old values with provisioningState Updating until the operation completes", async () => {
    const { client, rg, profile, group, primary } = originGroup(fx);
    fx.estate.setTiming({ durations: { AFDOrigins_Update: 60_000 } });

    const poller = await client.afdOrigins.beginUpdate(rg, profile, group, primary, { enabledState: "Disabled" }, FAST_POLL);
    const during = await client.afdOrigins.get(rg, profile, group, primary);
    now += 60_000;
    await poller.pollUntilDone();
    const after = await client.afdOrigins.get(rg, profile, group, primary);

    expect(during).toMatchObject({ enabledState: "Enabled", provisioningState: "Updating" });
    expect(after).toMatchObject({ enabledState: "Disabled", provisioningState: "Succeeded" });
  });
});

describe("estate: AFD responses match the public REST examples", () => {
  const fx = useEstate();

  it("AFDOrigins_Get has the example's fields and types", async () => {
    const { client, rg, profile, group, primary } = originGroup(fx);
    const raw = captureRaw();

    await client.afdOrigins.get(rg, profile, group, primary, raw.options);

    const diff = shapeDiff(raw.last.body, corpusExample("cdn/2025-06-01/AFDOrigins_Get.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("AFDOrigins_ListByOriginGroup lists origins shaped like AFDOrigins_Get", async () => {
    const { client, rg, profile, group } = originGroup(fx);
    const raw = captureRaw();

    await collect(client.afdOrigins.listByOriginGroup(rg, profile, group, raw.options));

    const diff = shapeDiff(raw.last.body, { value: [corpusExample("cdn/2025-06-01/AFDOrigins_Get.json").responses["200"]!.body] });
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("AFDOriginGroups_Get has the example's fields and types", async () => {
    const { client, rg, profile, group } = originGroup(fx);
    const raw = captureRaw();

    await client.afdOriginGroups.get(rg, profile, group, raw.options);

    const diff = shapeDiff(raw.last.body, corpusExample("cdn/2025-06-01/AFDOriginGroups_Get.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("AFDOrigins_Update answers 202 with azure-asyncoperation and an Updating body, then the 200 body", async () => {
    const { client, rg, profile, group, primary } = originGroup(fx);
    const example = corpusExample("cdn/2025-06-01/AFDOrigins_Update.json");
    const all = captureRaw();

    await client.afdOrigins.beginUpdateAndWait(rg, profile, group, primary, { enabledState: "Disabled" }, { ...FAST_POLL, ...all.options });

    const accepted = all.seen[0]!;
    const final = all.seen.at(-1)!;
    expect(accepted.status).toBe(202);
    expect(accepted.headers["azure-asyncoperation"]).toMatch(/^https:\/\/.+\/providers\/Microsoft\.Cdn\/.+\?api-version=/);
    expect(accepted.body).toMatchObject({ properties: { provisioningState: "Updating", enabledState: "Disabled" } });
    expect(shapeDiff(accepted.body, example.responses["202"]!.body)).toEqual({ missing: [], mismatched: [], extra: [] });
    expect(final.status).toBe(200);
    expect(final.body).toMatchObject({ properties: { provisioningState: "Succeeded", enabledState: "Disabled" } });
    expect(shapeDiff(final.body, example.responses["200"]!.body)).toEqual({ missing: [], mismatched: [], extra: [] });
  });
});
