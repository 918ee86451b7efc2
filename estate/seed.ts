import { z } from "zod";
import { ArmIdError, parseArmId } from "./armId.ts";
import { formatPath } from "./scenario.ts";

/*
 * What the estate starts from, in Azure's terms: regions and the resources located in them, each by
 * its ARM id with the properties Azure would show. The estate knows nothing of the application that
 * seeds it (Switchyard translates its plans in src/local/estateSeed.ts). Every part is optional.
 *
 * Seeding is additive: a resource already in the estate (same ARM id, compared case-insensitively) is
 * kept as it is, and the seed's copy ignored; a Front Door seeded again gains the backend pools it
 * lacks, an origin group the origins it lacks. Every region a resource is located in exists, with
 * those listed in `regions` first, in order.
 */
export interface EstateSeed {
  readonly regions?: readonly SeedRegion[];
  readonly sqlServers?: readonly SeedSqlServer[];
  readonly failoverGroups?: readonly SeedFailoverGroup[];
  readonly storageAccounts?: readonly SeedStorageAccount[];
  readonly afdOriginGroups?: readonly SeedAfdOriginGroup[];
  readonly afdEndpoints?: readonly SeedAfdEndpoint[];
  readonly frontDoors?: readonly SeedFrontDoor[];
  readonly sites?: readonly SeedSite[];
  readonly vaults?: readonly SeedVault[];
}

export interface SeedRegion {
  /** Programmatic name, e.g. `eastus2`. */
  readonly name: string;
  /**
   * Host names (`host` or `host:port`) of the applications running in the region: requests to them
   * reach the region's health listener (up, down or restarting with the region).
   */
  readonly applicationHosts?: readonly string[];
}

export interface SeedSqlServer {
  /** `…/providers/Microsoft.Sql/servers/{name}` */
  readonly id: string;
  readonly location: string;
  /**
   * SQL authentication logins (kept in the server's master). Each password must meet Azure SQL
   * Database's password policy; the estate keeps only its salted hash. A server seeded again gains
   * the logins it lacks.
   */
  readonly logins?: readonly SeedSqlLogin[];
}

export interface SeedSqlLogin {
  readonly name: string;
  readonly password: string;
  /** Default false: a disabled login cannot log in. */
  readonly disabled?: boolean;
}

export interface SeedFailoverGroup {
  /** `…/Microsoft.Sql/servers/{server}/failoverGroups/{name}`, under the server that is primary. */
  readonly id: string;
  /** The secondary server. Both servers are seeded (`sqlServers`, in this seed or an earlier one). */
  readonly partnerServerId: string;
  /** Database names, the same on both servers. */
  readonly databases: readonly string[];
  /** Azure's default when absent: `Manual`. */
  readonly readWriteEndpoint?: { readonly failoverPolicy: "Automatic" | "Manual"; readonly failoverWithDataLossGracePeriodMinutes?: number };
  /** Azure's default when absent: `Disabled`. */
  readonly readOnlyEndpoint?: { readonly failoverPolicy: "Enabled" | "Disabled" };
}

export const GEO_REDUNDANT_SKUS = ["Standard_GRS", "Standard_RAGRS", "Standard_GZRS", "Standard_RAGZRS"] as const;

export interface SeedStorageAccount {
  /** `…/providers/Microsoft.Storage/storageAccounts/{name}` */
  readonly id: string;
  /** A geo-redundant SKU: the account replicates to `secondaryLocation`. */
  readonly sku: (typeof GEO_REDUNDANT_SKUS)[number];
  /** Default `StorageV2`. */
  readonly kind?: string;
  /** Where the account was created (its ARM `location`) and is primary. */
  readonly primaryLocation: string;
  /** Its paired region: the secondary, and where re-protection after a failover replicates to. */
  readonly secondaryLocation: string;
}

