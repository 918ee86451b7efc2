import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpRequest, type HttpResponseInit } from "@azure/functions";
import fc from "fast-check";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { buildHandlers } from "../../src/app/handlers.ts";
import type { ClientFactory } from "../../src/azure/clients.ts";
import { parseAlertText } from "../../src/core/alerts/index.ts";
import { parsePlanText, PlanValidationError } from "../../src/core/plan/index.ts";
import { MemoryPlanStateStore } from "../../src/detection/stateStore.ts";
import { createEntraTokenValidator, type Jwks } from "../../src/http/entraToken.ts";
import type { HttpHandlers } from "../../src/http/routes.ts";
import { MemoryJournal } from "../../src/journal/journal.ts";
import { StaticPlanCatalog } from "../../src/plan/catalog.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { MemoryRuns } from "../helpers/memoryRuns.ts";
import { mutate, mutationOf } from "../helpers/mutate.ts";

/*
 * Bad input at every door: the alert webhook (bodies, tokens), the override routes (bodies, route
 * parameters, principal headers) and plan files. Whatever arrives: never a 5xx, and a request that is
 * refused starts no run and changes no state. 10,500 generated cases in this file, from fixed seeds.
 */

const plan = parsePlanText(readFileSync(EXAMPLE_PLAN, "utf8"));
const NOW = new Date("2026-11-28T10:00:00Z");
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const AUDIENCE = "api://switchyard-alerts";
const CORPUS = join(import.meta.dirname, "../fixtures/azure-corpus/alerts");
const ALERTS = readdirSync(CORPUS)
  .filter((f) => f.endsWith(".full.json"))
  .map((f) => JSON.parse(readFileSync(join(CORPUS, f), "utf8")) as unknown);

type Route = keyof HttpHandlers;
const OVERRIDES: readonly Route[] = ["failover", "failback", "approve", "abort", "autoFailover", "getPlan", "getRun"];

let signingKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
let jwks: Jwks;

beforeAll(async () => {
  const pair = await generateKeyPair("RS256", { modulusLength: 2048 });
  signingKey = pair.privateKey;
  jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" }] };
});

/** The app's HTTP handlers over memory ports, with App Service authentication on or off. */
function world(options: { auth: boolean; token?: boolean }) {
  const runs = new MemoryRuns();
  const store = new MemoryPlanStateStore();
  const journal = new MemoryJournal();
  const validateToken = options.token
    ? createEntraTokenValidator({ tenantId: TENANT, audience: AUDIENCE, fetchJwks: async () => jwks, clock: () => NOW.getTime() })
    : undefined;
  const handlers = buildHandlers({
    plans: new StaticPlanCatalog([plan]),
    runs,
    store,
    journal,
    // The HTTP routes never reach Azure: a client factory that is used fails the case loudly.
    clients: new Proxy({}, { get: () => { throw new Error("the HTTP routes must not call Azure"); } }) as ClientFactory,
    probe: async () => {
      throw new Error("the HTTP routes must not probe");
    },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    clock: () => NOW,
    appServiceAuthOn: options.auth,
    ...(validateToken ? { validateToken } : {}),
  });
  const snapshot = async () => JSON.stringify({ state: (await store.get(plan.name)).state, started: runs.started.length, approvals: runs.approvals.length });
  return { handlers: handlers.http, runs, store, snapshot };
}

function request(method: string, params: Record<string, string>, body: string | undefined, headers: Record<string, string>): HttpRequest {
  return new HttpRequest({ method, url: "http://localhost/api/x", params, headers, ...(body === undefined ? {} : { body: { string: body } }) });
}

