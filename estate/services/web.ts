import { badRequest, EstateHttpError, notFound } from "../errors.ts";
import type { EstateContext } from "../context.ts";
import { isObject } from "../json.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, parseKeyVaultReference, type FetchedReference, type Site } from "../state.ts";
import { ok, resourceId } from "./common.ts";

const SITE = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Web/sites/{name}";

/** The connection string types App Service accepts (ConnectionStringType), in their canonical spelling. */
const CONNECTION_STRING_TYPES = ["MySql", "SQLServer", "SQLAzure", "Custom", "NotificationHub", "ServiceBus", "EventHub", "ApiHub", "DocDb", "RedisCache", "PostgreSQL"];

function site(req: EstateRequest, ctx: EstateContext): Site {
  const found = ctx.state.sites.get(key(resourceId(req, "Microsoft.Web", ["sites", "name"])));
  if (!found) throw notFound("Microsoft.Web/sites", req.params.name!, req.params.resourceGroupName);
  return found;
}

/** A write goes to the site's own region: refused while that region is down. */
function assertWritable(ctx: EstateContext, s: Site): void {
  if (ctx.state.isDown(s.location)) {
    throw new EstateHttpError(503, "ServiceUnavailable", `Site '${s.name}' cannot be updated: its region '${s.location}' is unavailable.`);
  }
}

/**
 * App Service restarts the app when its app settings (or connection strings) change ("When you add,
 * remove, or edit app settings, App Service triggers an app restart": Configure an App Service app).
 * A write that changes nothing adds, removes and edits nothing: the estate does not restart for it.
 * While the app restarts, its region's health endpoints answer 503 (estate/server.ts). Whether it
 * restarted: the caller then refetches the site's Key Vault references (refetchAfterRestart).
 */
function restartIfChanged(ctx: EstateContext, s: Site, before: unknown, after: unknown): boolean {
  if (JSON.stringify(sorted(before)) === JSON.stringify(sorted(after))) return false;
  const ms = ctx.effectMs("appRestart");
  if (ms > 0) s.restartingUntil = ctx.now + ms;
  return true;
}

/**
 * "Any configuration change to the app causes an app restart and an immediate refetch of all
 * referenced secrets" (Use Key Vault references as app settings, "Understand rotation"): once the new
 * settings are in place, every reference of the site is fetched again.
 */
function refetchAfterRestart(ctx: EstateContext, s: Site, restarted: boolean): void {
  if (restarted) ctx.state.fetchKeyVaultReferences(s, ctx.now);
}

/** An object with its keys in order (for comparing two settings sets). */
function sorted(value: unknown): unknown {
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted(value[k])]));
}

/** The sites/config resource (StringDictionary / ConnectionStringDictionary) around `properties`. */
function config(s: Site, name: "appsettings" | "connectionstrings", properties: unknown) {
  return { id: `${s.id}/config/${name}`, name, type: "Microsoft.Web/sites/config", kind: "app", properties };
}

/** `properties` of a PUT body, which must be a JSON object (the whole new set). */
function properties(req: EstateRequest): Record<string, unknown> {
  const body = req.body;
  if (!isObject(body) || !isObject(body.properties)) {
    throw badRequest("BadRequest", "The request body must be an object with a 'properties' object holding the complete set.");
  }
  for (const name of Object.keys(body.properties)) {
    if (name.trim() === "") throw badRequest("BadRequest", "A name in 'properties' is empty.");
  }
  return body.properties;
}

function appSettingsFrom(req: EstateRequest): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties(req))) {
    if (typeof value !== "string") throw badRequest("BadRequest", `The value of app setting '${name}' must be a string.`);
    settings[name] = value;
  }
  return settings;
}

