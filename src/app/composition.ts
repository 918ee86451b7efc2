import type { InvocationContext } from "@azure/functions";
import { ClientFactory } from "../azure/clients.ts";
import { readSettings, type Settings } from "../config/settings.ts";
import { blobFrontDoorLease } from "../activities/frontDoorLease.ts";
import { createActivities, type ActivityHandlers } from "../activities/registry.ts";
import type { Logger } from "../core/logger.ts";
import type { Probe } from "../core/probe.ts";
import { createProbe } from "../activities/probe.ts";
import { BlobPlanStateStore } from "../detection/stateStore.ts";
import { createEntraTokenValidator } from "../http/entraToken.ts";
import { OPERATOR_ROLE } from "../http/auth.ts";
import { BlobRunPlanStore, type RunPlanStore } from "../journal/runPlans.ts";
import type { NotifyDeps } from "../activities/notify.ts";
import { contextLogger, jsonLogger } from "./logging.ts";
import { BlobJournal } from "../journal/blobJournal.ts";
import { ConsoleNotifier } from "../notify/consoleNotifier.ts";
import { ChannelNotifier } from "../notify/channelNotifier.ts";
import type { DeliveryDeps } from "../notify/delivery.ts";
import { BlobOutbox } from "../notify/outbox.ts";
import { HttpsChannelTransport } from "../notify/transport.ts";
import { BlobPlanCatalog } from "../plan/catalog.ts";
import { AppInsightsMetricSink, type MetricSink } from "../azure/appInsights.ts";
import { BlobLagStore } from "../lag/store.ts";
import { LogMetricSink } from "../lag/round.ts";
import type { RunPort } from "../core/run/port.ts";
import { createRotationActivities, type RotationActivityHandlers } from "../rotation/activities.ts";
import { sqlLoginOps } from "../rotation/strategies.ts";
import { BlobReadinessStore } from "../readiness/store.ts";
import { lastPassedDrill } from "../readiness/round.ts";
import { createDrillActivities, type DrillActivityHandlers } from "../drills/activities.ts";
import { BlobDrillHistoryStore } from "../drills/store.ts";
import { BlobDrillReportStore } from "../drills/reports.ts";
import { ReservingRuns } from "../runs/reservingRuns.ts";
import { telemetryEnabled } from "../telemetry/telemetry.ts";

/** Everything the Functions app's handlers share, built once per worker process on first use. */
export interface AppServices {
  readonly settings: Settings;
  readonly clients: ClientFactory;
  readonly journal: BlobJournal;
  /** The plan each run started with (written at the start, read by its activities). */
  readonly runPlans: RunPlanStore;
  readonly store: BlobPlanStateStore;
  readonly plans: BlobPlanCatalog;
  readonly probe: Probe;
  readonly log: Logger;
  /** What activities are built over (each invocation's get its own logger: activitiesFor). */
  readonly activityDeps: NotifyDeps;
  readonly validateToken?: ReturnType<typeof createEntraTokenValidator>;
  readonly validateOperatorToken?: ReturnType<typeof createEntraTokenValidator>;
  /** The replicationLag timer's samples and where its metrics go. */
  readonly lag: { readonly store: BlobLagStore; readonly metrics: MetricSink };
  /** Notifications outside runs (detection, lag, auto-failover switches): the console and the plan's channels. */
  readonly notifier: ChannelNotifier;
  /** What the notificationDelivery timer needs (the outbox, the transport, app settings). */
  readonly delivery: DeliveryDeps;
  /** Secret rotations' journal: the journal container's `rotations/` folder (runs' listings never show them). */
  readonly rotationJournal: BlobJournal;
  /** Planned drills' journal (their notifications): the journal container's `drills/` folder. */
  readonly drillJournal: BlobJournal;
  /** Each plan's drill history (`drills/{plan}.json` in the state container). */
  readonly drillHistory: BlobDrillHistoryStore;
  /** Each plan's readiness record (the readiness timer) and when its last planned drill passed. */
  readonly readiness: { readonly store: BlobReadinessStore; readonly lastDrill: (plan: string) => Promise<string | undefined> };
  /** Drills' Markdown reports (`drills/{plan}/reports/` in the state container). */
  readonly drillReports: BlobDrillReportStore;
}

/**
 * An activity's time budget in Azure: its Azure requests are aborted after this, 5 minutes before
 * host.json's functionTimeout (30 min) would stop the invocation, so it fails as a retryable error the
 * run handles instead of a timeout the host reports (a test keeps it below functionTimeout).
 */
export const ACTIVITY_BUDGET_MS = 25 * 60_000;

let built: AppServices | undefined;

/** OpenTelemetry's meter, its own exporter's target (src/lag/round.ts records every sample there). */
const OTEL_LAG_METRICS: MetricSink = { publish: async () => undefined };

/**
 * Where lag metrics go: with telemetry on (src/telemetry/worker.ts), the OpenTelemetry meter records
 * each sample already, with the same name and dimensions; else Application Insights' classic ingestion
 * when the connection string is usable; else the log (a bad string stops nothing else).
 */
function metricSink(connectionString: string | undefined, log: Logger): MetricSink {
  if (telemetryEnabled()) return OTEL_LAG_METRICS;
  if (connectionString === undefined) return new LogMetricSink(log);
  try {
    return new AppInsightsMetricSink(connectionString);
  } catch (error) {
    log.warn(`APPLICATIONINSIGHTS_CONNECTION_STRING is not usable (${error instanceof Error ? error.message : String(error)}): lag metrics are logged`);
    return new LogMetricSink(log);
  }
}

