/**
 * `switchyard serve` over real HTTP: serveHttp(app.routes) on loopback in front of startLocalApp (the
 * local estate, Azurite, the local durable host, the blob journal and detection state). One world for
 * the file; each scenario has a plan of its own (its own region pair and storage account), so their
 * states and runs do not mix:
 *
 *   contoso-orders   examples/contoso.plan.yaml (quorum 2 for 180 s): override fuzzing, the role check
 *   corpus-rules     storage-only copy whose alertRules name the corpus rule (WCUS-R2-Gen2 → westus2)
 *   storm-plan       one health endpoint per region, quorum 2, downForSeconds 0: with the primary down
 *                    on the estate its probe is one signal down, and one alert is the second
 *                    (50 concurrent identical alerts)
 *   kill-plan        same policy, for the kill switch
 *   cool-plan        same policy (maxPerDay 5): only the cooldown can refuse; then the way home
 *
 * A region is never declared down by alerts alone: a scenario that needs an outage takes the region
 * down on the estate (PUT /_estate/regions/{region}) and plays serve's health timer on the app's clock
 * (world.healthChecks), so that a probe signal agrees with the alerts.
 *
 * Everything goes through real HTTP, fuzzing included (no in-process shortcut), except where noted.
 */
import assert from "node:assert/strict";
import type { ContainerClient } from "@azure/storage-blob";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import { newRunId, type RunOutput } from "../../src/core/run/model.ts";
import { detectionControl } from "../../src/detection/control.ts";
import { detectionJournalId } from "../../src/detection/evaluate.ts";
import { operatorHandlers } from "../../src/http/operator.ts";
import { httpRoutes, type HttpHandlers } from "../../src/http/routes.ts";
import { serveHttp } from "../../src/http/server.ts";
import type { JournalEntry } from "../../src/journal/journal.ts";
import { alertIdOf, corpusAlertFiles, corpusBody, CORPUS_RULE, metricAlert } from "../helpers/alertBodies.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";
import { httpRequest, operatorJournalId, principal, storagePlan, useServeWorld, type HttpAnswer } from "../helpers/serveWorld.ts";
import { mutate, mutationOf } from "../helpers/mutate.ts";

/** At the floors of healthyForSeconds (300) and above that of cooldownMinutes (15); quorum 2 of one probe and one alert. */
const QUICK = { enabled: true, quorum: 2, downForSeconds: 0, healthyForSeconds: 300, cooldownMinutes: 60, maxPerDay: 5 };

const world = useServeWorld(async () => [
  await loadPlanFile(EXAMPLE_PLAN),
  storagePlan({
    name: "corpus-rules",
    primary: "westus2",
    secondary: "westus3",
    account: "corpusrulesdata",
    alertRules: [{ rule: CORPUS_RULE, region: "westus2" }],
    autoFailover: { enabled: true, quorum: 2, downForSeconds: 180 },
  }),
  storagePlan({ name: "storm-plan", primary: "francecentral", secondary: "francesouth", account: "stormplandata", endpoints: 1, alertRules: [{ rule: "storm-primary-down", region: "francecentral" }], autoFailover: QUICK }),
  storagePlan({ name: "kill-plan", primary: "swedencentral", secondary: "swedensouth", account: "killplandata", endpoints: 1, alertRules: [{ rule: "kill-primary-down", region: "swedencentral" }], autoFailover: QUICK }),
  storagePlan({
    name: "cool-plan",
    primary: "norwayeast",
    secondary: "norwaywest",
    account: "coolplandata",
    endpoints: 1,
    alertRules: [
      { rule: "cool-east-down", region: "norwayeast" },
      { rule: "cool-west-down", region: "norwaywest" },
    ],
    autoFailover: QUICK,
  }),
]);

const CONTOSO = "contoso-orders";
const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
/** Resources of the example plan: fuzzed alerts that name them are recorded for contoso-orders. */
const CONTOSO_TARGETS = [
  `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Sql/servers/contoso-orders-sql-eastus2/databases/orders`,
  `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Sql/servers/contoso-orders-sql-centralus`,
  `${SUB}/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata`,
  `${SUB}/resourceGroups/contoso-orders-global/providers/Microsoft.Cdn/profiles/contoso-orders-afd/originGroups/web/origins/web-centralus`,
  `${SUB}/resourceGroups/contoso-orders-centralus/providers/Microsoft.Web/sites/contoso-orders-centralus/slots/staging`,
];

const expectNo5xx = (answers: readonly HttpAnswer[]) => expect(answers.filter((a) => a.status >= 500).map((a) => `${a.status} ${a.text.slice(0, 200)}`)).toEqual([]);

/** Every state blob's ETag (one list request): a write of any plan's detection state changes its ETag. */
async function stateEtags(): Promise<Map<string, string>> {
  return etagsOf(world.app.store.container);
}

/** name → ETag of every blob in a container (empty when it does not exist yet). */
async function etagsOf(container: ContainerClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    for await (const blob of container.listBlobsFlat()) out.set(blob.name, blob.properties.etag ?? "");
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return out;
}

/** Every durable instance blob's ETag (one list request): starting (or changing) any plan's run changes this map. */
async function instanceEtags(): Promise<Map<string, string>> {
  return etagsOf(world.app.clients.blobService().getContainerClient("switchyard-durable"));
}

