/**
 * `switchyard serve` in-process for end-to-end tests: startLocalApp (the estate, Azurite, the local
 * durable host, the blob journal and detection state, the HTTP handlers) behind serveHttp on loopback,
 * once per test file; plus plans made for detection tests and a small HTTP client.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import type { Logger } from "../../src/activities/deps.ts";
import { parsePlan, type Plan } from "../../src/core/plan/index.ts";
import type { PlanState } from "../../src/core/detection/model.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import type { EvaluationSummary } from "../../src/detection/evaluate.ts";
import { serveHttp } from "../../src/http/server.ts";
import { startLocalApp, type LocalApp } from "../../src/local/app.ts";
import type { Notifier } from "../../src/notify/notifier.ts";
import { ManualClock } from "./clock.ts";
import { rawRequest } from "./estate.ts";

export const STORAGE_ONLY_PLAN = fileURLToPath(new URL("../fixtures/storage-only.plan.json", import.meta.url));

export const silentLog: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export class RecordingNotifier implements Notifier {
  readonly name = "test";
  readonly sent: NotifyInput[] = [];
  async notify(n: NotifyInput): Promise<void> {
    this.sent.push(n);
  }
}

export interface AutoFailoverSpec {
  enabled?: boolean;
  quorum?: number;
  downForSeconds?: number;
  healthyForSeconds?: number;
  cooldownMinutes?: number;
  maxPerDay?: number;
}

export interface StoragePlanSpec {
  readonly name: string;
  readonly primary: string;
  readonly secondary: string;
  /** Storage account name (3-24 lower-case letters and digits), unique in the estate. */
  readonly account: string;
  readonly autoFailover: AutoFailoverSpec;
  readonly alertRules?: readonly { rule: string; region: string }[];
  /** Health endpoints per region (default 2). */
  readonly endpoints?: number;
  readonly rpoSeconds?: number;
}

/**
 * test/fixtures/storage-only.plan.json (one RA-GRS account: its replication lag is measurable) under
 * another name, region pair and account, with `endpoints` health endpoints per region (distinct host
 * names, so each is its own probe signal), the given auto-failover policy and alert rules.
 */
export function storagePlan(spec: StoragePlanSpec): Plan {
  return parsePlan(storagePlanDocument(spec), `${spec.name} (from storage-only.plan.json)`);
}

/** The plan document `storagePlan` parses (to write a plan file, as `switchyard serve --plan FILE` reads one). */
export function storagePlanDocument(spec: StoragePlanSpec): Record<string, unknown> {
  const doc = JSON.parse(readFileSync(STORAGE_ONLY_PLAN, "utf8")) as Record<string, any>;
  const n = spec.endpoints ?? 2;
  const endpoints = (region: string) => Array.from({ length: n }, (_, i) => ({ url: `https://${spec.name}-${region}-${i + 1}.example.test/health` }));
  const sub = "/subscriptions/0c6f4e2d-8b1a-4c3e-9f5d-2a7b6c8d9e0f";
  return {
    ...doc,
    name: spec.name,
    description: `${doc.description} (copy for detection tests: ${spec.name})`,
    regions: {
      primary: { name: spec.primary, healthEndpoints: endpoints(spec.primary) },
      secondary: { name: spec.secondary, healthEndpoints: endpoints(spec.secondary) },
    },
    objectives: { ...doc.objectives, ...(spec.rpoSeconds !== undefined ? { rpoSeconds: spec.rpoSeconds } : {}) },
    storage: [{ account: `${sub}/resourceGroups/${spec.name}-${spec.primary}/providers/Microsoft.Storage/storageAccounts/${spec.account}`, sku: "Standard_RAGRS" }],
    alertRules: [...(spec.alertRules ?? [])],
    autoFailover: spec.autoFailover,
  };
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  readonly ms: number;
}

