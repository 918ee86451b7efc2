import { AuthorizationManagementClient } from "@azure/arm-authorization";
import { CdnManagementClient } from "@azure/arm-cdn";
import { EmailClient } from "@azure/communication-email";
import { FrontDoorManagementClient } from "@azure/arm-frontdoor";
import { SqlManagementClient } from "@azure/arm-sql";
import { StorageManagementClient } from "@azure/arm-storage";
import { WebSiteManagementClient } from "@azure/arm-appservice";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import type { PipelineOptions, PipelinePolicy } from "@azure/core-rest-pipeline";
import { budgetPolicy } from "./budget.ts";
import { DefaultAzureCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { MetricsClient } from "@azure/monitor-query-metrics";
import { BlobServiceClient } from "@azure/storage-blob";
import { CLOUDS, type CloudName } from "./clouds.ts";
import { estateRoutingPolicy, reroutePolicy } from "./estateRouting.ts";
import { azureCallPolicy } from "../telemetry/azureCalls.ts";

/** Where Switchyard's Azure calls go. */
export type Target =
  | {
      readonly kind: "azure";
      readonly cloud: CloudName;
      /** Client id of the user-assigned managed identity (or any DefaultAzureCredential source when absent). */
      readonly managedIdentityClientId?: string;
      /** Overrides the credential (tests, or callers with their own). */
      readonly credential?: TokenCredential;
    }
  | {
      readonly kind: "estate";
      /** `https://127.0.0.1:PORT` */
      readonly url: string;
      /** PEM of the estate's certificate; clients trust it and nothing else is relaxed. */
      readonly ca: string;
      /** Application host name (lower-case) → the estate's listener for that host's region. */
      readonly hosts?: Readonly<Record<string, string>>;
      /** SQL server host name (`{server}.database.windows.net`, lower-case) → the estate's TDS listener (`127.0.0.1:PORT`). */
      readonly sqlHosts?: Readonly<Record<string, string>>;
    };

export interface BlobStoreOptions {
  /** A storage connection string (Azurite's, locally) ... */
  readonly connectionString?: string;
  /** ... or the blob endpoint of an account reached with the target's credential. */
  readonly accountUrl?: string;
}

export interface ClientFactoryOptions {
  readonly target: Target;
  readonly blobStore?: BlobStoreOptions;
  /** Retries for transient failures (429, 5xx, timeouts); Retry-After is honoured by the SDK policies. */
  readonly maxRetries?: number;
  /**
   * Local runs at a time scale: the SDK's own backoff between retries (1 s doubling up to 64 s) is
   * divided by it, as every other Azure duration is, so that a retried request fits in an activity's
   * scaled budget. Unset (Azure): the SDK's delays.
   */
  readonly retryDelayScale?: number;
}

const USER_AGENT = "switchyard/0.1";

/**
 * The object id of Switchyard's identity on the local estate: the `oid` its tokens carry, which the
 * estate's RBAC mode knows the caller by (role assignments for Switchyard name this principal).
 */
export const LOCAL_IDENTITY_OBJECT_ID = "5a17c4ad-0e57-4a7e-9d1e-00000000a11c";
/** The application (client) id of that identity: the tokens' `appid`. */
export const LOCAL_IDENTITY_APP_ID = "5a17c4ad-0e57-4a7e-9d1e-00000000a99d";
/** The tenant the local identity's tokens name. */
const LOCAL_TENANT_ID = "5a17c4ad-0e57-4a7e-9d1e-00000000717e";

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Tokens for the local estate, without a network call: an unsigned JWT (`alg: none`, empty signature)
 * carrying the fixed local identity's `oid` and `appid`, as a managed identity's access token carries
 * them. The estate checks no signature, audience or expiry (it reads the claims to know the caller).
 */
export class EstateCredential implements TokenCredential {
  async getToken(scopes: string | string[] = []): Promise<AccessToken> {
    const now = Math.floor(Date.now() / 1000);
    const expiresOn = now + 60 * 60;
    const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? "";
    const claims = {
      aud: scope.replace(/\/\.default$/, ""),
      iss: `https://sts.windows.net/${LOCAL_TENANT_ID}/`,
      iat: now,
      nbf: now,
      exp: expiresOn,
      oid: LOCAL_IDENTITY_OBJECT_ID,
      sub: LOCAL_IDENTITY_OBJECT_ID,
      appid: LOCAL_IDENTITY_APP_ID,
      tid: LOCAL_TENANT_ID,
      idtyp: "app",
    };
    const token = `${base64url({ alg: "none", typ: "JWT" })}.${base64url(claims)}.`;
    return { token, expiresOnTimestamp: expiresOn * 1000, tokenType: "Bearer" };
  }
}

/**
 * The one place that constructs Azure SDK clients. Clients are made once per key and reused; they are
 * safe to share across concurrent calls.
 */
export class ClientFactory {
  readonly credential: TokenCredential;
  private readonly cache = new Map<string, unknown>();
  private readonly cloud;

  constructor(private readonly options: ClientFactoryOptions) {
    const target = options.target;
    this.cloud = CLOUDS[target.kind === "azure" ? target.cloud : "AzurePublicCloud"];
    this.credential =
      target.kind === "estate"
        ? new EstateCredential()
        : (target.credential ??
          new DefaultAzureCredential({
            authorityHost: this.cloud.authorityHost,
            ...(target.managedIdentityClientId ? { managedIdentityClientId: target.managedIdentityClientId } : {}),
          }));
  }

  get target(): Target {
    return this.options.target;
  }

  /** ARM endpoint for the target. */
  get resourceManagerUrl(): string {
    return this.options.target.kind === "estate" ? this.options.target.url : this.cloud.resourceManager;
  }

  /** Azure RBAC reads (`permissions`: what the caller may do at a resource group or a resource). */
  authorization(subscriptionId: string): AuthorizationManagementClient {
    return this.once(`authorization:${subscriptionId}`, () => new AuthorizationManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  sql(subscriptionId: string): SqlManagementClient {
    return this.once(`sql:${subscriptionId}`, () => new SqlManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  storage(subscriptionId: string): StorageManagementClient {
    return this.once(`storage:${subscriptionId}`, () => new StorageManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  cdn(subscriptionId: string): CdnManagementClient {
    return this.once(`cdn:${subscriptionId}`, () => new CdnManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  frontDoor(subscriptionId: string): FrontDoorManagementClient {
    return this.once(`frontdoor:${subscriptionId}`, () => new FrontDoorManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  web(subscriptionId: string): WebSiteManagementClient {
    return this.once(`web:${subscriptionId}`, () => new WebSiteManagementClient(this.credential, subscriptionId, this.armOptions()));
  }

  /**
   * Azure Monitor metrics (batch API) for resources in `region`: the regional endpoint
   * `https://{region}.metrics.monitor.azure.com` (`global` for global resources such as Front Door).
   * Every resource of one batch must be in that region (and one subscription, one resource type).
   *
   * The token is asked for `{audience}/.default` explicitly: the client library passes its `audience`
   * option to the credential as the scope unchanged, and without one asks for Resource Manager's.
   * On the estate the client still addresses the regional host; each request is re-routed to the
   * estate's `/metrics/{region}` after authentication, as Key Vault requests are.
   */
  metrics(region: string): MetricsClient {
    const name = region.toLowerCase();
    if (!/^[a-z0-9]+$/.test(name)) throw new Error(`'${region}' is not a region name for an Azure Monitor metrics endpoint`);
    const target = this.options.target;
    const host = `${name}.${this.cloud.metricsSuffix}`;
    return this.once(`metrics:${name}`, () => {
      const options = this.common();
      if (target.kind === "estate") {
        const routing = reroutePolicy("switchyardEstateMetricsRouting", (url) => (url.hostname.toLowerCase() === host ? `${target.url}/metrics/${name}${url.pathname}${url.search}` : undefined));
        options.additionalPolicies = [...(options.additionalPolicies ?? []), { policy: routing, position: "perRetry" }];
      }
      return new MetricsClient(`https://${host}`, this.credential, { ...options, credentials: { scopes: [`${this.cloud.metricsAudience}/.default`] } });
    });
  }

  /** The URL of a Key Vault by name: `https://{name}.vault.azure.net` in the public cloud. */
  vaultUrl(vaultName: string): string {
    return `https://${vaultName}.${this.cloud.keyVaultSuffix}`;
  }

  secrets(vaultName: string): SecretClient {
    const target = this.options.target;
    return this.once(`secrets:${vaultName.toLowerCase()}`, () => {
      const options = this.common();
      if (target.kind === "estate") {
        options.additionalPolicies = [...(options.additionalPolicies ?? []), { policy: estateRoutingPolicy(target.url, this.cloud.keyVaultSuffix), position: "perRetry" }];
      }
      return new SecretClient(this.vaultUrl(vaultName), this.credential, options);
    });
  }

  blobService(): BlobServiceClient {
    return this.once("blob", () => {
      const store = this.options.blobStore;
      // No time-budget policy here: @azure/storage-blob 12 adds additionalPolicies to its pipeline twice
      // ("Duplicate policy names not allowed in pipeline"), and every container or blob client made
      // from this one adds them again to the pipeline they share. The budget reaches blob requests
      // through their options instead: the stores pass `budgetOptions()` (src/azure/budget.ts) on every
      // call, and read download bodies with `readBody`, which the budget also cuts. For the same reason
      // Switchyard's own blob requests (state, journal, plans) have no telemetry span.
      // The same retry count as the other clients (storage-blob counts tries, the first included).
      const scaled = this.scaledRetryDelays();
      const options = { userAgentOptions: { userAgentPrefix: USER_AGENT }, retryOptions: { maxTries: (this.options.maxRetries ?? 3) + 1, ...(scaled.retryDelayInMs !== undefined ? { retryDelayInMs: scaled.retryDelayInMs, maxRetryDelayInMs: scaled.maxRetryDelayInMs } : {}) } };
      if (store?.connectionString) return BlobServiceClient.fromConnectionString(store.connectionString, options);
      if (store?.accountUrl) return new BlobServiceClient(store.accountUrl, this.credential, options);
      throw new Error("no blob store configured: set SWITCHYARD_STORAGE_CONNECTION_STRING or SWITCHYARD_STORAGE_ACCOUNT_URL");
    });
  }

  /**
   * Where a notification channel's HTTP request goes: the URL itself in Azure; locally, the estate's
   * `/channels/{host}{path}` (it answers as Slack, PagerDuty, Teams Workflows or a webhook receiver
   * would), trusting the estate's certificate.
   */
  channelTarget(url: string): { url: string; ca?: string } {
    const target = this.options.target;
    if (target.kind === "azure") return { url };
    const parsed = new URL(url);
    return { url: `${target.url}/channels/${parsed.host.toLowerCase()}${parsed.pathname}${parsed.search}`, ca: target.ca };
  }

  /**
   * The Azure Communication Services email client of a resource endpoint (`https://{name}.communication.azure.com`),
   * with the factory's credential. No retries of its own: delivery retries on its schedule (src/notify/delivery.ts).
   * On the estate, each request is re-routed to `/communication/{host}/...` after authentication.
   */
  email(endpoint: string): EmailClient {
    const target = this.options.target;
    const host = new URL(endpoint).host.toLowerCase();
    return this.once(`email:${host}`, () => {
      const options = this.common();
      options.retryOptions = { maxRetries: 0 };
      if (target.kind === "estate") {
        const routing = reroutePolicy("switchyardEstateEmailRouting", (url) => (url.host.toLowerCase() === host ? `${target.url}/communication/${host}${url.pathname}${url.search}` : undefined));
        options.additionalPolicies = [...(options.additionalPolicies ?? []), { policy: routing, position: "perRetry" }];
      }
      return new EmailClient(`https://${host}`, this.credential, options);
    });
  }

  /**
   * The URL to request for an application endpoint named in a plan: itself in Azure, the estate's
   * listener for that host's region locally.
   */
  endpointUrl(url: string): string {
    const target = this.options.target;
    if (target.kind === "azure") return url;
    const parsed = new URL(url);
    const base = target.hosts?.[parsed.host.toLowerCase()] ?? target.hosts?.[parsed.hostname.toLowerCase()];
    if (!base) throw new Error(`the local estate serves no application host '${parsed.host}'`);
    return `${base}${parsed.pathname}${parsed.search}`;
  }

  private once<T>(key: string, make: () => T): T {
    let client = this.cache.get(key) as T | undefined;
    if (client === undefined) {
      client = make();
      this.cache.set(key, client);
    }
    return client;
  }

  private common(): PipelineOptions & { additionalPolicies?: { policy: PipelinePolicy; position: "perCall" | "perRetry" }[] } {
    const target = this.options.target;
    return {
      userAgentOptions: { userAgentPrefix: USER_AGENT },
      retryOptions: { maxRetries: this.options.maxRetries ?? 3, ...this.scaledRetryDelays() },
      ...(target.kind === "estate" ? { tlsOptions: { ca: target.ca } } : {}),
      // Every request carries the time budget of the activity that makes it (src/azure/budget.ts), and
      // each try is a span (src/telemetry/azureCalls.ts), placed before any estate routing policy added
      // after it, so that it names the host the SDK addressed.
      additionalPolicies: [
        { policy: budgetPolicy, position: "perCall" },
        { policy: azureCallPolicy, position: "perRetry" },
      ],
    };
  }

  /** The SDK's default retry delays (core-rest-pipeline: 1 s, at most 64 s) divided by retryDelayScale. */
  private scaledRetryDelays(): { retryDelayInMs?: number; maxRetryDelayInMs?: number } {
    const scale = this.options.retryDelayScale;
    if (scale === undefined || !Number.isFinite(scale) || scale <= 1) return {};
    return { retryDelayInMs: Math.max(1, Math.round(1_000 / scale)), maxRetryDelayInMs: Math.max(1, Math.round(64_000 / scale)) };
  }

  /** Options both generations of ARM clients understand (endpoint + scopes spelled both ways). */
  private armOptions(): PipelineOptions & Record<string, unknown> {
    const scope = `${this.cloud.resourceManager}/.default`;
    return {
      ...this.common(),
      endpoint: this.resourceManagerUrl,
      credentialScopes: [scope],
      credentials: { scopes: [scope] },
    };
  }
}
