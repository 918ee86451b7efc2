/**
 * Switchyard assembled locally: the estate (Azure), Azurite (blob storage), the local durable host
 * (runs), the journal, detection state, and the HTTP handlers — the same parts the Functions app
 * wires in Azure, for `switchyard serve` and tests.
 */
import { ClientFactory } from "../azure/clients.ts";
import { createActivities } from "../activities/registry.ts";
import type { Logger } from "../core/logger.ts";
import { blobFrontDoorLease } from "../activities/frontDoorLease.ts";
import { createProbe } from "../activities/probe.ts";
import type { Plan } from "../core/plan/index.ts";
import { ReservingRuns, type ReservingRunsOptions } from "../runs/reservingRuns.ts";
import type { EvaluationSummary } from "../detection/evaluate.ts";
import { BlobPlanStateStore } from "../detection/stateStore.ts";
import { httpRoutes, type HttpRoute } from "../http/routes.ts";
import { BlobJournal } from "../journal/blobJournal.ts";
import { FileJournal } from "../journal/fileJournal.ts";
import { CopyingJournal } from "./journalCopy.ts";
import type { Notifier } from "../notify/notifier.ts";
import { ORCHESTRATIONS } from "../orchestrations/index.ts";
import { StaticPlanCatalog } from "../plan/catalog.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { startAzuriteBlob, type AzuriteBlob } from "./azurite.ts";
import { LocalDurableHost, type CrashPoint, type InstanceStatus } from "../durable/durableHost.ts";
import { seedFromPlans } from "./estateSeed.ts";
import { functionTimeoutMs } from "../durable/hostJson.ts";
import { BlobInstanceStore } from "../durable/instanceStore.ts";
import { BlobRunPlanStore } from "../journal/runPlans.ts";
import { LocalRuns } from "../runs/localRuns.ts";
import { buildHandlers, type HandlerDeps } from "../app/handlers.ts";
import type { RunView } from "../core/run/port.ts";
import { join } from "node:path";
import { BlobLagStore } from "../lag/store.ts";
import { BlobReadinessStore } from "../readiness/store.ts";
import { lastPassedDrill, type PlanReadiness } from "../readiness/round.ts";
import { LogMetricSink, type PlanLagSummary } from "../lag/round.ts";
import { ChannelNotifier } from "../notify/channelNotifier.ts";
import { deliverOpen, type DeliveryDeps, type DeliveryReport } from "../notify/delivery.ts";
import { BlobOutbox } from "../notify/outbox.ts";
import { HttpsChannelTransport } from "../notify/transport.ts";
import { createRotationActivities } from "../rotation/activities.ts";
import { Rotations } from "../rotation/port.ts";
import { handleKeyVaultEvent, sweepSecrets, type EventOutcome, type SweepFinding } from "../rotation/triggers.ts";
import { sqlLoginOps, type SqlLoginOps } from "../rotation/strategies.ts";
import { createDrillActivities } from "../drills/activities.ts";
import { Drills, type ScheduledStart } from "../drills/port.ts";
import { BlobDrillHistoryStore, type DrillHistoryStore } from "../drills/store.ts";
import { BlobDrillReportStore, type DrillReportStore } from "../drills/reports.ts";
import { scheduledDrillPass } from "../drills/triggers.ts";
import { drillInstanceId, type DrillTrigger, type PlannedDrillOutput } from "../core/drill/model.ts";

/** The time scale runs wait at when the estate has no Azure time (operations of ~100 ms): 10 s polls in 10 ms. */
export const INSTANT_AZURE_RUN_SCALE = 1000;

/**
 * The local app's run port: the local durable host behind the run reservation (every start reserves
 * its run in the plan's state first, as in Azure), plus a wait for a run's end (local tools, tests).
 */
export class LocalAppRuns extends ReservingRuns {
  constructor(
    private readonly local: LocalRuns,
    options: ReservingRunsOptions,
  ) {
    super(local, options);
  }

  /** Resolves with the finished run; rejects if the host stopped first. */
  waitFor(planName: string): Promise<RunView> {
    return this.local.waitFor(planName);
  }
}

