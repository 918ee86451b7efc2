import { fileURLToPath } from "node:url";
import type { FrontDoor } from "@azure/arm-frontdoor";
import { describe, expect, it } from "vitest";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { collect, FAST_POLL, rawRequest, useEstate, type EstateFixture } from "../helpers/estate.ts";
import { AZURE_PROFILE, scaleProfile } from "../../estate/profile.ts";

/*
 * Front Door where users are, and Azure's time: a made-up plan (westeurope serves, northeurope stands
 * by) on an estate at time scale 1000 with a clock the tests move. The durations come from the Azure
 * time profile at that scale (an origin update or classic PUT, then Front Door propagation, an app restart).
 */

const PLAN = fileURLToPath(new URL("../fixtures/tailspin.plan.json", import.meta.url));
const SCALED = scaleProfile(AZURE_PROFILE, 1000);
const OPERATION_MS = SCALED.durationsMs.AFDOrigins_Update!;
const PROPAGATION_MS = SCALED.effectsMs.frontDoorPropagation;
const RESTART_MS = SCALED.effectsMs.appRestart;

let now = Date.parse("2026-03-02T09:00:00Z");

function afd(fx: EstateFixture) {
  const spec = fx.plan.frontDoor.standard[0]!;
  const g = spec.originGroup;
  const client = fx.clients.cdn(g.subscriptionId);
  const [rg, profile, group] = [g.resourceGroup, g.names[0]!, g.name];
  return {
    client,
    rg,
    profile,
    group,
    groupId: g.id,
    weu: spec.origins.westeurope!,
    neu: spec.origins.northeurope!,
    origin: (name: string) => client.afdOrigins.get(rg, profile, group, name),
    endpoint: async () => (await collect(client.afdEndpoints.listByProfile(rg, profile)))[0]!,
  };
}

function classic(fx: EstateFixture) {
  const spec = fx.plan.frontDoor.classic[0]!;
  const client = fx.clients.frontDoor(spec.frontDoor.subscriptionId);
  const get = () => client.frontDoors.get(spec.frontDoor.resourceGroup, spec.frontDoor.name);
  return { client, spec, get, host: `${spec.frontDoor.name}.azurefd.net` };
}

/** A user's GET through a Front Door host (or of an application host), as the client factory routes it. */
async function visit(fx: EstateFixture, host: string, path = "/status") {
  const response = await rawRequest(fx.estate, "GET", fx.clients.endpointUrl(`https://${host}${path}`), { auth: false });
  return { status: response.status, region: response.body?.region as string | undefined, body: response.body };
}

const health = (fx: EstateFixture, region: "westeurope" | "northeurope") =>
  rawRequest(fx.estate, "GET", fx.clients.endpointUrl(fx.plan.regions[region === "westeurope" ? "primary" : "secondary"].healthEndpoints[0]!.url), { auth: false });

describe("estate: AFD endpoints and routes", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  it("serves the origin group's endpoint, shaped like the public AFDEndpoints_Get example, with a route to the group", async () => {
    const { client, rg, profile, groupId } = afd(fx);
    const raw = captureRaw();

    const endpoints = await collect(client.afdEndpoints.listByProfile(rg, profile));
    const one = await client.afdEndpoints.get(rg, profile, endpoints[0]!.name!, raw.options);
    const routes = await collect(client.routes.listByEndpoint(rg, profile, one.name!));
    const route = await client.routes.get(rg, profile, one.name!, routes[0]!.name!);

    expect(endpoints.map((e) => e.name)).toEqual(["tickets"]);
    expect(one.hostName).toMatch(/^tickets-[a-z0-9]{16}\.z01\.azurefd\.net$/);
    expect(one).toMatchObject({ deploymentStatus: "NotStarted", provisioningState: "Succeeded", enabledState: "Enabled", location: "global" });
    expect(shapeDiff(raw.last.body, corpusExample("cdn/2025-12-01/AFDEndpoints_Get.json").responses["200"]!.body)).toEqual({ missing: [], mismatched: [], extra: [] });
    expect(routes.map((r) => [r.originGroup?.id, r.patternsToMatch, r.enabledState])).toEqual([[groupId, ["/*"], "Enabled"]]);
    expect(route.name).toBe(routes[0]!.name);
    await expect(client.afdEndpoints.get(rg, profile, "no-such-endpoint")).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
  });

  it("maps every Front Door host onto the estate's edge, so the client factory reaches it", async () => {
    const host = (await afd(fx).endpoint()).hostName!;
    const target = fx.estate.clientTarget();

    expect(target.hosts[host]).toBe(`${fx.estate.edgeUrl}/${host}`);
    expect(target.hosts[classic(fx).host]).toBe(`${fx.estate.edgeUrl}/${classic(fx).host}`);
    expect(fx.clients.endpointUrl(`https://${host}/status?probe=1`)).toBe(`${fx.estate.edgeUrl}/${host}/status?probe=1`);
    expect(await visit(fx, host)).toMatchObject({ status: 200, region: "westeurope", body: { origin: afd(fx).weu, path: "/status" } });
    expect(await visit(fx, classic(fx).host)).toMatchObject({ status: 200, region: "westeurope" });
  });
});