/** The plans' detection states, as stored (JSON text, for comparisons). */
async function stateTexts(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const plan of world.plans) out[plan.name] = JSON.stringify((await world.app.store.get(plan.name)).state);
  return out;
}

const runIdOf = async (plan: string) => (await world.app.runs.get(plan))?.runId;
/** The plan's detection journal of the app clock's day. */
const detectionEntries = (plan: string) => world.app.journal.read(detectionJournalId(plan, world.clock.now()));
/** The plan's detection journals from the (UTC) day of `since` to the app clock's day (at most a day apart). */
const detectionEntriesSince = async (plan: string, since: Date) => {
  const ids = [...new Set([since, world.clock.now()].map((d) => detectionJournalId(plan, d)))];
  return (await Promise.all(ids.map((id) => world.app.journal.read(id)))).flat();
};
const decisionCodes = (entries: JournalEntry[]) => entries.map((e) => e.data?.decision).filter((d): d is string => typeof d === "string");

// ---- the corpus ------------------------------------------------------------------------------------

describe("real Azure Monitor payloads (the public corpus, fragments wrapped)", () => {
  /** What each corpus payload answers with a plan whose alertRules name the corpus rule (→ corpus-rules/westus2). */
  const EXPECTED: Record<string, { status: 200 | 202; kind: string; reason?: RegExp }> = {
    "activity-log-alert-administrative.alertContext.json": { status: 202, kind: "activity-log-administrative" },
    "activity-log-alert-autoscale.alertContext.json": { status: 202, kind: "activity-log-autoscale" },
    "activity-log-alert-policy.alertContext.json": { status: 202, kind: "activity-log-policy" },
    "activity-log-alert-security.alertContext.json": { status: 202, kind: "activity-log-security" },
    "common-schema-metric-alert-resolved.full.json": { status: 202, kind: "metric-static" },
    // The docs' two full samples share one alert id and condition: the second is an action-group retry.
    "common-schema-sample-with-customProperties.full.json": { status: 200, kind: "metric-static", reason: /^duplicate/ },
    "log-search-alert-v1-application-insights.alertContext.json": { status: 202, kind: "log-search-v1" },
    "log-search-alert-v1-platform.alertContext.json": { status: 202, kind: "log-search-v1" },
    "log-search-alert-v2.alertContext.json": { status: 202, kind: "log-search-v2" },
    "metric-alert-availability-test.alertContext.json": { status: 202, kind: "availability-test" },
    "metric-alert-dynamic-threshold.alertContext.json": { status: 202, kind: "metric-dynamic" },
    "metric-alert-static-threshold.alertContext.json": { status: 202, kind: "metric-static" },
    "prometheus-alert.alertContext.json": { status: 202, kind: "prometheus" },
    "resource-health-alert.alertContext.json": { status: 200, kind: "resource-health", reason: /user-initiated/ },
    "service-health-alert.alertContext.json": { status: 200, kind: "service-health", reason: /"Maintenance" is not a service incident/ },
  };
  const bodyOf = (file: string) => corpusBody(file, { alertId: alertIdOf(`corpus-${file.replace(/\..*$/, "")}`) });

  it("every payload answers 200 (ignored, with the reason) or 202 (recorded for corpus-rules/westus2), as expected per kind; a retry is a duplicate", async () => {
    const files = corpusAlertFiles();
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
    const before = await world.state("corpus-rules");

    const answers: HttpAnswer[] = [];
    const table: Record<string, unknown> = {};
    for (const file of files) {
      const answer = await world.post("/api/alerts", bodyOf(file));
      answers.push(answer);
      table[file] = { status: answer.status, kind: answer.body?.kind, status_: answer.body?.status };
      const want = EXPECTED[file]!;
      if (want.status === 202) {
        expect(answer.body, file).toMatchObject({ status: "recorded", signals: [{ plan: "corpus-rules", region: "westus2", duplicate: false }] });
        expect(answer.body.runStarted, file).toBeUndefined();
      } else {
        expect(answer.body.status, file).toBe("ignored");
        expect(answer.body.reason, file).toMatch(want.reason!);
      }
    }
    expectNo5xx(answers);
    expect(table).toEqual(Object.fromEntries(Object.entries(EXPECTED).map(([f, w]) => [f, { status: w.status, kind: w.kind, status_: w.status === 202 ? "recorded" : "ignored" }])));

    // Action groups retry: the same payloads again are all answered 200, recording nothing new.
    const retries = await Promise.all(files.map((f) => world.post("/api/alerts", bodyOf(f))));
    expect(retries.map((r) => r.status)).toEqual(files.map(() => 200));
    expect(retries.filter((r) => r.body.reason?.startsWith("duplicate")).length).toBe(Object.values(EXPECTED).filter((w) => w.status === 202).length + 1);

    // Recorded: the dedupe keys, and one signal (every payload names the rule WCUS-R2-Gen2), dated at
    // its receipt (the app's clock), not at the payload's own time from 2019, which its detail quotes.
    // One alert signal is below the quorum of 2, and alerts alone never declare a region down: no
    // verdict changes, no run.
    const after = await world.state("corpus-rules");
    const recorded = Object.entries(EXPECTED).filter(([, w]) => w.status === 202).length;
    expect(Object.keys(after.seenAlerts).length - Object.keys(before.seenAlerts).length).toBe(recorded);
    const now = world.clock.now().toISOString();
    expect(after.signals.westus2).toEqual({ [`alert:${CORPUS_RULE}`]: expect.objectContaining({ source: "alert", lastSeen: now, since: now, detail: expect.stringMatching(/ at 2019-/) }) });
    expect(after.regions.westus2?.state).toBe("healthy");
    expect(await runIdOf("corpus-rules")).toBeUndefined();
  });

  it("a malformed body answers 400 with the reason (and the field), never 5xx", async () => {
    const valid = corpusBody("metric-alert-static-threshold.alertContext.json");
    const cases: { body: unknown; reason: RegExp; path?: string }[] = [
      { body: "", reason: /not valid JSON/ },
      { body: "{not json", reason: /not valid JSON/ },
      { body: "[]", reason: /must be a JSON object/ },
      { body: "42", reason: /must be a JSON object/ },
      { body: {}, reason: /schemaId: required/, path: "schemaId" },
      { body: { ...valid, schemaId: "Microsoft.Insights/activityLogs" }, reason: /common alert schema/, path: "schemaId" },
      { body: { ...valid, data: { ...valid.data, essentials: { ...valid.data.essentials, monitorCondition: "Exploded" } } }, reason: /monitorCondition/, path: "data.essentials.monitorCondition" },
      { body: { ...valid, data: { ...valid.data, essentials: { ...valid.data.essentials, alertId: undefined } } }, reason: /alertId: required/, path: "data.essentials.alertId" },
      { body: { ...valid, data: { ...valid.data, essentials: { ...valid.data.essentials, firedDateTime: "yesterday" } } }, reason: /firedDateTime/, path: "data.essentials.firedDateTime" },
    ];
    const before = await stateEtags();
    for (const c of cases) {
      const answer = await world.post("/api/alerts", c.body);
      expect(answer.status, JSON.stringify(c.body).slice(0, 80)).toBe(400);
      expect(answer.body).toMatchObject({ status: "invalid", error: { code: "InvalidAlert", message: expect.stringMatching(c.reason) } });
      if (c.path) expect(answer.body.error.path).toBe(c.path);
    }
    expect(await stateEtags()).toEqual(before);
  });
});

