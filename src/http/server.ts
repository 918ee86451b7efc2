import { createServer, type IncomingMessage, type Server } from "node:http";
import azureFunctions from "@azure/functions";

// @azure/functions is CommonJS without detectable named exports: take them off the default export.
const { HttpRequest } = azureFunctions;
import { matchRoute, type HttpRoute } from "./routes.ts";

/**
 * Serves the HTTP functions on loopback with the routes they have in Azure (`/api/...`), turning each
 * request into the same HttpRequest the Functions host would hand over. Local use only: there is no
 * function key here.
 */
export async function serveHttp(routes: readonly HttpRoute[], options: { port?: number; host?: string; maxBodyBytes?: number } = {}): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        const text = body === undefined ? "" : JSON.stringify(body);
        res.writeHead(status, { ...(text ? { "Content-Type": "application/json; charset=utf-8" } : {}), ...headers }).end(text);
      };
      try {
        const match = matchRoute(routes, req.method ?? "GET", url.pathname);
        if (!match) return send(404, { error: { code: "NotFound", message: `no route for ${url.pathname}` } });
        if ("allowed" in match) return send(405, { error: { code: "MethodNotAllowed", message: `use ${match.allowed.join(", ")}` } }, { Allow: match.allowed.join(", ") });
        const body = await readBody(req, maxBody);
        if (body === undefined) return send(413, { error: { code: "PayloadTooLarge", message: `the body is larger than ${maxBody} bytes` } });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
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
        // Headers, a record or a list of pairs, as a handler may give them: Headers reads all three.
        const outHeaders = Object.fromEntries(new Headers(response.headers ?? {}));
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
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
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

async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    // Bytes, as a request stream without an encoding set yields them; text if one was set.
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk), "utf8");
    size += bytes.length;
    if (size > max) return undefined;
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString("utf8");
}
