/**
 * Telemetry's parts without a drill: the run's derived ids, the safe attribute set, the Azure call
 * policy on a pipeline of its own (a fake transport answers as ARM does), the worker's setup from the
 * environment, log correlation, and that a failing exporter or instrument never reaches the code observed.
 */
import { createEmptyPipeline, createHttpHeaders, createPipelineRequest, type HttpClient, type PipelineRequest, type PipelineResponse } from "@azure/core-rest-pipeline";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { AggregationTemporality, InMemoryMetricExporter, type DataPoint, type Histogram } from "@opentelemetry/sdk-metrics";
import { afterEach, describe, expect, it } from "vitest";
import { jsonLogger } from "../../src/app/logging.ts";
import { Attr, safeAttributes, urlWithoutQuery } from "../../src/telemetry/attributes.ts";
import { azureCallPolicy } from "../../src/telemetry/azureCalls.ts";
import { runTraceIds } from "../../src/telemetry/ids.ts";
import { recordRunFinished } from "../../src/telemetry/runs.ts";
import { flushTelemetry, inSpan, Metrics, recordWebhook, setupTelemetry, shutdownTelemetry, Spans, telemetryEnabled } from "../../src/telemetry/telemetry.ts";
import { parseAuthenticationString, setupWorkerTelemetry } from "../../src/telemetry/worker.ts";
import type { JournalEntry } from "../../src/core/journal.ts";

const CONNECTION = "InstrumentationKey=5c2b1a90-3d4e-4f5a-8b6c-7d8e9f0a1b2c;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/";

afterEach(async () => {
  await shutdownTelemetry();
});

function inMemory() {
  const spans = new InMemorySpanExporter();
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  setupTelemetry({ spanExporter: spans, metricExporter: metrics, simpleSpans: true, metricIntervalMs: 3_600_000 });
  return { spans, metrics };
}

/** A pipeline with only the telemetry policy, over a transport that answers `respond`. */
async function send(url: string, respond: (request: PipelineRequest) => { status: number; headers?: Record<string, string>; body?: string }, method: "GET" | "PUT" | "POST" = "PUT"): Promise<PipelineResponse> {
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(azureCallPolicy);
  const client: HttpClient = {
    async sendRequest(request) {
      const r = respond(request);
      return { request, status: r.status, headers: createHttpHeaders(r.headers ?? {}), ...(r.body !== undefined ? { bodyAsText: r.body } : {}) };
    },
  };
  return pipeline.sendRequest(client, createPipelineRequest({ url, method }));
}

