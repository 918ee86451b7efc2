/**
 * Custom metrics to Application Insights: the classic ingestion API (`POST {IngestionEndpoint}v2.1/track`,
 * a JSON array of envelopes of `baseType: "MetricData"`), addressed by the resource's connection string
 * (`APPLICATIONINSIGHTS_CONNECTION_STRING`, which the Functions host sets). The metrics appear in
 * `customMetrics` with their properties as `customDimensions`, and in the metrics explorer under
 * "Log-based metrics". The connection string is never logged or put in an error.
 */
import { withCurrentSignal } from "./budget.ts";

export interface MetricPoint {
  readonly name: string;
  readonly value: number;
  readonly at: Date;
  /** Dimensions (plan, resource, kind): strings only. */
  readonly properties: Readonly<Record<string, string>>;
}

/** Where metrics go: Application Insights in Azure, the log locally. */
export interface MetricSink {
  publish(points: readonly MetricPoint[]): Promise<void>;
}

/** The parts of a connection string the ingestion API needs. */
export function parseConnectionString(text: string): { instrumentationKey: string; ingestionEndpoint: string } {
  const parts = new Map<string, string>();
  for (const pair of text.split(";")) {
    const at = pair.indexOf("=");
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  const instrumentationKey = parts.get("instrumentationkey");
  if (!instrumentationKey || !/^[0-9a-f-]{36}$/i.test(instrumentationKey)) throw new Error("the Application Insights connection string has no valid InstrumentationKey");
  const endpoint = parts.get("ingestionendpoint") ?? "https://dc.services.visualstudio.com/";
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error("the Application Insights connection string's IngestionEndpoint is not a URL");
  }
  if (url.protocol !== "https:" && url.hostname !== "127.0.0.1" && url.hostname !== "localhost") throw new Error("the Application Insights IngestionEndpoint must be https");
  return { instrumentationKey, ingestionEndpoint: url.href.endsWith("/") ? url.href : `${url.href}/` };
}

/** The ingestion envelopes for `points`. */
export function metricEnvelopes(points: readonly MetricPoint[], instrumentationKey: string, role: string): object[] {
  return points.map((p) => ({
    name: "Microsoft.ApplicationInsights.Metric",
    time: p.at.toISOString(),
    iKey: instrumentationKey,
    tags: { "ai.cloud.role": role },
    data: {
      baseType: "MetricData",
      baseData: { ver: 2, metrics: [{ name: p.name, kind: 0, value: p.value, count: 1 }], properties: { ...p.properties } },
    },
  }));
}

export class AppInsightsMetricSink implements MetricSink {
  private readonly target: { instrumentationKey: string; ingestionEndpoint: string };

  constructor(connectionString: string, private readonly role = "switchyard", private readonly send: typeof fetch = fetch) {
    this.target = parseConnectionString(connectionString);
  }

  async publish(points: readonly MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    const signal = withCurrentSignal(AbortSignal.timeout(30_000));
    const response = await this.send(`${this.target.ingestionEndpoint}v2.1/track`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(metricEnvelopes(points, this.target.instrumentationKey, this.role)),
      ...(signal ? { signal } : {}),
    });
    // 200: all accepted; 206: some refused (the answer says which); anything else: none taken.
    if (response.status !== 200 && response.status !== 206) throw new Error(`Application Insights refused ${points.length} metric(s): HTTP ${response.status}`);
    await response.body?.cancel();
  }
}
