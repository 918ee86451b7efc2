import type { PipelinePolicy } from "@azure/core-rest-pipeline";

/**
 * Sends data-plane requests that name Azure hosts (`https://{vault}.vault.azure.net/...`) to the local
 * estate instead (`{estate}/keyvault/{vault}/...`). It runs after authentication, so the SDK's own
 * checks (the Key Vault challenge's resource check among them) see the Azure URL, exactly as in Azure.
 */
export function estateRoutingPolicy(estateUrl: string, keyVaultSuffix: string): PipelinePolicy {
  const suffix = `.${keyVaultSuffix}`.toLowerCase();
  return {
    name: "switchyardEstateRouting",
    sendRequest(request, next) {
      const url = new URL(request.url);
      const host = url.hostname.toLowerCase();
      if (host.endsWith(suffix)) {
        const vault = host.slice(0, -suffix.length);
        request.url = `${estateUrl}/keyvault/${vault}${url.pathname}${url.search}`;
      }
      return next(request);
    },
  };
}
