import type { EstateContext } from "./context.ts";
import { EstateHttpError } from "./errors.ts";

export interface EstateRequest {
  readonly method: string;
  readonly url: URL;
  /** Path parameters from the route template, URL-decoded. */
  readonly params: Record<string, string>;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (undefined when there is none). */
  readonly body: unknown;
  /** The route's operation id, e.g. `FailoverGroups_Failover`. */
  readonly operationId: string;
  /** `https://host:port` as the client addressed the estate (for Location headers and ids in bodies). */
  readonly origin: string;
}

export interface EstateResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

export type Handler = (req: EstateRequest, ctx: EstateContext) => EstateResponse | Promise<EstateResponse>;

/** Which protocol family a route belongs to: decides auth and the shape of error bodies. */
export type Api = "arm" | "keyvault" | "metrics" | "control";

export interface Route {
  readonly method: "GET" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** Path template, `{name}` for a parameter. Literal segments match case-insensitively, as ARM does. */
  readonly path: string;
  readonly operationId: string;
  readonly api: Api;
  /** Routes that change state; the request log marks them as writes. */
  readonly write?: boolean;
  readonly handler: Handler;
}

interface CompiledRoute extends Route {
  readonly regex: RegExp;
  readonly names: readonly string[];
}

export interface RouteMatch {
  readonly route: Route;
  readonly params: Record<string, string>;
}

export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(...routes: Route[]): this {
    for (const route of routes) {
      const names: string[] = [];
      const pattern = route.path
        .split(/(\{[^}]+\})/)
        .map((part) => {
          const param = /^\{([^}]+)\}$/.exec(part);
          if (param) {
            names.push(param[1]!);
            return "([^/]+)";
          }
          return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        })
        .join("");
      this.routes.push({ ...route, regex: new RegExp(`^${pattern}/?$`, "i"), names });
    }
    return this;
  }

  /** The route for `method` and `path`, or which methods the path allows when only the method is wrong. */
  match(method: string, path: string): RouteMatch | { allowed: string[] } | undefined {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.regex.exec(path);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, name] of route.names.entries()) {
        const raw = m[i + 1]!;
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          // A path segment with a malformed escape (`%ZZ`) is the client's mistake, not the estate's.
          throw new EstateHttpError(400, "InvalidRequestUri", `The request URI is invalid: the path segment '${raw}' is not validly percent-encoded.`);
        }
      }
      return { route, params };
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }

  list(): readonly Route[] {
    return this.routes;
  }
}
