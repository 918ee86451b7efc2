/**
 * Switchyard's OpenTelemetry: one tracer provider and one meter provider per process, set up once
 * (setupTelemetry) with the exporters it is given: Azure Monitor's in the Function App (worker.ts),
 * in-memory ones in tests and drills. Until then, and after shutdownTelemetry, every function here does
 * nothing. Nothing here ever throws into the code it observes: a telemetry failure is dropped.
 *
 * Spans are held in this module's own async context (an AsyncLocalStorage of the current span), not in
 * a global OpenTelemetry context manager: the Azure SDK policies, the SQL path and the loggers read it.
 * Orchestrator code never calls into this module (test/unit/architecture.test.ts keeps it so): its
 * replays would repeat every span and metric.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Counter, type Gauge, type Histogram, type Meter, type Span, type Tracer } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, RandomIdGenerator, SimpleSpanProcessor, type IdGenerator, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { Attr, safeAttributes } from "./attributes.ts";
import { runTraceIds } from "./ids.ts";

/** Metric names (documented in the README's Telemetry part). */
export const Metrics = {
  /** Seconds from detection to the verified new primary (RunOutput.rtoSeconds), per run that got there. */
  rto: "switchyard.run.rto",
  /** Seconds from the run's start to its end (the journal's run-started and run-finished), every run. */
  duration: "switchyard.run.duration",
  /** Replication lag at the failover decision that a forced failover put at risk (0 when planned), with the plan's RPO. */
  rpoExposure: "switchyard.run.rpo_exposure",
  /** Each replication lag sample of the replicationLag timer (the name Application Insights has always had). */
  lag: "ReplicationLagSeconds",
  /** Detection's policy decisions, by decision. */
  detectionDecisions: "switchyard.detection.decisions",
  /** How long the alert webhook took to answer, by outcome. */
  webhookDuration: "switchyard.webhook.duration",
} as const;

/** Span names. */
export const Spans = {
  run: "switchyard.run",
  /** An activity invocation: `switchyard.activity <name>`. */
  activity: "switchyard.activity",
  webhook: "switchyard.webhook alerts",
  /** A timer's round: `switchyard.timer <name>`. */
  timer: "switchyard.timer",
  sql: "SQL",
} as const;

export interface TelemetryOptions {
  /** Where spans go (Azure Monitor, or an InMemorySpanExporter). None: no spans. */
  readonly spanExporter?: SpanExporter;
  /** Where metrics go (Azure Monitor, or an InMemoryMetricExporter). None: no metrics. */
  readonly metricExporter?: PushMetricExporter;
  /** The service name (Application Insights' cloud role): the Function App's name in Azure. */
  readonly serviceName?: string;
  /** How often metrics are exported (ms; default 60 000). */
  readonly metricIntervalMs?: number;
  /** Export each span as it ends (tests); default: in batches. */
  readonly simpleSpans?: boolean;
}

/** A run's root span id, handed to the tracer for the one span that must have it. */
class DerivedIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  next: { traceId: string; spanId: string } | undefined;
  generateTraceId(): string {
    return this.next?.traceId ?? this.random.generateTraceId();
  }
  generateSpanId(): string {
    return this.next?.spanId ?? this.random.generateSpanId();
  }
}

interface Instruments {
  readonly rto: Histogram;
  readonly duration: Histogram;
  readonly rpoExposure: Histogram;
  readonly lag: Gauge;
  readonly detectionDecisions: Counter;
  readonly webhookDuration: Histogram;
}

class Active {
  readonly tracer: Tracer;
  readonly meter: Meter;
  readonly instruments: Instruments;
  constructor(
    readonly ids: DerivedIds,
    readonly tracerProvider: BasicTracerProvider,
    readonly meterProvider: MeterProvider,
  ) {
    this.tracer = tracerProvider.getTracer("switchyard");
    this.meter = meterProvider.getMeter("switchyard");
    this.instruments = {
      rto: this.meter.createHistogram(Metrics.rto, { unit: "s", description: "Seconds from detection to the verified new primary, per run" }),
      duration: this.meter.createHistogram(Metrics.duration, { unit: "s", description: "Seconds from a run's start to its end" }),
      rpoExposure: this.meter.createHistogram(Metrics.rpoExposure, { unit: "s", description: "Replication lag at the failover decision that the run's failover put at risk (0 when planned)" }),
      lag: this.meter.createGauge(Metrics.lag, { unit: "s", description: "Replication lag per resource, as the replicationLag timer measured it" }),
      detectionDecisions: this.meter.createCounter(Metrics.detectionDecisions, { description: "Detection's automatic failover decisions" }),
      webhookDuration: this.meter.createHistogram(Metrics.webhookDuration, { unit: "ms", description: "Alert webhook handling time" }),
    };
  }
}

let active: Active | undefined;
const currentSpan = new AsyncLocalStorage<Span>();

