import type { AccessToken, GetTokenOptions, TokenCredential } from "@azure/core-auth";
import { createHttpHeaders, type PipelinePolicy } from "@azure/core-rest-pipeline";
import type { MetricsQueryResourcesOptions, MetricsQueryResult } from "@azure/monitor-query-metrics";
import { describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import type { CloudName } from "../../src/azure/clouds.ts";
import { ancestorId } from "../../src/core/plan/index.ts";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { rawRequest, useEstate, type EstateFixture } from "../helpers/estate.ts";

const CDN = "Microsoft.Cdn/profiles";

/** The Front Door Standard/Premium profile of the example plan, and its origins' host names by region. */
function afd(fx: EstateFixture) {
  const group = fx.plan.frontDoor.standard[0]!;
  const hostOf = (region: string) => fx.estate.snapshot().afdOrigins.find((o) => o.region === region && o.name === group.origins[region])!.hostName;
  return {
    profileId: ancestorId(group.originGroup, 1),
    primaryHost: hostOf(fx.plan.regions.primary.name),
    secondaryHost: hostOf(fx.plan.regions.secondary.name),
  };
}

function sqlDatabases(fx: EstateFixture) {
  const g = fx.plan.sql[0]!;
  const db = g.databases![0]!;
  return { primary: `${ancestorId(g.failoverGroup, 1)}/databases/${db}`, secondary: `${g.partnerServer.id}/databases/${db}` };
}

/** The last data point's value of each time series, keyed by its first dimension value ("" when unsplit). */
function lastValues(result: MetricsQueryResult, agg: "average" | "total" = "average"): Record<string, number | undefined> {
  const metric = result.metrics[0]!;
  return Object.fromEntries(metric.timeseries.map((ts) => [ts.metadatavalues?.[0]?.value ?? "", ts.data?.at(-1)?.[agg]]));
}

describe("estate: Azure Monitor metrics batch through @azure/monitor-query-metrics", () => {
  const fx = useEstate();

  it("reports each Front Door origin healthy, then 0 for the primary's origin once its region is down", async () => {
    const { profileId, primaryHost, secondaryHost } = afd(fx);
    const client = fx.clients.metrics("global");
    const query = () => client.queryResources([profileId], ["OriginHealthPercentage"], CDN, { filter: "Origin eq '*'" });

    const before = await query();
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const after = await query();

    expect(lastValues(before[0]!)).toEqual({ [primaryHost]: 100, [secondaryHost]: 100 });
    expect(lastValues(after[0]!)).toEqual({ [primaryHost]: 0, [secondaryHost]: 100 });
    expect(after[0]!.metrics[0]!.timeseries[0]!.metadatavalues).toEqual([{ name: "origin", value: primaryHost }]);
  });

  it("is unhealthy for the whole queried window, not just the latest minute", async () => {
    const { profileId, primaryHost } = afd(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const [result] = await fx.clients.metrics("global").queryResources([profileId], ["OriginHealthPercentage"], CDN, { filter: `Origin eq '${primaryHost}'` });

    const points = result!.metrics[0]!.timeseries[0]!.data!.filter((p) => p.average !== undefined);
    expect(points.length).toBeGreaterThanOrEqual(59);
    expect(new Set(points.map((p) => p.average))).toEqual(new Set([0]));
  });

  it("averages origins when not split, and counts 5XX only when no enabled origin can serve", async () => {
    const { profileId, secondaryHost } = afd(fx);
    const client = fx.clients.metrics("global");
    const query = () => client.queryResources([profileId], ["OriginHealthPercentage", "Percentage5XX"], CDN);

    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const failedOver = await query();
    // Active/passive: the secondary origin is disabled, so Front Door has nowhere to send traffic.
    const secondary = [...fx.estate.state.afdOrigins.values()].find((o) => o.hostName === secondaryHost)!;
    secondary.enabledState = "Disabled";
    const stranded = await query();

    expect(failedOver[0]!.metrics.map((m) => m.timeseries[0]!.data!.at(-1)!.average)).toEqual([50, 0]);
    expect(stranded[0]!.metrics.map((m) => m.timeseries[0]!.data!.at(-1)!.average)).toEqual([0, 100]);
  });

  it("orders split series and keeps the top ones", async () => {
    const { profileId, primaryHost } = afd(fx);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const [result] = await fx.clients
      .metrics("global")
      .queryResources([profileId], ["OriginHealthPercentage"], CDN, { filter: "Origin eq '*'", orderBy: "average asc", top: 1 });

    expect(lastValues(result!)).toEqual({ [primaryHost]: 0 });
  });

  it("rolls a filtered dimension up instead of splitting by it", async () => {
    const { profileId } = afd(fx);
    const group = fx.plan.frontDoor.standard[0]!.originGroup.name;
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const [result] = await fx.clients
      .metrics("global")
      .queryResources([profileId], ["OriginHealthPercentage"], CDN, { filter: `Origin eq '*' and OriginGroup eq '${group}'`, rollUpBy: "Origin" });

    expect(lastValues(result!)).toEqual({ [group]: 50 });
    expect(result!.metrics[0]!.timeseries[0]!.metadatavalues).toEqual([{ name: "origingroup", value: group }]);
  });

  it("splits RequestCount by HttpStatusGroup: 2XX while healthy, 5XX when both regions are down", async () => {
    const { profileId } = afd(fx);
    const client = fx.clients.metrics("global");
    const query = () => client.queryResources([profileId], ["RequestCount"], CDN, { filter: "HttpStatusGroup eq '*'", interval: "PT5M" });

    const healthy = await query();
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    await fx.estate.setRegion(fx.plan.regions.secondary.name, { down: true });
    const down = await query();

    expect(Object.keys(lastValues(healthy[0]!, "total"))).toEqual(["2XX"]);
    expect(Object.keys(lastValues(down[0]!, "total"))).toEqual(["5XX"]);
    expect(lastValues(down[0]!, "total")["5XX"]).toBeGreaterThan(0);
  });

  it("reports SQL database availability by the server's region", async () => {
    const { primary, secondary } = sqlDatabases(fx);
    const primaryRegion = fx.plan.regions.primary.name;
    const query = (id: string, region: string) => fx.clients.metrics(region).queryResources([id], ["availability"], "Microsoft.Sql/servers/databases");

    const before = await query(primary, primaryRegion);
    await fx.estate.setRegion(primaryRegion, { down: true });
    const after = await query(primary, primaryRegion);
    const partner = await query(secondary, fx.plan.regions.secondary.name);

    expect(lastValues(before[0]!)).toEqual({ "": 100 });
    expect(lastValues(after[0]!)).toEqual({ "": 0 });
    expect(lastValues(partner[0]!)).toEqual({ "": 100 });
    expect(after[0]).toMatchObject({ resourceId: primary, resourceRegion: primaryRegion, granularity: "PT1M" });
    expect(after[0]!.metrics[0]!.unit).toBe("Percent");
  });

  it("reports storage account Availability by the primary location", async () => {
    const accounts = fx.plan.storage.map((s) => s.account.id);
    const primaryRegion = fx.plan.regions.primary.name;
    const query = () =>
      fx.clients.metrics(primaryRegion).queryResources(accounts, ["Availability"], "Microsoft.Storage/storageAccounts", { aggregation: "average,minimum,maximum" });

    const before = await query();
    await fx.estate.setRegion(primaryRegion, { down: true });
    const after = await query();

    expect(before.map((r) => r.resourceId)).toEqual(accounts);
    expect(before.map((r) => lastValues(r)[""])).toEqual([100, 100]);
    expect(after.map((r) => r.metrics[0]!.timeseries[0]!.data!.at(-1))).toEqual([
      expect.objectContaining({ average: 0, minimum: 0, maximum: 0 }),
      expect.objectContaining({ average: 0, minimum: 0, maximum: 0 }),
    ]);
  });

  it("reports classic Front Door backend health per backend", async () => {
    const fd = fx.plan.frontDoor.classic[0]!;
    const primaryBackend = fd.backends[fx.plan.regions.primary.name]!;
    const secondaryBackend = fd.backends[fx.plan.regions.secondary.name]!;
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });

    const [result] = await fx.clients
      .metrics("global")
      .queryResources([fd.frontDoor.id], ["BackendHealthPercentage"], "Microsoft.Network/frontDoors", { filter: "Backend eq '*'" });

    expect(lastValues(result!)).toEqual({ [primaryBackend]: 0, [secondaryBackend]: 100 });
  });

  it("buckets the requested window by the requested interval", async () => {
    const { primary } = sqlDatabases(fx);
    const endTime = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const startTime = new Date(endTime.getTime() - 3_600_000);

    const [result] = await fx.clients
      .metrics(fx.plan.regions.primary.name)
      .queryResources([primary], ["availability"], "Microsoft.Sql/servers/databases", { startTime, endTime, interval: "PT15M", aggregation: "average,count" });

    const data = result!.metrics[0]!.timeseries[0]!.data!;
    expect(data.map((p) => p.timeStamp.getTime() - startTime.getTime())).toEqual([0, 15, 30, 45].map((m) => m * 60_000));
    expect(data[0]).toMatchObject({ average: 100, count: 15 });
    expect(result!.timespan).toEqual({ startTime, endTime });
    expect(result!.granularity).toBe("PT15M");
  });
});