describe("estate: Front Door propagation", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  it("shows an origin update InProgress on the origin, its group, endpoint and route until it has propagated; the edge serves the old configuration until then", async () => {
    const { client, rg, profile, group, weu, origin, endpoint } = afd(fx);
    const host = (await endpoint()).hostName!;
    const statuses = async () => {
      const e = await endpoint();
      const [route] = await collect(client.routes.listByEndpoint(rg, profile, e.name!));
      return [(await origin(weu)).deploymentStatus, (await client.afdOriginGroups.get(rg, profile, group)).deploymentStatus, e.deploymentStatus, route!.deploymentStatus];
    };

    const poller = await client.afdOrigins.beginUpdate(rg, profile, group, weu, { enabledState: "Disabled" }, FAST_POLL);
    const accepted = { origin: await origin(weu), statuses: await statuses(), edge: await visit(fx, host) };
    now += OPERATION_MS;
    await poller.pollUntilDone();
    const committed = { origin: await origin(weu), statuses: await statuses(), edge: await visit(fx, host) };
    now += PROPAGATION_MS - 1;
    const almost = { statuses: await statuses(), edge: await visit(fx, host) };
    now += 1;
    const live = { statuses: await statuses(), edge: await visit(fx, host) };

    expect(accepted.origin).toMatchObject({ enabledState: "Enabled", provisioningState: "Updating" });
    expect(accepted.statuses).toEqual(["InProgress", "InProgress", "InProgress", "InProgress"]);
    expect(accepted.edge.region).toBe("westeurope");
    expect(committed.origin).toMatchObject({ enabledState: "Disabled", provisioningState: "Succeeded", deploymentStatus: "InProgress" });
    expect(committed.statuses).toEqual(["InProgress", "InProgress", "InProgress", "InProgress"]);
    expect(committed.edge.region).toBe("westeurope");
    expect(almost).toMatchObject({ statuses: ["InProgress", "InProgress", "InProgress", "InProgress"], edge: { region: "westeurope" } });
    expect(live.statuses).toEqual(["Succeeded", "Succeeded", "Succeeded", "Succeeded"]);
    expect(live.edge).toMatchObject({ status: 200, region: "northeurope" });
  });

  it("deploys a profile's changes one after the other: one committed while another propagates waits for it", async () => {
    const { client, rg, profile, group, weu, neu, origin, endpoint } = afd(fx);
    const host = (await endpoint()).hostName!;
    const start = now;

    // First: westeurope's origin behind northeurope's (northeurope serves once it is live).
    const first = await client.afdOrigins.beginUpdate(rg, profile, group, weu, { priority: 3 }, FAST_POLL);
    now = start + 100;
    // Second, 100 ms later: northeurope's origin disabled (westeurope serves again once it is live).
    const second = await client.afdOrigins.beginUpdate(rg, profile, group, neu, { enabledState: "Disabled" }, FAST_POLL);
    now = start + OPERATION_MS + 100;
    await Promise.all([first.pollUntilDone(), second.pollUntilDone()]);
    now = start + OPERATION_MS + PROPAGATION_MS + 100; // the first is live; the second started at its end
    const middle = { edge: await visit(fx, host), weu: (await origin(weu)).deploymentStatus, neu: (await origin(neu)).deploymentStatus, endpoint: (await endpoint()).deploymentStatus };
    now = start + OPERATION_MS + 2 * PROPAGATION_MS;
    const end = { edge: await visit(fx, host), neu: (await origin(neu)).deploymentStatus, endpoint: (await endpoint()).deploymentStatus };

    expect(middle).toMatchObject({ edge: { region: "northeurope" }, weu: "Succeeded", neu: "InProgress", endpoint: "InProgress" });
    expect(end).toMatchObject({ edge: { region: "westeurope" }, neu: "Succeeded", endpoint: "Succeeded" });
  });

  it("keeps a classic Front Door Updating from the PUT until the change has propagated; its frontend serves the previous backends until then", async () => {
    const { client, spec, get, host } = classic(fx);
    const fd = await get();
    const weu = (f: FrontDoor) => f.backendPools!.find((p) => p.name === spec.backendPool)!.backends!.find((b) => b.address === spec.backends.westeurope)!;
    weu(fd).enabledState = "Disabled";

    const poller = client.frontDoors.createOrUpdate(spec.frontDoor.resourceGroup, spec.frontDoor.name, fd, FAST_POLL);
    await poller.submitted();
    const accepted = { fd: await get(), edge: await visit(fx, host) };
    now += OPERATION_MS;
    await poller.pollUntilDone();
    const committed = { fd: await get(), edge: await visit(fx, host) };
    now += PROPAGATION_MS;
    const live = { fd: await get(), edge: await visit(fx, host) };

    expect([accepted.fd.provisioningState, weu(accepted.fd).enabledState, accepted.fd.resourceState]).toEqual(["Updating", "Enabled", "Enabled"]);
    expect(accepted.edge.region).toBe("westeurope");
    expect([committed.fd.provisioningState, weu(committed.fd).enabledState]).toEqual(["Updating", "Disabled"]);
    expect(committed.edge.region).toBe("westeurope");
    expect([live.fd.provisioningState, weu(live.fd).enabledState]).toEqual(["Succeeded", "Disabled"]);
    expect(live.edge).toMatchObject({ status: 200, region: "northeurope" });
  });

  it("shows Failed after an update that ended Failed, and the edge keeps what it had", async () => {
    const { client, rg, profile, group, weu, origin, endpoint } = afd(fx);
    fx.estate.addFault({ kind: "lroFailure", operationId: "AFDOrigins_Update", count: 1 });

    const poller = await client.afdOrigins.beginUpdate(rg, profile, group, weu, { enabledState: "Disabled" }, FAST_POLL);
    now += OPERATION_MS + PROPAGATION_MS;
    await expect(poller.pollUntilDone()).rejects.toThrow();

    expect(await origin(weu)).toMatchObject({ enabledState: "Enabled", provisioningState: "Failed", deploymentStatus: "NotStarted" });
    expect((await visit(fx, (await endpoint()).hostName!)).region).toBe("westeurope");
  });
});

