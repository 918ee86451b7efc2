/**
 * One TDS listener per SQL server of the estate, speaking TDS 8.0 strict encryption: TLS from the
 * first byte with ALPN `tds/8.0`, then PRELOGIN, LOGIN7 with Microsoft Entra (FEDAUTH) or SQL
 * authentication (a login of the server and its password), and the statements of estate/tds/query.ts. A server whose region is down refuses connections: the socket
 * is destroyed when accepted, before TLS, and open sessions are cut when the region goes down.
 *
 * Every message is handled synchronously as it completes; a malformed or unexpected one closes the
 * connection. Nothing a client sends can reject a promise or throw out of a socket handler.
 */
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import { randomInt } from "node:crypto";
import { key, type EstateState, type SqlServer } from "../state.ts";
import {
  framePackets,
  PacketReader,
  PacketType,
  parseFedAuthToken,
  parseLogin7,
  parsePrelogin,
  parseRpc,
  parseSqlBatch,
  buildPrelogin,
  PreloginOption,
  TdsProtocolError,
  type Login7,
  type TdsMessage,
} from "./packets.ts";
import {
  colMetadataToken,
  CurCmd,
  DEFAULT_COLLATION,
  DoneStatus,
  doneInProcToken,
  doneProcToken,
  doneToken,
  envChangeCollation,
  envChangeText,
  errorToken,
  featureExtAckToken,
  fedAuthInfoToken,
  infoToken,
  loginAckToken,
  returnStatusToken,
  rowToken,
  type SqlMessage,
} from "./tokens.ts";
import { findDatabase, runStatement, type Outcome, type SqlError } from "./query.ts";
import { loginPasswordMatches, type Principal } from "./logins.ts";

export interface TdsListenersOptions {
  readonly state: EstateState;
  /** The estate's clock (ms). */
  readonly clock: () => number;
  /** Brings the estate up to date before it is read (operations that fell due complete). */
  readonly settle?: () => void;
  readonly cert: string;
  readonly key: string;
  /** The tenant the security token service URL names. */
  readonly tenantId: string;
  /** Wall-clock milliseconds a successful login waits before its answer (benchmarks; default 0). */
  readonly loginLatencyMs?: number;
}

/** Azure SQL Database answers as SQL Server 12.0.2000 (its `@@VERSION` major version). */
const PROGRAM = { name: "Microsoft SQL Server", version: [12, 0, 2000] as const };
const TDS_7_4 = 0x74000004;
const DEFAULT_PACKET_SIZE = 4096;
const MIN_PACKET_SIZE = 512;
const MAX_PACKET_SIZE = 32767;
/** How long a client has for TLS and login, and how long a logged-in session may stay idle (Azure's gateway: 30 minutes). */
const LOGIN_TIMEOUT_MS = 30_000;
const IDLE_TIMEOUT_MS = 30 * 60_000;
/** Output a client does not read beyond this much closes its connection. */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;
const MAX_CONNECTIONS = 64;
const FEATURE_FEDAUTH = 0x02;
const FEATURE_UTF8_SUPPORT = 0x0a;
/** The resource Azure SQL Database names in FEDAUTHINFO (token scope `https://database.windows.net/.default`). */
const SQL_SPN = "https://database.windows.net/";
const TOKEN_PRINCIPAL = "<token-identified principal>";

interface Listener {
  readonly serverId: string;
  readonly server: TlsServer;
  port: number;
  readonly sockets: Set<Socket>;
}

