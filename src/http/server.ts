import { createServer, type IncomingMessage, type Server } from "node:http";
import azureFunctions from "@azure/functions";

// @azure/functions is CommonJS without detectable named exports: take them off the default export.
const { HttpRequest } = azureFunctions;
import { isEasyAuthHeader, principalHeaders } from "./auth.ts";
import type { EntraTokenValidator } from "./entraToken.ts";
import { matchRoute, type HttpRoute } from "./routes.ts";

export interface ServeHttpOptions {
  /** Default 0: a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Largest request body read (default 1 MiB); a larger one is 413 and ends the connection. */
  readonly maxBodyBytes?: number;
  /**
   * A local stand-in for App Service authentication (`switchyard serve --auth`): validates a request's
   * `Authorization: Bearer` token, and the request reaches the handler with the `x-ms-client-principal*`
   * headers built from the token's claims, as App Service sets them; whatever `x-ms-client-principal*`
   * and `x-ms-token-*` headers the client sent are dropped. A token that does not validate is 401; a
   * request without one goes on without a principal. Absent: an app without App Service
   * authentication (headers pass as sent; the handlers do not read them then).
   */
  readonly authenticate?: EntraTokenValidator;
}

/** The media type request bodies must have. */
const JSON_MEDIA_TYPE = "application/json";

/**
 * Serves the HTTP functions on loopback with the routes they have in Azure (`/api/...`), turning each
 * request into the same HttpRequest the Functions host would hand over. Local use only: there is no
 * function key here.
 *
 * Loopback is reachable from every browser on the machine, so requests a browser could send on behalf
 * of another site are refused before any handler runs: a Host that is not this server's address (421:
 * DNS rebinding), an Origin that is not this server's own or `Sec-Fetch-Site: cross-site`/`same-site`
 * (403), and a POST body that is not application/json (415: the only bodies a cross-site form or a
 * no-CORS fetch can send without a preflight are text/plain, form and multipart). No CORS headers are
 * ever sent.
 */