describe("estate: Front Door's own health probes", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  it("moves traffic off an origin whose region is down with no configuration change, and answers 503 when no enabled origin can serve", async () => {
    const { weu, origin, endpoint } = afd(fx);
    const hosts = [(await endpoint()).hostName!, classic(fx).host];

    await fx.estate.setRegion("westeurope", { down: true, healthWhenDown: "refused" });
    const oneDown = await Promise.all(hosts.map((h) => visit(fx, h)));
    await fx.estate.setRegion("northeurope", { down: true, healthWhenDown: "503" });
    const bothDown = await Promise.all(hosts.map((h) => visit(fx, h)));
    await fx.estate.setRegion("westeurope", { down: false });
    await fx.estate.setRegion("northeurope", { down: false });
    const back = await Promise.all(hosts.map((h) => visit(fx, h)));

    expect(oneDown.map((a) => [a.status, a.region])).toEqual([
      [200, "northeurope"],
      [200, "northeurope"],
    ]);
    expect((await origin(weu)).priority).toBe(1);
    expect(bothDown.map((a) => a.status)).toEqual([503, 503]);
    expect(bothDown[0]!.body.reason).toMatch(/every enabled origin is unhealthy .*region westeurope is down.*region northeurope is down/);
    expect(back.map((a) => a.region)).toEqual(["westeurope", "westeurope"]);
  });

  it("answers 503 through an endpoint whose origins are all disabled", async () => {
    const { client, rg, profile, group, weu, neu, endpoint } = afd(fx);
    const pollers = await Promise.all([weu, neu].map((name) => client.afdOrigins.beginUpdate(rg, profile, group, name, { enabledState: "Disabled" }, FAST_POLL)));
    now += OPERATION_MS;
    await Promise.all(pollers.map((p) => p.pollUntilDone()));
    now += 2 * PROPAGATION_MS; // two changes of one profile: deployed one after the other

    expect(await visit(fx, (await endpoint()).hostName!)).toMatchObject({ status: 503, body: { reason: "no origin is enabled" } });
  });
});

