/**
 * What the HTTP side reads from outside is checked before it is used: the `x-ms-client-principal`
 * header (anyone can send one where the app is reachable without Easy Auth), the tenant's JWKS, a
 * run's output kept in the journal, and a run's durable state behind the operator API.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { HttpRequest } from "@azure/functions";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parsePlanText } from "../../src/core/plan/index.ts";
import { callerOf, MAX_CALLER_NAME_LENGTH, MAX_CLIENT_PRINCIPAL_CLAIMS, MAX_CLIENT_PRINCIPAL_LENGTH, OPERATOR_ROLE } from "../../src/http/auth.ts";
import { createEntraTokenValidator, type Jwks } from "../../src/http/entraToken.ts";
import { ApiError } from "../../src/http/errors.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { serveHttp } from "../../src/http/server.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { DurableRuns } from "../../src/runs/durableRuns.ts";
import { MemoryRunPlanStore } from "../../src/journal/runPlans.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";
import { recordedRun } from "../helpers/recordedJournals.ts";

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));

const base64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64");
const headers = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? null });
/** The caller of a request with this principal header, on an app with App Service authentication on. */
const callerWith = (principal: string) => callerOf(headers({ "x-ms-client-principal": principal }), true);

/** The 401 a header that is not a principal gets. */
function refused(principal: string): void {
  let thrown: unknown;
  try {
    callerWith(principal);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ApiError);
  expect(thrown).toMatchObject({ status: 401, code: "InvalidClientPrincipal" });
}