describe("estate: metrics batch errors", () => {
  const fx = useEstate();

  it("answers an unknown metric name with 400 BadRequest, wrapped in 'error'", async () => {
    const { profileId } = afd(fx);
    const call = fx.clients.metrics("global").queryResources([profileId], ["NoSuchMetric"], CDN);
    await expect(call).rejects.toMatchObject({ statusCode: 400, code: "BadRequest", details: { error: { code: "BadRequest" } } });
    await expect(call).rejects.toThrow(/Failed to find metric configuration.*NoSuchMetric/);
  });

  it("answers an unknown metric namespace with 400 BadRequest", async () => {
    const { profileId } = afd(fx);
    await expect(fx.clients.metrics("global").queryResources([profileId], ["RequestCount"], "Microsoft.Nope/things")).rejects.toMatchObject({
      statusCode: 400,
      code: "BadRequest",
    });
  });

  it("answers a dimension the metric does not have with 400 BadRequest", async () => {
    const { profileId } = afd(fx);
    const call = fx.clients.metrics("global").queryResources([profileId], ["RequestCount"], CDN, { filter: "Origin eq '*'" });
    await expect(call).rejects.toThrow(/does not support requested dimension combination: Origin/);
  });

  it("answers a resource the estate does not know with 404", async () => {
    const { profileId } = afd(fx);
    await expect(fx.clients.metrics("global").queryResources([`${profileId}-missing`], ["RequestCount"], CDN)).rejects.toMatchObject({ statusCode: 404 });
  });

  it("refuses a batch that spans two regions", async () => {
    const { primary, secondary } = sqlDatabases(fx);
    const call = fx.clients.metrics(fx.plan.regions.primary.name).queryResources([primary, secondary], ["availability"], "Microsoft.Sql/servers/databases");
    await expect(call).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
  });
});

