import { z } from "zod";
import { EstateHttpError } from "./errors.ts";
import type { Operations } from "./lro.ts";
import type { Route } from "./router.ts";
import { parseSeed, SeedError } from "./seed.ts";
import type { Estate } from "./server.ts";
import { key, type ControlPlane, type EstateState } from "./state.ts";
import type { Channel } from "./services/notifications.ts";
import { RbacSettingsError } from "./rbac.ts";
import { applyScenario, faultSchema, lagSchema, rbacSchema, regionSchema, scenarioSchema, ScenarioError, throttlingSchema, timingSchema } from "./scenario.ts";

const CHANNELS: readonly Channel[] = ["teams", "slack", "pagerduty", "webhook", "email"];
/** A Standard Webhooks signing secret for a host (never shown back). */
const webhookSecretSchema = z.strictObject({ secret: z.string().min(1) });

function body<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
    throw new EstateHttpError(400, "InvalidControlRequest", detail);
  }
  return result.data;
}

/** Inspection and scenario controls, under the reserved `/_estate/` prefix (no auth). */
export function controlRoutes(estate: Estate): Route[] {
  const route = (method: Route["method"], path: string, operationId: string, handler: Route["handler"]): Route => ({
    method,
    path: `/_estate${path}`,
    operationId,
    api: "control",
    handler,
  });
  return [
    route("GET", "/state", "Estate_State", () => ({ status: 200, body: estate.snapshot() })),
    route("GET", "/requests", "Estate_Requests", (req) => {
      const since = Number(req.url.searchParams.get("since") ?? 0);
      const writesOnly = req.url.searchParams.get("writes") === "true";
      return { status: 200, body: { value: estate.requests({ since, writesOnly }) } };
    }),
    route("POST", "/reset", "Estate_Reset", async () => {
      await estate.reset();
      return { status: 204 };
    }),
    route("PUT", "/regions/{region}", "Estate_SetRegion", async (req) => {
      const region = req.params.region!;
      if (!estate.state.regions.has(region)) throw new EstateHttpError(404, "RegionNotFound", `The estate has no region '${region}'.`);
      await estate.setRegion(region, body(regionSchema, req.body));
      return { status: 200, body: { region, ...estate.state.region(region) } };
    }),
    route("PUT", "/lag", "Estate_SetLag", (req) => {
      const { resourceId, seconds } = body(lagSchema, req.body);
      estate.setLag(resourceId, seconds);
      return { status: 200, body: { resourceId, seconds } };
    }),
    route("POST", "/faults", "Estate_AddFault", (req) => {
      estate.addFault(body(faultSchema, req.body));
      return { status: 201, body: { value: estate.faults.list() } };
    }),
    route("GET", "/faults", "Estate_ListFaults", () => ({ status: 200, body: { value: estate.faults.list() } })),
    route("DELETE", "/faults", "Estate_ClearFaults", () => {
      estate.faults.reset();
      return { status: 204 };
    }),
    route("PUT", "/timing", "Estate_SetTiming", (req) => {
      estate.setTiming(body(timingSchema, req.body));
      return { status: 200, body: estate.getTiming() };
    }),
    route("GET", "/notifications", "Estate_Notifications", (req) => {
      const since = Number(req.url.searchParams.get("since") ?? 0);
      const channel = req.url.searchParams.get("channel");
      if (channel !== null && !CHANNELS.includes(channel as Channel)) {
        throw new EstateHttpError(400, "InvalidControlRequest", `channel: one of ${CHANNELS.join(", ")}`);
      }
      return { status: 200, body: { deliveries: estate.notifications({ since, ...(channel ? { channel: channel as Channel } : {}) }) } };
    }),
    route("DELETE", "/notifications", "Estate_ClearNotifications", () => {
      estate.clearNotifications();
      return { status: 204 };
    }),
    route("PUT", "/webhook-secrets/{host}", "Estate_SetWebhookSecret", (req) => {
      const { secret } = body(webhookSecretSchema, req.body);
      try {
        estate.setWebhookSecret(req.params.host!, secret);
      } catch (error) {
        throw new EstateHttpError(400, "InvalidControlRequest", error instanceof Error ? error.message : String(error));
      }
      return { status: 204 };
    }),
    route("GET", "/throttling", "Estate_Throttling", () => ({ status: 200, body: estate.armThrottle.report() })),
    route("PUT", "/throttling", "Estate_SetThrottling", (req) => {
      estate.armThrottle.configure(body(throttlingSchema, req.body));
      return { status: 200, body: estate.armThrottle.report() };
    }),
    route("GET", "/rbac", "Estate_Rbac", () => ({ status: 200, body: estate.rbac.report() })),
    route("PUT", "/rbac", "Estate_SetRbac", (req) => {
      try {
        estate.setRbac(body(rbacSchema, req.body));
      } catch (error) {
        if (error instanceof RbacSettingsError) throw new EstateHttpError(400, "InvalidControlRequest", error.message);
        throw error;
      }
      return { status: 200, body: estate.rbac.report() };
    }),
    route("POST", "/scenario", "Estate_ApplyScenario", async (req) => {
      try {
        await applyScenario(estate, body(scenarioSchema, req.body));
      } catch (error) {
        if (error instanceof ScenarioError || error instanceof RbacSettingsError) throw new EstateHttpError(400, "InvalidScenario", error.message);
        throw error;
      }
      return { status: 200, body: estate.snapshot() };
    }),
    route("POST", "/seed", "Estate_Seed", async (req) => {
      try {
        await estate.seed(parseSeed(req.body));
      } catch (error) {
        if (error instanceof SeedError) throw new EstateHttpError(400, "InvalidSeed", error.message);
        throw error;
      }
      return { status: 201, body: estate.snapshot() };
    }),
  ];
}