export interface SeedAfdOrigin {
  readonly name: string;
  readonly hostName: string;
  /** Default: `hostName`. */
  readonly originHostHeader?: string;
  readonly priority: number;
  /** Default 1000. */
  readonly weight?: number;
  /** Default `Enabled`. */
  readonly enabledState?: "Enabled" | "Disabled";
  /**
   * The region the origin's host runs in. Azure knows an origin by its host name only; the estate
   * needs the region to answer for its health (probes, metrics, the edge). Absent: never healthy.
   */
  readonly region?: string;
}

export interface SeedAfdOriginGroup {
  /** `…/providers/Microsoft.Cdn/profiles/{profile}/originGroups/{name}`; the profile is its parent. */
  readonly id: string;
  readonly origins: readonly SeedAfdOrigin[];
}

export interface SeedAfdEndpoint {
  /** `…/providers/Microsoft.Cdn/profiles/{profile}/afdEndpoints/{name}`; its host name is `{name}-{hash}.z01.azurefd.net`. */
  readonly id: string;
  /** Each route sends the requests that match its patterns (default `/*`) to an origin group of the same profile. */
  readonly routes: readonly { readonly name: string; readonly originGroupId: string; readonly patternsToMatch?: readonly string[] }[];
}

export interface SeedBackend {
  /** Host name of the backend. */
  readonly address: string;
  readonly priority: number;
  /** Default 50. */
  readonly weight?: number;
  /** The region the backend runs in (what its health follows), as for an AFD origin. */
  readonly region?: string;
}

export interface SeedFrontDoor {
  /** `…/providers/Microsoft.Network/frontDoors/{name}`; frontend `{name}.azurefd.net`, one routing rule `/*` to the first pool. */
  readonly id: string;
  readonly backendPools: readonly { readonly name: string; readonly backends: readonly SeedBackend[] }[];
}

export interface SeedSite {
  /** `…/providers/Microsoft.Web/sites/{name}` */
  readonly id: string;
  readonly location: string;
  /**
   * A value may be a Key Vault reference (`@Microsoft.KeyVault(...)`, as are connection strings'): the
   * site resolves it against the vaults once this seed's vaults are in, a versionless one to the latest version.
   */
  readonly appSettings?: Readonly<Record<string, string>>;
  readonly connectionStrings?: Readonly<Record<string, { readonly value: string; readonly type: string }>>;
}

export interface SeedSecret {
  readonly name: string;
  /** Its one version was created this many days before the seeding (the estate's clock). */
  readonly createdDaysAgo: number;
  /** Its expiry (`exp`), in days from the seeding (negative: expired already). Absent: none. */
  readonly expiresInDays?: number;
  /** Its value. At most one of `value` and `valueFrom`; with neither, a random value. */
  readonly value?: string;
  /**
   * Its value taken from a storage account's key as it is when the vault is seeded (the account is
   * seeded too, in this seed or an earlier one).
   */
  readonly valueFrom?: { readonly storageAccountKey: { readonly account: string; readonly keyName: "key1" | "key2" } };
  readonly tags?: Readonly<Record<string, string>>;
}

export interface SeedVault {
  /** `…/providers/Microsoft.KeyVault/vaults/{name}`; served at `/keyvault/{name}`. */
  readonly id: string;
  /** The region of its control plane. */
  readonly location: string;
  readonly secrets?: readonly SeedSecret[];
}

// ---- the seed as a document (POST /_estate/seed) ------------------------------------------------

const armIdOf = (type: string) =>
  z.string().superRefine((value, ctx) => {
    try {
      const parsed = parseArmId(value);
      if (parsed.type.toLowerCase() !== type.toLowerCase()) ctx.addIssue({ code: "custom", message: `expected a ${type} id, got a ${parsed.type} id` });
    } catch (error) {
      ctx.addIssue({ code: "custom", message: error instanceof ArmIdError ? error.message : String(error) });
    }
  });

const region = z.string().regex(/^[a-z0-9]+$/, "a programmatic region name (lower-case letters and digits, e.g. eastus2)");
const name = z.string().min(1);

/** Key Vault's limit on a secret value (25 KB). */
const MAX_SECRET_BYTES = 25 * 1024;

