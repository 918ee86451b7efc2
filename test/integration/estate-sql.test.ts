import { describe, expect, it } from "vitest";
import { captureRaw, corpusExample, shapeDiff } from "../helpers/conformance.ts";
import { collect, FAST_POLL, useEstate } from "../helpers/estate.ts";

describe("estate: SQL failover groups through @azure/arm-sql", () => {
  const fx = useEstate();
  const group = () => {
    const g = fx.plan.sql[0]!;
    return {
      client: fx.clients.sql(g.failoverGroup.subscriptionId),
      name: g.failoverGroup.name,
      primary: { rg: g.failoverGroup.resourceGroup, server: g.failoverGroup.names[0]! },
      partner: { rg: g.partnerServer.resourceGroup, server: g.partnerServer.name },
    };
  };

  it("reads the group from either server with the roles seen from that server", async () => {
    const { client, name, primary, partner } = group();
    const fromPrimary = await client.failoverGroups.get(primary.rg, primary.server, name);
    const fromPartner = await client.failoverGroups.get(partner.rg, partner.server, name);
    expect(fromPrimary.replicationRole).toBe("Primary");
    expect(fromPartner.replicationRole).toBe("Secondary");
    expect(fromPrimary.partnerServers?.[0]?.replicationRole).toBe("Secondary");
    expect(fromPrimary.location).toBe(fx.plan.regions.primary.name);
  });

  it("swaps roles on a planned failover posted to the secondary server", async () => {
    const { client, name, primary, partner } = group();
    await client.failoverGroups.beginFailoverAndWait(partner.rg, partner.server, name, FAST_POLL);
    expect((await client.failoverGroups.get(partner.rg, partner.server, name)).replicationRole).toBe("Primary");
    expect((await client.failoverGroups.get(primary.rg, primary.server, name)).replicationRole).toBe("Secondary");
  });

  it("fails a planned failover while the primary region is down, and lets a forced one through", async () => {
    const { client, name, partner } = group();
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    const planned = client.failoverGroups.beginFailoverAndWait(partner.rg, partner.server, name, FAST_POLL);
    await expect(planned).rejects.toThrow(/Conflict/);
    expect((await client.failoverGroups.get(partner.rg, partner.server, name)).replicationRole).toBe("Secondary");

    await client.failoverGroups.beginForceFailoverAllowDataLossAndWait(partner.rg, partner.server, name, FAST_POLL);
    expect((await client.failoverGroups.get(partner.rg, partner.server, name)).replicationRole).toBe("Primary");
  });

  it("records the lag lost by a forced failover", async () => {
    const { client, name, primary, partner } = group();
    fx.estate.setLag(`/subscriptions/${fx.plan.sql[0]!.failoverGroup.subscriptionId}/resourceGroups/${primary.rg}/providers/Microsoft.Sql/servers/${primary.server}/failoverGroups/${name}`, 42);
    await fx.estate.setRegion(fx.plan.regions.primary.name, { down: true });
    await client.failoverGroups.beginForceFailoverAllowDataLossAndWait(partner.rg, partner.server, name, FAST_POLL);
    const snapshot = fx.estate.snapshot();
    expect(snapshot.failoverGroups.find((g) => g.name === name)?.dataLossSeconds).toBe(42);
  });

  it("lists replication links with the partner's role and location", async () => {
    const { client, primary } = group();
    const db = fx.plan.sql[0]!.databases![0]!;
    const links = [];
    for await (const link of client.replicationLinks.listByDatabase(primary.rg, primary.server, db)) links.push(link);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({ role: "Primary", partnerRole: "Secondary", partnerLocation: fx.plan.regions.secondary.name, linkType: "GEO" });
    const one = await client.replicationLinks.get(primary.rg, primary.server, db, links[0]!.name!);
    expect(one.partnerDatabase).toBe(db);
  });

  it("answers an unknown failover group with 404 ResourceNotFound", async () => {
    const { client, primary } = group();
    await expect(client.failoverGroups.get(primary.rg, primary.server, "no-such-group")).rejects.toMatchObject({ statusCode: 404, code: "ResourceNotFound" });
  });

  it("ends the operation Failed when a failure is planted, leaving the roles as they were", async () => {
    const { client, name, partner } = group();
    fx.estate.addFault({ kind: "lroFailure", operationId: "FailoverGroups_Failover", count: 1 });
    await expect(client.failoverGroups.beginFailoverAndWait(partner.rg, partner.server, name, FAST_POLL)).rejects.toThrow();
    expect((await client.failoverGroups.get(partner.rg, partner.server, name)).replicationRole).toBe("Secondary");
  });

  it("throttles with 429 and Retry-After as planted", async () => {
    const { client, name, primary } = group();
    fx.estate.addFault({ kind: "throttle", operationId: "FailoverGroups_Get", count: 1, retryAfterSeconds: 0 });
    await expect(client.failoverGroups.get(primary.rg, primary.server, name)).rejects.toMatchObject({ statusCode: 429 });
    await expect(client.failoverGroups.get(primary.rg, primary.server, name)).resolves.toMatchObject({ name });
  });
});