/** The composition root of the Functions app: settings → clients → stores → activity dependencies. */
export function appServices(): AppServices {
  if (built) return built;
  const settings = readSettings();
  const clients = new ClientFactory(settings.clients);
  const blob = clients.blobService();
  const journal = new BlobJournal(blob.getContainerClient(settings.journalContainer));
  const log = jsonLogger();
  const probe = createProbe(clients);
  // Each run's plan, kept when it starts, in Switchyard's state container; activities read it there.
  const runPlans = new BlobRunPlanStore(blob.getContainerClient(settings.stateContainer));
  const lagStore = new BlobLagStore(blob.getContainerClient(settings.stateContainer), settings.lagRetention);
  for (const warning of settings.warnings) log.warn(`setting not usable: ${warning}`);
  // Channel credentials are app settings (Key Vault references in Azure, resolved by the platform into
  // the environment), read when a notification is sent and never kept.
  const channels = {
    outbox: new BlobOutbox(blob.getContainerClient(settings.stateContainer)),
    transport: new HttpsChannelTransport({ target: (url) => clients.channelTarget(url), email: (endpoint) => clients.email(endpoint) }),
    setting: (name: string) => process.env[name],
    ...(settings.publicUrl ? { publicUrl: settings.publicUrl } : {}),
  };
  const clock = () => new Date();
  const drillHistory = new BlobDrillHistoryStore(blob.getContainerClient(settings.stateContainer));
  built = {
    notifier: new ChannelNotifier(new ConsoleNotifier(), { ...channels, log, clock }),
    delivery: { ...channels, log, clock, journal },
    lag: { store: lagStore, metrics: metricSink(settings.appInsightsConnectionString, log) },
    runPlans,
    settings,
    clients,
    journal,
    rotationJournal: new BlobJournal(blob.getContainerClient(settings.journalContainer), "rotations/"),
    drillJournal: new BlobJournal(blob.getContainerClient(settings.journalContainer), "drills/"),
    drillHistory,
    readiness: { store: new BlobReadinessStore(blob.getContainerClient(settings.stateContainer)), lastDrill: lastPassedDrill(drillHistory) },
    drillReports: new BlobDrillReportStore(blob.getContainerClient(settings.stateContainer)),
    store: new BlobPlanStateStore(blob.getContainerClient(settings.stateContainer)),
    plans: new BlobPlanCatalog(
      blob.getContainerClient(settings.plansContainer),
      (name, error) => log.error(`plan ${name} is invalid and is not used`, { blob: name, errors: error.issues.length }),
      60_000,
      Date.now,
      (message, fields) => log.warn(message, fields),
    ),
    probe,
    log,
    activityDeps: {
      clients,
      journal,
      probe,
      log,
      clock: () => new Date(),
      pollIntervalMs: 5_000,
      activityBudgetMs: ACTIVITY_BUDGET_MS,
      notifier: new ConsoleNotifier(),
      channels,
      // Classic Front Doors are written whole: writers lease them in Switchyard's own storage.
      frontDoorLease: blobFrontDoorLease(blob.getContainerClient(settings.stateContainer)),
      runPlans,
      lag: lagStore,
    },
    // Secure webhook: the tenant's tokens in the configured cloud, of an allowed role or app, and not long-lived.
    ...(settings.alertToken ? { validateToken: createEntraTokenValidator(settings.alertToken) } : {}),
    // Operators' tokens checked by the app, not left to App Service authentication's principal header.
    ...(settings.operatorToken ? { validateOperatorToken: createEntraTokenValidator({ ...settings.operatorToken, audience: [...settings.operatorToken.audience], allowedRoles: [OPERATOR_ROLE] }) } : {}),
  };
  return built;
}

/** The activities of one invocation: they log through its context (correlated in Application Insights). */
export function activitiesFor(context: Pick<InvocationContext, "info" | "warn" | "error">): ActivityHandlers {
  return createActivities({ ...appServices().activityDeps, log: contextLogger(context) });
}

/**
 * The rotation activities of one invocation, over the plan's run as the Durable client shows it (a
 * rotation step is not begun while a run holds the plan).
 */
export function rotationActivitiesFor(context: Pick<InvocationContext, "info" | "warn" | "error">, runs: Pick<RunPort, "get">): RotationActivityHandlers {
  const services = appServices();
  return createRotationActivities({
    ...services.activityDeps,
    journal: services.rotationJournal,
    store: services.store,
    runs,
    runPlans: services.runPlans,
    log: contextLogger(context),
    sql: sqlLoginOps(services.clients),
  });
}

/**
 * The planned drill's activities of one invocation, over the plan's runs as the Durable client shows
 * them (`durable`), behind the run reservation in the plan's state: one run per plan, whatever starts it.
 */
export function drillActivitiesFor(context: Pick<InvocationContext, "info" | "warn" | "error">, durable: RunPort): DrillActivityHandlers {
  const services = appServices();
  const runs = new ReservingRuns(durable, { store: services.store, clock: () => new Date(), log: contextLogger(context) });
  return createDrillActivities({
    ...services.activityDeps,
    journal: services.drillJournal,
    runJournal: services.journal,
    store: services.store,
    runs,
    runPlans: services.runPlans,
    history: services.drillHistory,
    reports: services.drillReports,
    log: contextLogger(context),
  });
}