export interface LocalAppOptions {
  readonly plans: readonly Plan[];
  /** Long-running operation durations on the estate, by operation id (ms). */
  readonly durations?: Record<string, number>;
  readonly log: Logger;
  readonly notifier: Notifier;
  readonly onStatus?: (status: InstanceStatus) => void;
  readonly clock?: () => Date;
  readonly pollIntervalMs?: number;
  readonly estatePort?: number;
  /**
   * Azure time divided by this: the estate takes Azure's real durations ÷ N (estate/profile.ts), and
   * the local durable host stops an activity after host.json's functionTimeout ÷ N, as the Functions
   * host would. Runs started on this app should carry the same scale in their options (timeScale).
   */
  readonly timeScale?: number;
  /** App Service authentication is on (`serve --auth`): override routes need the operator role, and the principal header is read. */
  readonly appServiceAuthOn?: boolean;
  /** Secure webhook: validates the alert's Entra token (absent: function key only). */
  readonly validateToken?: HandlerDeps["validateToken"];
  /**
   * Keep everything in this folder (`serve --state-dir`): Azurite's blobs (runs' histories, journals,
   * detection state) in `azurite/`, the estate in `estate/` (with its port and CA). An app started
   * again on the folder resumes the runs in progress. Absent: temporary, in memory.
   */
  readonly stateDir?: string;
  /**
   * A folder that receives a copy of every journal entry, one `{runId}.jsonl` per run, where
   * `switchyard report` reads it after the app has stopped (Azurite's blobs are gone by then unless a
   * state folder keeps them). Absent: the blob journal only.
   */
  readonly journalDir?: string;
  /**
   * The app settings the plan's notification channels name (URLs, routing keys, signing secrets), as the
   * Functions app reads them from its environment. Every channel request goes to the estate, which
   * answers as Slack, Teams, PagerDuty, a webhook receiver or ACS would. Unset names: process.env.
   */
  readonly channelSettings?: Readonly<Record<string, string>>;
  /** Run the notificationDelivery timer in the background (every 15 s of Azure time at the app's scale); off by default. */
  readonly deliveryTimer?: boolean;
  /** SQL login operations for SQL login secrets (default: over the estate's TDS listener). */
  readonly sqlLogins?: (clients: ClientFactory) => SqlLoginOps;
  /** Stops the local durable host dead at a point (tests of crashes; see LocalDurableHostOptions.crashAt). */
  readonly crashAt?: (point: CrashPoint) => boolean;
  /**
   * Where planned drills keep each plan's history (default: `drills/{plan}.json` in Azurite's state
   * container, as in Azure). `switchyard drill --mode planned` gives a folder's, which outlives Azurite.
   */
  readonly drillHistory?: DrillHistoryStore;
  /** Where planned drills keep their Markdown reports (default: blobs in Azurite's state container). */
  readonly drillReports?: DrillReportStore;
}

export interface LocalApp {
  readonly estate: Estate;
  readonly azurite: AzuriteBlob;
  readonly clients: ClientFactory;
  readonly journal: BlobJournal;
  readonly store: BlobPlanStateStore;
  readonly host: LocalDurableHost;
  readonly runs: LocalAppRuns;
  readonly plans: StaticPlanCatalog;
  readonly routes: HttpRoute[];
  /** One health check of every plan: probes, Front Door health, quorum, policy (the healthProbe timer). */
  checkHealth(): Promise<EvaluationSummary[]>;
  /** One round of the replicationLag timer over every plan: samples stored, metrics logged, breaches notified. */
  measureLag(): Promise<PlanLagSummary[]>;
  readonly lag: BlobLagStore;
  /** One round of the readiness timer over every plan: evaluated, recorded, a drift notified once. */
  checkReadiness(): Promise<PlanReadiness[]>;
  readonly readiness: BlobReadinessStore;
  /** One pass of the notificationDelivery timer: retries due, email sends polled. */
  deliverNotifications(): Promise<DeliveryReport[]>;
  /** Secret rotations (one durable instance per plan secret) and their journal. */
  readonly rotations: Rotations;
  readonly rotationJournal: BlobJournal;
  /** One Key Vault event, as the Event Grid trigger hands it. */
  handleKeyVaultEvent(raw: unknown): Promise<EventOutcome>;
  /** One pass of the daily secret sweep. */
  sweepSecrets(onFinding?: (finding: SweepFinding) => void): Promise<SweepFinding[]>;
  /** Planned drills (one durable instance per plan), the same orchestration and activities as in Azure. */
  readonly drills: Drills;
  /** Each plan's drill history (`read(plan)`: its drills and what did not read). */
  readonly drillHistory: DrillHistoryStore;
  /** Drills' journal (their notifications). */
  readonly drillJournal: BlobJournal;
  /** Starts the plan's planned drill (or answers with the one running); `by` defaults to the local app. */
  startDrill(planName: string, trigger?: DrillTrigger): ReturnType<Drills["start"]>;
  /** Resolves with the plan's drill once it has ended; rejects if the host stopped first. */
  waitForDrill(planName: string): Promise<PlannedDrillOutput>;
  /** One firing of the scheduledDrill timer: a pass over every plan, one at a time. */
  scheduledDrill(): Promise<ScheduledStart>;
  stop(): Promise<void>;
}

/** The Azure Storage backend's default maxQueuePollingInterval (host.json durableTask.storageProvider). */
const MAX_QUEUE_POLLING_INTERVAL_MS = 30_000;

