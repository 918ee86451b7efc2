import { DEFAULT_LAG_SAMPLE_MAX_AGE_SECONDS } from "../lag.ts";
import { z } from "zod";
import { NOTIFICATION_KINDS, SEVERITIES } from "../notification.ts";
import { ArmIdError, parseArmIdOfType, type ArmResourceId } from "./armId.ts";
import { isAzureRegion, suggestRegion } from "./regions.ts";

/** ARM resource types a plan refers to. */
export const ResourceTypes = {
  sqlServer: "Microsoft.Sql/servers",
  failoverGroup: "Microsoft.Sql/servers/failoverGroups",
  storageAccount: "Microsoft.Storage/storageAccounts",
  afdOriginGroup: "Microsoft.Cdn/profiles/originGroups",
  classicFrontDoor: "Microsoft.Network/frontDoors",
  site: "Microsoft.Web/sites",
  vault: "Microsoft.KeyVault/vaults",
} as const;

const armId = (type: string) =>
  z.string().transform((value, ctx): ArmResourceId => {
    try {
      return parseArmIdOfType(value, type);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof ArmIdError ? error.message : String(error) });
      return z.NEVER;
    }
  });

const regionName = z.string().superRefine((value, ctx) => {
  if (!isAzureRegion(value)) {
    const hint = suggestRegion(value);
    ctx.addIssue({
      code: "custom",
      message: `"${value}" is not an Azure region name${hint ? ` (did you mean "${hint}"?)` : ""}`,
    });
  }
});

/** A name Azure accepts for most child resources (origins, pools, settings use their own rules). */
const resourceName = z.string().min(1).max(260);

const httpsUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

const healthEndpoint = z.strictObject({
  url: httpsUrl,
  expectStatus: z.number().int().min(100).max(599).default(200),
  timeoutMs: z.number().int().positive().max(60_000).default(5_000),
});

const region = z.strictObject({
  name: regionName,
  healthEndpoints: z.array(healthEndpoint).min(1, "name at least one health endpoint"),
});

/** A value for each region of the plan, keyed by region name; checked against the plan's regions below. */
const perRegion = <T extends z.ZodType>(value: T) => z.record(z.string(), value);

const sqlFailoverGroup = z.strictObject({
  /** The failover group, under the server that is primary in the plan's primary region. */
  failoverGroup: armId(ResourceTypes.failoverGroup),
  /** The partner server in the secondary region. */
  partnerServer: armId(ResourceTypes.sqlServer),
  databases: z.array(resourceName).min(1).optional(),
  /** Grace period before Azure's own automatic failover; Switchyard seeds the estate with it. */
  gracePeriodMinutes: z.number().int().min(60).optional(),
});

const storageAccount = z.strictObject({
  account: armId(ResourceTypes.storageAccount),
  /** The account's redundancy in steady state (read-access variants keep the secondary readable). */
  sku: z.enum(["Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"]).default("Standard_RAGRS"),
});

const afdOriginGroup = z.strictObject({
  originGroup: armId(ResourceTypes.afdOriginGroup),
  /** The origin (by name, in this origin group) that serves each region. */
  origins: perRegion(resourceName),
});

const classicFrontDoor = z.strictObject({
  frontDoor: armId(ResourceTypes.classicFrontDoor),
  backendPool: resourceName,
  /** The backend address (host name) that serves each region. */
  backends: perRegion(z.string().min(1)),
});

const siteSetting = z.strictObject({
  name: z.string().min(1).regex(/^[^=]+$/, "a setting name has no '='"),
  /** The value to use while each region is primary. */
  values: perRegion(z.string()),
});

const connectionString = siteSetting.extend({
  type: z
    .enum(["SQLAzure", "SQLServer", "MySql", "PostgreSQL", "Custom", "RedisCache", "DocDb", "EventHub", "ServiceBus", "NotificationHub", "ApiHub"])
    .default("Custom"),
});

const appService = z.strictObject({
  site: armId(ResourceTypes.site),
  /** The region the site runs in (one of the plan's). */
  region: regionName.optional(),
  appSettings: z.array(siteSetting).default([]),
  connectionStrings: z.array(connectionString).default([]),
});