describe("estate: SQL responses match the public REST examples", () => {
  const fx = useEstate();

  it("FailoverGroups_Get has the example's fields and types", async () => {
    const g = fx.plan.sql[0]!;
    const raw = captureRaw();
    await fx.clients.sql(g.failoverGroup.subscriptionId).failoverGroups.get(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, g.failoverGroup.name, raw.options);
    const diff = shapeDiff(raw.last.body, corpusExample("sql/FailoverGroupGet.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(diff.extra).toEqual(["tags"]);
  });

  it("ReplicationLinks_Get has the example's fields and types", async () => {
    const g = fx.plan.sql[0]!;
    const client = fx.clients.sql(g.failoverGroup.subscriptionId);
    const db = g.databases![0]!;
    const [link] = await collect(client.replicationLinks.listByDatabase(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, db));
    const raw = captureRaw();
    await client.replicationLinks.get(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, db, link!.name!, raw.options);
    const diff = shapeDiff(raw.last.body, corpusExample("sql/ReplicationLinkGet.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
  });

  it("a failover's final result matches FailoverGroupFailover's 200 body", async () => {
    const g = fx.plan.sql[0]!;
    const client = fx.clients.sql(g.failoverGroup.subscriptionId);
    const result = await client.failoverGroups.beginFailoverAndWait(g.partnerServer.resourceGroup, g.partnerServer.name, g.failoverGroup.name, FAST_POLL);
    const raw = captureRaw();
    await client.failoverGroups.get(g.partnerServer.resourceGroup, g.partnerServer.name, g.failoverGroup.name, raw.options);
    const diff = shapeDiff(raw.last.body, corpusExample("sql/FailoverGroupFailover.json").responses["200"]!.body);
    expect(diff.missing).toEqual([]);
    expect(diff.mismatched).toEqual([]);
    expect(result.replicationRole).toBe("Primary");
  });
});

describe("estate: SQL refusals", () => {
  const fx = useEstate();

  it("refuses a failover sent to the server that is already primary", async () => {
    const g = fx.plan.sql[0]!;
    const client = fx.clients.sql(g.failoverGroup.subscriptionId);
    const attempt = client.failoverGroups.beginFailoverAndWait(g.failoverGroup.resourceGroup, g.failoverGroup.names[0]!, g.failoverGroup.name, FAST_POLL);
    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: "FailoverGroupFailoverRequestOnPrimary" });
    expect(fx.estate.snapshot().operations).toHaveLength(0);
  });
});

describe("estate: planted long-running operation failures", () => {
  const fx = useEstate();

  it("fails only the operation on the named resource, and can end it Canceled", async () => {
    const [first, second] = fx.plan.sql;
    const client = fx.clients.sql(first!.failoverGroup.subscriptionId);
    const onPartner = (g: typeof first) => `${g!.partnerServer.id}/failoverGroups/${g!.failoverGroup.name}`;
    fx.estate.addFault({ kind: "lroFailure", operationId: "FailoverGroups_Failover", count: 1, resourceId: onPartner(second), outcome: "Canceled" });

    await client.failoverGroups.beginFailoverAndWait(first!.partnerServer.resourceGroup, first!.partnerServer.name, first!.failoverGroup.name, FAST_POLL);
    const canceled = client.failoverGroups.beginFailoverAndWait(second!.partnerServer.resourceGroup, second!.partnerServer.name, second!.failoverGroup.name, FAST_POLL);

    await expect(canceled).rejects.toThrow(/cancel/i);
    expect(fx.estate.snapshot().operations.map((o) => o.status).sort()).toEqual(["Canceled", "Succeeded"]);
    expect((await client.failoverGroups.get(second!.partnerServer.resourceGroup, second!.partnerServer.name, second!.failoverGroup.name)).replicationRole).toBe("Secondary");
  });
});
