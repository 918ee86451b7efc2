import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { createServer as createHttpsServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isSubscriptionId } from "./armId.ts";
import { EstateHttpError, type ArmErrorBody } from "./errors.ts";
import { Faults, type FaultSpec } from "./faults.ts";
import { Operations, type LroTiming, type Operation, type OperationOutcome } from "./lro.ts";
import { EstateFolder, type EstateDocument } from "./persist.ts";
import { Router, type EstateRequest, type EstateResponse, type Route } from "./router.ts";
import type { EstateSeed } from "./seed.ts";
import { EstateState, key, type ControlPlane } from "./state.ts";
import type { EstateContext } from "./context.ts";
import { createCertificate, keptCertificate, type EstateCertificate } from "./tls.ts";
import { AZURE_PROFILE, INSTANT_EFFECTS, scaleProfile, type EffectName, type ScaledProfile } from "./profile.ts";
import { controlPlaneRefusal, controlRoutes } from "./control.ts";
import { serviceCompletions, serviceRoutes } from "./services/index.ts";
import { snapshot } from "./snapshot.ts";
import { answerAtEdge, edgeHostNames } from "./edge.ts";
import { ArmThrottle, type ArmThrottlingSettings } from "./armThrottle.ts";
import { callerOf, Rbac, requestAuthorization, type RbacSettings, type RequestAuthorization } from "./rbac.ts";
import type { ActionKind } from "./roles.ts";
import { TdsListeners } from "./tds/listener.ts";
import { ChannelReceivers, DeliveryLog, WebhookSecrets, type Channel, type Delivery, type DeliveryLogData, type NotificationAnswer, type NotificationTarget } from "./services/notifications.ts";
import { EmailService, type EmailData } from "./services/email.ts";

/** The tenant the estate's Key Vault challenge names (any token is accepted). */
export const ESTATE_TENANT_ID = "72f988bf-0000-4000-8000-00000e57a7e0";

export interface EstateOptions {
  /** The regions and resources to start with, in Azure's terms (estate/seed.ts); more can be seeded later. */
  readonly seed?: EstateSeed;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly timing?: Partial<LroTiming>;
  /** Injected clock (ms); defaults to Date.now. */
  readonly clock?: () => number;
  /** Folder for the CA file; a temporary folder by default. */
  readonly certDir?: string;
  /** Keep at most this many entries in the request log (oldest dropped first). */
  readonly maxLoggedRequests?: number;
  /**
   * Azure time: every request latency, long-running operation and after-effect takes its real-world
   * duration (estate/profile.ts) divided by this. Unset: no latency, operations end on their first
   * poll, effects are immediate (fast tests that do not look at time). `timing` overrides durations.
   */
  readonly timeScale?: number;
  /**
   * Keep the estate in this folder (estate/persist.ts): what it holds there is restored at start (then
   * `seed` adds what it lacks), every change is saved before it is acknowledged, and the port and CA
   * stay the same from one start to the next (operation URLs name the port). Absent: in memory.
   */
  readonly stateDir?: string;
  /**
   * Resource Manager's subscription throttling (estate/armThrottle.ts): `true` for Azure's limits, or
   * settings (limits not given are Azure's). Off by default: no 429s, no rate-limit headers.
   */
  readonly armThrottling?: boolean | ArmThrottlingSettings;
  /**
   * Azure RBAC (estate/rbac.ts): on, a request whose action no role assigned to its caller grants is
   * refused as Resource Manager and Key Vault refuse it. Off by default: every caller may do everything.
   * Not kept in a `stateDir` folder: give it again at every start (or `PUT /_estate/rbac`).
   */
  readonly rbac?: RbacSettings;
  /**
   * Wall-clock milliseconds each TDS login waits before it is answered (default 0): the network and
   * gateway time an Azure SQL login spends, for benchmarks of how logins overlap. Not Azure time.
   */
  readonly tdsLoginLatencyMs?: number;
  /**
   * Standard Webhooks signing secrets (`whsec_…`) by host (`host` or `host:port`): deliveries to that
   * host under `/channels/` must carry a matching `v1` signature (estate/services/notifications.ts).
   * Given again at every start: secrets are never kept in a `stateDir` folder.
   */
  readonly webhookSecrets?: Readonly<Record<string, string>>;
}

