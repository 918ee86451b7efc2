/** Endpoints of the Azure clouds Switchyard can run in. */
export interface CloudEndpoints {
  readonly name: CloudName;
  readonly resourceManager: string;
  readonly authorityHost: string;
  /**
   * Microsoft Entra ID's token issuers in this cloud, without the tenant: `{tokenIssuerV1}/{tenant}/`
   * for v1.0 access tokens, `{tokenIssuerV2}/{tenant}/v2.0` for v2.0 ones. The signing keys are at
   * `{authorityHost}/{tenant}/discovery/v2.0/keys`.
   */
  readonly tokenIssuerV1: string;
  readonly tokenIssuerV2: string;
  /** Key Vault DNS suffix: a vault's URL is `https://{name}.{suffix}`. */
  readonly keyVaultSuffix: string;
  /** Azure Monitor metrics data plane: `https://{region}.{suffix}` (`global` for global resources). */
  readonly metricsSuffix: string;
  /** The metrics data plane's token audience (one for every region); the scope is `{audience}/.default`. */
  readonly metricsAudience: string;
  readonly storageSuffix: string;
  /** Azure SQL logical servers: `{server}.{suffix}`, TDS on port 1433. */
  readonly sqlSuffix: string;
}

export type CloudName = "AzurePublicCloud" | "AzureUSGovernment" | "AzureChinaCloud";

export const CLOUDS: Record<CloudName, CloudEndpoints> = {
  AzurePublicCloud: {
    name: "AzurePublicCloud",
    resourceManager: "https://management.azure.com",
    authorityHost: "https://login.microsoftonline.com",
    tokenIssuerV1: "https://sts.windows.net",
    tokenIssuerV2: "https://login.microsoftonline.com",
    keyVaultSuffix: "vault.azure.net",
    metricsSuffix: "metrics.monitor.azure.com",
    metricsAudience: "https://metrics.monitor.azure.com",
    storageSuffix: "core.windows.net",
    sqlSuffix: "database.windows.net",
  },
  AzureUSGovernment: {
    name: "AzureUSGovernment",
    resourceManager: "https://management.usgovcloudapi.net",
    authorityHost: "https://login.microsoftonline.us",
    // US Government's v1.0 tokens name the same STS as the public cloud's.
    tokenIssuerV1: "https://sts.windows.net",
    tokenIssuerV2: "https://login.microsoftonline.us",
    keyVaultSuffix: "vault.usgovcloudapi.net",
    metricsSuffix: "metrics.monitor.azure.us",
    metricsAudience: "https://metrics.monitor.azure.us",
    storageSuffix: "core.usgovcloudapi.net",
    sqlSuffix: "database.usgovcloudapi.net",
  },
  AzureChinaCloud: {
    name: "AzureChinaCloud",
    resourceManager: "https://management.chinacloudapi.cn",
    authorityHost: "https://login.chinacloudapi.cn",
    tokenIssuerV1: "https://sts.chinacloudapi.cn",
    tokenIssuerV2: "https://login.partner.microsoftonline.cn",
    keyVaultSuffix: "vault.azure.cn",
    metricsSuffix: "metrics.monitor.azure.cn",
    metricsAudience: "https://metrics.monitor.azure.cn",
    storageSuffix: "core.chinacloudapi.cn",
    sqlSuffix: "database.chinacloudapi.cn",
  },
};

export function isCloudName(value: string): value is CloudName {
  return value in CLOUDS;
}
