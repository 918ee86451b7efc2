import type { PipelinePolicy } from "@azure/core-rest-pipeline";

/**
 * A policy that sends a request to another URL when `reroute` gives one (the local estate instead of
 * an Azure host), and puts the Azure URL back once it has answered. It runs after authentication, so
 * the SDK's own checks (the Key Vault challenge's resource check among them) see the Azure URL, exactly
 * as in Azure: the challenge policy runs before this one and checks the challenge's resource against
 * request.url when a 401 comes back.
 */
export function reroutePolicy(name: string, reroute: (url: URL) => string | undefined): PipelinePolicy {
  return {
    name,
    async sendRequest(request, next) {
      const original = request.url;
      const target = reroute(new URL(original));
      if (target === undefined) return next(request);
      request.url = target;
      try {
        return await next(request);
      } finally {
        request.url = original;
      }
    },
  };
}

/**
 * Sends data-plane requests that name Azure hosts (`https://{vault}.vault.azure.net/...`) to the local
 * estate instead (`{estate}/keyvault/{vault}/...`).
 */
export function estateRoutingPolicy(estateUrl: string, keyVaultSuffix: string): PipelinePolicy {
  const suffix = `.${keyVaultSuffix}`.toLowerCase();
  return reroutePolicy("switchyardEstateRouting", (url) => {
    const host = url.hostname.toLowerCase();
    return host.endsWith(suffix) ? `${estateUrl}/keyvault/${host.slice(0, -suffix.length)}${url.pathname}${url.search}` : undefined;
  });
}
