/**
 * serveHttp on loopback, over real sockets: what a browser could send on behalf of another site is
 * refused before any handler runs (foreign Host: DNS rebinding; foreign Origin; cross-site fetch
 * metadata; bodies that are not JSON), a body over the limit ends its connection, and with a local
 * stand-in for App Service authentication the principal comes from a validated token only.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { callerOf, OPERATOR_ROLE } from "../../src/http/auth.ts";
import { createLocalEasyAuth } from "../../src/http/localAuth.ts";
import type { HttpRoute } from "../../src/http/routes.ts";
import { serveHttp, type ServeHttpOptions } from "../../src/http/server.ts";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
  socket: Socket;
}

interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
  agent?: Agent;
  /** Send no Host header. */
  noHost?: boolean;
}

/** One request over node:http (which, unlike fetch, sends any Host and Origin given). */
function call(url: string, path: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = typeof options.body === "string" ? Buffer.from(options.body) : options.body;
    const req = httpRequest(`${url}${path}`, {
      method: options.method ?? (body ? "POST" : "GET"),
      ...(options.agent ? { agent: options.agent } : {}),
      ...(options.noHost ? { setHost: false } : {}),
      headers: { ...(body && !options.chunked ? { "content-length": String(body.length) } : {}), ...options.headers },
    });
    let socket: Socket | undefined;
    req.on("socket", (s) => (socket = s));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined, socket: socket! });
      });
    });
    // Written before the end, a body goes chunked; given to end(), with its length.
    if (body && options.chunked) req.write(body);
    req.end(options.chunked ? undefined : body);
  });
}

const JSON_HEADERS = { "content-type": "application/json" };

/** A server whose one route answers who called (callerOf with App Service authentication on) and counts calls. */
async function start(options: ServeHttpOptions = {}) {
  const seen: { headers: Record<string, string>; body: string }[] = [];
  const route: HttpRoute = {
    name: "echo",
    methods: ["GET", "POST"],
    route: "echo",
    handler: async (request) => {
      seen.push({ headers: Object.fromEntries(request.headers), body: await request.text() });
      return { status: 200, jsonBody: { caller: callerOf(request.headers, true) }, headers: { "Access-Control-Allow-Origin": "*" } };
    },
  };
  const server = await serveHttp([route], options);
  servers.push(server);
  return { ...server, port: new URL(server.url).port, seen };
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const noCors = (answer: Answer) => expect(Object.keys(answer.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);

describe("serveHttp answers for its own address only (DNS rebinding)", () => {
  it("takes 127.0.0.1, localhost and [::1] at its port", async () => {
    const server = await start();
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `LOCALHOST:${server.port}`, `[::1]:${server.port}`]) {
      expect((await call(server.url, "/api/echo", { headers: { host } })).status, host).toBe(200);
    }
  });

  it("answers 421 to any other Host (a name that resolves to 127.0.0.1, another port, no port), before any handler runs", async () => {
    const server = await start();
    for (const host of [`attacker.example:${server.port}`, `127.0.0.1.nip.io:${server.port}`, `localhost:${Number(server.port) + 1}`, "localhost", "127.0.0.1"]) {
      const answer = await call(server.url, "/api/echo", { headers: { host, ...JSON_HEADERS }, body: "{}" });
      expect(answer.status, host).toBe(421);
      expect(answer.body.error.code).toBe("MisdirectedRequest");
      noCors(answer);
    }
    expect(server.seen).toEqual([]);
  });

  it("answers 400 to a request without Host", async () => {
    const server = await start();
    // Node's HTTP server refuses an HTTP/1.1 request without Host itself (requireHostHeader); serveHttp would too.
    const answer = await call(server.url, "/api/echo", { noHost: true });
    expect(answer.status).toBe(400);
    expect(server.seen).toEqual([]);
  });
});

/** Writes `head` (request line and headers, without the blank line) on a raw socket; the status line's code. */
async function raw(port: string, head: string): Promise<number> {
  const socket = connect(Number(port), "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.once("close", () => resolve());
    socket.write(`${head}\r\nConnection: close\r\n\r\n`);
  });
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(chunks).toString("latin1"))?.[1]);
}