// ---- fuzzing -------------------------------------------------------------------------------------

/** Dates a fuzzed alert may carry: at least a day old, or in the future (its signal is dated at its receipt all the same). */
const DAY = 86_400_000;
const fuzzDate = fc.oneof(fc.date({ min: new Date("2000-01-01"), max: new Date(Date.now() - DAY), noInvalidDate: true }), fc.date({ min: new Date(Date.now() + DAY), max: new Date("2100-01-01"), noInvalidDate: true }));

describe("fuzzing the webhook body over HTTP (fast-check, 1,000 cases)", () => {
  it("answers 200/202/400/413 and never 5xx; starts no run; changes no plan's state unless it answered 202 (recorded)", async () => {
    const corpus = corpusAlertFiles().map((f) => corpusBody(f, { alertId: alertIdOf(`fuzz-${f}`) }));
    const replacement = fc.oneof(
      { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
      { weight: 3, arbitrary: fc.constantFrom(null, "", 0, -1, true, [], {}, "Fired", "Resolved", "Sev9", "not a date", "azureMonitorCommonAlertSchema", CORPUS_RULE, ...CONTOSO_TARGETS, CONTOSO_TARGETS) },
      { weight: 2, arbitrary: fuzzDate.map((d) => d.toISOString()) },
      { weight: 1, arbitrary: fc.oneof(fc.constant("x".repeat(300_000)), fc.string({ minLength: 2_049, maxLength: 4_000 })) },
    );
    const mutation = mutationOf(replacement);
    const shaped = fc.record(
      {
        schemaId: fc.oneof(fc.constant("azureMonitorCommonAlertSchema"), fc.jsonValue()),
        data: fc.record(
          {
            essentials: fc.record(
              {
                alertId: fc.oneof(fc.string({ minLength: 1 }).map((s) => alertIdOf(`fuzz-${s}`)), fc.jsonValue()),
                alertRule: fc.oneof(fc.constantFrom(CORPUS_RULE, "some-other-rule"), fc.string(), fc.jsonValue()),
                severity: fc.oneof(fc.constantFrom("Sev0", "Sev4"), fc.jsonValue()),
                monitorCondition: fc.oneof(fc.constantFrom("Fired", "Resolved"), fc.jsonValue()),
                monitoringService: fc.oneof(fc.constantFrom("Platform", "Log Alerts V2", "Resource Health", "ServiceHealth", "Prometheus", "CostAlerts", "SmartDetector"), fc.jsonValue()),
                alertTargetIDs: fc.oneof(fc.array(fc.oneof(fc.constantFrom(...CONTOSO_TARGETS), fc.string()), { maxLength: 3 }), fc.jsonValue()),
                configurationItems: fc.oneof(fc.array(fc.string(), { maxLength: 2 }), fc.jsonValue()),
                firedDateTime: fc.oneof(fuzzDate.map((d) => d.toISOString()), fc.string(), fc.jsonValue()),
                resolvedDateTime: fc.oneof(fuzzDate.map((d) => d.toISOString()), fc.jsonValue()),
              },
              { requiredKeys: [] },
            ),
            alertContext: fc.oneof(fc.object(), fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    const body: fc.Arbitrary<unknown> = fc.oneof(
      // A corpus payload under a fresh alert id (else most would be duplicates), then mutated.
      {
        weight: 4,
        arbitrary: fc.tuple(fc.constantFrom(...corpus), fc.uuid(), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([b, id, ms]) => {
          const fresh = structuredClone(b);
          fresh.data.essentials.alertId = alertIdOf(id);
          return mutate(fresh, ms);
        }),
      },
      { weight: 3, arbitrary: shaped },
      // Unchanged corpus payloads (their ids fixed per file): after the first delivery, action-group retries.
      { weight: 1, arbitrary: fc.constantFrom(...corpus) },
      { weight: 1, arbitrary: fc.jsonValue() },
      // Raw text: anything, and valid payloads cut short.
      { weight: 1, arbitrary: fc.string({ unit: "binary" }) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...corpus), fc.nat()).map(([b, n]) => { const t = JSON.stringify(b); return t.slice(0, n % t.length); }) },
    );

    const runsBefore = await Promise.all(world.plans.map((p) => runIdOf(p.name)));
    expect(runsBefore.slice(0, 2)).toEqual([undefined, undefined]);
    const instances = await instanceEtags();
    let texts = await stateTexts();
    let etags = await stateEtags();
    const seen = { 200: 0, 202: 0, 400: 0, 413: 0 } as Record<number, number>;
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const answer = await world.post("/api/alerts", typeof b === "string" ? b : JSON.stringify(b) ?? "null");
        seen[answer.status] = (seen[answer.status] ?? 0) + 1;
        assert.ok([200, 202, 400, 413].includes(answer.status), `${answer.status}: ${answer.text.slice(0, 300)}`);
        if (answer.status === 400) assert.ok(answer.body.status === "invalid" && answer.body.error.message.length > 0, answer.text);
        if (answer.status === 200) assert.ok(answer.body.status === "ignored" && answer.body.reason.length > 0, answer.text);
        if (answer.status === 202) assert.ok(answer.body.status === "recorded" && answer.body.runStarted === undefined, answer.text);
        // No run started or changed, of any plan (the durable host's instance blobs are as they were).
        const [instancesAfter, etagsAfter] = await Promise.all([instanceEtags(), stateEtags()]);
        assert.deepEqual(instancesAfter, instances);
        if (answer.status === 202) {
          texts = await stateTexts();
        } else if ([...etagsAfter].some(([name, etag]) => etags.get(name) !== etag)) {
          // A duplicate re-evaluates (idempotently): the blob may be rewritten, its content may not change.
          assert.ok(answer.body?.reason?.startsWith("duplicate"), `state written for a ${answer.status}: ${answer.text.slice(0, 300)}`);
          assert.deepEqual(await stateTexts(), texts);
        }
        etags = etagsAfter;
      }),
      { numRuns: 1_000, seed: 4_040_404 },
    );
    expect(await Promise.all(world.plans.map((p) => runIdOf(p.name)))).toEqual(runsBefore);
    expect(await runIdOf(CONTOSO)).toBeUndefined();
    expect(await runIdOf("corpus-rules")).toBeUndefined();
    // The mix reached every answer: not a fuzzer that only ever hit the JSON parser.
    for (const status of [200, 202, 400]) expect(seen[status], `answers ${JSON.stringify(seen)}`).toBeGreaterThan(20);
  }, 60_000);
});

describe("fuzzing override bodies over HTTP (fast-check, 1,000 invalid bodies)", () => {
  const reasonOk = (v: unknown) => typeof v === "string" && v.trim().length >= 3 && v.trim().length <= 500;
  const onlyKeys = (o: Record<string, unknown>, keys: string[]) => Object.keys(o).every((k) => keys.includes(k));
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  /** The API's documented bodies, checked independently of its zod schemas. */
  const VALID: Record<string, (b: unknown) => boolean> = {
    failover: (b) => isObject(b) && onlyKeys(b, ["mode", "reason"]) && reasonOk(b.reason) && (b.mode === undefined || b.mode === "planned" || b.mode === "forced"),
    failback: (b) => isObject(b) && onlyKeys(b, ["reason"]) && reasonOk(b.reason),
    "auto-failover": (b) => isObject(b) && onlyKeys(b, ["enabled", "reason"]) && typeof b.enabled === "boolean" && reasonOk(b.reason),
    approve: (b) => isObject(b) && onlyKeys(b, ["reason"]) && reasonOk(b.reason),
    abort: (b) => isObject(b) && onlyKeys(b, ["reason"]) && reasonOk(b.reason),
  };
  const GOOD: Record<string, Record<string, unknown>> = {
    failover: { mode: "forced", reason: "eastus2 is down" },
    failback: { reason: "eastus2 is back" },
    "auto-failover": { enabled: false, reason: "maintenance window" },
    approve: { reason: "data loss accepted" },
    abort: { reason: "region recovering" },
  };

  it("answers 4xx only, starts no run, changes no state and journals nothing", async () => {
    const runId = newRunId(CONTOSO, "failover", world.clock.now());
    const action = fc.constantFrom("failover", "failback", "auto-failover", "approve", "abort");
    const target = fc.oneof({ weight: 4, arbitrary: fc.constant("known") }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) });
    const badReason = fc.oneof(fc.constantFrom("", "  ", "ok", " ab ", "x".repeat(501), null, 3, true, ["why"], { why: "x" }), fc.string({ maxLength: 2 }));
    const defect = fc.oneof(
      fc.record({ kind: fc.constant("reason" as const), value: badReason }),
      fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom("reason", "enabled", "mode") }),
      fc.record({ kind: fc.constant("extra" as const), key: fc.string({ minLength: 1, maxLength: 10 }), value: fc.jsonValue({ maxDepth: 1 }) }),
      fc.record({ kind: fc.constant("mode" as const), value: fc.oneof(fc.constantFrom("Planned", "FORCED", "auto", "yolo", "", null, 1, true), fc.string()) }),
      fc.record({ kind: fc.constant("enabled" as const), value: fc.oneof(fc.constantFrom("false", "true", 0, 1, null, "no"), fc.jsonValue({ maxDepth: 1 })) }),
    );
    const nearValid = fc.tuple(action, fc.array(defect, { minLength: 1, maxLength: 3 })).map(([a, ds]) => {
      const b: Record<string, unknown> = { ...GOOD[a]! };
      for (const d of ds) {
        if (d.kind === "reason") b.reason = d.value;
        else if (d.kind === "drop") delete b[d.key];
        else if (d.kind === "extra") b[d.key] = d.value;
        else if (d.kind === "mode") b.mode = d.value;
        else b.enabled = d.value;
      }
      return [a, JSON.stringify(b)] as const;
    });
    const raw = fc.tuple(action, fc.oneof(fc.constantFrom("", " ", "{", "null", "[]", "true", "\"reason\"", "{\"reason\":\"abc\""), fc.string({ unit: "binary", maxLength: 60 }), fc.jsonValue().map((v) => JSON.stringify(v) ?? "null")));
    const cases = fc.tuple(fc.oneof({ weight: 3, arbitrary: nearValid }, { weight: 2, arbitrary: raw }), target).filter(([[a, text]]) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return true; // not JSON: invalid
      }
      return !VALID[a]!(parsed);
    });

    const journalRuns = await world.app.journal.listRuns();
    const texts = await stateTexts();
    const etags = await stateEtags();
    const instances = await instanceEtags();
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(cases, async ([[a, text], t]) => {
        const plan = t === "known" ? CONTOSO : t;
        const id = t === "known" ? runId : t;
        const path = a === "approve" || a === "abort" ? `/api/runs/${encodeURIComponent(id)}/${a}` : `/api/plans/${encodeURIComponent(plan)}/${a}`;
        const answer = await world.post(path, text);
        statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
        assert.ok(answer.status >= 400 && answer.status < 500, `${a} ${JSON.stringify(text).slice(0, 100)} → ${answer.status}: ${answer.text.slice(0, 300)}`);
        assert.equal(typeof answer.body?.error?.code, "string", answer.text);
        const [instancesAfter, etagsAfter] = await Promise.all([instanceEtags(), stateEtags()]);
        assert.deepEqual(instancesAfter, instances, "no run started");
        assert.deepEqual(etagsAfter, etags, "no state written");
      }),
      { numRuns: 1_000, seed: 1_234_567 },
    );
    expect(statuses[400], JSON.stringify(statuses)).toBeGreaterThan(500);
    expect(await runIdOf(CONTOSO)).toBeUndefined();
    expect(await stateTexts()).toEqual(texts);
    expect(await world.app.journal.listRuns(), "no override (or refusal) journaled").toEqual(journalRuns);
    expect(await world.app.journal.read(operatorJournalId(CONTOSO, world.clock.now()))).toEqual([]);
  }, 60_000);
});

