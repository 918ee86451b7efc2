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
}

export function httpRoutes(h: HttpHandlers): HttpRoute[] {
  return [
    { name: "alerts", methods: ["POST"], route: "alerts", handler: h.alerts },
    { name: "planFailover", methods: ["POST"], route: "plans/{plan}/failover", handler: h.failover },
    { name: "planFailback", methods: ["POST"], route: "plans/{plan}/failback", handler: h.failback },
    { name: "planAutoFailover", methods: ["POST"], route: "plans/{plan}/auto-failover", handler: h.autoFailover },
    { name: "planGet", methods: ["GET"], route: "plans/{plan}", handler: h.getPlan },
    { name: "runApprove", methods: ["POST"], route: "runs/{id}/approve", handler: h.approve },
    { name: "runAbort", methods: ["POST"], route: "runs/{id}/abort", handler: h.abort },
    { name: "runGet", methods: ["GET"], route: "runs/{id}", handler: h.getRun },
  ];
}

/** Matches `/api/...` against the routes: the route and its parameters, or undefined. */
export function matchRoute(routes: readonly HttpRoute[], method: string, path: string): { route: HttpRoute; params: Record<string, string> } | { allowed: string[] } | undefined {
  const allowed: string[] = [];
  for (const route of routes) {
    const names: string[] = [];
    const pattern = route.route.replace(/\{([^}]+)\}/g, (_, name: string) => {
      names.push(name);
      return "([^/]+)";
    });
    const m = new RegExp(`^/api/${pattern}/?$`).exec(path);
    if (!m) continue;
    if (!route.methods.includes(method as "GET" | "POST")) {
      allowed.push(...route.methods);
      continue;
    }
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        params[name] = m[i + 1]!;
      }
    });
    return { route, params };
  }
  return allowed.length > 0 ? { allowed } : undefined;
}