/** A principal as Easy Auth writes it for an Entra sign-in. */
const easyAuth = {
  auth_typ: "aad",
  name_typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
  role_typ: "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
  claims: [
    { typ: "aud", val: "api://switchyard" },
    { typ: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", val: "oncall@contoso.com" },
    { typ: "roles", val: OPERATOR_ROLE },
    { typ: "roles", val: "Reader" },
  ],
};

describe("the x-ms-client-principal header", () => {
  it("reads a principal as Easy Auth writes it, as before", () => {
    expect(callerWith(base64(easyAuth))).toEqual({ name: "oncall@contoso.com", roles: [OPERATOR_ROLE, "Reader"], authenticated: true });
    // Fields Easy Auth may add, and null where it has no claim type, are fine.
    expect(callerWith(base64({ ...easyAuth, name_typ: null, role_typ: null, userId: "x" }))).toMatchObject({ name: "oncall@contoso.com", roles: [OPERATOR_ROLE, "Reader"] });
    // Without claims: signed in, named by the name header App Service set beside it, no roles.
    expect(callerOf(headers({ "x-ms-client-principal": base64({ auth_typ: "aad" }), "x-ms-client-principal-name": "someone" }), true)).toEqual({ name: "someone", roles: [], authenticated: true });
    expect(callerOf(headers({}), true)).toEqual({ name: "function-key caller", roles: [], authenticated: false });
  });

  it("is not read without App Service authentication: the caller is the function-key caller, whatever the headers say", () => {
    const forged = headers({ "x-ms-client-principal": base64(easyAuth), "x-ms-client-principal-name": "alice@contoso.com", "x-ms-client-principal-id": "1" });
    expect(callerOf(forged, false)).toEqual({ name: "function-key caller", roles: [], authenticated: false });
    // Not even a malformed one is looked at: there is nothing to refuse.
    expect(callerOf(headers({ "x-ms-client-principal": base64(null) }), false)).toEqual({ name: "function-key caller", roles: [], authenticated: false });
  });

  it("never takes x-ms-client-principal-name on its own", () => {
    expect(callerOf(headers({ "x-ms-client-principal-name": "alice@contoso.com" }), true)).toEqual({ name: "function-key caller", roles: [], authenticated: false });
    // Beside a principal with a name claim, the claim names the caller.
    expect(callerOf(headers({ "x-ms-client-principal": base64(easyAuth), "x-ms-client-principal-name": "alice@contoso.com" }), true).name).toBe("oncall@contoso.com");
  });

  it("records a name that looks like a credential redacted, and cuts a long one: a name is never a reason to refuse", () => {
    const named = (name: string) => callerWith(base64({ ...easyAuth, claims: [{ typ: "name", val: name }, { typ: "roles", val: OPERATOR_ROLE }] }));
    expect(named("mallory Password=hunter2;")).toEqual({ name: "mallory [redacted];", roles: [OPERATOR_ROLE], authenticated: true });
    expect(named("ops\u0000\nlead").name).toBe("ops  lead");
    expect(named("x".repeat(10_000)).name).toHaveLength(MAX_CALLER_NAME_LENGTH);
    expect(callerOf(headers({ "x-ms-client-principal": base64({ auth_typ: "aad" }), "x-ms-client-principal-name": "AccountKey=abc" }), true).name).toBe("[redacted]");
  });

  it("refuses text that is not base64", () => {
    refused(JSON.stringify(easyAuth));
    refused("not base64 at all!");
    refused(`${base64(easyAuth)}$`);
  });

  it("refuses base64 of anything but JSON", () => {
    refused(base64("claims: roles=Switchyard.Operator"));
    refused(Buffer.from([0xff, 0xfe, 0x00, 0x7b]).toString("base64"));
  });

  it.each([
    ["null", null],
    ["a list", [easyAuth]],
    ["a number", 42],
    ["a string", "oncall@contoso.com"],
    ["claims that are not a list", { ...easyAuth, claims: { typ: "roles", val: OPERATOR_ROLE } }],
    ["a claim that is not an object", { ...easyAuth, claims: ["roles"] }],
    ["a claim type that is not text", { ...easyAuth, claims: [{ typ: 1, val: OPERATOR_ROLE }] }],
    ["a claim value that is not text", { ...easyAuth, claims: [{ typ: "roles", val: [OPERATOR_ROLE] }] }],
    ["a claim without a value", { ...easyAuth, claims: [{ typ: "roles" }] }],
    ["a name claim type that is not text", { ...easyAuth, name_typ: 7 }],
    ["a role claim type that is an object", { ...easyAuth, role_typ: { toString: "roles" } }],
  ])("refuses JSON of the wrong shape: %s", (_what, document) => {
    refused(base64(document));
  });

  it("refuses huge claim lists and headers, and takes the largest allowed", () => {
    const claims = (n: number) => Array.from({ length: n }, (_, i) => ({ typ: "groups", val: `g${i}` }));
    expect(callerWith(base64({ ...easyAuth, claims: [...easyAuth.claims, ...claims(MAX_CLIENT_PRINCIPAL_CLAIMS - easyAuth.claims.length)] })).roles).toEqual([OPERATOR_ROLE, "Reader"]);
    const tooMany = base64({ ...easyAuth, claims: [...easyAuth.claims, ...claims(MAX_CLIENT_PRINCIPAL_CLAIMS)] });
    expect(tooMany.length).toBeLessThan(MAX_CLIENT_PRINCIPAL_LENGTH);
    refused(tooMany);
    refused(base64({ ...easyAuth, claims: [...easyAuth.claims, ...claims(100_000)] }));
    refused(base64({ ...easyAuth, padding: "x".repeat(MAX_CLIENT_PRINCIPAL_LENGTH) }));
  });

  it("answers a malformed header on an override with 401, and changes nothing", async () => {
    const runs = new MemoryRuns();
    const journal = new MemoryJournal();
    const api = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true });
    for (const principal of ["{}", base64(null), base64({ claims: [{ typ: "roles", val: 1 }] })]) {
      const res = await api.failover(
        new HttpRequest({ method: "POST", url: "http://localhost/api/x", params: { plan: plan.name }, headers: { "content-type": "application/json", "x-ms-client-principal": principal }, body: { string: JSON.stringify({ reason: "outage" }) } }),
      );
      expect(res.status).toBe(401);
      expect((res.jsonBody as { error: { code: string } }).error.code).toBe("InvalidClientPrincipal");
    }
    expect(runs.started).toEqual([]);
    expect(await journal.listRuns()).toEqual([]);
  });
});

// ---- JWKS -------------------------------------------------------------------------------------------

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUDIENCE = "api://switchyard-alerts";
const NOW_MS = Date.parse("2030-01-01T00:00:00Z");

function signingKey(kid: string): { kid: string; privateKey: KeyObject; jwk: Record<string, unknown> } {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, use: "sig" } };
}

