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
    async sendRequest(request, next) {
      const original = request.url;
      const url = new URL(original);
      const host = url.hostname.toLowerCase();
      if (!host.endsWith(suffix)) return next(request);
      const vault = host.slice(0, -suffix.length);
      request.url = `${estateUrl}/keyvault/${vault}${url.pathname}${url.search}`;
      try {
        return await next(request);
      } finally {
        // The Key Vault challenge policy runs before this one and checks the challenge's resource
        // against request.url when the 401 comes back: it must see the Azure URL again.
        request.url = original;
      }
    },
  };
}