/** What a generated secret is drawn from unless the plan names an alphabet: ASCII letters and digits. */
export const DEFAULT_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** A generated credential carries at least this much entropy (length × log2 of the alphabet's size). */
export const MIN_SECRET_BITS = 128;

const alphabet = z
  .string()
  .min(2)
  .max(256)
  .superRefine((value, ctx) => {
    if (/[^\x21-\x7e]/.test(value)) ctx.addIssue({ code: "custom", message: "may hold printable ASCII only (no spaces, control or non-ASCII characters)" });
    if (new Set(value).size !== value.length) ctx.addIssue({ code: "custom", message: "names a character twice (each character once)" });
  });

/** A login name Azure SQL accepts: a regular identifier, which needs no quoting in T-SQL. */
const sqlLoginName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_@$#]{0,127}$/, "a SQL login name: a letter or _ then letters, digits, _, @, $ or # (at most 128)");

const secretSource = z.discriminatedUnion("kind", [
  z.strictObject({
    /** One of the account's two access keys, alternating: the key in use is never the one regenerated. */
    kind: z.literal("storageAccountKey"),
    account: armId(ResourceTypes.storageAccount),
  }),
  z.strictObject({
    /** A random value of `length` characters drawn from `alphabet` (letters and digits by default). */
    kind: z.literal("generated"),
    length: z.number().int().min(16).max(256).default(40),
    alphabet: alphabet.optional(),
  }),
  z.strictObject({
    /**
     * The password of one of two SQL logins, alternating: the secret holds a connection string for the
     * login it names, and the login in use is never the one changed. Logins live in each server's
     * master database (a failover group does not replicate them): the password is changed on every
     * server named, with the same value.
     */
    kind: z.literal("sqlLogin"),
    servers: z.array(armId(ResourceTypes.sqlServer)).min(1).max(4),
    logins: z.tuple([sqlLoginName, sqlLoginName]),
    /** The database the connection string names (default: master). */
    database: resourceName.optional(),
    length: z.number().int().min(16).max(128).default(32),
  }),
]);

const secret = z
  .strictObject({
    /** Every vault that holds this secret (one per region, usually): each rotation writes each of them. */
    vaults: z.array(armId(ResourceTypes.vault)).min(1).max(8).optional(),
    /** A single vault (the same as `vaults` with one entry). */
    vault: armId(ResourceTypes.vault).optional(),
    name: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, "a Key Vault secret name is 1-127 letters, digits and dashes"),
    source: secretSource,
    /** Rotate when the secret is this close to expiry (Key Vault's SecretNearExpiry fires at 30 days). */
    rotateDaysBeforeExpiry: z.number().int().min(1).max(365).default(30),
    validityDays: z.number().int().min(1).max(3650).default(90),
  })
  .superRefine((s, ctx) => {
    if (s.vaults === undefined && s.vault === undefined) ctx.addIssue({ code: "custom", path: ["vaults"], message: "name the vaults that hold the secret (one per region)" });
    if (s.vaults !== undefined && s.vault !== undefined) ctx.addIssue({ code: "custom", path: ["vault"], message: "name either vault or vaults, not both" });
    const seen = new Set<string>();
    (s.vaults ?? []).forEach((v, i) => {
      if (seen.has(v.id.toLowerCase())) ctx.addIssue({ code: "custom", path: ["vaults", i], message: `names vault ${v.name} twice` });
      seen.add(v.id.toLowerCase());
    });
    if (s.source.kind === "generated") {
      const size = (s.source.alphabet ?? DEFAULT_SECRET_ALPHABET).length;
      const bits = Math.floor(s.source.length * Math.log2(size));
      if (bits < MIN_SECRET_BITS) {
        ctx.addIssue({ code: "custom", path: ["source", "length"], message: `${s.source.length} characters of a ${size}-character alphabet give ${bits} bits; at least ${MIN_SECRET_BITS} are needed (a longer secret or a larger alphabet)` });
      }
    }
    if (s.source.kind === "sqlLogin" && s.source.logins[0].toLowerCase() === s.source.logins[1].toLowerCase()) {
      ctx.addIssue({ code: "custom", path: ["source", "logins", 1], message: "must differ from the first login: the two alternate" });
    }
  })
  .transform(({ vault, vaults, ...rest }) => ({ vaults: vaults ?? [vault!], ...rest }));

/**
 * App settings a channel may not name: the platform's and Switchyard's own. A plan says where a
 * channel's credential is; naming another setting would send that value (a storage connection string,
 * the identity's client id) to whatever the channel reaches.
 */