function token(key: { kid: string; privateKey: KeyObject }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = NOW_MS / 1000;
  const input = `${part({ typ: "JWT", alg: "RS256", kid: key.kid })}.${part({ aud: AUDIENCE, iss: `https://sts.windows.net/${TENANT}/`, iat: now - 60, nbf: now - 60, exp: now + 3600, roles: ["ActionGroupsSecureWebhook"] })}`;
  return `Bearer ${input}.${sign("RSA-SHA256", Buffer.from(input), key.privateKey).toString("base64url")}`;
}

describe("the tenant's JWKS, as the endpoint answers it", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** A validator on the default fetch, the endpoint answering `bodies` in turn (the last one from then on). */
  function withEndpoint(bodies: string[]) {
    let calls = 0;
    vi.stubGlobal("fetch", async () => new Response(bodies[Math.min(calls++, bodies.length - 1)], { status: 200, headers: { "content-type": "application/json" } }));
    const time = { now: NOW_MS };
    const validate = createEntraTokenValidator({ tenantId: TENANT, audience: AUDIENCE, clock: () => time.now, cacheSeconds: 60, minRefetchSeconds: 1 });
    return { validate, time, calls: () => calls };
  }

  const key = signingKey("key-a");

  it("takes a key set of usable keys", async () => {
    const { validate } = withEndpoint([JSON.stringify({ keys: [key.jwk] })]);
    expect(await validate(token(key))).toMatchObject({ ok: true });
  });

  it.each([
    ["not JSON", "<html>sign in</html>"],
    ["JSON null", "null"],
    ["a list", JSON.stringify([key.jwk])],
    ["keys that are not a list", JSON.stringify({ keys: key.jwk })],
    ["keys of the wrong types", JSON.stringify({ keys: [null, 5, "key-a", { ...key.jwk, kid: 5 }, { ...key.jwk, n: 12 }, { ...key.jwk, kty: ["RSA"] }] })],
  ])("treats %s as keys it could not fetch: 503-worthy, not a crash", async (_what, body) => {
    const { validate } = withEndpoint([body]);
    expect(await validate(token(key))).toEqual({ ok: false, status: 401, reason: "signing keys unavailable", retryable: true });
  });

  it("keeps the keys it holds when a later answer is malformed", async () => {
    const { validate, time, calls } = withEndpoint([JSON.stringify({ keys: [key.jwk] }), JSON.stringify({ keys: "rotated" })]);
    expect(await validate(token(key))).toMatchObject({ ok: true });
    time.now += 120_000;
    expect(await validate(token(key))).toMatchObject({ ok: true });
    expect(calls()).toBe(2);
  });
});

// ---- run records ------------------------------------------------------------------------------------

function getRequest(params: Record<string, string>): HttpRequest {
  return new HttpRequest({ method: "GET", url: "http://localhost/api/x", params });
}