describe("estate: App Service restarts after a settings write", () => {
  const fx = useEstate({ planFile: PLAN, estate: { timeScale: 1000, clock: () => now } });

  function site(index: number) {
    const s = fx.plan.appService[index]!.site;
    const api = fx.clients.web(s.subscriptionId).webApps;
    return {
      settings: async () => (await api.listApplicationSettings(s.resourceGroup, s.name)).properties ?? {},
      put: (properties: Record<string, string>) => api.updateApplicationSettings(s.resourceGroup, s.name, { properties }),
      putStrings: (properties: Record<string, { value: string; type: "Custom" }>) => api.updateConnectionStrings(s.resourceGroup, s.name, { properties }),
    };
  }

  it("answers 503 on the region's health endpoints while the app restarts (appRestart), and 200 after; the edge sends users to the other region meanwhile", async () => {
    const weuSite = site(0);
    const host = (await afd(fx).endpoint()).hostName!;

    await weuSite.put({ ...(await weuSite.settings()), TICKETS_PRIMARY: "northeurope" });
    const restarting = { weu: await health(fx, "westeurope"), neu: await health(fx, "northeurope"), edge: await visit(fx, host) };
    now += RESTART_MS - 1;
    const almost = await health(fx, "westeurope");
    now += 1;
    const restarted = { weu: await health(fx, "westeurope"), edge: await visit(fx, host) };

    expect([restarting.weu.status, restarting.weu.body.status]).toEqual([503, "Restarting"]);
    expect(restarting.neu.status).toBe(200);
    expect(restarting.edge).toMatchObject({ status: 200, region: "northeurope" });
    expect(almost.status).toBe(503);
    expect(restarted.weu.status).toBe(200);
    expect(restarted.edge.region).toBe("westeurope");
  });

  it("restarts for a connection strings change too, but not for a write that changes nothing", async () => {
    const weuSite = site(0);

    await weuSite.put({ ...(await weuSite.settings()) });
    const unchanged = await health(fx, "westeurope");
    await weuSite.putStrings({ Tickets: { value: "Server=tcp:tickets-neu;Database=tickets", type: "Custom" } });
    const changed = await health(fx, "westeurope");
    now += RESTART_MS;

    expect(unchanged.status).toBe(200);
    expect(changed.status).toBe(503);
    expect((await health(fx, "westeurope")).status).toBe(200);
  });

  it("restarts only the written site's region", async () => {
    await site(1).put({ TICKETS_PRIMARY: "westeurope", EXTRA: "1" });

    expect((await health(fx, "northeurope")).status).toBe(503);
    expect((await health(fx, "westeurope")).status).toBe(200);
    now += RESTART_MS;
  });
});