const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme", maxLength: 300 }), fc.constantFrom("", "null", "{}", "[]", "{", "\u0000", "x".repeat(5000)));
const jsonText = fc.oneof(fc.json(), fc.jsonValue().map((v) => JSON.stringify(v)), text);
const principalJson = fc.oneof(
  fc.jsonValue(),
  fc.record({ auth_typ: fc.oneof(fc.string(), fc.constant(null)), claims: fc.array(fc.record({ typ: fc.oneof(fc.constantFrom("name", "roles", "preferred_username"), fc.string()), val: fc.oneof(fc.string(), fc.constant("Switchyard.Operator"), fc.integer()) }), { maxLength: 8 }) }),
  fc.constant(null),
);
const principalHeader = fc.oneof(
  principalJson.map((v) => Buffer.from(JSON.stringify(v) ?? "", "utf8").toString("base64")),
  text,
  fc.string({ unit: fc.constantFrom(..."ABCDEFabcdef0123456789+/=-_"), maxLength: 200 }),
);
const params = fc.record({
  plan: fc.oneof(fc.constant(plan.name), fc.string(), fc.constantFrom("../x", "a".repeat(300), "%00")),
  id: fc.oneof(fc.constant(`${plan.name}-failover-20261128T100000Z-abcd`), fc.string(), fc.constantFrom("../../etc", "a/b")),
});

/** What a header can carry on the wire (HTTP header values are bytes; Node refuses other characters). */
const onWire = (value: string) => value.replace(/[^\x20-\x7e]/g, "");

function expectNo5xx(response: HttpResponseInit, what: string): void {
  const status = response.status ?? 200;
  if (status >= 500) throw new Error(`${what} answered ${status}: ${JSON.stringify(response.jsonBody)}`);
}

describe("fuzzing the HTTP doors: never a 5xx, and a refusal changes nothing", () => {
  it("alert webhook: 3,000 mutated and arbitrary bodies; those that are not alerts are 400 and record nothing", async () => {
    const w = world({ auth: false });
    const bodies = fc.oneof(
      fc.tuple(fc.constantFrom(...ALERTS), fc.array(mutationOf(fc.jsonValue()), { minLength: 1, maxLength: 4 })).map(([alert, m]) => JSON.stringify(mutate(alert, m))),
      jsonText,
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const before = await w.snapshot();
        const response = await w.handlers.alerts(request("POST", {}, body, { "content-type": "application/json" }));
        expectNo5xx(response, "the webhook");
        if (!parseAlertText(body).ok) {
          refused++;
          expect(response.status).toBe(400);
          expect(await w.snapshot()).toBe(before);
        }
        expect(w.runs.started).toEqual([]);
      }),
      { numRuns: 3_000, seed: 101 },
    );
    expect(refused).toBeGreaterThan(1_000);
  });

  it("alert webhook with the secure webhook: 1,500 forged, garbled and mis-claimed tokens are 401 and record nothing", async () => {
    const w = world({ auth: false, token: true });
    const alert = JSON.stringify(ALERTS[0]);
    const claims = fc.record(
      {
        iss: fc.oneof(fc.constant(`https://login.microsoftonline.com/${TENANT}/v2.0`), fc.constant(`https://login.microsoftonline.us/${TENANT}/v2.0`), fc.string()),
        aud: fc.oneof(fc.constant(AUDIENCE), fc.string()),
        roles: fc.oneof(fc.constant(["Reader"]), fc.array(fc.string(), { maxLength: 3 })),
        azp: fc.oneof(fc.uuid(), fc.string()),
        iat: fc.integer({ min: NOW.getTime() / 1000 - 400_000, max: NOW.getTime() / 1000 + 400_000 }),
        lifetime: fc.integer({ min: -3600, max: 400_000 }),
      },
      { requiredKeys: ["iat", "lifetime"] },
    );
    const forged = claims.map(async ({ lifetime, iat, ...rest }) =>
      new SignJWT({ ...rest }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setIssuedAt(iat).setExpirationTime(iat + lifetime).sign(signingKey),
    );
    const garbled = fc.oneof(text, fc.tuple(text, text, text).map((parts) => parts.join(".")));
    await fc.assert(
      fc.asyncProperty(fc.oneof(forged.map((p) => ({ p })), garbled.map((g) => ({ p: Promise.resolve(g) }))), fc.constantFrom("Bearer ", "bearer ", "", "Basic "), async ({ p }, scheme) => {
        const token = await p;
        const before = await w.snapshot();
        const response = await w.handlers.alerts(request("POST", {}, alert, { "content-type": "application/json", authorization: onWire(`${scheme}${token}`) }));
        expectNo5xx(response, "the secure webhook");
        // No generated token carries the secure webhook's role: every one is refused.
        expect(response.status).toBe(401);
        expect(await w.snapshot()).toBe(before);
      }),
      { numRuns: 1_500, seed: 202 },
    );
  });

  it("override routes: 4,000 requests with arbitrary bodies, parameters and principals; a refusal starts nothing and changes no state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.constantFrom(...OVERRIDES), params, fc.option(jsonText, { nil: undefined }), fc.option(principalHeader, { nil: undefined }), fc.option(text, { nil: undefined }), async (auth, route, p, body, principal, name) => {
        const w = world({ auth });
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (principal !== undefined) headers["x-ms-client-principal"] = onWire(principal);
        if (name !== undefined) headers["x-ms-client-principal-name"] = onWire(name);
        const before = await w.snapshot();
        const method = route === "getPlan" || route === "getRun" ? "GET" : "POST";
        let response: HttpResponseInit;
        try {
          response = await w.handlers[route](request(method, p, body, headers));
        } catch (error) {
          throw new Error(`${route} threw instead of answering: ${error instanceof Error ? error.message : String(error)}`);
        }
        expectNo5xx(response, route);
        if ((response.status ?? 200) >= 400 || method === "GET") expect(await w.snapshot()).toBe(before);
      }),
      { numRuns: 4_000, seed: 303 },
    );
  });

  it("plan files: 2,000 mutated plans are either valid or refused with PlanValidationError naming a path", () => {
    const doc = parse(readFileSync(EXAMPLE_PLAN, "utf8")) as unknown;
    fc.assert(
      fc.property(fc.array(mutationOf(fc.jsonValue()), { minLength: 1, maxLength: 5 }), fc.boolean(), (mutations, asJson) => {
        const mutated = mutate(doc, mutations);
        const body = asJson ? JSON.stringify(mutated) : JSON.stringify(mutated, null, 1).replace(/^(\s*)"([^"]+)":/gm, "$1$2:");
        try {
          parsePlanText(body);
        } catch (error) {
          if (!(error instanceof PlanValidationError)) throw new Error(`a plan file raised ${error instanceof Error ? error.name : typeof error}, not a validation error`);
          expect(error.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 2_000, seed: 404 },
    );
  });
});