describe("a run's records behind the operator API", () => {
  const runId = "contoso-orders.20261128T090000Z.failover-abcd";

  function api(runs = new MemoryRuns(), journal = new MemoryJournal()) {
    return { journal, handlers: operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: false }) };
  }

  /** A journal that hands back one run-finished entry as a store would: whatever it holds. */
  const finishedWith = (output: unknown) =>
    ({
      append: async () => undefined,
      listRuns: async () => [runId],
      read: async () => [{ runId, at: "2026-11-28T09:00:05Z", kind: "run-finished", message: "done", data: { outcome: "completed", output } }],
    }) as never;

  it("shows a journaled run output, checked, with only a run output's fields", async () => {
    const output = { ...recordedRun("storage-failover-rpo-gate").output, runId };
    const { handlers } = api(new MemoryRuns(), finishedWith({ ...output, stray: true }));
    const res = await handlers.getRun(getRequest({ id: runId }));
    expect(res.status).toBe(200);
    expect(res.jsonBody).toStrictEqual({ runId, status: "completed", output });
  });

  it("shows a malformed journaled output as the journal holds it, naming the bad field", async () => {
    const output = { ...recordedRun("storage-failover-rpo-gate").output, runId, steps: [{ step: "assess", outcome: "ok" }] };
    const { handlers } = api(new MemoryRuns(), finishedWith(output));
    const res = await handlers.getRun(getRequest({ id: runId }));
    expect(res.status).toBe(200);
    expect(res.jsonBody).toMatchObject({ runId, status: "completed", output });
    expect((res.jsonBody as { outputError: string }).outputError).toBe(`the output in the run-finished entry of run ${runId} is malformed at steps[0].startedAt: expected a string, found nothing`);
  });

  /** DurableRuns over a Durable client that knows one instance, as Durable's status query returns it. */
  function durable(status: Record<string, unknown>) {
    const client = { getStatus: async (instanceId: string) => ({ instanceId, ...status }) };
    return new DurableRuns(client as never, new MemoryRunPlanStore());
  }

  it("answers 500 naming the bad field when a run's durable state is malformed, and builds no view from it", async () => {
    const runs = durable({ runtimeStatus: "Running", input: { runId, kind: "failover", mode: "auto", from: "eastus2", to: "centralus", plan: { name: plan.name }, trigger: {} } });
    const res = await api(runs as never).handlers.getPlan(getRequest({ plan: plan.name }));
    expect(res.status).toBe(500);
    expect(res.jsonBody).toMatchObject({ error: { code: "MalformedRunRecord" } });
    expect((res.jsonBody as { error: { message: string } }).error.message).toBe(`the input of instance switchyard-${plan.name} is malformed at plan.objectives: expected an object, found nothing`);
  });

  it("still starts a failover when the last run's record cannot be read back", async () => {
    const started: unknown[] = [];
    const client = {
      getStatus: async (instanceId: string) => ({ instanceId, runtimeStatus: "Completed", input: { runId: "old", kind: "failover" }, output: { outcome: "completed" } }),
      startNew: async (_name: string, options: { instanceId: string }) => {
        started.push(options);
        return options.instanceId;
      },
    };
    const { handlers } = api(new DurableRuns(client as never, new MemoryRunPlanStore()) as never);
    const res = await handlers.failover(
      new HttpRequest({ method: "POST", url: "http://localhost/api/x", params: { plan: plan.name }, headers: { "content-type": "application/json" }, body: { string: JSON.stringify({ reason: "outage" }) } }),
    );
    expect(res.status).toBe(202);
    expect(started).toHaveLength(1);
  });
});

// ---- the local HTTP server --------------------------------------------------------------------------

describe("serveHttp", () => {
  it("sends the headers a handler gives as a record, as pairs or as Headers", async () => {
    const given = [{ "X-One": "1" }, [["X-One", "1"]] as [string, string][], new Headers({ "X-One": "1" })];
    let next = 0;
    const server = await serveHttp([{ name: "h", methods: ["GET"], route: "h", handler: async () => ({ status: 200, headers: given[next++]!, jsonBody: { ok: true } }) }]);
    try {
      for (let i = 0; i < given.length; i++) {
        const res = await fetch(`${server.url}/api/h`);
        expect(res.status).toBe(200);
        expect(res.headers.get("x-one")).toBe("1");
        expect(await res.json()).toEqual({ ok: true });
      }
    } finally {
      await server.close();
    }
  });

  it("answers a method a route does not take with 405 and what it allows", async () => {
    const server = await serveHttp([{ name: "h", methods: ["GET"], route: "h", handler: async () => ({ status: 200 }) }]);
    try {
      const res = await fetch(`${server.url}/api/h`, { method: "DELETE" });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET");
    } finally {
      await server.close();
    }
  });
});

// ---- operators' tokens checked by the app ---------------------------------------------------------------