/** The estate's SQL servers over TDS: a listener on 127.0.0.1 per server, kept in line with the estate by `sync`. */
export class TdsListeners {
  private readonly listeners = new Map<string, Listener>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: TdsListenersOptions) {}

  /**
   * Opens a listener for each SQL server that has none, closes those of servers no longer in the
   * estate, and cuts the sessions of servers whose region is down. Calls are applied one at a time.
   */
  sync(): Promise<void> {
    const next = this.queue.then(() => this.apply());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** `127.0.0.1:<port>` of a server's listener, by ARM id. */
  endpoint(serverId: string): { host: string; port: number } | undefined {
    const listener = this.listeners.get(key(serverId));
    return listener ? { host: "127.0.0.1", port: listener.port } : undefined;
  }

  /** `<server name>.database.windows.net` (lower-case) → `127.0.0.1:<port>`, for every server with a listener. */
  hosts(): Record<string, string> {
    const hosts: Record<string, string> = {};
    for (const listener of this.listeners.values()) {
      const server = this.options.state.sqlServer(listener.serverId);
      if (server) hosts[`${server.name.toLowerCase()}.database.windows.net`] = `127.0.0.1:${listener.port}`;
    }
    return hosts;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    for (const listener of this.listeners.values()) await stop(listener);
    this.listeners.clear();
  }

  private async apply(): Promise<void> {
    if (this.closed) return;
    const servers = [...this.options.state.sqlServers.values()].flatMap((bySub) => [...bySub.values()]);
    const wanted = new Set(servers.map((s) => key(s.id)));
    for (const [k, listener] of this.listeners) {
      if (!wanted.has(k)) {
        this.listeners.delete(k);
        await stop(listener);
      }
    }
    for (const server of servers) {
      let listener = this.listeners.get(key(server.id));
      if (!listener) {
        listener = this.create(server.id);
        this.listeners.set(key(server.id), listener);
        await listen(listener);
      }
      if (this.options.state.isDown(server.location)) {
        for (const socket of listener.sockets) socket.destroy();
      }
    }
  }

  private create(serverId: string): Listener {
    const server = createTlsServer({
      cert: this.options.cert,
      key: this.options.key,
      minVersion: "TLSv1.2",
      handshakeTimeout: 10_000,
      // TDS 8.0: the client names `tds/8.0` in ALPN; a client that offers other protocols only is refused in the handshake.
      ALPNCallback: ({ protocols }) => (protocols.includes("tds/8.0") ? "tds/8.0" : undefined),
    });
    server.maxConnections = MAX_CONNECTIONS;
    const listener: Listener = { serverId, server, port: 0, sockets: new Set() };
    server.on("connection", (socket: Socket) => {
      // A server in a region that is down refuses the connection before any TLS byte.
      const sql = this.options.state.sqlServer(serverId);
      if (!sql || this.options.state.isDown(sql.location)) {
        socket.destroy();
        return;
      }
      track(listener, socket);
    });
    server.on("tlsClientError", (_error, socket) => socket.destroy());
    server.on("secureConnection", (socket: TLSSocket) => {
      track(listener, socket);
      // A client that offered no ALPN at all completes the handshake without one: TDS 8.0 needs it.
      if (socket.alpnProtocol !== "tds/8.0") {
        socket.destroy();
        return;
      }
      socket.setTimeout(LOGIN_TIMEOUT_MS, () => socket.destroy());
      new Session(socket, serverId, this.options);
    });
    server.on("error", () => undefined);
    return listener;
  }
}

/** Keeps a socket (the accepted one, and the TLS socket over it) to be cut when the region goes down or the estate closes. */
function track(listener: Listener, socket: Socket): void {
  listener.sockets.add(socket);
  socket.on("close", () => listener.sockets.delete(socket));
  socket.on("error", () => undefined);
}

async function listen(listener: Listener): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    listener.server.once("error", reject);
    listener.server.listen(0, "127.0.0.1", () => {
      listener.server.off("error", reject);
      resolve();
    });
  });
  const address = listener.server.address();
  if (address && typeof address !== "string") listener.port = address.port;
}

async function stop(listener: Listener): Promise<void> {
  for (const socket of listener.sockets) socket.destroy();
  if (!listener.server.listening) return;
  await new Promise<void>((resolve) => listener.server.close(() => resolve()));
}

type Phase = "prelogin" | "login" | "fedauth" | "ready" | "closing";

/** One client connection, from PRELOGIN to its end. */
class Session {
  private phase: Phase = "prelogin";
  private readonly reader = new PacketReader({ maxPacketBytes: MAX_PACKET_SIZE + 1, maxMessageBytes: 1024 * 1024 });
  private packetSize = DEFAULT_PACKET_SIZE;
  private readonly spid = randomInt(51, 32_000);
  private askedFedAuthEcho = false;
  /** The client's LOGIN7, without its password (which is checked, then dropped). */
  private login?: Omit<Login7, "password">;
  private principal: Principal = { kind: "entra" };
  private database = "master";