const seedSecretSchema = z
  .strictObject({
    name: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/),
    createdDaysAgo: z.number().min(0),
    expiresInDays: z.number().optional(),
    // Messages name the rule, never the value.
    value: z
      .string()
      .refine((v) => Buffer.byteLength(v, "utf8") <= MAX_SECRET_BYTES, { message: `a secret value is at most ${MAX_SECRET_BYTES} bytes` })
      .optional(),
    valueFrom: z.strictObject({ storageAccountKey: z.strictObject({ account: armIdOf("Microsoft.Storage/storageAccounts"), keyName: z.enum(["key1", "key2"]) }) }).optional(),
    tags: z.record(z.string(), z.string()).optional(),
  })
  .refine((s) => s.value === undefined || s.valueFrom === undefined, { message: "give either value or valueFrom, not both" });

export const seedSchema = z.strictObject({
  regions: z.array(z.strictObject({ name: region, applicationHosts: z.array(z.string().min(1)).optional() })).optional(),
  sqlServers: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Sql/servers"),
        location: region,
        logins: z.array(z.strictObject({ name: z.string().min(1).max(128), password: z.string(), disabled: z.boolean().optional() })).optional(),
      }),
    )
    .optional(),
  failoverGroups: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Sql/servers/failoverGroups"),
        partnerServerId: armIdOf("Microsoft.Sql/servers"),
        databases: z.array(name),
        readWriteEndpoint: z
          .strictObject({ failoverPolicy: z.enum(["Automatic", "Manual"]), failoverWithDataLossGracePeriodMinutes: z.number().int().min(60).optional() })
          .optional(),
        readOnlyEndpoint: z.strictObject({ failoverPolicy: z.enum(["Enabled", "Disabled"]) }).optional(),
      }),
    )
    .optional(),
  storageAccounts: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Storage/storageAccounts"),
        sku: z.enum(GEO_REDUNDANT_SKUS),
        kind: z.string().min(1).optional(),
        primaryLocation: region,
        secondaryLocation: region,
      }),
    )
    .optional(),
  afdOriginGroups: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Cdn/profiles/originGroups"),
        origins: z.array(
          z.strictObject({
            name,
            hostName: z.string().min(1),
            originHostHeader: z.string().min(1).optional(),
            priority: z.number().int().min(1).max(5),
            weight: z.number().int().min(1).max(1000).optional(),
            enabledState: z.enum(["Enabled", "Disabled"]).optional(),
            region: region.optional(),
          }),
        ),
      }),
    )
    .optional(),
  afdEndpoints: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Cdn/profiles/afdEndpoints"),
        routes: z.array(z.strictObject({ name, originGroupId: armIdOf("Microsoft.Cdn/profiles/originGroups"), patternsToMatch: z.array(z.string().min(1)).optional() })),
      }),
    )
    .optional(),
  frontDoors: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Network/frontDoors"),
        backendPools: z
          .array(
            z.strictObject({
              name,
              backends: z.array(
                z.strictObject({
                  address: z.string().min(1),
                  priority: z.number().int().min(1).max(5),
                  weight: z.number().int().min(1).max(1000).optional(),
                  region: region.optional(),
                }),
              ),
            }),
          )
          .min(1),
      }),
    )
    .optional(),
  sites: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.Web/sites"),
        location: region,
        appSettings: z.record(z.string(), z.string()).optional(),
        connectionStrings: z.record(z.string(), z.strictObject({ value: z.string(), type: z.string().min(1) })).optional(),
      }),
    )
    .optional(),
  vaults: z
    .array(
      z.strictObject({
        id: armIdOf("Microsoft.KeyVault/vaults"),
        location: region,
        secrets: z.array(seedSecretSchema).optional(),
      }),
    )
    .optional(),
}) satisfies z.ZodType<EstateSeed>;

export class SeedError extends Error {}

/** Reads a seed document (JSON already parsed); throws SeedError naming every problem. */
export function parseSeed(document: unknown): EstateSeed {
  const result = seedSchema.safeParse(document);
  if (!result.success) {
    throw new SeedError(result.error.issues.map((i) => `${formatPath(i.path) || "(seed)"}: ${i.message}`).join("; "));
  }
  return result.data;
}
