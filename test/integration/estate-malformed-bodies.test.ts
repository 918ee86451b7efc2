import { request } from "node:https";
import { describe, expect, it } from "vitest";
import { useEstate, type EstateFixture } from "../helpers/estate.ts";

/*
 * Requests no SDK sends: bodies of the wrong JSON type, arrays where objects belong, missing members,
 * text that is not JSON, tampered paging tokens, malformed paths. Each must get a 4xx error body with a
 * code, as Azure answers, and leave the estate's resources exactly as they were.
 */

interface Answer {
  status: number;
  body: unknown;
}

/** Sends `raw` as the body, byte for byte (undefined: no body), trusting only the estate's certificate. */
function send(fx: EstateFixture, method: string, path: string, raw?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(path, fx.estate.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method, ca: fx.estate.ca.cert, servername: "localhost", agent: false,
        headers: {
          Authorization: "Bearer test",
          ...(raw !== undefined ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(raw)) } : {}),
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += String(chunk)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    // A request the estate never answers (it hung or stopped) fails the test at once, not at vitest's timeout.
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.end(raw);
  });
}

const json = (value: unknown) => JSON.stringify(value);

/** The error code of an ARM (or Key Vault, or metrics batch) error body. */
function errorCode(answer: Answer): string | undefined {
  const body = answer.body;
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const error = body.error;
  if (typeof error !== "object" || error === null || !("code" in error) || !("message" in error)) return undefined;
  return typeof error.code === "string" && typeof error.message === "string" ? error.code : undefined;
}

/** Everything the estate holds, as `/_estate/state` shows it (operations included). */
const stateOf = (fx: EstateFixture) => JSON.parse(JSON.stringify(fx.estate.snapshot()));

/** Sends each body and expects a 4xx error with `code`, the estate unchanged after each. */
async function expectRefused(fx: EstateFixture, method: string, path: string, cases: [label: string, raw: string | undefined, code: string][], read?: () => Promise<unknown>) {
  for (const [label, raw, code] of cases) {
    const before = stateOf(fx);
    const readBefore = read ? await read() : undefined;
    const answer = await send(fx, method, path, raw);
    expect({ label, status: answer.status, code: errorCode(answer) }).toEqual({ label, status: 400, code });
    expect(stateOf(fx), label).toEqual(before);
    if (read) expect(await read(), label).toEqual(readBefore);
  }
}

const SQL_API = "?api-version=2021-11-01";
const STORAGE_API = "?api-version=2023-05-01";
const FRONT_DOOR_API = "?api-version=2021-06-01";