/** The kept estate with the notification channels' deliveries and email operations beside the rest. */
type KeptEstate = EstateDocument & { readonly notifications?: { readonly deliveries: DeliveryLogData; readonly email: EmailData } };

const COMPLETIONS = serviceCompletions();

export interface LoggedRequest {
  readonly seq: number;
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly operationId: string;
  readonly api: string;
  readonly write: boolean;
  readonly status: number;
  readonly requestId: string;
  readonly clientRequestId?: string;
  /** Resource Manager and Key Vault requests: the RBAC action (or data action) the operation needs, and the scope its path names. */
  readonly action?: string;
  readonly actionKind?: ActionKind;
  readonly scope?: string;
}

interface RegionListener {
  server: Server;
  port: number;
  sockets: Set<Duplex>;
  listening: boolean;
}

/** The local estate: Azure's APIs that Switchyard uses, over HTTPS on loopback. */
export class Estate {
  readonly state: EstateState;
  readonly operations: Operations;
  readonly faults = new Faults();
  /** Resource Manager's token buckets and request counts (`/_estate/throttling`). */
  readonly armThrottle: ArmThrottle;
  /** The RBAC mode and its role assignments (`/_estate/rbac`). */
  readonly rbac: Rbac;
  readonly router = new Router();
  /** Every seed applied so far, in order: reset applies them again. */
  private readonly seeds: EstateSeed[] = [];
  private readonly log: LoggedRequest[] = [];
  private seq = 0;
  private timing: LroTiming;
  private server?: Server;
  private readonly regionListeners = new Map<string, RegionListener>();
  /** Front Door's edge: every AFD endpoint and classic frontend host, under `/<host>/<path>`. */
  private edgeListener?: RegionListener;
  /** The SQL servers over TDS (estate/tds/): a listener per server. */
  private tds?: TdsListeners;
  private certificate?: EstateCertificate;
  private baseUrl = "";
  private listenerQueue: Promise<void> = Promise.resolve();
  readonly clock: () => number;
  /** The Azure time profile at this estate's scale, when one is set. */
  readonly profile?: ScaledProfile;
  /** Where the estate is kept (options.stateDir), if anywhere. */
  private readonly folder?: EstateFolder;
  /** The port the kept estate listened on. */
  private readonly keptPort?: number;
  /** Every notification delivered to the channels (`/_estate/notifications`). */
  private readonly deliveries = new DeliveryLog();
  /** Slack, PagerDuty, Teams Workflows and Standard Webhooks receivers under `/channels/{host}/…`. */
  private readonly channels: ChannelReceivers;
  /** Azure Communication Services email under `/communication/{host}/…`. */
  private readonly email: EmailService;

  constructor(private readonly options: EstateOptions = {}) {
    this.clock = options.clock ?? Date.now;
    if (options.timeScale !== undefined) this.profile = scaleProfile(AZURE_PROFILE, options.timeScale);
    this.timing = {
      durations: { default: 0, ...this.profile?.durationsMs, ...options.timing?.durations },
      retryAfterSeconds: options.timing?.retryAfterSeconds ?? 0,
    };
    this.state = new EstateState(this.clock);
    this.operations = new Operations(this.clock, () => this.timing, (op) => this.completeOperation(op));
    this.armThrottle = new ArmThrottle(this.clock, options.armThrottling, options.timeScale);
    this.rbac = new Rbac(options.rbac);
    this.channels = new ChannelReceivers(this.deliveries, new WebhookSecrets(options.webhookSecrets));
    this.email = new EmailService({ log: this.deliveries, durationMs: () => this.timing.durations.Email_Send ?? this.timing.durations.default ?? 0 });
    this.router.add(...serviceRoutes(this.rbac), ...controlRoutes(this));
    if (options.stateDir !== undefined) {
      this.folder = new EstateFolder(options.stateDir);
      const kept = this.folder.load();
      if (kept) {
        this.restore(kept);
        this.keptPort = kept.port;
      }
      const max = options.maxLoggedRequests ?? 20_000;
      this.log.push(...this.folder.loadRequests<LoggedRequest>(max));
      this.seq = this.log.at(-1)?.seq ?? 0;
    }
    if (options.seed) {
      this.state.seed(options.seed);
      const text = JSON.stringify(options.seed);
      if (!this.seeds.some((s) => JSON.stringify(s) === text)) this.seeds.push(options.seed);
    }
  }

