import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { SqlManagementClient } from "@azure/arm-sql";
import { StorageManagementClient } from "@azure/arm-storage";
import { beforeEach, describe, expect, it } from "vitest";
import type { ArmThrottlingReport } from "../../estate/armThrottle.ts";
import type { Estate } from "../../estate/server.ts";
import { rawRequest, useEstate, type EstateFixture } from "../helpers/estate.ts";

/** The estate runs on this clock; tests move it instead of waiting. */
const T0 = Date.parse("2026-02-01T08:00:00Z");
let now = T0;

/** An unsigned JWT with these claims: the estate reads the principal from it and checks nothing else. */
function jwt(claims: Record<string, string>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ aud: "https://management.azure.com", ...claims })}.signature`;
}

const ALICE = { oid: "0a11ce00-0000-4000-8000-000000000001" };
const BOB_APP = { appid: "b0b0b0b0-0000-4000-8000-000000000002" };

/** A credential handing out one fixed token (the estate accepts any). */
function credential(token: string): TokenCredential {
  return { getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
}

function clientOptions(estate: Estate, extra: { maxRetries?: number; policies?: PipelinePolicy[] } = {}) {
  return {
    endpoint: estate.url,
    credentialScopes: [`${estate.url}/.default`],
    tlsOptions: { ca: estate.ca.cert },
    retryOptions: { maxRetries: extra.maxRetries ?? 0 },
    additionalPolicies: (extra.policies ?? []).map((policy) => ({ policy, position: "perRetry" as const })),
  };
}

function sqlGroup(fx: EstateFixture) {
  const g = fx.plan.sql[0]!.failoverGroup;
  return { subscriptionId: g.subscriptionId, rg: g.resourceGroup, server: g.names[0]!, name: g.name };
}

/** The path of the failover group (ARM read `FailoverGroups_Get`). */
function groupPath(fx: EstateFixture): string {
  const g = sqlGroup(fx);
  return `/subscriptions/${g.subscriptionId}/resourceGroups/${g.rg}/providers/Microsoft.Sql/servers/${g.server}/failoverGroups/${g.name}?api-version=2023-08-01`;
}

const getGroup = (fx: EstateFixture, token = "test") => rawRequest(fx.estate, "GET", groupPath(fx), { auth: false, headers: { Authorization: `Bearer ${token}` } });

async function report(fx: EstateFixture): Promise<ArmThrottlingReport> {
  const res = await rawRequest(fx.estate, "GET", "/_estate/throttling");
  expect(res.status).toBe(200);
  return res.body as ArmThrottlingReport;
}

describe("estate ARM throttling: off by default", () => {
  const fx = useEstate();

  it("serves 1,000 reads through @azure/arm-sql without a 429 or a rate-limit header, and counts them", async () => {
    const g = sqlGroup(fx);
    const client = new SqlManagementClient(credential("test"), g.subscriptionId, clientOptions(fx.estate));
    const rateHeaders = new Set<string>();

    for (let i = 0; i < 1_000; i++) {
      await client.failoverGroups.get(g.rg, g.server, g.name, {
        onResponse: (raw) => {
          for (const [name] of raw.headers) if (name.startsWith("x-ms-ratelimit")) rateHeaders.add(name);
        },
      });
    }

    expect(rateHeaders.size).toBe(0);
    expect(fx.estate.requests().filter((r) => r.status === 429)).toHaveLength(0);
    const counts = await report(fx);
    expect(counts).toMatchObject({ enabled: false, requests: 1_000, throttled: 0, byClass: { read: { requests: 1_000, throttled: 0 } } });
  });
});

describe("estate ARM throttling: token buckets per principal, subscription and operation class", () => {
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ estate: { clock: () => now, armThrottling: { read: { bucket: 3, refillPerSecond: 1 }, write: { bucket: 2, refillPerSecond: 1 } } } });

  it("counts the remaining reads down on every response, the principal's and the subscription's global ones", async () => {
    const g = sqlGroup(fx);
    const client = new SqlManagementClient(credential("test"), g.subscriptionId, clientOptions(fx.estate));
    const seen: (string | undefined)[][] = [];

    for (let i = 0; i < 3; i++) {
      await client.failoverGroups.get(g.rg, g.server, g.name, {
        onResponse: (raw) => seen.push([raw.headers.get("x-ms-ratelimit-remaining-subscription-reads"), raw.headers.get("x-ms-ratelimit-remaining-subscription-global-reads")]),
      });
    }

    // A principal's bucket holds 3; the global one 15 times that.
    expect(seen).toEqual([
      ["2", "44"],
      ["1", "43"],
      ["0", "42"],
    ]);
  });

  it("answers a burst beyond the bucket with 429 SubscriptionRequestsThrottled and Retry-After, and serves again once the clock has moved", async () => {
    for (let i = 0; i < 3; i++) expect((await getGroup(fx)).status).toBe(200);

    const throttled = await getGroup(fx);
    const again = await getGroup(fx);
    now += 1_000;
    const refilled = await getGroup(fx);
    const empty = await getGroup(fx);

    expect(throttled.status).toBe(429);
    expect(throttled.body.error.code).toBe("SubscriptionRequestsThrottled");
    expect(throttled.body.error.message).toMatch(/Number of 'read' requests for subscription '.+' actor 'sha256:[0-9a-f]{16}' exceeded\. Please try again after '1' seconds\./);
    expect(throttled.headers["retry-after"]).toBe("1");
    expect(throttled.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("0");
    // A request sent before the Retry-After has passed is not served either, and gets a new Retry-After.
    expect(again.status).toBe(429);
    expect(again.headers["retry-after"]).toBe("1");
    expect(refilled.status).toBe(200);
    expect(refilled.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("0");
    expect(empty.status).toBe(429);
    expect(await report(fx)).toMatchObject({ enabled: true, requests: 7, throttled: 3, byClass: { read: { requests: 7, throttled: 3 } } });
  });

  it("rounds Retry-After up to the whole seconds until the next token", async () => {
    await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: { read: { bucket: 1, refillPerSecond: 0.4 } } });
    expect((await getGroup(fx)).status).toBe(200);

    now += 700;
    const throttled = await getGroup(fx);

    // 0.4 tokens a second: a whole token after 3 refills (3 s from the first request), 2.3 s from now.
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("3");
  });

  it("lets the SDK's own retry policy honour Retry-After: the call succeeds after the estate's clock advances", async () => {
    const g = sqlGroup(fx);
    // Stands for the time that passes while the client waits: on each 429 the estate's clock moves on by
    // the Retry-After the estate sent, before the SDK's retry policy sleeps that long (on wall time).
    const passTime: PipelinePolicy = {
      name: "estateClockFollowsRetryAfter",
      async sendRequest(request, next) {
        const response = await next(request);
        if (response.status === 429) now += Number(response.headers.get("retry-after")) * 1_000;
        return response;
      },
    };
    const client = new SqlManagementClient(credential("test"), g.subscriptionId, clientOptions(fx.estate, { maxRetries: 3, policies: [passTime] }));
    for (let i = 0; i < 3; i++) await client.failoverGroups.get(g.rg, g.server, g.name);

    const group = await client.failoverGroups.get(g.rg, g.server, g.name);

    expect(group.name).toBe(g.name);
    const gets = fx.estate.requests().filter((r) => r.operationId === "FailoverGroups_Get");
    expect(gets.map((r) => r.status)).toEqual([200, 200, 200, 429, 200]);
    // The retry is the same call: the SDK sends it with the same client request id.
    expect(gets[4]!.clientRequestId).toBe(gets[3]!.clientRequestId);
    expect(now - T0).toBe(1_000);
  });

  it("counts a POST action such as listKeys against the write bucket, as Resource Manager counts every non-GET", async () => {
    const account = fx.plan.storage[0]!.account;
    const client = new StorageManagementClient(credential("test"), account.subscriptionId, clientOptions(fx.estate));
    const writes: (string | undefined)[] = [];

    for (let i = 0; i < 2; i++) {
      await client.storageAccounts.listKeys(account.resourceGroup, account.name, { onResponse: (raw) => writes.push(raw.headers.get("x-ms-ratelimit-remaining-subscription-writes") ?? undefined) });
    }
    const third = client.storageAccounts.listKeys(account.resourceGroup, account.name);

    expect(writes).toEqual(["1", "0"]);
    await expect(third).rejects.toMatchObject({ statusCode: 429, code: "SubscriptionRequestsThrottled" });
    // The read bucket is untouched.
    expect((await getGroup(fx)).headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("2");
    expect((await report(fx)).byClass).toEqual({ read: { requests: 1, throttled: 0 }, write: { requests: 3, throttled: 1 }, delete: { requests: 0, throttled: 0 } });
  });

  it("never counts /_estate/*, Key Vault or metrics requests, and gives them no rate-limit header", async () => {
    const g = sqlGroup(fx);
    const others = [
      ...Array.from({ length: 10 }, () => rawRequest(fx.estate, "GET", "/_estate/state")),
      ...Array.from({ length: 10 }, () => rawRequest(fx.estate, "GET", "/_estate/throttling")),
      ...Array.from({ length: 5 }, () => rawRequest(fx.estate, "GET", "/keyvault/anyvault/secrets?api-version=7.5")),
      ...Array.from({ length: 5 }, () =>
        rawRequest(fx.estate, "POST", `/metrics/${fx.plan.regions.primary.name}/subscriptions/${g.subscriptionId}/metrics:getBatch?api-version=2024-02-01&metricnamespace=Microsoft.Sql%2Fservers%2Fdatabases&metricnames=availability`, { body: { resourceids: [] } }),
      ),
    ];

    const answers = await Promise.all(others);

    for (const res of answers) expect(Object.keys(res.headers).filter((h) => h.startsWith("x-ms-ratelimit"))).toEqual([]);
    expect(await report(fx)).toMatchObject({ requests: 0, throttled: 0, byPrincipal: [] });
    expect((await getGroup(fx)).headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("2");
  });

  it("keeps a bucket per principal: a JWT's oid, else its appid", async () => {
    const alice = jwt(ALICE);
    const bob = jwt(BOB_APP);
    for (let i = 0; i < 3; i++) expect((await getGroup(fx, alice)).status).toBe(200);

    const aliceThrottled = await getGroup(fx, alice);
    const bobServed = await getGroup(fx, bob);

    expect(aliceThrottled.status).toBe(429);
    expect(aliceThrottled.body.error.message).toContain(`actor '${ALICE.oid}'`);
    expect(bobServed.status).toBe(200);
    expect(bobServed.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("2");
    // Both draw on the subscription's global bucket (45 tokens).
    expect(bobServed.headers["x-ms-ratelimit-remaining-subscription-global-reads"]).toBe("41");
    const { byPrincipal } = await report(fx);
    expect(byPrincipal).toEqual([
      { principal: ALICE.oid, requests: 4, throttled: 1, byClass: { read: { requests: 4, throttled: 1 }, write: { requests: 0, throttled: 0 }, delete: { requests: 0, throttled: 0 } } },
      { principal: BOB_APP.appid, requests: 1, throttled: 0, byClass: { read: { requests: 1, throttled: 0 }, write: { requests: 0, throttled: 0 }, delete: { requests: 0, throttled: 0 } } },
    ]);
  });

  it("throttles every principal once the subscription's global bucket is empty", async () => {
    await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: { read: { bucket: 2, refillPerSecond: 1 }, globalFactor: 1 } });
    for (let i = 0; i < 2; i++) expect((await getGroup(fx, jwt(ALICE))).status).toBe(200);

    const bob = await getGroup(fx, jwt(BOB_APP));

    expect(bob.status).toBe(429);
    expect(bob.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("2");
    expect(bob.headers["x-ms-ratelimit-remaining-subscription-global-reads"]).toBe("0");
    expect(bob.body.error.message).toContain("(all actors together)");
  });

  it("never keeps or echoes the token: the report, the 429 and the request log name a hash or the oid", async () => {
    const opaque = "opaque-bearer-value-0123456789";
    const token = jwt(ALICE);
    for (let i = 0; i < 4; i++) await getGroup(fx, opaque);
    const throttled = await getGroup(fx, opaque);
    for (let i = 0; i < 4; i++) await getGroup(fx, token);

    const everything = JSON.stringify([await report(fx), throttled.body, throttled.headers, fx.estate.requests(), fx.estate.snapshot()]);

    expect(throttled.status).toBe(429);
    for (const secret of [opaque, token, token.split(".")[1]!]) expect(everything).not.toContain(secret);
    expect((await report(fx)).byPrincipal.map((p) => p.principal)).toEqual([expect.stringMatching(/^sha256:[0-9a-f]{16}$/), ALICE.oid]);
  });

  it("is set by PUT /_estate/throttling and a scenario's throttling, refuses unknown members, and reset brings back the start's setting", async () => {
    const off = await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: { enabled: false } });
    const unknown = await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: { reads: { bucket: 1 } } });
    const negative = await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: { read: { bucket: 0 } } });
    const offAnswer = await getGroup(fx);
    const scenario = await rawRequest(fx.estate, "POST", "/_estate/scenario", { body: { throttling: { read: { bucket: 1 } } } });
    const afterScenario = [await getGroup(fx), await getGroup(fx)];
    const azure = await rawRequest(fx.estate, "PUT", "/_estate/throttling", { body: {} });
    const azureAnswer = await getGroup(fx);
    await rawRequest(fx.estate, "POST", "/_estate/reset");
    const afterReset = await report(fx);

    expect(off.status).toBe(200);
    expect(off.body.enabled).toBe(false);
    expect(unknown).toMatchObject({ status: 400, body: { error: { code: "InvalidControlRequest" } } });
    expect(negative.status).toBe(400);
    expect(offAnswer.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBeUndefined();
    expect(scenario.status).toBe(200);
    expect(afterScenario.map((r) => r.status)).toEqual([200, 429]);
    // An empty setting is Azure's limits: reads 250 + 25/s, writes and deletes 200 + 10/s, global 15 times.
    expect(azure.body.limits).toEqual({ read: { bucket: 250, refillPerSecond: 25 }, write: { bucket: 200, refillPerSecond: 10 }, delete: { bucket: 200, refillPerSecond: 10 }, globalFactor: 15 });
    expect(azureAnswer.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("249");
    expect(azureAnswer.headers["x-ms-ratelimit-remaining-subscription-global-reads"]).toBe("3749");
    expect(afterReset).toMatchObject({ enabled: true, requests: 0, throttled: 0, limits: { read: { bucket: 3, refillPerSecond: 1 }, write: { bucket: 2, refillPerSecond: 1 } } });
  });
});

describe("estate ARM throttling under a time scale", () => {
  beforeEach(() => {
    now = T0;
  });
  const fx = useEstate({ estate: { clock: () => now, timeScale: 10, armThrottling: { read: { bucket: 1, refillPerSecond: 1 } } } });

  it("refills per Azure second: at time scale 10 a token is back after 100 ms of the estate's clock", async () => {
    expect((await getGroup(fx)).status).toBe(200);
    const throttled = await getGroup(fx);
    now += 100;
    const refilled = await getGroup(fx);

    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("1");
    expect(refilled.status).toBe(200);
  });
});
