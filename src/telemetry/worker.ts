/**
 * Telemetry of the Function App's worker process, set up once when the first function file loads it
 * (each src/functions/*.ts imports this module first): the Azure Monitor exporter for traces and
 * metrics when APPLICATIONINSIGHTS_CONNECTION_STRING is set, nothing otherwise.
 *
 * Why the exporter with the SDK's providers and not the `@azure/monitor-opentelemetry` distro: the
 * "Use OpenTelemetry with Azure Functions" how-to (learn.microsoft.com/azure/azure-functions/opentelemetry-howto,
 * JavaScript) sets up exactly this (AzureMonitorTraceExporter and AzureMonitorMetricExporter on SDK
 * providers); the distro (which Application Insights' docs recommend for Node apps in general) adds
 * sdk-node, OTLP exporters and instrumentations of libraries Switchyard does not use (measured +3.3 MB
 * minified against ~1 MB for exporter + SDK), and its automatic HTTP instrumentation would not know
 * Switchyard's run traces anyway: the spans that matter are Switchyard's own (src/telemetry/telemetry.ts).
 *
 * Microsoft Entra authenticated ingestion: when APPLICATIONINSIGHTS_AUTHENTICATION_STRING is
 * `Authorization=AAD` (system-assigned identity) or `Authorization=AAD;ClientId=<id>` (the user-assigned
 * identity, the Functions app setting's format), the exporters get a ManagedIdentityCredential for that
 * client id (the identity needs Monitoring Metrics Publisher on the Application Insights resource).
 *
 * host.json keeps the classic telemetry mode: see the README's Telemetry part for why.
 */
import azureFunctions from "@azure/functions";
import type { TokenCredential } from "@azure/core-auth";
import { ManagedIdentityCredential } from "@azure/identity";
import { AzureMonitorMetricExporter, AzureMonitorTraceExporter } from "@azure/monitor-opentelemetry-exporter";
import { flushTelemetry, setupTelemetry, shutdownTelemetry } from "./telemetry.ts";

export interface WorkerTelemetryEnvironment {
  readonly APPLICATIONINSIGHTS_CONNECTION_STRING?: string | undefined;
  readonly APPLICATIONINSIGHTS_AUTHENTICATION_STRING?: string | undefined;
  readonly WEBSITE_SITE_NAME?: string | undefined;
}

/**
 * What APPLICATIONINSIGHTS_AUTHENTICATION_STRING asks for: Entra ingestion (with the user-assigned
 * identity's client id, if named), or nothing. Anything else is not usable (the reason names no value).
 */
export function parseAuthenticationString(text: string | undefined): { entra: false } | { entra: true; clientId?: string } | { error: string } {
  if (text === undefined || text.trim() === "") return { entra: false };
  const parts = new Map<string, string>();
  for (const pair of text.split(";")) {
    const at = pair.indexOf("=");
    if (at > 0) parts.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  if (parts.get("authorization")?.toUpperCase() !== "AAD") return { error: "APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be Authorization=AAD, optionally with ;ClientId=<client id>" };
  const clientId = parts.get("clientid");
  if (clientId !== undefined && !/^[0-9a-f-]{36}$/i.test(clientId)) return { error: "APPLICATIONINSIGHTS_AUTHENTICATION_STRING's ClientId is not a client id (a GUID)" };
  return clientId ? { entra: true, clientId } : { entra: true };
}

/**
 * Sets telemetry up from the environment: the Azure Monitor exporters when a connection string is set
 * (with the managed identity's credential for Entra ingestion), nothing otherwise. Returns what it did,
 * for the log; it never throws (a connection string the exporter refuses leaves telemetry off).
 */
export function setupWorkerTelemetry(env: WorkerTelemetryEnvironment, credential: (clientId?: string) => TokenCredential = (clientId) => new ManagedIdentityCredential(clientId ? { clientId } : {})): string {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING?.trim();
  if (!connectionString) return "telemetry off: APPLICATIONINSIGHTS_CONNECTION_STRING is not set";
  const auth = parseAuthenticationString(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  if ("error" in auth) return `telemetry off: ${auth.error}`;
  try {
    const options = { connectionString, ...(auth.entra ? { credential: credential(auth.clientId) } : {}) };
    setupTelemetry({
      spanExporter: new AzureMonitorTraceExporter(options),
      metricExporter: new AzureMonitorMetricExporter(options),
      serviceName: env.WEBSITE_SITE_NAME || "switchyard",
    });
    return `telemetry on: Azure Monitor${auth.entra ? ` with Microsoft Entra ingestion (${auth.clientId ? "user-assigned" : "system-assigned"} identity)` : ""}`;
  } catch (error) {
    return `telemetry off: the Azure Monitor exporter refused its configuration (${error instanceof Error ? error.name : "error"})`;
  }
}

let started = false;

/** Once per worker process: telemetry from the environment, and flushed when the worker ends. */
export function startWorkerTelemetry(): void {
  if (started) return;
  started = true;
  const outcome = setupWorkerTelemetry(process.env);
  console.info(`switchyard: ${outcome}`);
  try {
    // The worker's last chance to export what the batch still holds.
    azureFunctions.app.hook.appTerminate(async () => {
      await flushTelemetry();
      await shutdownTelemetry();
    });
  } catch {
    // an older worker without hooks: the batch exporter's own interval is all there is
  }
}

startWorkerTelemetry();