describe("estate: malformed requests get Azure's 400 and change nothing", () => {
  const fx = useEstate();

  describe("FailoverGroups_CreateOrUpdate", () => {
    const paths = () => {
      const g = fx.plan.sql[0]!;
      const serverId = g.failoverGroup.id.replace(/\/failoverGroups\/[^/]+$/, "");
      return { group: `${g.failoverGroup.id}${SQL_API}`, partnerId: g.partnerServer.id, database: `${serverId}/databases/orders` };
    };
    const valid = () => {
      const { partnerId, database } = paths();
      return {
        properties: {
          readWriteEndpoint: { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: 60 },
          readOnlyEndpoint: { failoverPolicy: "Disabled" },
          partnerServers: [{ id: partnerId }],
          databases: [database],
        },
      };
    };
    /** The valid body with `change` applied to its properties. */
    const spoiled = (change: (props: Record<string, unknown>) => void) => {
      const body = valid();
      change(body.properties);
      return json(body);
    };

    it("accepts the well-formed body the malformed ones are made from", async () => {
      const answer = await send(fx, "PUT", paths().group, json(valid()));
      expect(answer.status).toBe(202);
    });

    it("refuses bodies that are not a failover group, with the codes the FailoverGroups reference lists", async () => {
      const group = () => send(fx, "GET", paths().group).then((a) => a.body);
      await expectRefused(
        fx,
        "PUT",
        paths().group,
        [
          ["no body", undefined, "FailoverGroupCreateOrUpdateRequestInvalid"],
          ["not JSON", "{ properties: ", "InvalidRequestContent"],
          ["an array", json([valid()]), "InvalidRequestContent"],
          ["a string", json("Automatic"), "InvalidRequestContent"],
          ["no properties", json({}), "FailoverGroupCreateOrUpdateRequestInvalid"],
          ["properties an array", json({ properties: [] }), "FailoverGroupCreateOrUpdateRequestInvalid"],
          ["no readWriteEndpoint", spoiled((p) => delete p.readWriteEndpoint), "FailoverGroupCreateOrUpdateRequestInvalidReadWriteEndpoint"],
          ["readWriteEndpoint a string", spoiled((p) => (p.readWriteEndpoint = "Automatic")), "FailoverGroupCreateOrUpdateRequestInvalidReadWriteEndpoint"],
          ["failoverPolicy a number", spoiled((p) => (p.readWriteEndpoint = { failoverPolicy: 1 })), "FailoverGroupCreateOrUpdateRequestInvalidReadWriteFailoverPolicy"],
          ["Automatic without a grace period", spoiled((p) => (p.readWriteEndpoint = { failoverPolicy: "Automatic" })), "FailoverGroupCreateOrUpdateRequestInvalidReadWriteEndpointFields"],
          ["a grace period as text", spoiled((p) => (p.readWriteEndpoint = { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: "60" })), "InvalidRequestContent"],
          ["a negative grace period", spoiled((p) => (p.readWriteEndpoint = { failoverPolicy: "Automatic", failoverWithDataLossGracePeriodMinutes: -1 })), "FailoverGroupCreateOrUpdateRequestNegativeGracePeriodValues"],
          ["Manual with a grace period", spoiled((p) => (p.readWriteEndpoint = { failoverPolicy: "Manual", failoverWithDataLossGracePeriodMinutes: 60 })), "FailoverGroupCreateOrUpdateRequestInvalidReadWriteEndpointFieldsForManualPolicy"],
          ["no partnerServers", spoiled((p) => delete p.partnerServers), "FailoverGroupCreateOrUpdateRequestInvalidPartner"],
          ["partnerServers an object", spoiled((p) => (p.partnerServers = { id: paths().partnerId })), "FailoverGroupCreateOrUpdateRequestInvalidPartner"],
          ["a partner id that is a number", spoiled((p) => (p.partnerServers = [{ id: 42 }])), "FailoverGroupCreateOrUpdateRequestInvalidPartner"],
          ["a partner id that is no ARM id", spoiled((p) => (p.partnerServers = [{ id: "%ZZ" }])), "FailoverGroupCreateOrUpdateRequestInvalidPartner"],
          ["databases a string", spoiled((p) => (p.databases = "orders")), "FailoverGroupCreateOrUpdateRequestInvalidDatabases"],
          ["a database that is a number", spoiled((p) => (p.databases = [7])), "FailoverGroupCreateOrUpdateRequestInvalidDatabases"],
          ["a database that is no database id", spoiled((p) => (p.databases = ["orders"])), "FailoverGroupCreateOrUpdateRequestInvalidDatabases"],
        ],
        group,
      );
    });
  });

  describe("storage accounts", () => {
    const account = () => fx.plan.storage[0]!.account.id;
    const keys = () => send(fx, "POST", `${account()}/listKeys${STORAGE_API}`).then((a) => a.body);

    it("refuses a malformed StorageAccounts_Update", async () => {
      await expectRefused(fx, "PATCH", `${account()}${STORAGE_API}`, [
        ["not JSON", "sku=Standard_GRS", "InvalidRequestContent"],
        ["an array", json([{ sku: { name: "Standard_GRS" } }]), "InvalidRequestContent"],
        ["a string", json("Standard_GRS"), "InvalidRequestContent"],
        ["sku a string", json({ sku: "Standard_GRS" }), "InvalidRequestContent"],
        ["sku an array", json({ sku: ["Standard_GRS"] }), "InvalidRequestContent"],
        ["sku name a number", json({ sku: { name: 3 } }), "InvalidRequestPropertyValue"],
      ]);
    });

    it("refuses a malformed StorageAccounts_RegenerateKey, keeping both keys", async () => {
      await expectRefused(
        fx,
        "POST",
        `${account()}/regenerateKey${STORAGE_API}`,
        [
          ["no body", undefined, "InvalidValuesForRequestParameters"],
          ["not JSON", "key1", "InvalidRequestContent"],
          ["an array", json(["key1"]), "InvalidRequestContent"],
          ["a string", json("key1"), "InvalidRequestContent"],
          ["keyName missing", json({}), "InvalidValuesForRequestParameters"],
          ["keyName a number", json({ keyName: 1 }), "InvalidValuesForRequestParameters"],
          ["keyName an object", json({ keyName: { name: "key1" } }), "InvalidValuesForRequestParameters"],
        ],
        keys,
      );
    });

    it("refuses a malformed StorageAccounts_CustomerInitiatedMigration, starting nothing", async () => {
      await expectRefused(fx, "POST", `${account()}/startAccountMigration${STORAGE_API}`, [
        ["not JSON", "{", "InvalidRequestContent"],
        ["an array", json([]), "InvalidRequestContent"],
        ["properties a string", json({ properties: "Standard_RAGZRS" }), "InvalidRequestContent"],
        ["targetSkuName missing", json({ properties: {} }), "InvalidValuesForRequestParameters"],
        ["targetSkuName a number", json({ properties: { targetSkuName: 5 } }), "InvalidValuesForRequestParameters"],
      ]);
    });

    it("refuses a failover whose body is not JSON, starting no failover", async () => {
      await expectRefused(fx, "POST", `${account()}/failover${STORAGE_API}`, [["not JSON", "failoverType=Planned", "InvalidRequestContent"]]);
      expect(fx.estate.snapshot().storageAccounts.find((a) => a.id === account())).toMatchObject({ failoverInProgress: false, primaryLocation: fx.plan.regions.primary.name });
    });
  });

  describe("FrontDoors_CreateOrUpdate", () => {
    const frontDoorPath = () => `${fx.plan.frontDoor.classic[0]!.frontDoor.id}${FRONT_DOOR_API}`;
    const current = async (): Promise<Record<string, unknown>> => {
      const answer = await send(fx, "GET", frontDoorPath());
      expect(answer.status).toBe(200);
      const body: unknown = answer.body;
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("FrontDoors_Get answered no object");
      return { ...body };
    };
    /** The Front Door as it is now, with `change` applied to its properties (a loose copy, to be spoiled at will). */
    const spoiled = async (change: (props: any) => void) => {
      const body = await current();
      const props: any = JSON.parse(JSON.stringify(body.properties));
      change(props);
      return json({ ...body, properties: props });
    };

    it("accepts the well-formed body the malformed ones are made from", async () => {
      const answer = await send(fx, "PUT", frontDoorPath(), json(await current()));
      expect(answer.status).toBe(202);
    });

    it("refuses a body that is not a Front Door, leaving the Front Door and its edge as they were", async () => {
      await expectRefused(
        fx,
        "PUT",
        frontDoorPath(),
        [
          ["not JSON", "<frontDoor/>", "InvalidRequestContent"],
          ["an array", json([await current()]), "InvalidRequestContent"],
          ["a number", "42", "InvalidRequestContent"],
          ["no properties", json({ location: "global" }), "BadRequest"],
          ["properties an array", json({ location: "global", properties: [] }), "BadRequest"],
          ["backendPools a string", await spoiled((p) => (p.backendPools = "api-pool")), "BadRequest"],
          ["a backend that is a number", await spoiled((p) => (p.backendPools[0].properties.backends = [5])), "BadRequest"],
          ["a backend priority as text", await spoiled((p) => (p.backendPools[0].properties.backends[0].priority = "1")), "BadRequest"],
          ["a routing rule id with a malformed escape", await spoiled((p) => {
            delete p.routingRules[0].name;
            p.routingRules[0].id = `${p.routingRules[0].id}%ZZ`;
          }), "BadRequest"],
          ["a route configuration that is a string", await spoiled((p) => (p.routingRules[0].properties.routeConfiguration = "forward")), "BadRequest"],
        ],
        current,
      );
    });
  });

  describe("MetricsBatch_Batch", () => {
    const batchPath = () =>
      `/metrics/${fx.plan.regions.primary.name}/subscriptions/${fx.plan.storage[0]!.account.subscriptionId}/metrics:getBatch?api-version=2024-02-01&metricnamespace=Microsoft.Storage/storageAccounts&metricnames=Availability`;

    it("answers the well-formed batch the malformed ones are made from", async () => {
      const answer = await send(fx, "POST", batchPath(), json({ resourceids: [fx.plan.storage[0]!.account.id] }));
      expect(answer.status).toBe(200);
    });

    it("refuses a batch body that does not list resource ids, in the batch API's wrapped error shape", async () => {
      await expectRefused(fx, "POST", batchPath(), [
        ["no body", undefined, "BadRequest"],
        ["not JSON", "resourceids=x", "InvalidRequestContent"],
        ["an array", json([fx.plan.storage[0]!.account.id]), "BadRequest"],
        ["a string", json(fx.plan.storage[0]!.account.id), "BadRequest"],
        ["resourceids a string", json({ resourceids: fx.plan.storage[0]!.account.id }), "BadRequest"],
        ["resourceids empty", json({ resourceids: [] }), "BadRequest"],
        ["a resource id that is a number", json({ resourceids: [fx.plan.storage[0]!.account.id, 7] }), "BadRequest"],
        ["a resource id that is no ARM id", json({ resourceids: ["/subscriptions/%ZZ"] }), "BadRequest"],
      ]);
    });
  });

  describe("Key Vault", () => {
    const vault = () => fx.plan.secrets[0]!.vaults[0]!.name;
    const listPath = (query: string) => `/keyvault/${vault()}/secrets?api-version=7.5&maxresults=1${query}`;
    const token = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

    it("pages the list with the token it hands out", async () => {
      const first = await send(fx, "GET", listPath(""));
      expect(first.status).toBe(200);
      const nextLink: unknown = typeof first.body === "object" && first.body !== null && "nextLink" in first.body ? first.body.nextLink : undefined;
      expect(nextLink).toEqual(expect.stringContaining("%24skiptoken="));
      const next = new URL(String(nextLink));
      expect((await send(fx, "GET", `${next.pathname}${next.search}`)).status).toBe(200);
    });

    it("refuses a tampered $skiptoken with 400 BadParameter", async () => {
      for (const tampered of [
        "%25%25%25",
        "bm90LWpzb24",
        token(null),
        token("1"),
        token([1]),
        token({ offset: "1" }),
        token({ offset: -1 }),
        token({ offset: 1.5 }),
        token({ offset: { value: 1 } }),
      ]) {
        const before = stateOf(fx);
        const answer = await send(fx, "GET", listPath(`&$skiptoken=${tampered}`));
        expect({ tampered, status: answer.status, code: errorCode(answer) }).toEqual({ tampered, status: 400, code: "BadParameter" });
        expect(stateOf(fx)).toEqual(before);
      }
    });

    it("refuses a SetSecret body that is not a secret, storing nothing", async () => {
      await expectRefused(fx, "PUT", `/keyvault/${vault()}/secrets/new-secret?api-version=7.5`, [
        ["not JSON", "value=x", "BadParameter"],
        ["an array", json([{ value: "x" }]), "BadParameter"],
        ["a string", json("x"), "BadParameter"],
        ["value a number", json({ value: 5 }), "BadParameter"],
        ["attributes an array", json({ value: "x", attributes: [] }), "BadParameter"],
        ["exp as text", json({ value: "x", attributes: { exp: "2030" } }), "BadParameter"],
        ["tags a string", json({ value: "x", tags: "a=b" }), "BadParameter"],
      ]);
    });
  });

  describe("probes of the server itself", () => {
    it("answers a path segment with a malformed escape with 400 InvalidRequestUri", async () => {
      const id = fx.plan.storage[0]!.account.id.replace(/storageAccounts\/[^/]+$/, "storageAccounts/%ZZ");
      const answer = await send(fx, "GET", `${id}${STORAGE_API}`);
      expect({ status: answer.status, code: errorCode(answer) }).toEqual({ status: 400, code: "InvalidRequestUri" });
    });

    it("answers a subscription id that is no GUID with 400 InvalidSubscriptionId", async () => {
      const id = fx.plan.storage[0]!.account.id.replace(/^\/subscriptions\/[^/]+/, "/subscriptions/not-a-guid");
      const answer = await send(fx, "POST", `${id}/regenerateKey${STORAGE_API}`, json({ keyName: "key1" }));
      expect({ status: answer.status, code: errorCode(answer) }).toEqual({ status: 400, code: "InvalidSubscriptionId" });
    });

    it("answers a request with a malformed Host header, and keeps serving", async () => {
      const answer = await send(fx, "GET", `${fx.plan.storage[0]!.account.id}${STORAGE_API}`, undefined, { Host: "not a host" });
      expect(answer.status).toBe(200);
      expect((await send(fx, "GET", "/_estate/state")).status).toBe(200);
    });

    it("answers a Front Door host with a malformed escape at the edge with 404, and keeps serving", async () => {
      const edge = new URL(fx.estate.edgeUrl);
      const answer = await new Promise<number>((resolve, reject) => {
        const req = request({ host: edge.hostname, port: edge.port, path: "/%ZZ/healthz", ca: fx.estate.ca.cert, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.setTimeout(5_000, () => req.destroy(new Error("no answer from the edge")));
        req.end();
      });
      expect(answer).toBe(404);
      expect((await send(fx, "GET", "/_estate/state")).status).toBe(200);
    });
  });
});