/** Drops whatever a telemetry call throws: observing must never break what it observes. */
function quietly(work: () => void): void {
  try {
    work();
  } catch {
    // telemetry is best effort
  }
}

/**
 * Sets telemetry up with `options` (a previous setup is shut down first, without waiting). Returns
 * whether anything will be exported.
 */
export function setupTelemetry(options: TelemetryOptions): boolean {
  const previous = active;
  active = undefined;
  if (previous) void shutdownProviders(previous);
  if (!options.spanExporter && !options.metricExporter) return false;
  const resource = resourceFromAttributes({ "service.name": options.serviceName ?? "switchyard" });
  const ids = new DerivedIds();
  const spanProcessors = options.spanExporter ? [options.simpleSpans ? new SimpleSpanProcessor(options.spanExporter) : new BatchSpanProcessor(options.spanExporter)] : [];
  const tracerProvider = new BasicTracerProvider({ resource, idGenerator: ids, spanProcessors });
  const readers = options.metricExporter ? [new PeriodicExportingMetricReader({ exporter: options.metricExporter, exportIntervalMillis: options.metricIntervalMs ?? 60_000 })] : [];
  const meterProvider = new MeterProvider({ resource, readers });
  active = new Active(ids, tracerProvider, meterProvider);
  return true;
}

/** Whether telemetry is set up. */
export function telemetryEnabled(): boolean {
  return active !== undefined;
}

/** Exports what is pending (spans in a batch, metrics since the last export). Never rejects. */
export async function flushTelemetry(): Promise<void> {
  const a = active;
  if (!a) return;
  await Promise.allSettled([a.tracerProvider.forceFlush(), a.meterProvider.forceFlush()]);
}

/** Flushes and stops telemetry; every call after this does nothing until the next setup. Never rejects. */
export async function shutdownTelemetry(): Promise<void> {
  const a = active;
  active = undefined;
  if (a) await shutdownProviders(a);
}

async function shutdownProviders(a: Active): Promise<void> {
  await Promise.allSettled([a.tracerProvider.shutdown(), a.meterProvider.shutdown()]);
}

/** The trace and span ids of the span in progress (for log lines), if any. */
export function activeSpanIds(): { traceId: string; spanId: string } | undefined {
  const span = currentSpan.getStore();
  if (!span) return undefined;
  const c = span.spanContext();
  return { traceId: c.traceId, spanId: c.spanId };
}

/** The span in progress, if telemetry is on (the Azure call policy's parent). */
export function activeSpan(): Span | undefined {
  return active ? currentSpan.getStore() : undefined;
}

export interface SpanSpec {
  readonly name: string;
  readonly kind?: SpanKind;
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** The run whose trace the span belongs to: its parent is the run's root span (derived from the run id). */
  readonly runId?: string;
}

/** A span started under the run's root (spec.runId) or the span in progress; undefined when telemetry is off. */
export function startSpan(spec: SpanSpec): Span | undefined {
  const a = active;
  if (!a) return undefined;
  try {
    let parent = ROOT_CONTEXT;
    if (spec.runId !== undefined) {
      const root = runTraceIds(spec.runId);
      parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: root.traceId, spanId: root.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    } else {
      const current = currentSpan.getStore();
      if (current) parent = trace.setSpan(ROOT_CONTEXT, current);
    }
    return a.tracer.startSpan(spec.name, { kind: spec.kind ?? SpanKind.INTERNAL, attributes: safeAttributes(spec.attributes ?? {}) }, parent);
  } catch {
    return undefined;
  }
}

/** Sets more attributes on a span (the safe ones only). */
export function setAttributes(span: Span | undefined, attributes: Readonly<Record<string, unknown>>): void {
  if (span) quietly(() => span.setAttributes(safeAttributes(attributes)));
}

/** Ends a span, with an error status when `failed` (its description is a code, never a message). */
export function endSpan(span: Span | undefined, failed?: { code?: string }): void {
  if (!span) return;
  quietly(() => {
    if (failed) span.setStatus({ code: SpanStatusCode.ERROR, ...(failed.code ? { message: safeAttributes({ [Attr.errorCode]: failed.code })[Attr.errorCode] as string | undefined } : {}) });
    span.end();
  });
}

/**
 * Runs `work` inside a span (the current span while it runs). `failure` reads a result that is a
 * failure without being thrown (an activity's envelope). A throw ends the span as an error, and is rethrown.
 */
export async function inSpan<T>(spec: SpanSpec, work: () => Promise<T>, failure?: (result: T) => { code?: string; attributes?: Record<string, unknown> } | undefined): Promise<T> {
  const span = startSpan(spec);
  if (!span) return work();
  let result: T;
  try {
    result = await currentSpan.run(span, work);
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    endSpan(span, { ...(typeof code === "string" ? { code } : {}) });
    throw error;
  }
  let failed: { code?: string; attributes?: Record<string, unknown> } | undefined;
  quietly(() => (failed = failure?.(result)));
  if (failed?.attributes) setAttributes(span, failed.attributes);
  setAttributes(span, { [Attr.outcome]: failed ? "failed" : "ok" });
  endSpan(span, failed ? { ...(failed.code ? { code: failed.code } : {}) } : undefined);
  return result;
}