// ---- the control plane of a region ------------------------------------------------------------

/**
 * Operations Azure designs for use while a region is down: a storage account failover (and the polls
 * of its operation) is served whatever the state of the account's regions' control planes. A failover
 * group failover needs no exception: it is posted to the server in the healthy region.
 */
const OUTAGE_OPERATIONS = new Set(["StorageAccounts_Failover"]);

const serves = (plane: ControlPlane, write: boolean) => plane === "up" || (write && plane === "reads-fail");

/**
 * Whether a region's control plane refuses this request: `reads-fail` refuses reads of the ARM resources
 * located in that region (GET, list, and the POST actions that only read, such as listKeys), `down` their
 * writes too. Where a resource is located comes from the estate's state: a SQL server's region, a site's
 * region, a vault's region, the region an operation-status URL names, and for a storage account its ARM
 * `location` (the region it was created in: its resource provider does not fail over). A storage
 * account is readable while any region holding it (location, primary or secondary) serves reads, as
 * Azure's failover procedure needs (read the last sync time, then fail over during the outage).
 * Global resources (Front Door profiles, classic Front Doors) and the metrics API are never refused.
 * The answer is 503 `ServiceUnavailable` (Azure documents no code for a region's resource provider
 * being unavailable; this one is the estate's own).
 */
export function controlPlaneRefusal(state: EstateState, operations: Operations, route: Route, params: Record<string, string>): EstateHttpError | undefined {
  if (route.api === "control" || route.api === "metrics" || OUTAGE_OPERATIONS.has(route.operationId)) return undefined;
  const write = route.write === true;
  const plane = (region: string) => state.regions.get(region)?.controlPlane ?? "up";
  const refuse = (region: string, what: string) => {
    const p = plane(region);
    return serves(p, write)
      ? undefined
      : new EstateHttpError(503, "ServiceUnavailable", `The resource provider in region '${region}' is unavailable: ${what} cannot be ${write ? "changed" : "read"} now (control plane ${p}).`);
  };
  const rg = `/subscriptions/${params.subscriptionId}/resourceGroups/${params.resourceGroupName}/providers`;

  if (route.operationId === "Operations_GetStatus") {
    const op = operations.get(params.operationId ?? "");
    if (op && OUTAGE_OPERATIONS.has(op.operationId)) return undefined;
    return state.regions.has(params.location ?? "") ? refuse(params.location!, `operation ${params.operationId}`) : undefined;
  }
  if (route.api === "keyvault") {
    const vault = state.vaults.get((params.vaultName ?? "").toLowerCase());
    return vault?.location ? refuse(vault.location, `key vault '${vault.name}'`) : undefined;
  }
  if (params.serverName && route.path.includes("/Microsoft.Sql/")) {
    const server = state.sqlServer(`${rg}/Microsoft.Sql/servers/${params.serverName}`);
    return server ? refuse(server.location, `SQL server '${server.name}' and what it holds`) : undefined;
  }
  if (params.accountName && route.path.includes("/Microsoft.Storage/")) {
    const account = state.storageAccount(`${rg}/Microsoft.Storage/storageAccounts/${params.accountName}`);
    if (!account) return undefined;
    const location = account.regionPair[0];
    const what = `storage account '${account.name}'`;
    if (write) return refuse(location, what);
    const holders = [location, account.primaryLocation, account.secondaryLocation].filter((r): r is string => r !== undefined);
    return holders.some((r) => serves(plane(r), false)) ? undefined : refuse(location, what);
  }
  if (params.name && route.path.includes("/Microsoft.Web/sites/")) {
    const site = state.sites.get(key(`${rg}/Microsoft.Web/sites/${params.name}`));
    return site ? refuse(site.location, `site '${site.name}'`) : undefined;
  }
  return undefined;
}