describe("override routes with SWITCHYARD_OPERATOR_AUDIENCE: the app checks the operator's token itself", () => {
  const OPERATOR_AUDIENCE = "api://switchyard-operators";
  const key = signingKey("op-key");

  function operatorToken(claims: Record<string, unknown>, signer: { kid: string; privateKey: KeyObject } = key): string {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const now = NOW_MS / 1000;
    const input = `${part({ typ: "JWT", alg: "RS256", kid: signer.kid })}.${part({ aud: OPERATOR_AUDIENCE, iss: `https://login.microsoftonline.com/${TENANT}/v2.0`, iat: now - 60, nbf: now - 60, exp: now + 3600, ...claims })}`;
    return `Bearer ${input}.${sign("RSA-SHA256", Buffer.from(input), signer.privateKey).toString("base64url")}`;
  }

  function api(appServiceAuthOn: boolean) {
    const runs = new MemoryRuns();
    const journal = new MemoryJournal();
    const validateOperatorToken = createEntraTokenValidator({ tenantId: TENANT, audience: [OPERATOR_AUDIENCE], allowedRoles: [OPERATOR_ROLE], clock: () => NOW_MS, fetchJwks: async () => ({ keys: [key.jwk] as Jwks["keys"] }) });
    const handlers = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal, clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn, validateOperatorToken });
    const listPlans = (headers: Record<string, string>) => handlers.listPlans(new HttpRequest({ method: "GET", url: "http://localhost/api/plans", headers }));
    const failover = (headers: Record<string, string>) =>
      handlers.failover(new HttpRequest({ method: "POST", url: "http://localhost/api/x", params: { plan: plan.name }, headers: { "content-type": "application/json", ...headers }, body: { string: JSON.stringify({ reason: "outage drill" }) } }));
    return { runs, journal, failover, listPlans };
  }

  it("needs the operator's token on read routes too: a token of the tenant without the role, or a forged principal, reads nothing", async () => {
    const { listPlans } = api(true);
    expect((await listPlans({})).status).toBe(401);
    expect((await listPlans({ "x-ms-client-principal": base64(easyAuth) })).status).toBe(401);
    expect((await listPlans({ authorization: operatorToken({ roles: [] }) })).status).toBe(401);
    const ok = await listPlans({ authorization: operatorToken({ roles: [OPERATOR_ROLE] }) });
    expect(ok.status).toBe(200);
    expect(JSON.stringify(ok.jsonBody)).toContain(plan.name);
  });

  it("refuses a forged x-ms-client-principal with the operator role: without a valid token nothing starts, whatever WEBSITE_AUTH_ENABLED says", async () => {
    for (const authOn of [true, false]) {
      const { runs, journal, failover } = api(authOn);
      const forged = await failover({ "x-ms-client-principal": base64(easyAuth) });
      expect(forged.status).toBe(401);
      expect((forged.jsonBody as { error: { code: string; message: string } }).error.message).toMatch(/Switchyard\.Operator role is required/);
      // A token signed by another key, one without the role, and one for another audience.
      const other = signingKey("op-key");
      expect((await failover({ authorization: operatorToken({ roles: [OPERATOR_ROLE] }, other) })).status).toBe(401);
      expect((await failover({ authorization: operatorToken({ roles: ["Reader"] }) })).status).toBe(401);
      expect((await failover({ authorization: operatorToken({ roles: [OPERATOR_ROLE], aud: "api://someone-else" }) })).status).toBe(401);
      expect(runs.started).toEqual([]);
      expect(await journal.listRuns()).toEqual([]);
    }
  });

  it("starts the run for a valid operator token, recorded under the token's name (not a header's)", async () => {
    const { runs, failover } = api(true);
    const res = await failover({ authorization: operatorToken({ roles: [OPERATOR_ROLE], name: "oncall@contoso.com" }), "x-ms-client-principal": base64({ ...easyAuth, claims: [{ typ: "name", val: "someone-else" }] }) });
    expect(res.status, JSON.stringify(res.jsonBody)).toBe(202);
    expect(runs.started).toHaveLength(1);
    expect(JSON.stringify(runs.started[0])).toContain("oncall@contoso.com");
    expect(JSON.stringify(runs.started[0])).not.toContain("someone-else");
  });

  it("answers 503 (try again) when the tenant's signing keys cannot be fetched, and starts nothing", async () => {
    const runs = new MemoryRuns();
    const validateOperatorToken = createEntraTokenValidator({ tenantId: TENANT, audience: [OPERATOR_AUDIENCE], allowedRoles: [OPERATOR_ROLE], clock: () => NOW_MS, fetchJwks: async () => Promise.reject(new Error("network down")) });
    const handlers = operatorHandlers({ plans: new StaticPlanCatalog([plan]), runs, journal: new MemoryJournal(), clock: () => new Date("2026-11-28T10:00:00Z"), appServiceAuthOn: true, validateOperatorToken });
    const res = await handlers.failover(new HttpRequest({ method: "POST", url: "http://localhost/api/x", params: { plan: plan.name }, headers: { "content-type": "application/json", authorization: operatorToken({ roles: [OPERATOR_ROLE] }) }, body: { string: JSON.stringify({ reason: "outage" }) } }));
    expect(res.status).toBe(503);
    expect(runs.started).toEqual([]);
  });
});