  constructor(
    private readonly socket: TLSSocket,
    private readonly serverId: string,
    private readonly options: TdsListenersOptions,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  private receive(chunk: Buffer): void {
    if (this.phase === "closing") return;
    try {
      for (const message of this.reader.push(chunk)) {
        // A refused login ends the session: what the client sent after it is not read.
        if (this.closing()) return;
        this.handle(message);
      }
    } catch {
      // A malformed message (or any failure handling one) ends the connection; the estate carries on.
      this.socket.destroy();
    }
  }

  private closing(): boolean {
    return this.phase === "closing";
  }

  private server(): SqlServer | undefined {
    const server = this.options.state.sqlServer(this.serverId);
    return server && !this.options.state.isDown(server.location) ? server : undefined;
  }

  private handle(message: TdsMessage): void {
    const server = this.server();
    if (!server) {
      this.socket.destroy();
      return;
    }
    switch (this.phase) {
      case "prelogin":
        if (message.type !== PacketType.PRELOGIN) throw new TdsProtocolError("expected PRELOGIN");
        return this.prelogin(message.data);
      case "login":
        if (message.type !== PacketType.LOGIN7) throw new TdsProtocolError("expected LOGIN7");
        return this.login7(server, message.data);
      case "fedauth":
        if (message.type !== PacketType.FEDAUTH_TOKEN) throw new TdsProtocolError("expected the federated authentication token");
        return this.fedAuthToken(server, message.data);
      case "ready":
        return this.request(server, message);
      case "closing":
        return;
    }
  }

  private send(tokens: Buffer[]): void {
    this.socket.write(framePackets(PacketType.TABULAR_RESULT, Buffer.concat(tokens), this.packetSize, this.spid));
    if (this.socket.writableLength > MAX_UNREAD_BYTES) this.socket.destroy();
  }

  private prelogin(data: Buffer): void {
    const client = parsePrelogin(data);
    // Azure SQL answers FEDAUTHREQUIRED (1: the client echoes it in LOGIN7) to a client that sent the option.
    this.askedFedAuthEcho = client.has(PreloginOption.FEDAUTHREQUIRED);
    const version = Buffer.alloc(6);
    version.writeUInt8(PROGRAM.version[0], 0);
    version.writeUInt8(PROGRAM.version[1], 1);
    version.writeUInt16BE(PROGRAM.version[2], 2);
    const options: [number, Buffer][] = [
      [PreloginOption.VERSION, version],
      // Under TDS 8.0 TLS is already in place; strict clients ignore this option.
      [PreloginOption.ENCRYPTION, Buffer.from([0x02])],
      [PreloginOption.INSTOPT, Buffer.from([0x00])],
      [PreloginOption.THREADID, Buffer.alloc(0)],
      [PreloginOption.MARS, Buffer.from([0x00])],
    ];
    if (this.askedFedAuthEcho) options.push([PreloginOption.FEDAUTHREQUIRED, Buffer.from([0x01])]);
    this.socket.write(framePackets(PacketType.TABULAR_RESULT, buildPrelogin(options), this.packetSize, this.spid));
    this.phase = "login";
  }

  private login7(server: SqlServer, data: Buffer): void {
    const { password, ...login } = parseLogin7(data);
    this.login = login;
    const requested = login.packetSize === 0 ? DEFAULT_PACKET_SIZE : login.packetSize;
    const fed = login.fedAuth;
    if (!fed) return this.sqlAuthentication(server, login, password, requested);
    if (login.tdsVersion < TDS_7_4) return this.refuse(server, login.userName, []);
    if (fed.echo !== this.askedFedAuthEcho) return this.refuse(server, TOKEN_PRINCIPAL, []);
    if (requested < MIN_PACKET_SIZE || requested > MAX_PACKET_SIZE) return this.refuse(server, TOKEN_PRINCIPAL, []);
    if (fed.library === "securityToken") {
      if (fed.tokenBytes === 0) return this.refuse(server, TOKEN_PRINCIPAL, []);
      return this.authenticated(server, requested, { kind: "entra" });
    }
    if (fed.library === "adal") {
      // The client gets the security token service and the resource, then sends a token for it.
      this.send([fedAuthInfoToken(`https://login.microsoftonline.com/${this.options.tenantId}`, SQL_SPN)]);
      this.phase = "fedauth";
      return;
    }
    return this.refuse(server, TOKEN_PRINCIPAL, []);
  }

  private fedAuthToken(server: SqlServer, data: Buffer): void {
    const { tokenBytes } = parseFedAuthToken(data);
    if (tokenBytes === 0) return this.refuse(server, TOKEN_PRINCIPAL, []);
    const login = this.login!;
    return this.authenticated(server, login.packetSize === 0 ? DEFAULT_PACKET_SIZE : login.packetSize, { kind: "entra" });
  }

  /**
   * SQL authentication: the user name must be a login of this server (kept in its master), enabled,
   * and the password its own; anything else is SQL Server's 18456 for the name the client sent (Azure
   * SQL Database tells the client no more than that). No credentials at all, or Windows
   * authentication (SSPI), fail the same way: Azure SQL Database has no Windows logins.
   */
  private sqlAuthentication(server: SqlServer, login: Omit<Login7, "password">, password: string, packetSize: number): void {
    if (login.tdsVersion < TDS_7_4 || login.hasSspi || login.userName === "") return this.refuse(server, login.userName, []);
    const known = this.options.state.sqlLogin(server.id, login.userName);
    if (!known || known.disabled || !loginPasswordMatches(known, password)) return this.refuse(server, login.userName, []);
    if (packetSize < MIN_PACKET_SIZE || packetSize > MAX_PACKET_SIZE) return this.refuse(server, login.userName, []);
    return this.authenticated(server, packetSize, { kind: "sql", login: known.name });
  }

  /** The principal is authenticated (any Entra token is accepted); the database must exist on this server. */
  private authenticated(server: SqlServer, packetSize: number, principal: Principal): void {
    this.options.settle?.();
    const login = this.login!;
    const user = principal.kind === "sql" ? login.userName : TOKEN_PRINCIPAL;
    const database = findDatabase(this.options.state, server, login.database);
    if (database === undefined) {
      const cannotOpen = { number: 4060, state: 1, class: 11, message: `Cannot open database "${login.database}" requested by the login. The login failed.` };
      return this.refuse(server, user, [cannotOpen]);
    }
    this.database = database;
    this.principal = principal;
    // FEDAUTH is acknowledged to an Entra login only; a SQL login that asked for nothing gets no FEATUREEXTACK.
    const features: [number, Buffer][] = principal.kind === "entra" ? [[FEATURE_FEDAUTH, Buffer.alloc(0)]] : [];
    if (login.utf8Support) features.push([FEATURE_UTF8_SUPPORT, Buffer.from([0x01])]);
    const latency = this.options.loginLatencyMs ?? 0;
    if (latency > 0) {
      this.phase = "closing"; // nothing is read until the answer has gone
      setTimeout(() => {
        if (this.socket.destroyed) return;
        this.welcome(server, database, packetSize, features);
      }, latency).unref();
      return;
    }
    this.welcome(server, database, packetSize, features);
  }

  private welcome(server: SqlServer, database: string, packetSize: number, features: [number, Buffer][]): void {
    const note = (number: number, text: string): SqlMessage => ({ number, state: 1, class: 0, message: text, serverName: server.name, lineNumber: 1 });
    this.send([
      envChangeText(1, database, "master"),
      infoToken(note(5701, `Changed database context to '${database}'.`)),
      envChangeCollation(DEFAULT_COLLATION),
      envChangeText(2, "us_english", ""),
      infoToken(note(5703, "Changed language setting to us_english.")),
      loginAckToken(TDS_7_4, PROGRAM.name, PROGRAM.version),
      ...(features.length > 0 ? [featureExtAckToken(features)] : []),
      envChangeText(4, String(packetSize), String(DEFAULT_PACKET_SIZE)),
      doneToken(DoneStatus.FINAL, CurCmd.NONE),
    ]);
    this.packetSize = packetSize;
    this.phase = "ready";
    this.socket.setTimeout(IDLE_TIMEOUT_MS);
  }

  /**
   * A failed login as SQL Server reports it: the errors leading to it, then 18456 "Login failed for
   * user", DONE with the error bit, and the connection ends.
   */
  private refuse(server: SqlServer, user: string, before: SqlError[]): void {
    const at = (e: SqlError): SqlMessage => ({ ...e, serverName: server.name, lineNumber: 65536 });
    const loginFailed: SqlError = { number: 18456, state: 1, class: 14, message: `Login failed for user '${user}'.` };
    this.send([...[...before, loginFailed].map((e) => errorToken(at(e))), doneToken(DoneStatus.ERROR, CurCmd.NONE)]);
    this.phase = "closing";
    this.socket.end();
  }

  private request(server: SqlServer, message: TdsMessage): void {
    if (message.type === PacketType.ATTENTION) {
      // Every request is answered whole before the next is read: an attention only needs its acknowledgement.
      return this.send([doneToken(DoneStatus.ATTN, CurCmd.NONE)]);
    }
    if (message.type === PacketType.SQL_BATCH) {
      return this.send(this.batchTokens(server, this.run(server, parseSqlBatch(message.data))));
    }
    if (message.type === PacketType.RPC_REQUEST) {
      const rpc = parseRpc(message.data);
      if (rpc.statement === undefined) return this.send([errorToken(this.located(server, rpcRefusal(rpc.procedure))), doneProcToken(DoneStatus.ERROR, CurCmd.EXECUTE)]);
      return this.send(this.procTokens(server, this.run(server, rpc.statement)));
    }
    throw new TdsProtocolError(`unexpected message type ${message.type}`);
  }

  private run(server: SqlServer, statement: string): Outcome {
    this.options.settle?.();
    const outcome = runStatement(statement, { state: this.options.state, server, database: this.database, now: this.options.clock(), principal: this.principal });
    // A change (a login's new password) is saved before it is acknowledged, as an HTTP write is.
    if (outcome.kind === "done" && outcome.changed) this.options.settle?.();
    return outcome;
  }

  private located(server: SqlServer, error: SqlError): SqlMessage {
    return { ...error, serverName: server.name, lineNumber: 1 };
  }

  private batchTokens(server: SqlServer, outcome: Outcome): Buffer[] {
    switch (outcome.kind) {
      case "done":
        return [doneToken(DoneStatus.FINAL, CurCmd.NONE)];
      case "error":
        return [errorToken(this.located(server, outcome.error)), doneToken(DoneStatus.ERROR, CurCmd.NONE)];
      case "rows":
        return [
          colMetadataToken(outcome.columns),
          ...outcome.rows.map((row) => rowToken(outcome.columns, row)),
          doneToken(DoneStatus.COUNT, CurCmd.SELECT, outcome.rows.length),
        ];
    }
  }

  /** sp_executesql: the statement's tokens end with DONEINPROC, then the return status and DONEPROC. */
  private procTokens(server: SqlServer, outcome: Outcome): Buffer[] {
    switch (outcome.kind) {
      case "done":
        return [returnStatusToken(0), doneProcToken(DoneStatus.FINAL, CurCmd.EXECUTE)];
      case "error":
        return [errorToken(this.located(server, outcome.error)), doneProcToken(DoneStatus.ERROR, CurCmd.EXECUTE)];
      case "rows":
        return [
          colMetadataToken(outcome.columns),
          ...outcome.rows.map((row) => rowToken(outcome.columns, row)),
          doneInProcToken(DoneStatus.COUNT, CurCmd.SELECT, outcome.rows.length),
          returnStatusToken(0),
          doneProcToken(DoneStatus.FINAL, CurCmd.EXECUTE),
        ];
    }
  }
}

/** The names of the procedures a client may call by id (MS-TDS 2.2.6.6, ProcID). */
const PROC_NAMES = ["", "sp_cursor", "sp_cursoropen", "sp_cursorprepare", "sp_cursorexecute", "sp_cursorprepexec", "sp_cursorunprepare", "sp_cursorfetch", "sp_cursoroption", "sp_cursorclose", "sp_executesql", "sp_prepare", "sp_execute", "sp_prepexec", "sp_prepexecrpc", "sp_unprepare"];

/** sp_executesql without its statement: SQL Server's 201; any other procedure: 2812 (this server runs no other). */
function rpcRefusal(procedure: string): SqlError {
  const name = procedure.startsWith("#") ? (PROC_NAMES[Number(procedure.slice(1))] ?? procedure) : procedure;
  if (/^(sys\.)?sp_executesql$/i.test(name)) {
    return { number: 201, state: 4, class: 16, message: "Procedure or function 'sp_executesql' expects parameter '@statement', which was not supplied." };
  }
  return { number: 2812, state: 62, class: 16, message: `Could not find stored procedure '${name.slice(0, 128)}'.` };
}