  /** What a handler gets besides the request, now. */
  private context(): EstateContext {
    return { state: this.state, operations: this.operations, now: this.clock(), effectMs: (effect) => this.effectMs(effect) };
  }

  private completeOperation(op: Operation): OperationOutcome {
    const kind = COMPLETIONS.get(op.completion.kind);
    if (!kind) return { ok: false, code: "InternalServerError", message: `The estate knows no completion '${op.completion.kind}' (operation ${op.id}).`, status: 500 };
    return kind.run(this.context(), op.completion.data, op);
  }

  /** Takes over a kept estate (estate/persist.ts). */
  private restore(kept: KeptEstate): void {
    this.state.restore(kept.state);
    if (kept.notifications) {
      this.deliveries.restore(kept.notifications.deliveries);
      this.email.restore(kept.notifications.email);
    }
    this.operations.restore(kept.operations);
    this.faults.restore(kept.faults);
    this.timing = { durations: { ...kept.timing.durations, ...this.options.timing?.durations }, retryAfterSeconds: this.options.timing?.retryAfterSeconds ?? kept.timing.retryAfterSeconds };
    this.seeds.push(...kept.seeds);
  }

  /** Saves the estate to its folder, if it has one and anything changed (before a change is acknowledged). */
  private persist(): void {
    if (!this.folder || !this.server) return;
    const document: KeptEstate = {
      format: "switchyard-estate/1",
      port: Number(new URL(this.baseUrl).port),
      seeds: this.seeds,
      timing: this.timing,
      faults: this.faults.toJSON(),
      operations: this.operations.toJSON(),
      state: this.state.toJSON(),
      notifications: { deliveries: this.deliveries.toJSON(), email: this.email.toJSON() },
    };
    this.folder.save(document);
  }

  /** `https://127.0.0.1:PORT` once started. */
  get url(): string {
    if (!this.baseUrl) throw new Error("the estate is not started");
    return this.baseUrl;
  }

  get ca(): EstateCertificate {
    if (!this.certificate) throw new Error("the estate is not started");
    return this.certificate;
  }