const RESERVED_SETTING_PREFIXES = ["azurewebjobs", "website_", "functions_", "appsetting_", "applicationinsights_", "azure_", "msi_", "identity_", "scm_", "container_"];
export const SWITCHYARD_OWN_SETTINGS = [
  "SWITCHYARD_TARGET",
  "SWITCHYARD_AZURE_CLOUD",
  "SWITCHYARD_ESTATE_URL",
  "SWITCHYARD_ESTATE_CA_FILE",
  "SWITCHYARD_STORAGE_CONNECTION_STRING",
  "SWITCHYARD_STORAGE_ACCOUNT_URL",
  "SWITCHYARD_PLANS_CONTAINER",
  "SWITCHYARD_JOURNAL_CONTAINER",
  "SWITCHYARD_TASK_HUB",
  "SWITCHYARD_STATE_CONTAINER",
  "SWITCHYARD_ALERT_TENANT_ID",
  "SWITCHYARD_ALERT_AUDIENCE",
  "SWITCHYARD_ALERT_ALLOWED_ROLES",
  "SWITCHYARD_ALERT_ALLOWED_APPS",
  "SWITCHYARD_ALERT_MAX_TOKEN_LIFETIME_MINUTES",
  "SWITCHYARD_OPERATOR_AUDIENCE",
  "SWITCHYARD_LAG_SCHEDULE",
  "SWITCHYARD_SECRET_SWEEP_SCHEDULE",
  "SWITCHYARD_DRILL_SCHEDULE",
  "SWITCHYARD_READINESS_SCHEDULE",
  "SWITCHYARD_LAG_RETENTION",
  "SWITCHYARD_PUBLIC_URL",
] as const;

/** Whether a channel may not name this app setting (compared without case: Windows plans read it so). */
export function isReservedSettingName(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_SETTING_PREFIXES.some((p) => lower.startsWith(p)) || SWITCHYARD_OWN_SETTINGS.some((s) => s.toLowerCase() === lower);
}

const settingName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an app setting name (letters, digits, _)")
  .refine((name) => !isReservedSettingName(name), "a setting of the platform or of Switchyard itself: name a setting that holds this channel's credential alone");

/**
 * Which events a channel takes: the kinds (all when absent) at or above a severity. A PagerDuty channel
 * takes only events that open or close an incident; a `resolve` passes its severity floor (an incident
 * it opened must be closed), never its kinds.
 */
const channelFilter = {
  events: z.array(z.enum(NOTIFICATION_KINDS)).min(1).optional(),
  minSeverity: z.enum(SEVERITIES).optional(),
};

const notification = z.discriminatedUnion("kind", [
  z.strictObject({
    name: resourceName,
    kind: z.literal("webhook"),
    /** App setting that holds the URL: webhook URLs carry credentials and never live in a plan. */
    urlSetting: settingName,
    /** App setting with the Standard Webhooks signing secret (`whsec_` + base64): every delivery is signed. */
    secretSetting: settingName,
    ...channelFilter,
  }),
  z.strictObject({
    name: resourceName,
    kind: z.literal("teams"),
    /** App setting with the Teams Workflows webhook URL (its `sig` parameter is a credential). */
    urlSetting: settingName,
    ...channelFilter,
  }),
  z.strictObject({
    name: resourceName,
    kind: z.literal("slack"),
    /** App setting with the Slack incoming webhook URL (its last path segment is a credential). */
    urlSetting: settingName,
    ...channelFilter,
  }),
  z.strictObject({
    name: resourceName,
    kind: z.literal("pagerduty"),
    /** App setting with the Events API v2 integration (routing) key. */
    routingKeySetting: settingName,
    /** App setting with the Events API URL when not the US service region's (`https://events.eu.pagerduty.com/v2/enqueue`). */
    urlSetting: settingName.optional(),
    ...channelFilter,
  }),
  z.strictObject({
    name: resourceName,
    kind: z.literal("email"),
    to: z.array(z.email()).min(1).max(50),
    /** App setting with the Azure Communication Services endpoint (`https://{resource}.communication.azure.com`). */
    endpointSetting: settingName,
    /** A sender address of a domain connected to the Communication Services resource. */
    from: z.email(),
    ...channelFilter,
  }),
]);

/**
 * An Azure Monitor alert rule whose alerts speak for one region of the plan, whatever they target
 * (a log search over a workspace, a Prometheus rule group, a Service Health rule...).
 */
const alertRule = z.strictObject({
  /** The alert rule's name as the alert's `essentials.alertRule` carries it (compared case-insensitively). */
  rule: z.string().trim().min(1).max(260),
  region: regionName,
});