// ---- the operator role ---------------------------------------------------------------------------

describe("overrides need the Switchyard.Operator role when App Service authentication is on", () => {
  it("answers 403 to a principal without the role (401 without a principal), and nothing changes", async () => {
    // serveHttp over the same app parts, with operatorHandlers built with appServiceAuthOn: true.
    const { app } = world;
    const clock = world.clock.now;
    const secured = operatorHandlers({ plans: app.plans, runs: app.runs, journal: app.journal, clock, appServiceAuthOn: true, detection: detectionControl(app.store, clock) });
    const alerts = app.routes.find((r) => r.name === "alerts")!.handler;
    const handlers: HttpHandlers = { ...secured, alerts };
    const http = await serveHttp(httpRoutes(handlers));
    try {
      const call = (path: string, body: unknown, headers: Record<string, string> = {}) => httpRequest(http.url, "POST", path, body, headers);
      const reader = principal("mallory@contoso.com", ["Switchyard.Reader", "Contributor"]);
      const operator = principal("oncall@contoso.com", ["Switchyard.Operator"]);
      const runId = newRunId(CONTOSO, "failover", clock());
      const overrides: [string, unknown][] = [
        [`/api/plans/${CONTOSO}/failover`, { mode: "forced", reason: "eastus2 is down" }],
        [`/api/plans/${CONTOSO}/failback`, { reason: "eastus2 is back" }],
        [`/api/plans/${CONTOSO}/auto-failover`, { enabled: false, reason: "maintenance window" }],
        [`/api/runs/${runId}/approve`, { reason: "data loss accepted" }],
        [`/api/runs/${runId}/abort`, { reason: "region recovering" }],
      ];
      const texts = await stateTexts();
      const etags = await stateEtags();
      const journalRuns = await app.journal.listRuns();

      for (const [path, body] of overrides) {
        const forbidden = await call(path, body, reader);
        expect(forbidden.status, path).toBe(403);
        expect(forbidden.body.error, path).toMatchObject({ code: "Forbidden", message: expect.stringContaining("Switchyard.Operator") });
        const anonymous = await call(path, body);
        expect(anonymous.status, path).toBe(401);
        expect(anonymous.body.error.code, path).toBe("Unauthenticated");
      }
      expect(await runIdOf(CONTOSO)).toBeUndefined();
      expect(await stateEtags()).toEqual(etags);
      expect(await stateTexts()).toEqual(texts);
      expect(await app.journal.listRuns()).toEqual(journalRuns);

      // The role is what was missing: with it, the same route gets past the check (to the body's validation).
      const withRole = await call(`/api/plans/${CONTOSO}/failover`, { mode: "sideways", reason: "eastus2 is down" }, operator);
      expect(withRole.status).toBe(400);
      expect(withRole.body.error.code).toBe("InvalidRequestBody");
      // Reading needs no role.
      expect((await httpRequest(http.url, "GET", `/api/plans/${CONTOSO}`, undefined, reader)).status).toBe(200);
      expect(await runIdOf(CONTOSO)).toBeUndefined();
    } finally {
      await http.close();
    }
  });
});