  async start(): Promise<this> {
    this.certificate = this.folder ? await keptCertificate(this.folder.dir) : await createCertificate(this.options.certDir);
    const server = createHttpsServer({ cert: this.certificate.cert, key: this.certificate.key }, (req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.port ?? this.keptPort ?? 0, "127.0.0.1", () => resolve());
    });
    this.server = server;
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("unexpected server address");
    this.baseUrl = `https://127.0.0.1:${address.port}`;
    for (const region of this.state.regions.keys()) await this.syncRegionListener(region);
    await this.startEdgeListener();
    this.tds = new TdsListeners({
      state: this.state,
      clock: this.clock,
      settle: () => {
        // What fell due is completed and kept before a TDS client reads the state, as for an HTTP request.
        this.operations.settle();
        this.persist();
      },
      cert: this.certificate.cert,
      key: this.certificate.key,
      tenantId: ESTATE_TENANT_ID,
      ...(this.options.tdsLoginLatencyMs !== undefined ? { loginLatencyMs: this.options.tdsLoginLatencyMs } : {}),
    });
    await this.tds.sync();
    this.persist();
    return this;
  }

  async close(): Promise<void> {
    await this.tds?.close();
    this.tds = undefined;
    for (const listener of this.regionListeners.values()) await this.stopListener(listener);
    this.regionListeners.clear();
    if (this.edgeListener) await this.stopListener(this.edgeListener);
    this.edgeListener = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.certificate?.tempDir) await rm(this.certificate.tempDir, { recursive: true, force: true });
  }

  /**
   * Adds a seed's regions and resources (what is here already is kept); resolves once the health
   * listeners of its regions answer. Throws SeedError, changing nothing, when a reference fails.
   */
  async seed(seed: EstateSeed): Promise<void> {
    this.state.seed(seed);
    if (!this.seeds.includes(seed)) this.seeds.push(seed);
    this.persist();
    if (this.server) for (const region of this.state.regions.keys()) await this.syncRegionListener(region);
    await this.tds?.sync();
  }

  /** Back to the seeded state: resources, regions, faults, operations and the request log. */
  async reset(): Promise<void> {
    this.state.clear();
    for (const seed of this.seeds) this.state.seed(seed);
    this.faults.reset();
    this.armThrottle.reset();
    this.rbac.reset();
    this.operations.reset();
    this.deliveries.clear();
    this.email.reset();
    this.channels.secrets.reset();
    this.log.length = 0;
    this.folder?.rewriteRequests([]);
    this.timing = { durations: { default: 0, ...this.profile?.durationsMs, ...this.options.timing?.durations }, retryAfterSeconds: this.options.timing?.retryAfterSeconds ?? 0 };
    this.persist();
    for (const region of this.state.regions.keys()) await this.syncRegionListener(region);
    await this.tds?.sync();
  }

  setTiming(timing: Partial<LroTiming>): void {
    this.timing = {
      durations: { ...this.timing.durations, ...timing.durations },
      retryAfterSeconds: timing.retryAfterSeconds ?? this.timing.retryAfterSeconds,
    };
    this.persist();
  }

  getTiming(): LroTiming {
    return this.timing;
  }

  /** How long an after-effect of a write lasts on this estate (ms): the profile's, scaled; 0 without one. */
  effectMs(effect: EffectName): number {
    return (this.profile?.effectsMs ?? INSTANT_EFFECTS)[effect];
  }

  /** The profile's latency for a request (ms): its operation's, else the `*` figure; 0 without a profile. */
  private profileLatencyMs(operationId: string): number {
    const latency = this.profile?.latencyMs;
    return latency ? (latency[operationId] ?? latency["*"] ?? 0) : 0;
  }

  /**
   * Takes a region down (or brings it back): `down` is its data plane (its application health endpoints
   * follow), `controlPlane` its regional resource providers. What an update leaves out stays as it was.
   */
  async setRegion(region: string, update: { down?: boolean; healthWhenDown?: "refused" | "503"; controlPlane?: ControlPlane }): Promise<void> {
    const state = this.state.region(region);
    if (update.down !== undefined) {
      if (update.down && !state.down) state.downSince = this.clock();
      if (!update.down) delete state.downSince;
      state.down = update.down;
    }
    if (update.healthWhenDown) state.healthWhenDown = update.healthWhenDown;
    if (update.controlPlane) state.controlPlane = update.controlPlane;
    this.persist();
    await this.syncRegionListener(region);
    // A region going down cuts the TDS sessions of its SQL servers.
    await this.tds?.sync();
  }

  /**
   * Turns the RBAC mode on or off and replaces every role assignment (estate/rbac.ts). Throws
   * RbacSettingsError, changing nothing, for an unknown built-in role or a malformed assignment.
   */
  setRbac(settings: RbacSettings): void {
    this.rbac.configure(settings);
  }

  /** Sets the replication lag of a failover group or storage account (by ARM id). */
  setLag(resourceId: string, seconds: number): void {
    const k = key(resourceId);
    const group = this.state.failoverGroups.find((g) =>
      [g.primaryServerId, g.secondaryServerId].some((s) => k === key(`${s}/failoverGroups/${g.name}`)),
    );
    if (group) {
      group.lagSeconds = seconds;
      this.persist();
      return;
    }
    for (const accounts of this.state.storageAccounts.values()) {
      const account = accounts.get(k);
      if (account) {
        account.lagSeconds = seconds;
        this.persist();
        return;
      }
    }
    throw new EstateHttpError(404, "ResourceNotFound", `No failover group or storage account '${resourceId}' in the estate.`);
  }

  addFault(spec: FaultSpec): void {
    // An email send is ACS's own operation, not Resource Manager's: its failures are the email service's.
    if (spec.kind === "lroFailure" && spec.operationId.toLowerCase() === "email_send") {
      this.email.plantFailure({ count: spec.count, ...(spec.outcome ? { outcome: spec.outcome } : {}), ...(spec.code ? { code: spec.code } : {}) });
    } else if (spec.kind === "lroFailure") {
      this.operations.failNextOf(spec.operationId, spec.count, {
        ...(spec.resourceId ? { resourceId: spec.resourceId } : {}),
        ...(spec.outcome ? { outcome: spec.outcome } : {}),
        ...(spec.code ? { code: spec.code } : {}),
      });
    }
    else this.faults.add(spec);
    this.persist();
  }

  /**
   * The notifications delivered to the channels (Slack, PagerDuty, Teams, Standard Webhooks, ACS email),
   * oldest first, accepted and refused alike; an email's `operationStatus` is its status now.
   */
  notifications(filter: { since?: number; channel?: Channel } = {}): Delivery[] {
    const now = this.clock();
    return this.deliveries.list(filter).map((d) => this.email.withStatus(d, now));
  }

  /** Forgets the deliveries (email operations in flight still answer their polls). */
  clearNotifications(): void {
    this.deliveries.clear();
    this.persist();
  }

  /**
   * The Standard Webhooks secret (`whsec_…`) deliveries to `host` (`host` or `host:port`) are signed
   * with: from now on their signature is checked. Held in memory only; `reset` goes back to the options'.
   */
  setWebhookSecret(host: string, secret: string): void {
    this.channels.secrets.set(host, secret);
  }

  requests(filter: { since?: number; writesOnly?: boolean } = {}): LoggedRequest[] {
    return this.log.filter((r) => r.seq > (filter.since ?? 0) && (!filter.writesOnly || r.write));
  }

  /** The URL of a region's application health listener (https://127.0.0.1:PORT). */
  regionUrl(region: string): string {
    const listener = this.regionListeners.get(region);
    if (!listener) throw new Error(`no health listener for region ${region}`);
    return `https://127.0.0.1:${listener.port}`;
  }

  /** The URL of Front Door's edge listener; a request for `https://<host>/<path>` goes to `<edgeUrl>/<host>/<path>`. */
  get edgeUrl(): string {
    if (!this.edgeListener) throw new Error("the estate is not started");
    return `https://127.0.0.1:${this.edgeListener.port}`;
  }

  /**
   * What the client factory needs to send Switchyard's calls here (see src/azure/clients.ts): the
   * application hosts map to their region's health listener, Front Door hosts (AFD endpoints, classic
   * frontend endpoints) to the edge listener. `sqlHosts` maps each SQL server's host name
   * (`<server name>.database.windows.net`, lower-case) to its TDS listener, `127.0.0.1:<port>`.
   */
  clientTarget(): { kind: "estate"; url: string; ca: string; hosts: Record<string, string>; sqlHosts: Record<string, string> } {
    const hosts: Record<string, string> = {};
    for (const [host, { region }] of this.state.healthHosts) {
      if (this.regionListeners.has(region)) hosts[host] = this.regionUrl(region);
    }
    if (this.edgeListener) for (const host of edgeHostNames(this.state)) hosts[host] = `${this.edgeUrl}/${host}`;
    return { kind: "estate", url: this.url, ca: this.ca.cert, hosts, sqlHosts: this.tds?.hosts() ?? {} };
  }

  /** Where a SQL server (by ARM id) answers TDS: its listener on 127.0.0.1. Throws for a server the estate does not serve. */
  sqlEndpoint(serverId: string): { host: string; port: number } {
    const endpoint = this.tds?.endpoint(serverId);
    if (!endpoint) throw new Error(`no TDS listener for SQL server ${serverId}`);
    return endpoint;
  }

  snapshot() {
    this.operations.settle();
    return snapshot(this);
  }

  // ---- request handling -------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const { origin, url } = requestUrl(req);
    const method = (req.method ?? "GET").toUpperCase();
    const notification = this.channels.target(method, url) ?? this.email.target(method, url);
    if (notification) {
      await this.handleNotification(req, res, { method, url, requestId, target: notification });
      return;
    }
    let operationId = "Unmatched";
    let api = "arm";
    let write = false;
    let rateLimit: Record<string, string> = {};
    let authorization: RequestAuthorization | undefined;
    let response: EstateResponse;
    try {
      const raw = await readBody(req);
      const match = this.router.match(method, url.pathname);
      if (!match) throw unmatched(url);
      if ("allowed" in match) {
        throw new EstateHttpError(405, "MethodNotAllowed", `The requested resource does not support http method '${method}'.`, { Allow: match.allowed.join(", ") });
      }
      const { route, params } = match;
      operationId = route.operationId;
      api = route.api;
      write = route.write === true;
      // The scope is read from the path's decoded segments, as the handler reads them; a status poll is
      // authorized on the resource group of the resource its operation acts on.
      authorization = requestAuthorization(route, { method, path: url.pathname, params }, this.state, this.operations);
      if (route.api !== "control") {
        const latency = this.profileLatencyMs(operationId) + this.faults.latencyFor(operationId, url.pathname);
        if (latency > 0) await sleep(latency);
        this.checkAuth(route, req, url, params);
        if (route.api === "arm") rateLimit = this.armThrottle.admit({ method, subscriptionId: params.subscriptionId, authorization: header(req, "authorization") });
        // Azure authorizes in front of the service (Resource Manager's front door, Key Vault's own): before
        // planted service faults and the regional resource providers. A throttled request is not authorized.
        if (authorization) this.rbac.authorize(callerOf(header(req, "authorization")), authorization);
        this.faults.check(operationId, url.pathname);
      }
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw);
        } catch {
          throw new EstateHttpError(400, route.api === "keyvault" ? "BadParameter" : "InvalidRequestContent", "The request content was invalid and could not be deserialized.");
        }
      }
      this.operations.settle();
      // A region's control plane decides whether requests for the resources located there are served.
      const refusal = controlPlaneRefusal(this.state, this.operations, route, params);
      if (refusal) throw refusal;
      const request: EstateRequest = { method, url, params, headers: req.headers, body, operationId, origin };
      response = await route.handler(request, this.context());
    } catch (error) {
      response = errorResponse(error);
    }
    const clientRequestId = header(req, "x-ms-client-request-id");
    this.record({
      method,
      path: url.pathname,
      query: url.search,
      operationId,
      api,
      write,
      status: response.status,
      requestId,
      clientRequestId,
      ...(authorization ? { action: authorization.action, actionKind: authorization.kind, scope: authorization.scope } : {}),
    });
    // What this request changed is kept before it is acknowledged (a read may have completed an operation).
    this.persist();
    const headers: Record<string, string> = {
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": header(req, "x-ms-correlation-request-id") ?? requestId,
      ...(clientRequestId ? { "x-ms-client-request-id": clientRequestId } : {}),
      ...rateLimit,
      ...response.headers,
    };
    if (response.body === undefined) {
      res.writeHead(response.status, { ...headers, "Content-Length": "0" }).end();
      return;
    }
    const text = JSON.stringify(response.body);
    res.writeHead(response.status, { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(text)) });
    res.end(text);
  }

  /**
   * A request for a notification channel or ACS email: the profile's latency (Azure services only) and
   * planted latency, then planted faults, which each service answers in its own shape; the request log
   * shows it without the credentials in its address (a Slack webhook's secret, a Logic Apps `sig`).
   */
  private async handleNotification(req: IncomingMessage, res: ServerResponse, call: { method: string; url: URL; requestId: string; target: NotificationTarget }): Promise<void> {
    const { method, url, requestId, target } = call;
    let clientGone = false;
    res.once("close", () => {
      clientGone = true;
    });
    let answer: NotificationAnswer;
    try {
      let raw: Buffer = Buffer.alloc(0);
      let fault: EstateHttpError | undefined;
      try {
        raw = await readBytes(req, NOTIFICATION_BODY_LIMIT);
      } catch (error) {
        if (!(error instanceof EstateHttpError)) throw error;
        fault = error;
      }
      const latency = (target.azure ? this.profileLatencyMs(target.operationId) : 0) + this.faults.latencyFor(target.operationId, url.pathname);
      if (latency > 0) await sleep(latency);
      try {
        this.faults.check(target.operationId, url.pathname);
      } catch (error) {
        if (!(error instanceof EstateHttpError)) throw error;
        fault ??= error;
      }
      answer = target.serve({ method, url, headers: req.headers, raw, now: this.clock(), requestId, ...(fault ? { fault } : {}), clientGone });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      answer = { status: 500, json: { error: { code: "InternalServerError", message: `The estate failed: ${message}` } } };
    }
    this.record({ method, path: target.logPath, query: target.logQuery, operationId: target.operationId, api: target.api, write: method !== "GET", status: answer.status, requestId });
    this.persist();
    const headers: Record<string, string> = { ...answer.headers };
    if (answer.text !== undefined) {
      res.writeHead(answer.status, { ...headers, "Content-Type": "text/plain; charset=utf-8", "Content-Length": String(Buffer.byteLength(answer.text)) }).end(answer.text);
    } else if (answer.json !== undefined) {
      const text = JSON.stringify(answer.json);
      res.writeHead(answer.status, { ...headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": String(Buffer.byteLength(text)) }).end(text);
    } else {
      res.writeHead(answer.status, { ...headers, "Content-Length": "0" }).end();
    }
  }

  private checkAuth(route: Route, req: IncomingMessage, url: URL, params: Record<string, string>): void {
    const authorization = header(req, "authorization");
    const hasBearer = authorization !== undefined && /^Bearer\s+\S+/i.test(authorization);
    if (route.api === "keyvault") {
      if (!hasBearer) {
        throw new EstateHttpError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", {
          "WWW-Authenticate": `Bearer authorization="https://login.microsoftonline.com/${ESTATE_TENANT_ID}", resource="https://vault.azure.net"`,
        });
      }
      return;
    }
    if (!hasBearer) {
      throw new EstateHttpError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    }
    if (route.api === "arm" && !url.searchParams.get("api-version")) {
      throw new EstateHttpError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    }
    const subscriptionId = params.subscriptionId;
    if (route.api === "arm" && subscriptionId !== undefined && !isSubscriptionId(subscriptionId)) {
      throw new EstateHttpError(400, "InvalidSubscriptionId", `The provided subscription identifier '${subscriptionId}' is malformed or invalid.`);
    }
  }

  private record(entry: Omit<LoggedRequest, "seq" | "time">): void {
    const logged = { seq: ++this.seq, time: new Date(this.clock()).toISOString(), ...entry };
    this.log.push(logged);
    this.folder?.appendRequest(logged);
    const max = this.options.maxLoggedRequests ?? 20_000;
    if (this.log.length > max) {
      this.log.splice(0, this.log.length - max);
      // The kept log is rewritten once it holds twice the bound (not at every request).
      if (this.seq % max === 0) this.folder?.rewriteRequests(this.log);
    }
  }

  // ---- regional application health endpoints ----------------------------------------------

  /**
   * Brings a region's health listener in line with the region's state. Changes are applied one at a
   * time, each reading the state when it runs, so overlapping calls end in the state last set.
   */
  private syncRegionListener(region: string): Promise<void> {
    const next = this.listenerQueue.then(() => this.applyRegionListener(region));
    this.listenerQueue = next.catch(() => undefined);
    return next;
  }

  private async applyRegionListener(region: string): Promise<void> {
    if (!this.certificate || !this.server) return;
    let listener = this.regionListeners.get(region);
    if (!listener) {
      const sockets = new Set<Duplex>();
      const server = createHttpsServer({ cert: this.certificate.cert, key: this.certificate.key }, (req, res) => {
        // An app of the region restarting after a settings write answers 503 until its restart ends.
        const down = this.state.region(region).down;
        const restarting = !down && this.state.restarting(region, this.clock());
        const healthy = !down && !restarting;
        const body = JSON.stringify({ status: healthy ? "Healthy" : restarting ? "Restarting" : "Unhealthy", region, path: req.url });
        res.writeHead(healthy ? 200 : 503, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) }).end(body);
      });
      server.on("connection", (socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      listener = { server, port: 0, sockets, listening: false };
      this.regionListeners.set(region, listener);
      await this.listen(listener); // takes the region's port for good, even if it starts down
    }
    const state = this.state.region(region);
    const refuse = state.down && state.healthWhenDown === "refused";
    if (refuse && listener.listening) await this.stopListener(listener);
    if (!refuse && !listener.listening) await this.listen(listener);
  }

  /** Front Door's edge (estate/edge.ts): never refuses (Front Door is global); answers per the live configuration. */
  private async startEdgeListener(): Promise<void> {
    if (!this.certificate || this.edgeListener) return;
    const sockets = new Set<Duplex>();
    const server = createHttpsServer({ cert: this.certificate.cert, key: this.certificate.key }, (req, res) => {
      const [, host = "", ...rest] = requestUrl(req).url.pathname.split("/");
      this.operations.settle();
      // A host name with malformed escapes names no Front Door host: it is looked up as written.
      const answer = answerAtEdge(this.state, this.clock(), decodeOr(host), `/${rest.join("/")}`);
      const body = JSON.stringify(answer.body);
      res.writeHead(answer.status, { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(body)) }).end(body);
    });
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    this.edgeListener = { server, port: 0, sockets, listening: false };
    await this.listen(this.edgeListener);
  }

  private async listen(listener: RegionListener): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      listener.server.once("error", reject);
      listener.server.listen(listener.port, "127.0.0.1", () => {
        listener.server.off("error", reject);
        resolve();
      });
    });
    const address = listener.server.address();
    if (address && typeof address !== "string") listener.port = address.port;
    listener.listening = true;
  }

  private async stopListener(listener: RegionListener): Promise<void> {
    if (!listener.listening) return;
    listener.listening = false;
    for (const socket of listener.sockets) socket.destroy();
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
  }
}

