import type { HttpRequest, HttpResponseInit } from "@azure/functions";

export type HttpHandler = (request: HttpRequest) => Promise<HttpResponseInit>;

/** One HTTP function: its name, methods and route (under `/api`), the same in Azure and locally. */
export interface HttpRoute {
  readonly name: string;
  readonly methods: readonly ("GET" | "POST")[];
  readonly route: string;
  readonly handler: HttpHandler;
}

export interface HttpHandlers {
  readonly alerts: HttpHandler;
  readonly failover: HttpHandler;
  readonly failback: HttpHandler;
  readonly approve: HttpHandler;
  readonly abort: HttpHandler;
  readonly autoFailover: HttpHandler;
  readonly getPlan: HttpHandler;
  readonly getRun: HttpHandler;
  readonly listPlans: HttpHandler;
  readonly listRuns: HttpHandler;
  readonly resume: HttpHandler;
  readonly rotateSecret: HttpHandler;
  readonly getSecret: HttpHandler;
}

/** One HTTP function as metadata: its name, methods, route, and which handler serves it. */
export interface RouteSpec {
  readonly name: string;
  readonly methods: readonly ("GET" | "POST")[];
  readonly route: string;
  readonly handler: keyof HttpHandlers;
}

/** The HTTP functions, the same in Azure (src/functions/http.ts) and in `switchyard serve`. */
export const ROUTES: readonly RouteSpec[] = [
  { name: "alerts", methods: ["POST"], route: "alerts", handler: "alerts" },
  { name: "planFailover", methods: ["POST"], route: "plans/{plan}/failover", handler: "failover" },
  { name: "planFailback", methods: ["POST"], route: "plans/{plan}/failback", handler: "failback" },
  { name: "planAutoFailover", methods: ["POST"], route: "plans/{plan}/auto-failover", handler: "autoFailover" },
  { name: "planList", methods: ["GET"], route: "plans", handler: "listPlans" },
  { name: "planGet", methods: ["GET"], route: "plans/{plan}", handler: "getPlan" },
  { name: "planRuns", methods: ["GET"], route: "plans/{plan}/runs", handler: "listRuns" },
  { name: "planSecretRotate", methods: ["POST"], route: "plans/{plan}/secrets/{name}/rotate", handler: "rotateSecret" },
  { name: "planSecretGet", methods: ["GET"], route: "plans/{plan}/secrets/{name}", handler: "getSecret" },
  { name: "runApprove", methods: ["POST"], route: "runs/{id}/approve", handler: "approve" },
  { name: "runAbort", methods: ["POST"], route: "runs/{id}/abort", handler: "abort" },
  { name: "runResume", methods: ["POST"], route: "runs/{id}/resume", handler: "resume" },
  { name: "runGet", methods: ["GET"], route: "runs/{id}", handler: "getRun" },
];

/** The routes bound to their handlers. */
export function httpRoutes(h: HttpHandlers): HttpRoute[] {
  return ROUTES.map((spec) => ({ name: spec.name, methods: spec.methods, route: spec.route, handler: h[spec.handler] }));
}

/** Matches `/api/...` against the routes: the route and its parameters, or the methods the path allows. */
export function matchRoute(routes: readonly HttpRoute[], method: string, path: string): { route: HttpRoute; params: Record<string, string> } | { allowed: string[] } | undefined {
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchTemplate(route.route, path);
    if (!params) continue;
    if (!route.methods.some((allowed) => allowed === method)) {
      allowed.push(...route.methods);
      continue;
    }
    return { route, params };
  }
  return allowed.length > 0 ? { allowed } : undefined;
}

/**
 * The parameters of `path` (`/api/...`) under a route template such as `plans/{plan}/failover`, or
 * undefined if it does not match. Literal text matches only itself (a `.` or `+` in a template is not a
 * regex operator); each `{name}` matches one non-empty path segment, URL-decoded.
 */
export function matchTemplate(template: string, path: string): Record<string, string> | undefined {
  const { regex, names } = compiled(template);
  const m = regex.exec(path);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    const raw = m[i + 1]!;
    try {
      params[name] = decodeURIComponent(raw);
    } catch {
      params[name] = raw;
    }
  });
  return params;
}

const templates = new Map<string, { regex: RegExp; names: string[] }>();

function compiled(template: string): { regex: RegExp; names: string[] } {
  let entry = templates.get(template);
  if (!entry) {
    const names: string[] = [];
    const source = template
      .split(/(\{[^}]*\})/)
      .map((part) => {
        const param = /^\{([^}]*)\}$/.exec(part);
        if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        // Constraints, optional and catch-all parameters of Functions route templates are not used here.
        if (!/^[A-Za-z_]\w*$/.test(param[1]!)) throw new Error(`route template ${template}: unsupported parameter ${part}`);
        names.push(param[1]!);
        return "([^/]+)";
      })
      .join("");
    entry = { regex: new RegExp(`^/api/${source}/?$`), names };
    templates.set(template, entry);
  }
  return entry;
}