function connectionStringsFrom(req: EstateRequest): Site["connectionStrings"] {
  const result: Site["connectionStrings"] = {};
  for (const [name, entry] of Object.entries(properties(req))) {
    if (!isObject(entry) || typeof entry.value !== "string" || typeof entry.type !== "string") {
      throw badRequest("BadRequest", `Connection string '${name}' must be an object with string 'value' and 'type'.`);
    }
    const wanted = entry.type.toLowerCase();
    const type = CONNECTION_STRING_TYPES.find((t) => t.toLowerCase() === wanted);
    if (!type) throw badRequest("BadRequest", `Connection string '${name}' has type '${entry.type}'; allowed: ${CONNECTION_STRING_TYPES.join(", ")}.`);
    result[name] = { value: entry.value, type };
  }
  return result;
}

const connectionStringsView = (s: Site) =>
  Object.fromEntries(Object.entries(s.connectionStrings).map(([name, { value, type }]) => [name, { value, type }]));

/**
 * The site as WebApps_Get returns it: the fields Switchyard reads (its region) and the usual identity
 * fields. State, host names and availability are fixed values: a region outage does not show here.
 */
function siteView(s: Site) {
  const host = `${s.name.toLowerCase()}.azurewebsites.net`;
  return {
    id: s.id,
    name: s.name,
    type: "Microsoft.Web/sites",
    kind: "app",
    location: s.location,
    tags: {},
    properties: {
      state: "Running",
      hostNames: [host],
      enabled: true,
      enabledHostNames: [host, `${s.name.toLowerCase()}.scm.azurewebsites.net`],
      availabilityState: "Normal",
      defaultHostName: host,
      httpsOnly: true,
    },
  };
}

// ---- Key Vault references (configreferences) ---------------------------------------------------

type ReferenceKind = "appsettings" | "connectionstrings";

/** The type App Service gives a reference in its answers. */
const REFERENCE_TYPE = "Microsoft.Web/sites/config/configreferences";

/**
 * An ApiKVReference as App Service answers one: the reference, its parts, what its last fetch found
 * and the version the app uses; never the secret's value. `identityType` is the string App Service
 * sends (the SDK's model declares an object). `location` is the programmatic region name, as in WebApps_Get.
 */
function referenceView(s: Site, kind: ReferenceKind, name: string, fetched: FetchedReference) {
  const parsed = parseKeyVaultReference(fetched.reference);
  return {
    id: `${s.id}/config/configreferences/${kind}/${name}`,
    name,
    type: REFERENCE_TYPE,
    location: s.location,
    properties: {
      reference: fetched.reference,
      status: fetched.status,
      ...(parsed.ok ? { vaultName: parsed.vaultName, secretName: parsed.secretName, ...(parsed.secretVersion !== undefined ? { secretVersion: parsed.secretVersion } : {}) } : {}),
      identityType: "SystemAssigned",
      details: fetched.details,
      source: "KeyVault",
      activeVersion: fetched.activeVersion ?? null,
    },
  };
}

/** The site's references of one kind as App Service holds them now (a fetch older than 24 hours has been redone). */
function referencesOf(ctx: EstateContext, s: Site, kind: ReferenceKind): [string, FetchedReference][] {
  const all = ctx.state.keyVaultReferencesAt(s, ctx.now);
  return Object.entries(kind === "appsettings" ? all.appSettings : all.connectionStrings);
}

/** ApiKVReferenceCollection, in the shape App Service's answers show (`id` and `nextLink` null). */
function referenceCollection(ctx: EstateContext, s: Site, kind: ReferenceKind) {
  return { id: null, nextLink: null, value: referencesOf(ctx, s, kind).map(([name, fetched]) => referenceView(s, kind, name, fetched)) };
}

/** One setting's reference; a setting that does not exist or is no reference answers 404 (the estate's code). */
function referenceNamed(ctx: EstateContext, s: Site, kind: ReferenceKind, name: string) {
  const found = referencesOf(ctx, s, kind).find(([n]) => n.toLowerCase() === name.toLowerCase());
  if (!found) {
    const what = kind === "appsettings" ? "app setting" : "connection string";
    throw new EstateHttpError(404, "NotFound", `Site '${s.name}' has no ${what} '${name}' holding a Key Vault reference.`);
  }
  return referenceView(s, kind, found[0], found[1]);
}

