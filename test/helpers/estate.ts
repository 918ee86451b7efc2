import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { startEstate, type Estate, type EstateOptions } from "../../estate/server.ts";

export const EXAMPLE_PLAN = fileURLToPath(new URL("../../examples/contoso.plan.yaml", import.meta.url));
/** Public Azure payloads (a verbatim copy; see test/fixtures/README.md). */
export const CORPUS = fileURLToPath(new URL("../fixtures/azure-corpus/", import.meta.url));

export interface EstateFixture {
  estate: Estate;
  clients: ClientFactory;
  plan: Plan;
}

/**
 * Starts one estate for the test file (seeded from the example plan unless told otherwise), resets it
 * before each test, and hands out a client factory aimed at it. Use inside a describe block or file.
 */
export function useEstate(options: { planFile?: string; estate?: EstateOptions } = {}): EstateFixture {
  const fixture = {} as EstateFixture;
  beforeAll(async () => {
    fixture.plan = await loadPlanFile(options.planFile ?? EXAMPLE_PLAN);
    fixture.estate = await startEstate({ seed: seedFromPlans([fixture.plan]), ...options.estate });
    fixture.clients = new ClientFactory({ target: fixture.estate.clientTarget(), maxRetries: 0 });
  });
  beforeEach(async () => {
    await fixture.estate.reset();
  });
  afterAll(async () => {
    await fixture.estate?.close();
  });
  return fixture;
}

/** Polling options for the SDK's long-running-operation pollers: no waiting between polls. */
export const FAST_POLL = { updateIntervalInMs: 1 } as const;

/** Collects an async iterable (a pager) into an array (Array.fromAsync needs Node 22). */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A plain HTTPS request to the estate (or any URL it serves), trusting only its certificate. */
export async function rawRequest(
  estate: Estate,
  method: string,
  urlOrPath: string,
  options: { body?: unknown; auth?: boolean; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const { request } = await import("node:https");
  const url = new URL(urlOrPath, estate.url);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: estate.ca.cert,
        agent: false, // a fresh connection each time: a pooled one would hide a refused connection
        headers: {
          ...(options.auth === false ? {} : { Authorization: "Bearer test" }),
          ...(payload ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk) => (text += String(chunk)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