export async function startEstate(options: EstateOptions = {}): Promise<Estate> {
  return new Estate(options).start();
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The request's URL and the origin the client addressed. Both come from the client (the Host header, the
 * request target): one that does not make a URL falls back to the loopback address and `/`, so that a
 * probe with a malformed Host or target gets an answer instead of stopping the estate.
 */
function requestUrl(req: IncomingMessage): { origin: string; url: URL } {
  const fallback = "https://127.0.0.1";
  const host = req.headers.host;
  const origin = host !== undefined && URL.canParse(`https://${host}`) ? `https://${host}` : fallback;
  const target = req.url ?? "/";
  return { origin, url: URL.canParse(target, origin) ? new URL(target, origin) : new URL("/", origin) };
}

/** `decodeURIComponent`, or the text as it is when its escapes are malformed. */
function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBytes(req, 4 * 1024 * 1024)).toString("utf8");
}

/** Notification bodies are read whole up to this size (ACS email takes up to 10 MB, attachments included). */
const NOTIFICATION_BODY_LIMIT = 12 * 1024 * 1024;

/** The request body as bytes (a webhook signature covers the bytes sent); 413 beyond `limit`. */
async function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    // A request stream without an encoding set yields Buffers; a string would only come from setEncoding.
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), "utf8");
    size += buffer.length;
    if (size > limit) throw new EstateHttpError(413, "RequestEntityTooLarge", `The request body is larger than ${limit / (1024 * 1024)} MiB.`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function unmatched(url: URL): EstateHttpError {
  const path = url.pathname;
  if (path.startsWith("/_estate/")) return new EstateHttpError(404, "NotFound", `No estate control endpoint at ${path}.`);
  const provider = /\/providers\/([^/]+)\/([^/]+)/i.exec(path);
  if (provider) {
    return new EstateHttpError(
      404,
      "InvalidResourceType",
      `The resource type '${provider[2]}' could not be found in the namespace '${provider[1]}' for api version '${url.searchParams.get("api-version") ?? ""}'.`,
    );
  }
  return new EstateHttpError(404, "NotFound", `No route for ${path}.`);
}

function errorResponse(error: unknown): EstateResponse {
  if (error instanceof EstateHttpError) {
    const body: ArmErrorBody = error.body();
    return { status: error.status, headers: error.headers, body };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { error: { code: "InternalServerError", message: `The estate failed: ${message}` } } };
}