describe("serveHttp's answers", () => {
  it("carry one Content-Type: a route's own, whatever its case, replaces the default", async () => {
    const route: HttpRoute = { name: "typed", methods: ["GET"], route: "typed", handler: async () => ({ status: 202, jsonBody: { ok: true }, headers: { "content-type": "application/json" } }) };
    const server = await serveHttp([route]);
    servers.push(server);
    const raw = await new Promise<string[]>((resolve, reject) => {
      httpRequest(`${server.url}/api/typed`, (res) => {
        res.resume();
        res.on("end", () => resolve(res.rawHeaders));
      })
        .on("error", reject)
        .end();
    });
    const types = raw.filter((_, i) => i % 2 === 0 && raw[i]!.toLowerCase() === "content-type");
    expect(types).toHaveLength(1);
  });
});

describe("serveHttp answers only for its own address, however the request names it", () => {
  it("answers 400 to two Host headers, whichever comes first", async () => {
    const server = await start();
    const own = `127.0.0.1:${server.port}`;
    expect(await raw(server.port, `GET /api/echo HTTP/1.1\r\nHost: ${own}`)).toBe(200);
    expect(await raw(server.port, `GET /api/echo HTTP/1.1\r\nHost: ${own}\r\nHost: evil.example`)).toBe(400);
    expect(await raw(server.port, `GET /api/echo HTTP/1.1\r\nHost: evil.example\r\nHost: ${own}`)).toBeGreaterThanOrEqual(400);
    expect(server.seen).toHaveLength(1);
  });

  it("answers 421 to an absolute-form target naming another host, even with its own Host header", async () => {
    const server = await start();
    const own = `127.0.0.1:${server.port}`;
    expect(await raw(server.port, `GET http://evil.example/api/echo HTTP/1.1\r\nHost: ${own}`)).toBe(421);
    expect(await raw(server.port, `GET http://${own}/api/echo HTTP/1.1\r\nHost: ${own}`)).toBe(200);
    expect(server.seen).toHaveLength(1);
  });
});

describe("serveHttp refuses requests a browser sends for another site", () => {
  it("answers 403 to a foreign or null Origin and to Sec-Fetch-Site cross-site or same-site, and sends no CORS headers", async () => {
    const server = await start();
    const refused: Record<string, string>[] = [
      { origin: "https://attacker.example" },
      { origin: "null" },
      { origin: `http://localhost:${Number(server.port) + 1}` },
      { origin: `https://127.0.0.1:${server.port}` },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const headers of refused) {
      const answer = await call(server.url, "/api/echo", { headers: { ...headers, ...JSON_HEADERS }, body: JSON.stringify({ reason: "x" }) });
      expect(answer.status, JSON.stringify(headers)).toBe(403);
      expect(answer.body.error.code).toBe("CrossOriginRequest");
      noCors(answer);
    }
    // A preflight finds no CORS headers either.
    const preflight = await call(server.url, "/api/echo", { method: "OPTIONS", headers: { origin: "https://attacker.example", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(403);
    noCors(preflight);
    expect(server.seen).toEqual([]);
  });

  it("takes its own origin, same-origin fetches and requests without fetch metadata (curl, SDKs), and drops a handler's CORS headers", async () => {
    const server = await start();
    const taken: Record<string, string>[] = [{ origin: server.url }, { origin: `http://localhost:${server.port}`, host: `localhost:${server.port}` }, { "sec-fetch-site": "same-origin" }, { "sec-fetch-site": "none" }, {}];
    for (const headers of taken) {
      const answer = await call(server.url, "/api/echo", { headers: { ...headers, ...JSON_HEADERS }, body: "{}" });
      expect(answer.status, JSON.stringify(headers)).toBe(200);
      noCors(answer);
    }
  });

  it("answers a POST body that is not application/json with 415 naming the type it takes", async () => {
    const server = await start();
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", undefined]) {
      const answer = await call(server.url, "/api/echo", { headers: type ? { "content-type": type } : {}, body: JSON.stringify({ enabled: false, reason: "pause" }) });
      expect(answer.status, type).toBe(415);
      expect(answer.body.error).toEqual({ code: "UnsupportedMediaType", message: "send the body as application/json (Content-Type: application/json)" });
      expect(answer.headers["accept-post"]).toBe("application/json");
    }
    expect(server.seen).toEqual([]);
    for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON"]) {
      expect((await call(server.url, "/api/echo", { headers: { "content-type": type }, body: "{}" })).status, type).toBe(200);
    }
  });
});

describe("a body over the limit", () => {
  it("is answered 413 with Connection: close and ends its connection: the next request goes on a new one and is answered", async () => {
    const server = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const chunked of [false, true]) {
        const big = await call(server.url, "/api/echo", { agent, headers: JSON_HEADERS, body: Buffer.alloc(1024 * 1024 + 1, 0x20), chunked });
        expect(big.status).toBe(413);
        expect(big.headers.connection).toBe("close");
        const next = await call(server.url, "/api/echo", { agent });
        expect(next.status).toBe(200);
        expect(next.socket).not.toBe(big.socket);
        expect(big.socket.destroyed).toBe(true);
        // Keep-alive still works for requests that are answered in full.
        const again = await call(server.url, "/api/echo", { agent });
        expect(again.socket).toBe(next.socket);
      }
      expect(server.seen).toHaveLength(4);
    } finally {
      agent.destroy();
    }
  });
});