describe("a caller's name is untrusted text", () => {
  it("a name that looks like a credential is recorded redacted: the pause takes effect, is answered 200 and journaled", async () => {
    const { app } = world;
    const clock = world.clock.now;
    const secured = operatorHandlers({ plans: app.plans, runs: app.runs, journal: app.journal, clock, appServiceAuthOn: true, detection: detectionControl(app.store, clock) });
    const http = await serveHttp(httpRoutes({ ...secured, alerts: app.routes.find((r) => r.name === "alerts")!.handler }));
    try {
      const who = principal("mallory Password=hunter2;", ["Switchyard.Operator"]);
      const paused = await httpRequest(http.url, "POST", `/api/plans/${CONTOSO}/auto-failover`, { enabled: false, reason: "maintenance window" }, who);
      expect(paused.status, paused.text).toBe(200);
      expect(paused.text).not.toContain("hunter2");
      expect((await world.state(CONTOSO)).policy.paused).toMatchObject({ by: "mallory [redacted];" });
      const resumed = await httpRequest(http.url, "POST", `/api/plans/${CONTOSO}/auto-failover`, { enabled: true, reason: "maintenance over" }, who);
      expect(resumed.status, resumed.text).toBe(200);
      const entries = await app.journal.read(operatorJournalId(CONTOSO, clock()));
      expect(entries.map((e) => [e.data?.action, e.data?.by])).toEqual([
        ["pause-auto-failover", "mallory [redacted];"],
        ["resume-auto-failover", "mallory [redacted];"],
      ]);
      expect(JSON.stringify(entries)).not.toContain("hunter2");
    } finally {
      await http.close();
    }
  });
});

