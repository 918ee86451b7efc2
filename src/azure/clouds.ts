/** Endpoints of the Azure clouds Switchyard can run in. */
export interface CloudEndpoints {
  readonly name: CloudName;
  readonly resourceManager: string;
  readonly authorityHost: string;
  /** Key Vault DNS suffix: a vault's URL is `https://{name}.{suffix}`. */
  readonly keyVaultSuffix: string;
  /** Azure Monitor metrics data plane: `https://{region}.{suffix}` (`global` for global resources). */
  readonly metricsSuffix: string;
  /** The metrics data plane's token audience (one for every region); the scope is `{audience}/.default`. */
  readonly metricsAudience: string;
  readonly storageSuffix: string;
}

export type CloudName = "AzurePublicCloud" | "AzureUSGovernment" | "AzureChinaCloud";

export const CLOUDS: Record<CloudName, CloudEndpoints> = {
  AzurePublicCloud: {
    name: "AzurePublicCloud",
    resourceManager: "https://management.azure.com",
    authorityHost: "https://login.microsoftonline.com",
    keyVaultSuffix: "vault.azure.net",
    metricsSuffix: "metrics.monitor.azure.com",
    metricsAudience: "https://metrics.monitor.azure.com",
    storageSuffix: "core.windows.net",
  },
  AzureUSGovernment: {
    name: "AzureUSGovernment",
    resourceManager: "https://management.usgovcloudapi.net",
    authorityHost: "https://login.microsoftonline.us",
    keyVaultSuffix: "vault.usgovcloudapi.net",
    metricsSuffix: "metrics.monitor.azure.us",
    metricsAudience: "https://metrics.monitor.azure.us",
    storageSuffix: "core.usgovcloudapi.net",
  },
  AzureChinaCloud: {
    name: "AzureChinaCloud",
    resourceManager: "https://management.chinacloudapi.cn",
    authorityHost: "https://login.chinacloudapi.cn",
    keyVaultSuffix: "vault.azure.cn",
    metricsSuffix: "metrics.monitor.azure.cn",
    metricsAudience: "https://metrics.monitor.azure.cn",
    storageSuffix: "core.chinacloudapi.cn",
  },
};

export function isCloudName(value: string): value is CloudName {
  return value in CLOUDS;
}