/** What a run's root span and run metrics are made of: the run's output and its recorded start and end. */
export interface RunEnd {
  readonly runId: string;
  readonly plan: string;
  readonly kind: string;
  readonly mode?: string;
  readonly outcome: string;
  readonly from: string;
  readonly to: string;
  /** The run's start as recorded (the journal's run-started entry). */
  readonly startedAt: Date;
  /** Its end (the run-finished entry). */
  readonly endedAt: Date;
  readonly rtoSeconds: number | null;
  readonly rtoTargetSeconds: number;
  readonly rpoExposureSeconds: number | null;
  readonly rpoBudgetSeconds: number;
  readonly dataLossAllowedBy: string;
}

/**
 * Emits the run's root span (the trace id and span id derived from its run id, from its recorded start
 * to its end) and the run's metrics: duration, RTO (when reached) and RPO exposure (when known).
 */
export function recordRunEnd(run: RunEnd): void {
  const a = active;
  if (!a) return;
  quietly(() => {
    const ids = runTraceIds(run.runId);
    const attributes = {
      [Attr.runId]: run.runId,
      [Attr.plan]: run.plan,
      [Attr.kind]: run.kind,
      [Attr.mode]: run.mode,
      [Attr.outcome]: run.outcome,
      [Attr.from]: run.from,
      [Attr.to]: run.to,
      [Attr.rtoSeconds]: run.rtoSeconds ?? undefined,
      [Attr.rtoTargetSeconds]: run.rtoTargetSeconds,
      [Attr.rpoExposureSeconds]: run.rpoExposureSeconds ?? undefined,
      [Attr.rpoBudgetSeconds]: run.rpoBudgetSeconds,
      [Attr.dataLossAllowedBy]: run.dataLossAllowedBy,
    };
    let span: Span | undefined;
    a.ids.next = ids;
    try {
      span = a.tracer.startSpan(`${Spans.run} ${run.kind}`, { kind: SpanKind.SERVER, startTime: run.startedAt, attributes: safeAttributes(attributes) }, ROOT_CONTEXT);
    } finally {
      a.ids.next = undefined;
    }
    if (run.outcome !== "completed") span.setStatus({ code: SpanStatusCode.ERROR, message: run.outcome });
    span.end(run.endedAt);

    const dims: Attributes = safeAttributes({ [Attr.plan]: run.plan, [Attr.kind]: run.kind, [Attr.outcome]: run.outcome });
    a.instruments.duration.record(Math.max(0, (run.endedAt.getTime() - run.startedAt.getTime()) / 1000), dims);
    if (run.rtoSeconds !== null) a.instruments.rto.record(run.rtoSeconds, dims);
    if (run.rpoExposureSeconds !== null) {
      a.instruments.rpoExposure.record(
        run.rpoExposureSeconds,
        safeAttributes({ ...dims, [Attr.rpoBudgetSeconds]: run.rpoBudgetSeconds, [Attr.withinBudget]: run.rpoExposureSeconds <= run.rpoBudgetSeconds, [Attr.dataLossAllowedBy]: run.dataLossAllowedBy }),
      );
    }
  });
}

/** One replication lag sample (`ReplicationLagSeconds`, with the dimensions the classic metric had). */
export function recordLag(sample: { plan: string; resourceId: string; kind: string; name: string; state: string; lagSeconds: number }): void {
  const a = active;
  if (!a) return;
  quietly(() =>
    a.instruments.lag.record(sample.lagSeconds, safeAttributes({ [Attr.lagPlan]: sample.plan, [Attr.resourceId]: sample.resourceId, [Attr.resourceKind]: sample.kind, [Attr.resourceName]: sample.name, [Attr.lagState]: sample.state })),
  );
}

/** One decision of detection's policy: `decision` is "start" or the code of no start; `journaled` whether the detection journal recorded it. */
export function recordDetectionDecision(plan: string, decision: string, journaled: boolean, trigger?: string): void {
  const a = active;
  if (!a) return;
  quietly(() => a.instruments.detectionDecisions.add(1, safeAttributes({ [Attr.plan]: plan, [Attr.decision]: decision, [Attr.journaled]: journaled, [Attr.trigger]: trigger })));
}

/** How long one alert webhook request took (ms), by outcome (`recorded`, `ignored`, `invalid`, `unauthorized`, `retry`, ...). */
export function recordWebhook(durationMs: number, outcome: string): void {
  const a = active;
  if (!a) return;
  quietly(() => a.instruments.webhookDuration.record(durationMs, safeAttributes({ [Attr.outcome]: outcome })));
}
