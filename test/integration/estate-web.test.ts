import { describe, expect, it } from "vitest";
import type { ConnectionStringDictionary, StringDictionary } from "@azure/arm-appservice";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { useEstate, type EstateFixture } from "../helpers/estate.ts";

/** The plan's two sites: `east` lives in the primary region, `central` in the secondary. */
function sites(fx: EstateFixture) {
  const pick = (i: number) => {
    const s = fx.plan.appService[i]!.site;
    return { rg: s.resourceGroup, name: s.name, client: fx.clients.web(s.subscriptionId) };
  };
  return { east: pick(0), central: pick(1) };
}

describe("estate: App Service settings through @azure/arm-appservice", () => {
  const fx = useEstate();

  it("lists the app settings the site was seeded with", async () => {
    const { east } = sites(fx);

    const settings = await east.client.webApps.listApplicationSettings(east.rg, east.name);

    const spec = fx.plan.appService[0]!;
    // The plan's settings, and a versionless Key Vault reference to each of its secrets (local/estateSeed.ts).
    const references = Object.fromEntries(fx.plan.secrets.map((s) => [s.name.toUpperCase().replace(/-/g, "_"), expect.stringMatching(new RegExp(`^@Microsoft\\.KeyVault\\(SecretUri=https://[a-z0-9-]+\\.vault\\.azure\\.net/secrets/${s.name}/\\)$`))]));
    expect(settings.properties).toEqual({ ...references, ...Object.fromEntries(spec.appSettings.map((s) => [s.name, s.values[fx.plan.regions.primary.name]])) });
    expect(settings.properties?.ORDERS_ACTIVE_REGION).toBe("eastus2");
    expect(settings.name).toBe("appsettings");
  });

  it("replaces the whole set of app settings on update", async () => {
    const { east } = sites(fx);

    const updated = await east.client.webApps.updateApplicationSettings(east.rg, east.name, { properties: { ORDERS_ACTIVE_REGION: "centralus", NEW_FLAG: "1" } });

    const listed = await east.client.webApps.listApplicationSettings(east.rg, east.name);
    expect(updated.properties).toEqual({ ORDERS_ACTIVE_REGION: "centralus", NEW_FLAG: "1" });
    expect(listed.properties).toEqual({ ORDERS_ACTIVE_REGION: "centralus", NEW_FLAG: "1" });
  });

  it("round-trips connection strings with their types", async () => {
    const { east } = sites(fx);
    const before = await east.client.webApps.listConnectionStrings(east.rg, east.name);
    const next = {
      Cache: { value: "contoso-orders-cache-centralus.redis.cache.windows.net:6380,ssl=True", type: "RedisCache" },
      Orders: { value: "Server=tcp:contoso-orders-fog.database.windows.net;Database=orders", type: "SQLAzure" },
    } as const;

    const updated = await east.client.webApps.updateConnectionStrings(east.rg, east.name, { properties: next });

    const listed = await east.client.webApps.listConnectionStrings(east.rg, east.name);
    expect(before.properties).toEqual({ Cache: { value: "contoso-orders-cache-eastus2.redis.cache.windows.net:6380,ssl=True", type: "RedisCache" } });
    expect(updated.properties).toEqual(next);
    expect(listed.properties).toEqual(next);
    expect(listed.name).toBe("connectionstrings");
  });

  it("keeps each site's settings to itself", async () => {
    const { east, central } = sites(fx);

    const eastBefore = await east.client.webApps.listApplicationSettings(east.rg, east.name);

    await central.client.webApps.updateApplicationSettings(central.rg, central.name, { properties: { ONLY_ON_CENTRAL: "1" } });

    const eastAfter = await east.client.webApps.listApplicationSettings(east.rg, east.name);
    const centralAfter = await central.client.webApps.listApplicationSettings(central.rg, central.name);
    expect(centralAfter.properties).toEqual({ ONLY_ON_CENTRAL: "1" });
    expect(eastAfter.properties).toEqual(eastBefore.properties);
  });

  it("refuses writes to a site whose region is down, still answers reads, and leaves the other region's site writable", async () => {
    const { east, central } = sites(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const settingsWrite = east.client.webApps.updateApplicationSettings(east.rg, east.name, { properties: { ORDERS_ACTIVE_REGION: "centralus" } });
    const stringsWrite = east.client.webApps.updateConnectionStrings(east.rg, east.name, { properties: {} });
    const centralWrite = central.client.webApps.updateApplicationSettings(central.rg, central.name, { properties: { ORDERS_ACTIVE_REGION: "centralus" } });

    await expect(settingsWrite).rejects.toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    await expect(stringsWrite).rejects.toMatchObject({ statusCode: 503, code: "ServiceUnavailable" });
    await expect(centralWrite).resolves.toMatchObject({ properties: { ORDERS_ACTIVE_REGION: "centralus" } });
    expect((await east.client.webApps.listApplicationSettings(east.rg, east.name)).properties?.ORDERS_ACTIVE_REGION).toBe("eastus2");
    expect(Object.keys((await east.client.webApps.listConnectionStrings(east.rg, east.name)).properties ?? {})).toEqual(["Cache"]);
  });

  it("answers 400 for malformed bodies and changes nothing", async () => {
    const { east } = sites(fx);
    const badRequest = { statusCode: 400, code: "BadRequest" };

    const noProperties = east.client.webApps.updateApplicationSettings(east.rg, east.name, {});
    const nonString = east.client.webApps.updateApplicationSettings(east.rg, east.name, { properties: { COUNT: 5 } } as unknown as StringDictionary);
    const badType = east.client.webApps.updateConnectionStrings(east.rg, east.name, { properties: { Db: { value: "x", type: "Oracle" } } } as unknown as ConnectionStringDictionary);
    const noValue = east.client.webApps.updateConnectionStrings(east.rg, east.name, { properties: { Db: { type: "SQLAzure" } } } as unknown as ConnectionStringDictionary);

    await expect(noProperties).rejects.toMatchObject(badRequest);
    await expect(nonString).rejects.toMatchObject(badRequest);
    await expect(badType).rejects.toMatchObject(badRequest);
    await expect(noValue).rejects.toMatchObject(badRequest);
    expect(Object.keys((await east.client.webApps.listApplicationSettings(east.rg, east.name)).properties ?? {})).toHaveLength(2 + fx.plan.secrets.length);
    expect(Object.keys((await east.client.webApps.listConnectionStrings(east.rg, east.name)).properties ?? {})).toEqual(["Cache"]);
  });

  it("reads each site with its region (WebApps_Get), also while that region is down", async () => {
    const { east, central } = sites(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const eastSite = await east.client.webApps.get(east.rg, east.name);
    const centralSite = await central.client.webApps.get(central.rg, central.name);

    expect(eastSite).toMatchObject({ name: east.name, type: "Microsoft.Web/sites", kind: "app", location: fx.plan.regions.primary.name, state: "Running" });
    expect(centralSite.location).toBe(fx.plan.regions.secondary.name);
    expect(eastSite.defaultHostName).toBe(`${east.name}.azurewebsites.net`);
    await expect(east.client.webApps.get(east.rg, "no-such-site")).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
  });

  it("answers an unknown site with 404 ResourceNotFound", async () => {
    const { east } = sites(fx);
    const notFound = { statusCode: 404, code: "ResourceNotFound" };

    const list = east.client.webApps.listApplicationSettings(east.rg, "no-such-site");
    const update = east.client.webApps.updateConnectionStrings(east.rg, "no-such-site", { properties: {} });

    await expect(list).rejects.toMatchObject(notFound);
    await expect(update).rejects.toMatchObject(notFound);
  });
});

describe("estate: App Service responses match the public REST examples", () => {
  const fx = useEstate();

  it("WebApps_UpdateApplicationSettings, sent the example's request, answers with the example's fields and types", async () => {
    const { east } = sites(fx);
    const example = corpusExample("web/UpdateAppSettings.json");
    const raw = captureRaw();

    await east.client.webApps.updateApplicationSettings(east.rg, east.name, example.parameters.appSettings as StringDictionary, raw.options);

    const diff = shapeDiff(raw.last.body, example.responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("WebApps_ListApplicationSettings has the example's fields and types", async () => {
    const { east } = sites(fx);
    await east.client.webApps.updateApplicationSettings(east.rg, east.name, corpusExample("web/UpdateAppSettings.json").parameters.appSettings as StringDictionary);
    const raw = captureRaw();

    await east.client.webApps.listApplicationSettings(east.rg, east.name, raw.options);

    const diff = shapeDiff(raw.last.body, corpusExample("web/ListAppSettings.json").responses["200"]!.body);
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
  });

  it("WebApps_ListConnectionStrings has the same resource envelope as the app settings example", async () => {
    const { east } = sites(fx);
    const raw = captureRaw();

    await east.client.webApps.listConnectionStrings(east.rg, east.name, raw.options);

    // No public example exists for connection strings: compare the envelope (id, name, type, kind) with
    // the app settings example, and the values ({value, type}) with the SDK's ConnStringValueTypePair.
    const body = raw.last.body as { properties: Record<string, unknown> };
    const example = corpusExample("web/ListAppSettings.json").responses["200"]!.body as Record<string, unknown>;
    const diff = shapeDiff({ ...body, properties: {} }, { ...example, properties: {} });
    expect(diff).toEqual({ missing: [], mismatched: [], extra: [] });
    expect(body.properties).toEqual({ Cache: { value: expect.any(String), type: "RedisCache" } });
  });
});