describe("estate: regional metrics endpoints and Azure's batching rules", () => {
  const fx = useEstate();
  const SQL_DB = "Microsoft.Sql/servers/databases";

  it("serves each region at its own endpoint: the factory's requests arrive under /metrics/{region}", async () => {
    const { primary, secondary } = sqlDatabases(fx);
    const { profileId } = afd(fx);
    const [p, s] = [fx.plan.regions.primary.name, fx.plan.regions.secondary.name];

    const [atPrimary] = await fx.clients.metrics(p).queryResources([primary], ["availability"], SQL_DB);
    const [atSecondary] = await fx.clients.metrics(s).queryResources([secondary], ["availability"], SQL_DB);
    const [atGlobal] = await fx.clients.metrics("global").queryResources([profileId], ["OriginHealthPercentage"], CDN);

    expect([atPrimary!.resourceRegion, atSecondary!.resourceRegion, atGlobal!.resourceRegion]).toEqual([p, s, "global"]);
    const subscription = fx.plan.sql[0]!.failoverGroup.subscriptionId;
    expect(fx.estate.requests().map((r) => [r.operationId, r.path, r.status])).toEqual([
      ["MetricsBatch_Batch", `/metrics/${p}/subscriptions/${subscription}/metrics:getBatch`, 200],
      ["MetricsBatch_Batch", `/metrics/${s}/subscriptions/${subscription}/metrics:getBatch`, 200],
      ["MetricsBatch_Batch", `/metrics/global/subscriptions/${afd(fx).profileId.split("/")[2]}/metrics:getBatch`, 200],
    ]);
  });

  it("refuses a resource that is not in the endpoint's region: Front Door at a regional endpoint, a database at its partner's region", async () => {
    const { primary } = sqlDatabases(fx);
    const { profileId } = afd(fx);
    const [p, s] = [fx.plan.regions.primary.name, fx.plan.regions.secondary.name];

    const frontDoorAtRegion = fx.clients.metrics(p).queryResources([profileId], ["OriginHealthPercentage"], CDN);
    await expect(frontDoorAtRegion).rejects.toMatchObject({ statusCode: 400, code: "BadRequest", details: { error: { code: "BadRequest" } } });
    await expect(frontDoorAtRegion).rejects.toThrow(`is in region 'global', but this is the metrics endpoint of '${p}'`);
    await expect(fx.clients.metrics(s).queryResources([primary], ["availability"], SQL_DB)).rejects.toThrow(`is in region '${p}', but this is the metrics endpoint of '${s}'`);
    await expect(fx.clients.metrics(s).queryResources([primary], ["availability"], SQL_DB)).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
  });

  it("refuses a batch across subscriptions", async () => {
    const { profileId } = afd(fx);
    const subscription = profileId.split("/")[2]!;
    const other = profileId.replace(subscription, "0f0e0d0c-0b0a-4909-8807-060504030201");
    const call = fx.clients.metrics("global").queryResources([profileId, other], ["OriginHealthPercentage"], CDN);
    await expect(call).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    await expect(call).rejects.toThrow(`is not in subscription '${subscription}'`);
  });

  it("refuses a batch of two resource types (the namespace names one)", async () => {
    const { profileId } = afd(fx);
    const call = fx.clients.metrics("global").queryResources([profileId, fx.plan.frontDoor.classic[0]!.frontDoor.id], ["OriginHealthPercentage"], CDN);
    await expect(call).rejects.toMatchObject({ statusCode: 400, code: "BadRequest" });
    await expect(call).rejects.toThrow(/is of type 'Microsoft.Network\/frontDoors', not 'Microsoft.Cdn\/profiles'/);
  });

  it("counts unique ids: 51 distinct ids are refused, 60 copies of one id are one resource", async () => {
    const { profileId } = afd(fx);
    const distinct = Array.from({ length: 51 }, (_, i) => `${profileId}${i}`);
    await expect(fx.clients.metrics("global").queryResources(distinct, ["OriginHealthPercentage"], CDN)).rejects.toThrow(/At most 50 resource ids .* got 51/);
    const copies = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? profileId : profileId.toUpperCase().replace(/^\/SUBSCRIPTIONS\//, "/subscriptions/")));
    const results = await fx.clients.metrics("global").queryResources(copies, ["OriginHealthPercentage"], CDN);
    expect(results).toHaveLength(1);
  });

  it("a batch sent without a region (to Resource Manager's host) answers 404", async () => {
    const subscription = afd(fx).profileId.split("/")[2]!;
    const res = await rawRequest(fx.estate, "POST", `/subscriptions/${subscription}/metrics:getBatch?api-version=2024-02-01&metricnamespace=${encodeURIComponent(CDN)}&metricnames=RequestCount`, {
      body: { resourceids: [afd(fx).profileId] },
    });
    expect(res.status).toBe(404);
    expect(res.body.error.message).toMatch(/regional metrics endpoints/);
  });
});

describe("the client factory's metrics clients in Azure", () => {
  /** Records the scopes asked for; a policy after authentication records the URL and answers without a network. */
  function capture(cloud: CloudName, region: string) {
    const scopes: string[][] = [];
    const urls: string[] = [];
    const credential: TokenCredential = {
      async getToken(requested: string | string[], _options?: GetTokenOptions): Promise<AccessToken> {
        scopes.push([requested].flat());
        return { token: "token", expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const clients = new ClientFactory({ target: { kind: "azure", cloud, credential }, maxRetries: 0 });
    const client = clients.metrics(region);
    const answer: PipelinePolicy = {
      name: "answerLocally",
      async sendRequest(request) {
        urls.push(request.url);
        return { request, status: 200, headers: createHttpHeaders({ "content-type": "application/json" }), bodyAsText: JSON.stringify({ values: [] }) };
      },
    };
    client.pipeline.addPolicy(answer, { afterPhase: "Sign" });
    return { client, scopes, urls };
  }

  const ids = ["/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"];

  it("address the region's endpoint with a token for https://metrics.monitor.azure.com/.default", async () => {
    const { client, scopes, urls } = capture("AzurePublicCloud", "WestEurope");
    await client.queryResources(ids, ["Availability"], "Microsoft.Storage/storageAccounts");
    expect(scopes).toEqual([["https://metrics.monitor.azure.com/.default"]]);
    expect(new URL(urls[0]!).origin + new URL(urls[0]!).pathname).toBe(
      "https://westeurope.metrics.monitor.azure.com/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/metrics:getBatch",
    );
  });

  it("use the global endpoint as a region, and the sovereign clouds' hosts and audiences", async () => {
    const global = capture("AzurePublicCloud", "global");
    await global.client.queryResources(ids, ["Availability"], "Microsoft.Storage/storageAccounts");
    expect(new URL(global.urls[0]!).host).toBe("global.metrics.monitor.azure.com");

    const gov = capture("AzureUSGovernment", "usgovvirginia");
    await gov.client.queryResources(ids, ["Availability"], "Microsoft.Storage/storageAccounts");
    expect([new URL(gov.urls[0]!).host, gov.scopes[0]]).toEqual(["usgovvirginia.metrics.monitor.azure.us", ["https://metrics.monitor.azure.us/.default"]]);

    const china = capture("AzureChinaCloud", "chinanorth3");
    await china.client.queryResources(ids, ["Availability"], "Microsoft.Storage/storageAccounts");
    expect([new URL(china.urls[0]!).host, china.scopes[0]]).toEqual(["chinanorth3.metrics.monitor.azure.cn", ["https://metrics.monitor.azure.cn/.default"]]);

    const factory = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud", credential: { getToken: async () => null } } });
    expect(() => factory.metrics("evil.example/x")).toThrow(/not a region name/);
  });
});

describe("estate: metrics responses match the public REST example", () => {
  const fx = useEstate();

  it("a batch entry has the Metrics_List example's fields and types (with starttime/endtime for timespan and cost)", async () => {
    const { profileId } = afd(fx);
    const raw = captureRaw();
    const options: MetricsQueryResourcesOptions = Object.assign({ filter: "Origin eq '*'", aggregation: "average,minimum,maximum", interval: "PT1H" }, raw.options);
    await fx.clients.metrics("global").queryResources([profileId], ["OriginHealthPercentage"], CDN, options);

    const body = raw.last.body as { values: { value: { timeseries: { data: Record<string, unknown>[] }[] }[] }[] };
    // A bucket with no minutes inside the window carries no aggregates (as in Azure); compare one with data.
    const series = body.values[0]!.value[0]!.timeseries[0]!;
    series.data = series.data.filter((d) => "average" in d);
    expect(series.data.length).toBeGreaterThan(0);
    const diff = shapeDiff(body.values[0], corpusExample("monitor/GetMetric.json").responses["200"]!.body);
    expect(diff.missing).toEqual(["cost", "timespan"]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra.sort()).toEqual(["endtime", "resourceid", "starttime"]);
  });
});
