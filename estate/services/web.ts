import { badRequest, EstateHttpError, notFound } from "../errors.ts";
import type { EstateContext } from "../context.ts";
import { isObject } from "../json.ts";
import type { EstateRequest, Route } from "../router.ts";
import { key, type Site } from "../state.ts";
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
 * While the app restarts, its region's health endpoints answer 503 (estate/server.ts).
 */
function restartIfChanged(ctx: EstateContext, s: Site, before: unknown, after: unknown): void {
  if (JSON.stringify(sorted(before)) === JSON.stringify(sorted(after))) return;
  const ms = ctx.effectMs("appRestart");
  if (ms > 0) s.restartingUntil = ctx.now + ms;
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

export function webRoutes(): Route[] {
  return [
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
        restartIfChanged(ctx, s, s.appSettings, settings);
        s.appSettings = settings;
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
        restartIfChanged(ctx, s, s.connectionStrings, strings);
        s.connectionStrings = strings;
        return ok(config(s, "connectionstrings", connectionStringsView(s)));
      },
    },
  ];
}