describe("the local stand-in for App Service authentication", () => {
  const forged = { "x-ms-client-principal": Buffer.from(JSON.stringify({ auth_typ: "aad", claims: [{ typ: "name", val: "alice@contoso.com" }, { typ: "roles", val: OPERATOR_ROLE }] })).toString("base64"), "x-ms-client-principal-name": "alice@contoso.com", "x-ms-token-aad-access-token": "forged" };

  it("drops the principal headers a client sends and sets them from a validated token", async () => {
    const auth = await createLocalEasyAuth();
    const server = await start({ authenticate: auth.authenticate });
    const token = await auth.issueToken({ name: "oncall@contoso.com", roles: [OPERATOR_ROLE] });
    const signedIn = await call(server.url, "/api/echo", { headers: { ...forged, authorization: `Bearer ${token}` } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.caller).toEqual({ name: "oncall@contoso.com", roles: [OPERATOR_ROLE], authenticated: true });
    expect(server.seen[0]!.headers["x-ms-client-principal-name"]).toBe("oncall@contoso.com");
    expect(server.seen[0]!.headers["x-ms-token-aad-access-token"]).toBeUndefined();

    // Without a token: no principal, whatever the client sent.
    const anonymous = await call(server.url, "/api/echo", { headers: forged });
    expect(anonymous.body.caller).toEqual({ name: "function-key caller", roles: [], authenticated: false });
    expect(server.seen[1]!.headers["x-ms-client-principal"]).toBeUndefined();
  });

  it("answers 401 to a token it did not sign, an expired one, or one from an app it does not allow, without echoing it", async () => {
    const auth = await createLocalEasyAuth();
    const other = await createLocalEasyAuth();
    const server = await start({ authenticate: auth.authenticate });
    const tokens = [
      await other.issueToken({ name: "mallory", roles: [OPERATOR_ROLE] }),
      await auth.issueToken({ name: "late", roles: [OPERATOR_ROLE], lifetimeSeconds: -600 }),
      await auth.issueToken({ name: "some app", roles: [OPERATOR_ROLE], app: "00000000-0000-4000-8000-000000000001" }),
      "not-a-token",
    ];
    for (const token of tokens) {
      const answer = await call(server.url, "/api/echo", { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe("InvalidToken");
      expect(answer.headers["www-authenticate"]).toBe('Bearer error="invalid_token"');
      expect(JSON.stringify(answer.body)).not.toContain(token.split(".")[1] ?? token);
    }
    expect(server.seen).toEqual([]);
  });
});