/*
 * Hysteresis floors of the auto-failover policy. They make flapping impossible to configure into
 * ping-pong between the regions:
 * - `cooldownMinutes` at least 15: after any run ends (the run itself waits out Front Door propagation
 *   and restarts), no automatic switch for a quarter of an hour, longer than the usual look-back
 *   window of an Azure Monitor alert rule (5 to 15 minutes), so alerts and probes still reporting the
 *   transition itself never trigger the next switch;
 * - `healthyForSeconds` at least 300 (five probe rounds) and at least `downForSeconds`: a region that
 *   went down is a target again only after it has looked healthy longer than it took to declare it
 *   down; until then the policy answers "target-down";
 * - `maxPerDay` counts every automatic switch, the way home (a failback) included;
 * and going back to the plan's primary is always a failback, which re-protects (geo-redundancy back,
 * in sync) before it moves anything. So one outage moves the application at most once, and a region
 * can only be returned to by a failback after it recovered for `healthyForSeconds`.
 * `quorum` and `downForSeconds` have no floor above 1 and 0: a region is never declared down by alerts
 * alone (a probe or Front Door signal must agree, see core/detection/quorum.ts), and probes turn down
 * only after consecutive failures.
 */
export const MIN_COOLDOWN_MINUTES = 15;
export const MIN_HEALTHY_FOR_SECONDS = 300;

const autoFailover = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** N of the region's signals must report it down... */
    quorum: z.number().int().min(1).default(2),
    /** ...continuously for this long before it is declared down. */
    downForSeconds: z.number().int().min(0).default(180),
    /** A region declared down must look healthy this long before it is declared healthy again (at least 300 and at least downForSeconds). */
    healthyForSeconds: z.number().int().min(MIN_HEALTHY_FOR_SECONDS, `must be at least ${MIN_HEALTHY_FOR_SECONDS} s (five probe rounds): a region that flaps must not be a target again at once`).default(900),
    /** No automatic switch for this long after any run (at least 15 minutes: see the floors above). */
    cooldownMinutes: z.number().int().min(MIN_COOLDOWN_MINUTES, `must be at least ${MIN_COOLDOWN_MINUTES} minutes: a switch must settle before the next one`).default(60),
    /** Automatic switches (failovers and failbacks) started in 24 h. */
    maxPerDay: z.number().int().min(0).max(24).default(1),
    /** How long a run waits for a human to approve a data-loss failover. */
    approvalTimeoutMinutes: z.number().int().min(1).max(7 * 24 * 60).default(30),
    /**
     * A Service Health incident that names the region may declare it down without a probe or Front
     * Door signal agreeing (default false: alerts alone never declare a region down).
     */
    serviceHealthAlone: z.boolean().default(false),
  })
  .superRefine((value, ctx) => {
    if (value.healthyForSeconds < value.downForSeconds) {
      ctx.addIssue({ code: "custom", path: ["healthyForSeconds"], message: `must be at least downForSeconds (${value.downForSeconds}): recovery is declared more slowly than an outage` });
    }
  });

export const planSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/, "3-40 lower-case letters, digits and dashes, starting with a letter"),
    description: z.string().optional(),
    regions: z.strictObject({ primary: region, secondary: region }),
    objectives: z.strictObject({
      rpoSeconds: z.number().int().min(0),
      rtoMinutes: z.number().int().min(1),
      /**
       * In an outage the RPO gate may use the last lag measured before it (aged to the outage start)
       * only if that sample is at most this much older than the outage start.
       */
      lagSampleMaxAgeSeconds: z.number().int().min(60).max(3600).default(DEFAULT_LAG_SAMPLE_MAX_AGE_SECONDS),
    }),
    sql: z.array(sqlFailoverGroup).default([]),
    storage: z.array(storageAccount).default([]),
    frontDoor: z
      .strictObject({
        standard: z.array(afdOriginGroup).default([]),
        classic: z.array(classicFrontDoor).default([]),
      })
      .default({ standard: [], classic: [] }),
    appService: z.array(appService).default([]),
    secrets: z.array(secret).default([]),
    notifications: z.array(notification).default([]),
    alertRules: z.array(alertRule).default([]),
    autoFailover: autoFailover.default(autoFailover.parse({})),
  });

/**
 * Signals that can report a region down: each health endpoint, Front Door origin health, and Azure
 * Monitor alerts (always possible).
 */
export function signalCount(healthEndpoints: number, afdOriginGroups: number): number {
  return healthEndpoints + (afdOriginGroups > 0 ? 1 : 0) + 1;
}

export type PlanInput = z.input<typeof planSchema>;
export type Plan = z.output<typeof planSchema>;
export type RegionRole = "primary" | "secondary";