describe("a run's trace ids", () => {
  it("are derived from the run id alone: the same for every invocation, different for another run, valid W3C ids", () => {
    const a = runTraceIds("contoso-orders.20261203T134511Z.drill-failover-0f39");
    expect(runTraceIds("contoso-orders.20261203T134511Z.drill-failover-0f39")).toEqual(a);
    const b = runTraceIds("contoso-orders.20261203T134511Z.drill-failover-0f3a");
    expect(b.traceId).not.toBe(a.traceId);
    expect(b.spanId).not.toBe(a.spanId);
    for (const ids of [a, b]) {
      expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(ids.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(ids.traceId).not.toMatch(/^0+$/);
    }
  });
});

describe("the safe attribute set", () => {
  it("keeps only known names, drops a value that looks like a secret whole, and caps text", () => {
    const kept = safeAttributes({
      [Attr.plan]: "ledger",
      [Attr.status]: 202,
      [Attr.withinBudget]: true,
      [Attr.errorCode]: "Password=hunter2;",
      [Attr.url]: "x".repeat(600),
      password: "hunter2",
      "http.request.header.authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2ln",
      [Attr.host]: undefined,
      [Attr.rtoSeconds]: Number.NaN,
    });
    expect(kept).toEqual({ [Attr.plan]: "ledger", [Attr.status]: 202, [Attr.withinBudget]: true, [Attr.url]: "x".repeat(512) });
  });

  it("records a URL as scheme, host and path: no query, no user info", () => {
    expect(urlWithoutQuery("https://user:pw@acct.blob.core.windows.net/c/b.json?sv=2024&sig=abc%2Bdef&se=x")).toBe("https://acct.blob.core.windows.net/c/b.json");
    expect(urlWithoutQuery("not a url")).toBeUndefined();
  });
});

describe("the Azure call policy", () => {
  it("makes a client span with the method, the URL without its query, the status, both request ids and the operation's id", async () => {
    const { spans } = inMemory();
    const response = await send(
      "https://management.azure.com/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/a/failoverGroups/fg/failover?api-version=2023-08-01",
      (request) => ({
        status: 202,
        headers: {
          "x-ms-request-id": "2f6f6a9e-0001",
          "x-ms-client-request-id": request.requestId,
          "azure-asyncoperation": "https://management.azure.com/subscriptions/s/providers/Microsoft.Sql/locations/westus/failoverGroupAzureAsyncOperation/op-42?api-version=2023-08-01&sig=SECRET",
        },
      }),
      "POST",
    );
    expect(response.status).toBe(202);
    const [span] = spans.getFinishedSpans();
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.attributes).toEqual({
      [Attr.method]: "POST",
      [Attr.url]: "https://management.azure.com/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/a/failoverGroups/fg/failover",
      [Attr.host]: "management.azure.com",
      [Attr.status]: 202,
      [Attr.serviceRequestId]: "2f6f6a9e-0001",
      [Attr.clientRequestId]: response.request.requestId,
      [Attr.asyncOperation]: "/subscriptions/s/providers/Microsoft.Sql/locations/westus/failoverGroupAzureAsyncOperation/op-42",
    });
    expect(JSON.stringify(span?.attributes)).not.toContain("SECRET");
  });

  it("marks a failed response an error with Azure's error code, from the header or the ARM body", async () => {
    const { spans } = inMemory();
    await send("https://management.azure.com/x", () => ({ status: 409, body: JSON.stringify({ error: { code: "FailoverGroupBusy", message: "a Password=abc" } }) }));
    await send("https://acct.blob.core.windows.net/c/b?sig=zzz", () => ({ status: 404, headers: { "x-ms-error-code": "BlobNotFound", "x-ms-request-id": "r-2" } }), "GET");
    const [arm, blob] = spans.getFinishedSpans();
    expect(arm?.status.code).toBe(SpanStatusCode.ERROR);
    expect(arm?.attributes).toMatchObject({ [Attr.status]: 409, [Attr.azureErrorCode]: "FailoverGroupBusy", [Attr.errorType]: "409" });
    expect(JSON.stringify(arm?.attributes)).not.toContain("abc");
    expect(blob?.attributes).toMatchObject({ [Attr.status]: 404, [Attr.azureErrorCode]: "BlobNotFound", [Attr.serviceRequestId]: "r-2", [Attr.url]: "https://acct.blob.core.windows.net/c/b" });
  });

  it("is a child of the activity span in progress, and passes requests through untouched when telemetry is off", async () => {
    const { spans } = inMemory();
    await inSpan({ name: `${Spans.activity} failoverSqlGroup`, runId: "r-1" }, () => send("https://management.azure.com/y", () => ({ status: 200 })));
    const [call, activity] = spans.getFinishedSpans() as ReadableSpan[];
    expect(call?.parentSpanContext?.spanId).toBe(activity?.spanContext().spanId);
    expect(activity?.parentSpanContext?.spanId).toBe(runTraceIds("r-1").spanId);
    expect(call?.spanContext().traceId).toBe(runTraceIds("r-1").traceId);

    const after = new InMemorySpanExporter();
    setupTelemetry({ spanExporter: after, simpleSpans: true });
    await shutdownTelemetry();
    const response = await send("https://management.azure.com/z", () => ({ status: 200, headers: { "x-ms-request-id": "r-3" } }));
    expect(response.headers.get("x-ms-request-id")).toBe("r-3");
    expect(after.getFinishedSpans()).toEqual([]);
  });
});

describe("a run's end", () => {
  it("is its root span (derived id, recorded start and end) and its metrics, from the run-finished entry and the journal's run-started", async () => {
    const { spans, metrics } = inMemory();
    const runId = "ledger.20261203T100000Z.auto-failover-1a2b";
    const output = { runId, kind: "failover", outcome: "completed", from: "koreacentral", to: "koreasouth", steps: [{ step: "assess", startedAt: "2026-12-03T10:00:03.000Z", endedAt: "2026-12-03T10:00:04.000Z", outcome: "ok" }], rtoSeconds: 95, rtoTargetSeconds: 1800, rpoExposureSeconds: 12, rpoBudgetSeconds: 10, dataLossAllowedBy: "approval", message: "done" };
    const journal = [{ runId, at: "2026-12-03T10:00:01.500Z", kind: "run-started", message: "started", data: { plan: "ledger", mode: "auto" } }] as unknown as JournalEntry[];

    await recordRunFinished(runId, [{ at: "2026-12-03T10:01:41.500Z", kind: "run-finished", data: { outcome: "completed", output } }], async () => journal);
    await flushTelemetry();

    const [root] = spans.getFinishedSpans();
    expect(root?.spanContext()).toMatchObject(runTraceIds(runId));
    expect(root?.kind).toBe(SpanKind.SERVER);
    expect(root?.startTime).toEqual([Date.parse("2026-12-03T10:00:01.500Z") / 1000 - 0.5, 500_000_000]);
    expect(root?.duration).toEqual([100, 0]);
    expect(root?.attributes).toMatchObject({ [Attr.plan]: "ledger", [Attr.mode]: "auto", [Attr.outcome]: "completed", [Attr.rtoSeconds]: 95, [Attr.rpoBudgetSeconds]: 10 });
    const data = metrics.getMetrics().at(-1)!.scopeMetrics.flatMap((s) => s.metrics);
    const one = (name: string) => data.find((m) => m.descriptor.name === name)!.dataPoints as DataPoint<Histogram>[];
    expect(one(Metrics.rto).map((p) => p.value.sum)).toEqual([95]);
    expect(one(Metrics.duration).map((p) => p.value.sum)).toEqual([100]);
    expect(one(Metrics.rpoExposure)[0]).toMatchObject({ value: { sum: 12 }, attributes: { [Attr.withinBudget]: false, [Attr.rpoBudgetSeconds]: 10, [Attr.dataLossAllowedBy]: "approval" } });
  });

  it("emits nothing for journal calls that do not end a run", async () => {
    const { spans } = inMemory();
    let reads = 0;
    await recordRunFinished("r", [{ at: "2026-12-03T10:00:00Z", kind: "step-started", step: "assess" }], async () => (reads++, []));
    expect(reads).toBe(0);
    expect(spans.getFinishedSpans()).toEqual([]);
  });
});