// ---- storms, the kill switch, the cooldown -------------------------------------------------------

/** A Fired alert of `rule`, fired now (the app's clock). */
const fired = (rule: string, id: string) => metricAlert({ alertId: alertIdOf(id), rule, condition: "Fired", firedAt: world.clock.now() });
const storageFailovers = (account: string) =>
  world.app.estate.requests({ writesOnly: true }).filter((r) => r.operationId === "StorageAccounts_Failover" && r.status < 300 && r.path.toLowerCase().endsWith(`/storageaccounts/${account}/failover`));

/**
 * Takes `region` down on the estate and plays the health timer for two checks: the region's one probe
 * fails twice and its signal is down, one signal, below the plan's quorum of 2: nothing is declared
 * and nothing starts. An alert for the region is then the second signal.
 *
 * The checks are a second apart (serve --probe-interval 1): the estate keeps real time, and a run
 * measures a storage account's lag as the app's clock minus the estate's last sync time, so the app's
 * clock must not run minutes ahead of the estate's before a run measures it (the RPO gate would see
 * minutes of lag that the estate never had).
 */
async function probeDown(plan: string, region: string): Promise<void> {
  await world.setRegionDown(region, true);
  const checks = await world.healthChecks(plan, 2, 1_000);
  const probes = Object.values((await world.state(plan)).signals[region] ?? {}).filter((s) => s.source === "probe");
  expect(probes.map((s) => s.status)).toEqual(["down"]);
  expect(checks.map((c) => [c.regions[region]?.state, c.started, c.changes])).toEqual([
    ["healthy", undefined, []],
    ["healthy", undefined, []],
  ]);
}