export async function startLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const clock = options.clock ?? (() => new Date());
  const [estate, azurite] = await Promise.all([
    startEstate({
      seed: seedFromPlans(options.plans),
      ...(options.estatePort !== undefined ? { port: options.estatePort } : {}),
      ...(options.timeScale !== undefined ? { timeScale: options.timeScale } : {}),
      ...(options.timeScale === undefined || options.durations ? { timing: { durations: { ...(options.timeScale === undefined ? { default: 100 } : {}), ...options.durations } } } : {}),
      ...(options.stateDir !== undefined ? { stateDir: join(options.stateDir, "estate") } : {}),
    }),
    startAzuriteBlob(options.stateDir !== undefined ? { location: join(options.stateDir, "azurite") } : {}),
  ]);
  const clients = new ClientFactory({ target: estate.clientTarget(), blobStore: { connectionString: azurite.connectionString }, maxRetries: 3, retryDelayScale: options.timeScale ?? INSTANT_AZURE_RUN_SCALE });
  const blob = clients.blobService();
  const journal = new BlobJournal(blob.getContainerClient("switchyard-journal"));
  // What the run and the handlers write through: the blob journal, and its copy in journalDir.
  const written = options.journalDir !== undefined ? new CopyingJournal(journal, new FileJournal(options.journalDir), options.log) : journal;
  const store = new BlobPlanStateStore(blob.getContainerClient("switchyard-state"));
  const probe = createProbe(clients);
  // Each run's plan, kept when it starts (in Azurite, as in Azure); activities read it there.
  const runPlans = new BlobRunPlanStore(blob.getContainerClient("switchyard-state"));
  const lag = new BlobLagStore(blob.getContainerClient("switchyard-state"));
  const scale = options.timeScale ?? INSTANT_AZURE_RUN_SCALE;
  const channels = {
    outbox: new BlobOutbox(blob.getContainerClient("switchyard-state")),
    transport: new HttpsChannelTransport({ target: (url) => clients.channelTarget(url), email: (endpoint) => clients.email(endpoint) }),
    setting: (name: string) => options.channelSettings?.[name] ?? process.env[name],
    timeScale: scale,
  };
  const delivery: DeliveryDeps = { ...channels, log: options.log, clock, journal: written };
  const notifier = new ChannelNotifier(options.notifier, { ...channels, log: options.log, clock });
  const activities = createActivities({
    runPlans,
    lag,
    clients,
    journal: written,
    probe,
    log: options.log,
    clock,
    pollIntervalMs: options.pollIntervalMs ?? 25,
    // Locally an activity's budget is the host's timeout at this scale, less a tenth (as in Azure, it
    // runs out before the host would stop the invocation).
    ...(options.timeScale !== undefined ? { activityBudgetMs: (functionTimeoutMs() / options.timeScale) * 0.9 } : {}),
    notifier: options.notifier,
    channels,
    frontDoorLease: blobFrontDoorLease(blob.getContainerClient("switchyard-state")),
  });
  // Rotations journal in their own folder of the journal container; their steps hold the plan apart
  // from runs through the plan's state (the run port below is given to them once it exists).
  const rotationJournal = new BlobJournal(blob.getContainerClient("switchyard-journal"), "rotations/");
  let runPort: LocalAppRuns | undefined;
  // What rotation and drill steps share: Azure, the plan's state, the run snapshots, notifications.
  const stepDeps = { clients, runPlans, store, clock, log: options.log, probe, pollIntervalMs: options.pollIntervalMs ?? 25, notifier: options.notifier, channels };
  const rotationActivities = createRotationActivities({
    ...stepDeps,
    journal: rotationJournal,
    runs: { get: (plan: string) => runPort!.get(plan) },
    sql: (options.sqlLogins ?? sqlLoginOps)(clients),
  });
  // Planned drills start and read the plan's runs through the same run port as every trigger (below).
  const drillJournal = new BlobJournal(blob.getContainerClient("switchyard-journal"), "drills/");
  const drillHistory = options.drillHistory ?? new BlobDrillHistoryStore(blob.getContainerClient("switchyard-state"));
  const drillActivities = createDrillActivities({
    ...stepDeps,
    journal: drillJournal,
    runJournal: journal,
    runs: { start: (input) => runPort!.start(input), get: (plan: string) => runPort!.get(plan), terminate: (plan: string, reason: string) => runPort!.terminate(plan, reason) },
    history: drillHistory,
    reports: options.drillReports ?? new BlobDrillReportStore(blob.getContainerClient("switchyard-state")),
  });
  const host = new LocalDurableHost({
    store: new BlobInstanceStore(blob.getContainerClient("switchyard-durable")),
    orchestrations: ORCHESTRATIONS,
    activities: { ...activities, ...rotationActivities, ...drillActivities },
    ...(options.onStatus ? { onStatus: options.onStatus } : {}),
    ...(options.crashAt ? { crashAt: options.crashAt } : {}),
    ...(options.timeScale !== undefined ? { activityTimeoutMs: functionTimeoutMs() / options.timeScale, functionTimeoutMs: functionTimeoutMs() } : {}),
    // An idle task hub takes a terminate up within maxQueuePollingInterval (30 s by default).
    controlQueueDelayMs: MAX_QUEUE_POLLING_INTERVAL_MS / (options.timeScale ?? INSTANT_AZURE_RUN_SCALE),
  });
  // Without Azure time the estate's operations take a few milliseconds: runs wait at a matching scale.
  const runs = new LocalAppRuns(new LocalRuns(host, { timeScale: options.timeScale ?? INSTANT_AZURE_RUN_SCALE, runPlans }), { store, clock, log: options.log });
  runPort = runs;
  // Instances in flight resume only now: a rotation step that runs again reads the run port.
  await host.resume();
  const rotations = new Rotations(
    {
      status: (instanceId) => host.getStatus(instanceId),
      start: async (name, instanceId, input) => void (await host.start(name, input, instanceId)),
    },
    runPlans,
    { clock, timeScale: options.timeScale ?? INSTANT_AZURE_RUN_SCALE, store },
  );
  const drills = new Drills(
    {
      status: (instanceId) => host.getStatus(instanceId),
      start: async (name, instanceId, input) => void (await host.start(name, input, instanceId)),
    },
    runPlans,
    { clock, timeScale: options.timeScale ?? INSTANT_AZURE_RUN_SCALE },
  );
  const plans = new StaticPlanCatalog(options.plans, (message, fields) => options.log.warn(message, fields));
  const readiness = new BlobReadinessStore(blob.getContainerClient("switchyard-state"));
  // The same handlers the Functions app builds (src/app/handlers.ts), over the local services. The
  // local host applies a termination at its next episode (tens of ms): a pre-emption polls often.
  const handlers = buildHandlers({
    plans,
    runs,
    store,
    journal: written,
    clients,
    probe,
    log: options.log,
    clock,
    appServiceAuthOn: options.appServiceAuthOn ?? false,
    ...(options.validateToken ? { validateToken: options.validateToken } : {}),
    preemptPollIntervalMs: 50,
    notifier,
    lag: { store: lag, metrics: new LogMetricSink(options.log) },
    rotations,
    drills: drillHistory,
    readiness: { store: readiness, lastDrill: lastPassedDrill(drillHistory) },
  });
  const routes = httpRoutes(handlers.http);
  const deliverNotifications = () => deliverOpen(delivery);
  let deliveryTimer: ReturnType<typeof setInterval> | undefined;
  // The pass in progress: stop() lets it end before the estate and Azurite go.
  let pass: Promise<unknown> | undefined;
  if (options.deliveryTimer) {
    deliveryTimer = setInterval(() => {
      if (pass) return;
      pass = deliverNotifications()
        .catch((error: unknown) => options.log.error("notification delivery pass failed", { error: error instanceof Error ? error.message : String(error) }))
        .finally(() => (pass = undefined));
    }, Math.max(20, 15_000 / scale));
  }
  return {
    estate,
    azurite,
    clients,
    journal,
    store,
    host,
    runs,
    plans,
    routes,
    checkHealth: () => handlers.checkAllHealth(),
    measureLag: () => handlers.measureAllLag(),
    lag,
    checkReadiness: () => handlers.checkAllReadiness(),
    readiness,
    deliverNotifications,
    rotations,
    rotationJournal,
    handleKeyVaultEvent: (raw) => handleKeyVaultEvent(raw, { plans, rotations, clients, clock, log: options.log }),
    sweepSecrets: (onFinding) => sweepSecrets({ plans, rotations, clients, clock, log: options.log }, onFinding),
    drills,
    drillHistory,
    drillJournal,
    async startDrill(planName, trigger = { kind: "cli", by: "switchyard (local app)" }) {
      const plan = (await plans.list()).find((p) => p.name === planName);
      if (!plan) throw new Error(`no plan ${planName} in this app`);
      return drills.start(plan, trigger);
    },
    async waitForDrill(planName) {
      const status = await host.waitForCompletion(drillInstanceId(planName));
      const output = status.output as PlannedDrillOutput | undefined;
      if (!output) throw new Error(`the drill of ${planName} ended ${status.runtimeStatus.toLowerCase()} without an outcome${status.error ? `: ${status.error}` : ""}`);
      return output;
    },
    scheduledDrill: () => scheduledDrillPass({ plans, drills, log: options.log }),
    async stop() {
      clearInterval(deliveryTimer);
      await pass;
      host.stop();
      await estate.close();
      await azurite.stop();
    },
  };
}