describe("never in the way", () => {
  it("a span whose exporter throws leaves the work's result and error as they were", async () => {
    const broken: SpanExporter = { export: () => { throw new Error("exporter down"); }, shutdown: async () => undefined };
    setupTelemetry({ spanExporter: broken, simpleSpans: true });
    await expect(inSpan({ name: "x" }, async () => 42)).resolves.toBe(42);
    await expect(inSpan({ name: "y" }, async () => { throw new Error("the step's own failure"); })).rejects.toThrow("the step's own failure");
  });

  it("does nothing before setup: no span, and metrics are dropped", async () => {
    expect(telemetryEnabled()).toBe(false);
    recordWebhook(12, "recorded");
    await expect(inSpan({ name: "z" }, async () => "done")).resolves.toBe("done");
  });
});

describe("log lines", () => {
  it("carry the trace and span of the activity in progress, and none outside it", async () => {
    inMemory();
    const lines: string[] = [];
    const log = jsonLogger((line) => lines.push(line));
    log.info("before");
    await inSpan({ name: "activity", runId: "r-9" }, async () => log.info("inside"));
    const [before, inside] = lines.map((l) => JSON.parse(l));
    expect(before.traceId).toBeUndefined();
    expect(inside.traceId).toBe(runTraceIds("r-9").traceId);
    expect(inside.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(inside.spanId).not.toBe(runTraceIds("r-9").spanId);
  });
});

describe("the worker's setup from its environment", () => {
  it("is off without a connection string, on with one, with the managed identity's credential for Entra ingestion", () => {
    const asked: (string | undefined)[] = [];
    const credential = (clientId?: string) => (asked.push(clientId), { getToken: async () => null });
    expect(setupWorkerTelemetry({}, credential)).toMatch(/^telemetry off: APPLICATIONINSIGHTS_CONNECTION_STRING is not set/);
    expect(telemetryEnabled()).toBe(false);

    expect(setupWorkerTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION }, credential)).toBe("telemetry on: Azure Monitor");
    expect(telemetryEnabled()).toBe(true);
    expect(asked).toEqual([]);

    const clientId = "1b7c5a3e-7d2f-4c11-9a55-1f0e2d3c4b5a";
    expect(setupWorkerTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `Authorization=AAD;ClientId=${clientId}` }, credential)).toMatch(/Entra ingestion \(user-assigned identity\)/);
    expect(asked).toEqual([clientId]);
  });

  it("reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING as the Functions setting writes it, and refuses anything else without quoting it", () => {
    expect(parseAuthenticationString(undefined)).toEqual({ entra: false });
    expect(parseAuthenticationString("Authorization=AAD")).toEqual({ entra: true });
    expect(parseAuthenticationString("Authorization=AAD;ClientId=1b7c5a3e-7d2f-4c11-9a55-1f0e2d3c4b5a")).toEqual({ entra: true, clientId: "1b7c5a3e-7d2f-4c11-9a55-1f0e2d3c4b5a" });
    // The order the infrastructure writes it in (infra/app/function.bicep).
    expect(parseAuthenticationString("ClientId=1b7c5a3e-7d2f-4c11-9a55-1f0e2d3c4b5a;Authorization=AAD")).toEqual({ entra: true, clientId: "1b7c5a3e-7d2f-4c11-9a55-1f0e2d3c4b5a" });
    const bad = parseAuthenticationString("Authorization=Basic;Secret=hunter2");
    expect(bad).toMatchObject({ error: expect.stringContaining("Authorization=AAD") });
    expect(JSON.stringify(bad)).not.toContain("hunter2");
    expect(setupWorkerTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: CONNECTION, APPLICATIONINSIGHTS_AUTHENTICATION_STRING: "Authorization=AAD;ClientId=not-a-guid" })).toMatch(/^telemetry off: .*ClientId/);
    expect(telemetryEnabled()).toBe(false);
  });

  it("leaves telemetry off when the exporter refuses the connection string", () => {
    expect(setupWorkerTelemetry({ APPLICATIONINSIGHTS_CONNECTION_STRING: "InstrumentationKey=;" })).toBe("telemetry off: the Azure Monitor exporter refused its configuration (Error)");
    expect(telemetryEnabled()).toBe(false);
  });
});