describe("an alert storm starts at most one run", () => {
  it("50 concurrent identical Fired alerts for the primary → exactly one run (the others: 200 duplicate or 202 without a run)", async () => {
    const name = "storm-plan";
    expect(await runIdOf(name)).toBeUndefined();
    await probeDown(name, "francecentral");
    const body = fired("storm-primary-down", "storm-1");
    const answers = await Promise.all(Array.from({ length: 50 }, () => world.post("/api/alerts", body)));
    expectNo5xx(answers);
    const started = answers.filter((a) => a.body?.runStarted);
    expect(started).toHaveLength(1);
    expect(started[0]!.status).toBe(202);
    for (const a of answers.filter((x) => !x.body?.runStarted)) {
      expect([200, 202], a.text).toContain(a.status);
      if (a.status === 200) expect(a.body.reason, a.text).toMatch(/^duplicate/);
    }
    const runId = started[0]!.body.runStarted as string;
    expect(started[0]!.body.statusUrl).toBe(`/api/runs/${runId}`);

    // The run port: that run, and only that one.
    const view = await world.app.runs.get(name);
    expect(view).toMatchObject({ runId, kind: "failover", from: "francecentral", to: "francesouth", trigger: { source: "alert" } });
    const done = await world.app.runs.waitFor(name);
    expect(done).toMatchObject({ runId, status: "completed" });
    expect((done.output as RunOutput).outcome).toBe("completed");

    // The estate: one storage failover. The journal: one start, in the run's journal and in detection's.
    expect(storageFailovers("stormplandata")).toHaveLength(1);
    const runJournal = await world.app.journal.read(runId);
    expect(runJournal.filter((e) => e.kind === "run-started")).toHaveLength(1);
    const detection = await detectionEntries(name);
    expect(detection.filter((e) => /^automatic failover \S+ started/.test(e.message)).map((e) => e.data?.runId)).toEqual([runId]);
    const state = await world.state(name);
    expect(state.policy.autoFailovers).toHaveLength(1);
    expect(state.seenAlerts[`${alertIdOf("storm-1")}:Fired`]).toBeTruthy();

    // Retries of the storm after the run: still one run.
    const again = await Promise.all(Array.from({ length: 10 }, () => world.post("/api/alerts", body)));
    expectNo5xx(again);
    expect(again.filter((a) => a.body?.runStarted)).toEqual([]);
    expect(await runIdOf(name)).toBe(runId);
    await world.setRegionDown("francecentral", false);
  });
});

describe("the kill switch", () => {
  it("POST auto-failover {enabled:false}, then an outage alert storm: no run; the pause and every refusal are journaled; resuming starts the run", async () => {
    const name = "kill-plan";
    // This app has no App Service authentication: a principal header is not read, the caller is the
    // function key's holder whatever the headers say.
    const who = { ...principal("oncall@contoso.com", ["Switchyard.Operator"]), "x-ms-client-principal-name": "oncall@contoso.com" };
    const pause = await world.post(`/api/plans/${name}/auto-failover`, { enabled: false, reason: "maintenance window, alerts expected" }, who);
    expect(pause.status).toBe(200);
    expect(pause.body).toMatchObject({ plan: name, autoFailover: "paused" });

    // The primary goes down (its probe fails), then a storm: 25 distinct alerts for it, and 25 deliveries of one.
    await probeDown(name, "swedencentral");
    const bodies = [...Array.from({ length: 25 }, (_, i) => fired("kill-primary-down", `kill-${i}`)), ...Array.from({ length: 25 }, () => fired("kill-primary-down", "kill-repeated"))];
    const answers = await Promise.all(bodies.map((b) => world.post("/api/alerts", b)));
    expectNo5xx(answers);
    expect(answers.every((a) => a.status === 200 || a.status === 202)).toBe(true);
    expect(answers.filter((a) => a.body?.runStarted)).toEqual([]);
    expect(answers.filter((a) => a.status === 202).length).toBeGreaterThanOrEqual(26);
    expect(await runIdOf(name)).toBeUndefined();
    expect(storageFailovers("killplandata")).toEqual([]);

    const state = await world.state(name);
    expect(state.policy.paused).toMatchObject({ by: "function-key caller", reason: "maintenance window, alerts expected" });
    expect(state.regions.swedencentral?.state).toBe("down");
    expect(state.policy.autoFailovers).toEqual([]);
    const operatorLog = await world.app.journal.read(operatorJournalId(name, world.clock.now()));
    expect(operatorLog.map((e) => e.data)).toEqual([expect.objectContaining({ action: "pause-auto-failover", by: "function-key caller", authenticated: false, reason: "maintenance window, alerts expected" })]);
    const detection = await detectionEntries(name);
    const paused = detection.filter((e) => e.data?.decision === "paused");
    expect(paused.length).toBeGreaterThan(0);
    expect(paused[0]!.message).toMatch(/paused by function-key caller .*maintenance window/);
    expect(decisionCodes(detection)).not.toContain("start");

    // The switch is what held it: resume, and the next delivery (an action-group retry of an alert of
    // the storm: a duplicate, recording nothing) re-evaluates the outage, still on, and starts the failover.
    const resume = await world.post(`/api/plans/${name}/auto-failover`, { enabled: true, reason: "maintenance over" }, who);
    expect(resume.body).toMatchObject({ autoFailover: "enabled" });
    const retry = await world.post("/api/alerts", bodies[0]);
    expect(retry.status, retry.text).toBe(202);
    expect(retry.body).toMatchObject({ status: "recorded", signals: [{ plan: name, duplicate: true, decision: "failover started" }] });
    expect(retry.body.runStarted).toEqual(expect.any(String));
    expect(await runIdOf(name)).toBe(retry.body.runStarted);
    expect(await world.app.runs.waitFor(name)).toMatchObject({ runId: retry.body.runStarted, status: "completed" });
    await world.setRegionDown("swedencentral", false);
  });
});