export interface ServeWorld {
  app: LocalApp;
  /**
   * The app's clock (detection, alerts, the operator API, reservations, activities): it starts at the
   * real time when the world starts and moves only when a test moves it. Ids that carry a date (the
   * detection and operator journals, run ids) are derived from it.
   */
  clock: ManualClock;
  /** `http://127.0.0.1:PORT` of serveHttp(app.routes). */
  url: string;
  notifier: RecordingNotifier;
  plans: Plan[];
  plan(name: string): Plan;
  /** A request to serveHttp; a string body is sent as is, anything else as JSON. */
  request(method: "GET" | "POST", path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer>;
  state(plan: string): Promise<PlanState>;
  /**
   * Takes a region down on the estate or brings it back, as a user of `switchyard serve` does:
   * `PUT /_estate/regions/{region}` on the estate's URL, trusting its CA. Down, the region's health
   * endpoints refuse connections (and its replication stops).
   */
  setRegionDown(region: string, down: boolean): Promise<void>;
  /**
   * The health timer (what serve runs every --probe-interval, 60 s by default), played on the app's
   * clock: `count` checks of every plan (app.checkHealth()), each `everyMs` of app time after the one
   * before (the clock is moved, nobody waits). A probe signal turns down at its second consecutive
   * failure. Returns each check's summary of `plan`.
   */
  healthChecks(plan: string, count: number, everyMs?: number): Promise<EvaluationSummary[]>;
  /** Polls the plan's run (the run port's view) until `predicate` holds; fails after `timeoutMs` (default 15 s). */
  waitForRun(plan: string, predicate: (run: RunView) => boolean, timeoutMs?: number): Promise<RunView>;
}

export async function httpRequest(base: string, method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(payload !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(payload !== undefined ? { body: payload } : {}),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, text, ms: performance.now() - started };
}

/** An App Service authentication principal header (`x-ms-client-principal`): a name and app roles. */
export function principal(name: string, roles: readonly string[]): Record<string, string> {
  const claims = [{ typ: "name", val: name }, ...roles.map((r) => ({ typ: "roles", val: r }))];
  return { "x-ms-client-principal": Buffer.from(JSON.stringify({ auth_typ: "aad", claims })).toString("base64") };
}

/** serve's health timer interval by default (--probe-interval 60), in ms. */
export const PROBE_INTERVAL_MS = 60_000;

/** Starts the world before the file's tests and stops it after them. */
export function useServeWorld(makePlans: () => Plan[] | Promise<Plan[]>): ServeWorld {
  const world = {} as ServeWorld;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    world.plans = await makePlans();
    world.notifier = new RecordingNotifier();
    world.clock = new ManualClock(Date.now());
    world.app = await startLocalApp({ plans: world.plans, log: silentLog, notifier: world.notifier, clock: world.clock.now });
    const http = await serveHttp(world.app.routes);
    close = http.close;
    world.url = http.url;
    world.plan = (name) => {
      const found = world.plans.find((p) => p.name === name);
      if (!found) throw new Error(`no plan ${name} in this world`);
      return found;
    };
    world.request = (method, path, body, headers) => httpRequest(world.url, method, path, body, headers);
    world.post = (path, body, headers) => httpRequest(world.url, "POST", path, body, headers);
    world.state = async (plan) => (await world.app.store.get(plan)).state;
    world.setRegionDown = async (region, down) => {
      const answer = await rawRequest(world.app.estate, "PUT", `/_estate/regions/${encodeURIComponent(region)}`, { body: { down } });
      if (answer.status !== 200) throw new Error(`PUT /_estate/regions/${region}: ${answer.status} ${JSON.stringify(answer.body)}`);
    };
    world.healthChecks = async (plan, count, everyMs = PROBE_INTERVAL_MS) => {
      const out: EvaluationSummary[] = [];
      for (let k = 0; k < count; k++) {
        world.clock.advance(everyMs);
        const summary = (await world.app.checkHealth()).find((s) => s.plan === plan);
        if (!summary) throw new Error(`no health check summary for plan ${plan}`);
        out.push(summary);
      }
      return out;
    };
    world.waitForRun = async (plan, predicate, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const view = await world.app.runs.get(plan);
        if (view && predicate(view)) return view;
        if (Date.now() > deadline) throw new Error(`the run of ${plan} did not reach the expected status; last: ${JSON.stringify(view?.progress ?? view?.status)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
  }, 120_000);
  afterAll(async () => {
    await close?.();
    await world.app?.stop();
  });
  return world;
}

/** The operator journal id of a plan on the (UTC) day of `at` (src/http/operator.ts): pass the app's clock's time. */
export function operatorJournalId(plan: string, at: Date): string {
  return `operator-${plan}-${at.toISOString().slice(0, 10).replace(/-/g, "")}`;
}