function referenceRoutes(): Route[] {
  const list = (kind: ReferenceKind, operationId: string): Route => ({
    method: "GET",
    path: `${SITE}/config/configreferences/${kind}`,
    operationId,
    api: "arm",
    handler: (req, ctx) => ok(referenceCollection(ctx, site(req, ctx), kind)),
  });
  const get = (kind: ReferenceKind, param: string, operationId: string): Route => ({
    method: "GET",
    path: `${SITE}/config/configreferences/${kind}/{${param}}`,
    operationId,
    api: "arm",
    handler: (req, ctx) => ok(referenceNamed(ctx, site(req, ctx), kind, req.params[param]!)),
  });
  return [
    list("appsettings", "WebApps_ListAppSettingsKeyVaultReferences"),
    get("appsettings", "appSettingKey", "WebApps_GetAppSettingKeyVaultReference"),
    list("connectionstrings", "WebApps_ListSiteConnectionStringKeyVaultReferences"),
    get("connectionstrings", "connectionStringKey", "WebApps_GetSiteConnectionStringKeyVaultReference"),
    {
      // "To force resolution of your app's Key Vault references, make an authenticated POST request to
      // .../config/configreferences/appsettings/refresh" (Use Key Vault references as app settings). Not
      // in the SDK. It answers 200 with the app settings' references as just resolved (the collection
      // a public answer shows). Only the app settings' references are fetched: the endpoint is named for
      // them and Azure does not say it also refetches connection strings'. No restart is modelled.
      method: "POST",
      path: `${SITE}/config/configreferences/appsettings/refresh`,
      operationId: "WebApps_RefreshAppSettingsKeyVaultReferences",
      api: "arm",
      write: true,
      handler: (req, ctx) => {
        const s = site(req, ctx);
        assertWritable(ctx, s);
        ctx.state.fetchKeyVaultReferences(s, ctx.now, "appSettings");
        return ok(referenceCollection(ctx, s, "appsettings"));
      },
    },
  ];
}

export function webRoutes(): Route[] {
  return [
    ...referenceRoutes(),
    {
      method: "GET",
      path: SITE,
      operationId: "WebApps_Get",
      api: "arm",
      handler: (req, ctx) => ok(siteView(site(req, ctx))),
    },
    {
      method: "POST",
      path: `${SITE}/config/appsettings/list`,
      operationId: "WebApps_ListApplicationSettings",
      api: "arm",
      handler: (req, ctx) => {
        const s = site(req, ctx);
        return ok(config(s, "appsettings", { ...s.appSettings }));
      },
    },
    {
      method: "PUT",
      path: `${SITE}/config/appsettings`,
      operationId: "WebApps_UpdateApplicationSettings",
      api: "arm",
      write: true,
      handler: (req, ctx) => {
        const s = site(req, ctx);
        const settings = appSettingsFrom(req);
        assertWritable(ctx, s);
        const restarted = restartIfChanged(ctx, s, s.appSettings, settings);
        s.appSettings = settings;
        refetchAfterRestart(ctx, s, restarted);
        return ok(config(s, "appsettings", { ...s.appSettings }));
      },
    },
    {
      method: "POST",
      path: `${SITE}/config/connectionstrings/list`,
      operationId: "WebApps_ListConnectionStrings",
      api: "arm",
      handler: (req, ctx) => {
        const s = site(req, ctx);
        return ok(config(s, "connectionstrings", connectionStringsView(s)));
      },
    },
    {
      method: "PUT",
      path: `${SITE}/config/connectionstrings`,
      operationId: "WebApps_UpdateConnectionStrings",
      api: "arm",
      write: true,
      handler: (req, ctx) => {
        const s = site(req, ctx);
        const strings = connectionStringsFrom(req);
        assertWritable(ctx, s);
        const restarted = restartIfChanged(ctx, s, s.connectionStrings, strings);
        s.connectionStrings = strings;
        refetchAfterRestart(ctx, s, restarted);
        return ok(config(s, "connectionstrings", connectionStringsView(s)));
      },
    },
  ];
}
