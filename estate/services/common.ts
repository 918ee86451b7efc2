import type { EstateRequest } from "../router.ts";

/** `/subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}` from path params. */
export function resourceId(req: EstateRequest, namespace: string, ...typeNamePairs: [string, string][]): string {
  const { subscriptionId, resourceGroupName } = req.params;
  const tail = typeNamePairs.map(([type, param]) => `${type}/${req.params[param]}`).join("/");
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/${namespace}/${tail}`;
}

export const ok = (body: unknown) => ({ status: 200, body });

export const iso = (ms: number) => new Date(ms).toISOString();