describe("the cooldown, and the way home", () => {
  it("after a run completes, a new outage of the new primary within cooldownMinutes starts no second automatic run; once the cooldown is over, going home is a failback", async () => {
    const name = "cool-plan";
    const plan: Plan = world.plan(name);
    await probeDown(name, "norwayeast");
    const firedAt = world.clock.now();
    const first = await world.post("/api/alerts", fired("cool-east-down", "cool-east-1"));
    expect(first.status).toBe(202);
    const runId = first.body.runStarted as string;
    expect(runId).toEqual(expect.any(String));
    const done = await world.app.runs.waitFor(name);
    expect(done).toMatchObject({ runId, kind: "failover", status: "completed", from: "norwayeast", to: "norwaywest" });

    // A minute later norwayeast is back: its probe answers, its alert resolves. It is declared healthy
    // (a target again) only once it has stayed below the quorum for healthyForSeconds (300 s): at the
    // fifth health check a minute apart after the first evaluation that saw it below.
    await world.setRegionDown("norwayeast", false);
    const resolvedAt = world.clock.advance(60_000);
    const resolved = await world.post("/api/alerts", metricAlert({ alertId: alertIdOf("cool-east-1"), rule: "cool-east-down", condition: "Resolved", firedAt, resolvedAt }));
    expect(resolved.status).toBe(202);
    const recovery = await world.healthChecks(name, plan.autoFailover.healthyForSeconds / 60);
    expect(recovery.map((c) => c.regions.norwayeast?.state)).toEqual(["down", "down", "down", "down", "healthy"]);
    expect(recovery.filter((c) => c.started)).toEqual([]);

    // Then the new primary norwaywest goes down, within the cooldown.
    await probeDown(name, "norwaywest");
    const storm = await Promise.all(Array.from({ length: 10 }, (_, i) => world.post("/api/alerts", fired("cool-west-down", `cool-west-${i}`))));
    expectNo5xx(storm);
    expect(storm.filter((a) => a.body?.runStarted)).toEqual([]);

    const state = await world.state(name);
    expect(state.primary).toMatchObject({ region: "norwaywest", runId });
    expect(state.regions).toMatchObject({ norwaywest: { state: "down" }, norwayeast: { state: "healthy" } });
    expect(state.policy.autoFailovers).toHaveLength(1);
    // The cooldown runs from the run's end (its last step, in orchestration time: the local durable
    // host's own clock), or from its start when that is later (the start is reserved on the app's
    // clock, which the tests move), and had not ended on the app's clock when norwaywest went down.
    const lastRunAt = state.policy.lastRunAt!;
    const cooldownEnds = Date.parse(lastRunAt) + plan.autoFailover.cooldownMinutes * 60_000;
    const endedAt = (done.output as RunOutput).steps.at(-1)!.endedAt;
    expect(lastRunAt).toBe(Date.parse(endedAt) > firedAt.getTime() ? endedAt : firedAt.toISOString());
    expect(cooldownEnds).toBeGreaterThan(world.clock.now().getTime());
    expect(await runIdOf(name)).toBe(runId);
    expect(storageFailovers("coolplandata")).toHaveLength(1);
    // The cooldown — not the cap, the target or a run in progress — is the reason given.
    const codes = decisionCodes(await detectionEntriesSince(name, firedAt));
    expect(codes.filter((c) => c === "start")).toHaveLength(1);
    expect(codes.slice(codes.indexOf("start") + 1)).toContain("cooldown");
    expect(codes.slice(codes.indexOf("start") + 1).filter((c) => c !== "cooldown" && c !== "not-down" && c !== "run-in-progress")).toEqual([]);

    // The outage lasts past the cooldown (on the app's clock). norwaywest's alert is not sent again and
    // goes stale, but its probe keeps failing and a region declared down is declared healthy only after
    // healthyForSeconds below the quorum: the first health check after the cooldown goes home to
    // norwayeast, the plan's primary, and going home is a failback.
    world.clock.advance(cooldownEnds - world.clock.now().getTime());
    const [home] = await world.healthChecks(name, 1);
    expect(home!.regions.norwaywest?.state).toBe("down");
    expect(home!.started).toMatchObject({ from: "norwaywest", to: "norwayeast" });
    const failbackId = home!.started!.runId;
    expect(await world.app.runs.get(name)).toMatchObject({ runId: failbackId, kind: "failback", from: "norwaywest", to: "norwayeast", trigger: { source: "timer" } });
    const started = (await detectionEntries(name)).filter((e) => e.data?.decision === "start" && e.data?.runId === failbackId);
    expect(started.map((e) => e.data?.kind)).toEqual(["failback"]);
    expect((await world.state(name)).policy.autoFailovers).toHaveLength(2);

    // A failback re-protects first: the account (LRS in norwaywest since the unplanned failover) must be
    // geo-redundant again before anything moves back, and it cannot be changed while norwaywest, its
    // primary, is down. The run waits for re-protection, nothing has moved back, and the wait can be aborted.
    const waiting = await world.waitForRun(name, (r) => r.runId === failbackId && r.progress?.waitingFor === "reprotection");
    expect(waiting.progress?.step).toBe("reprotect");
    expect(storageFailovers("coolplandata")).toHaveLength(1);
    const abort = await world.post(`/api/runs/${failbackId}/abort`, { reason: "norwaywest is still down" });
    expect(abort.status, abort.text).toBe(202);
    expect(abort.body).toMatchObject({ runId: failbackId, decision: "abort", status: "taken" });
    const back = await world.app.runs.waitFor(name);
    // An aborted run stopped short: its status says so (never "completed" over an outcome that is not).
    expect(back).toMatchObject({ runId: failbackId, kind: "failback", status: "stopped" });
    expect((back.output as RunOutput).outcome).toBe("stopped-aborted");
    expect(storageFailovers("coolplandata")).toHaveLength(1);
    await world.setRegionDown("norwaywest", false);
  });
});