export async function serveHttp(routes: readonly HttpRoute[], options: ServeHttpOptions = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const bindHost = options.host ?? "127.0.0.1";
  let hosts = new Set<string>();
  const server = createServer((req, res) => {
    void (async () => {
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        const text = body === undefined ? "" : JSON.stringify(body);
        // The route's own Content-Type, whatever its case, replaces the default (never both).
        const typed = Object.keys(headers).some((name) => name.toLowerCase() === "content-type");
        res.writeHead(status, { ...(text && !typed ? { "Content-Type": "application/json; charset=utf-8" } : {}), ...headers }).end(text);
      };
      const socket = req.socket;
      const host = (req.headers.host ?? "").toLowerCase();
      if (!host) return send(400, { error: { code: "MissingHost", message: "a Host header is required" } });
      // Node keeps the first of several Host headers; HTTP/1.1 says a request with more than one is bad.
      if (hostHeaders(req) > 1) return send(400, { error: { code: "DuplicateHost", message: "a request has exactly one Host header" } });
      const misdirected = () => send(421, { error: { code: "MisdirectedRequest", message: `this server answers for ${[...hosts].join(", ")} only` } });
      // A name that resolves here (DNS rebinding) is not this server's address: answer for none of it.
      if (!hosts.has(host)) return misdirected();
      // An absolute-form target (`GET http://other/...`) names its own host, which must be this server too.
      if (req.url !== undefined && !req.url.startsWith("/") && !hosts.has(authorityOf(req.url))) return misdirected();
      const refusal = crossSiteRefusal(req, host);
      if (refusal) return send(403, { error: { code: "CrossOriginRequest", message: refusal } });
      const url = new URL(req.url ?? "/", `http://${host}`);
      try {
        const match = matchRoute(routes, req.method ?? "GET", url.pathname);
        if (!match) return send(404, { error: { code: "NotFound", message: `no route for ${url.pathname}` } });
        if ("allowed" in match) return send(405, { error: { code: "MethodNotAllowed", message: `use ${match.allowed.join(", ")}` } }, { Allow: match.allowed.join(", ") });
        if (req.method === "POST" && mediaTypeOf(req.headers["content-type"]) !== JSON_MEDIA_TYPE) {
          return send(415, { error: { code: "UnsupportedMediaType", message: `send the body as ${JSON_MEDIA_TYPE} (Content-Type: ${JSON_MEDIA_TYPE})` } }, { "Accept-Post": JSON_MEDIA_TYPE });
        }
        const declared = Number(req.headers["content-length"] ?? "0");
        const body = declared > maxBody ? undefined : await readBody(req, maxBody);
        if (body === undefined) {
          // The rest of the body is not read: the connection ends with this answer, and the client's
          // next request opens a fresh one instead of waiting behind unread bytes.
          res.once("finish", () => socket.destroy());
          return send(413, { error: { code: "PayloadTooLarge", message: `the body is larger than ${maxBody} bytes` } }, { Connection: "close" });
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !(options.authenticate && isEasyAuthHeader(k))) headers[k] = v;
        if (options.authenticate && headers.authorization !== undefined) {
          const verdict = await options.authenticate(headers.authorization);
          if (!verdict.ok) return send(401, { error: { code: "InvalidToken", message: verdict.reason } }, { "WWW-Authenticate": 'Bearer error="invalid_token"' });
          Object.assign(headers, principalHeaders(verdict.claims));
        }
        const request = new HttpRequest({
          method: req.method ?? "GET",
          url: url.toString(),
          headers,
          params: match.params,
          query: Object.fromEntries(url.searchParams),
          ...(body.length > 0 ? { body: { string: body } } : {}),
        });
        const response = await match.route.handler(request);
        const status = response.status ?? 200;
        // Headers, a record or a list of pairs, as a handler may give them: Headers reads all three. No CORS.
        const outHeaders = Object.fromEntries([...new Headers(response.headers ?? {})].filter(([name]) => !name.startsWith("access-control-")));
        if (response.jsonBody !== undefined) return send(status, response.jsonBody, outHeaders);
        res.writeHead(status, outHeaders).end(typeof response.body === "string" ? response.body : "");
      } catch (error) {
        // Never echo an internal error's text: it may quote a request or a setting.
        process.stderr.write(`switchyard serve: ${req.method} ${url.pathname} failed: ${error instanceof Error ? error.name : "error"}\n`);
        send(500, { error: { code: "InternalError", message: "the request failed inside Switchyard; see the server log" } });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, bindHost, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  hosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${bindHost.includes(":") ? `[${bindHost}]` : bindHost}:${port}`.toLowerCase()]);
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Why a request is one a browser sent for another site, or undefined when it is not. */
/** How many Host headers the request carried (Node's `headers.host` keeps only the first). */
function hostHeaders(req: IncomingMessage): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === "host") count++;
  return count;
}

/** The `host:port` of an absolute-form request target, lower-case ("" when it is not a URL). */
function authorityOf(target: string): string {
  try {
    const url = new URL(target);
    return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`.toLowerCase();
  } catch {
    return "";
  }
}

function crossSiteRefusal(req: IncomingMessage, host: string): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined && origin.toLowerCase() !== `http://${host}`) return "cross-origin requests are refused: this server sends no CORS headers";
  const site = req.headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site") return `requests a browser sends for another site (Sec-Fetch-Site: ${site}) are refused`;
  return undefined;
}

/** `application/json` of `application/json; charset=utf-8`: the media type, lower-case, without parameters. */
function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * The body as text, or undefined once it grows past `max`: reading then stops (the stream is paused,
 * not destroyed, so that the 413 still reaches the client before the connection ends).
 */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: string | undefined) => {
      req.off("data", onData).off("end", onEnd).off("error", reject);
      resolve(value);
    };
    const onData = (chunk: unknown) => {
      // Bytes, as a request stream without an encoding set yields them; text if one was set.
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), "utf8");
      size += bytes.length;
      if (size > max) {
        req.pause();
        done(undefined);
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => done(Buffer.concat(chunks).toString("utf8"));
    req.on("data", onData).once("end", onEnd).once("error", reject);
  });
}
