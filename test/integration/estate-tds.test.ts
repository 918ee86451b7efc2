import { connect as tlsConnect } from "node:tls";
import { connect as netConnect } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Connection, Request, type ConnectionConfiguration } from "tedious";
import { startEstate, type Estate } from "../../estate/server.ts";
import type { EstateSeed } from "../../estate/seed.ts";
import { rawRequest } from "../helpers/estate.ts";

const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const EAST = `${SUB}/resourceGroups/orders-eastus2/providers/Microsoft.Sql/servers/orders-sql-eastus2`;
const CENTRAL = `${SUB}/resourceGroups/orders-centralus/providers/Microsoft.Sql/servers/orders-sql-centralus`;
const GROUP = `${EAST}/failoverGroups/orders-fog`;
const SEED: EstateSeed = {
  regions: [{ name: "eastus2" }, { name: "centralus" }],
  sqlServers: [
    { id: EAST, location: "eastus2" },
    { id: CENTRAL, location: "centralus" },
  ],
  failoverGroups: [{ id: GROUP, partnerServerId: CENTRAL, databases: ["orders"] }],
};

/** The estate's clock: fixed, moved by tests. */
const T0 = Date.parse("2025-03-01T12:00:00.000Z");
let now = T0;

const credential = { getToken: async () => ({ token: "any-token", expiresOnTimestamp: Date.now() + 3600e3 }) };

type Row = Record<string, unknown>;

interface Opened {
  connection: Connection;
  /** SQL Server's messages received during login (number, message). */
  messages: { number: number; message: string }[];
}

describe("estate: Azure SQL over TDS 8.0 through tedious", () => {
  let estate: Estate;

  beforeAll(async () => {
    estate = await startEstate({ seed: SEED, clock: () => now });
  });
  beforeEach(async () => {
    now = T0;
    await estate.reset();
  });
  afterAll(async () => {
    await estate?.close();
  });

  const config = (serverId: string, database: string, auth: ConnectionConfiguration["authentication"] = { type: "token-credential", options: { credential } }): ConnectionConfiguration => ({
    server: "127.0.0.1",
    authentication: auth,
    options: {
      port: estate.sqlEndpoint(serverId).port,
      database,
      encrypt: "strict",
      trustServerCertificate: false,
      cryptoCredentialsDetails: { ca: estate.ca.cert },
      connectTimeout: 5_000,
      maxRetriesOnTransientErrors: 0,
      rowCollectionOnRequestCompletion: false,
    },
  });

  async function open(cfg: ConnectionConfiguration): Promise<Opened> {
    const connection = new Connection(cfg);
    const messages: Opened["messages"] = [];
    connection.on("errorMessage", (m: { number: number; message: string }) => messages.push({ number: m.number, message: m.message }));
    connection.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      connection.once("connect", (error) => (error ? reject(Object.assign(error, { messages })) : resolve()));
      connection.connect();
    });
    return { connection, messages };
  }

  async function query(connection: Connection, sql: string, how: "execSql" | "execSqlBatch" = "execSql"): Promise<Row[]> {
    return new Promise((resolve, reject) => {
      const rows: Row[] = [];
      const request = new Request(sql, (error) => (error ? reject(error) : resolve(rows)));
      request.on("row", (columns: { value: unknown; metadata: { colName: string } }[]) => rows.push(Object.fromEntries(columns.map((c) => [c.metadata.colName, c.value]))));
      connection[how](request);
    });
  }

  async function withConnection<T>(serverId: string, database: string, f: (c: Connection) => Promise<T>): Promise<T> {
    const { connection } = await open(config(serverId, database));
    try {
      return await f(connection);
    } finally {
      connection.close();
    }
  }

  const LAG_QUERY = "SELECT link_guid, partner_server, partner_database, last_replication, replication_lag_sec, replication_state, replication_state_desc, role, role_desc, secondary_allow_connections, secondary_allow_connections_desc, last_commit FROM sys.dm_geo_replication_link_status";

  it("maps each SQL server's host name to its listener in the client target", () => {
    const target = estate.clientTarget();
    expect(target.sqlHosts).toEqual({
      "orders-sql-eastus2.database.windows.net": `127.0.0.1:${estate.sqlEndpoint(EAST).port}`,
      "orders-sql-centralus.database.windows.net": `127.0.0.1:${estate.sqlEndpoint(CENTRAL).port}`,
    });
    expect(estate.sqlEndpoint(EAST).port).not.toBe(estate.sqlEndpoint(CENTRAL).port);
  });

  it("logs in with a token and answers the primary's link with the lag set through /_estate/lag", async () => {
    const put = await rawRequest(estate, "PUT", "/_estate/lag", { body: { resourceId: GROUP, seconds: 42 } });
    expect(put.status).toBe(200);
    now = T0 + 5_000;

    const rows = await withConnection(EAST, "orders", (c) => query(c, LAG_QUERY));

    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      partner_server: "orders-sql-centralus",
      partner_database: "orders",
      replication_lag_sec: 42,
      replication_state: 2,
      replication_state_desc: "CATCH_UP",
      role: 0,
      role_desc: "PRIMARY",
      secondary_allow_connections: 2,
      secondary_allow_connections_desc: "ALL",
    });
    // A working link: the last acknowledgement is now, of a transaction that committed 42 s before.
    expect((row.last_replication as Date).toISOString()).toBe(new Date(now).toISOString());
    expect((row.last_commit as Date).toISOString()).toBe(new Date(now).toISOString());
    expect(String(row.link_guid)).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  });

  it("answers the same link id on both sides, with NULL lag and last replication on the secondary", async () => {
    await rawRequest(estate, "PUT", "/_estate/lag", { body: { resourceId: GROUP, seconds: 30 } });
    const [primary] = await withConnection(EAST, "orders", (c) => query(c, LAG_QUERY));
    const [secondary] = await withConnection(CENTRAL, "ORDERS", (c) => query(c, LAG_QUERY, "execSqlBatch"));

    expect(secondary).toMatchObject({ partner_server: "orders-sql-eastus2", role: 1, role_desc: "SECONDARY", last_replication: null, replication_lag_sec: null });
    expect(secondary!.link_guid).toBe(primary!.link_guid);
    expect((secondary!.last_commit as Date).toISOString()).toBe(new Date(T0 - 30_000).toISOString());
  });

  it("reads `*` and column names in any case, with a trailing semicolon, in packets of the negotiated size", async () => {
    const small = config(EAST, "orders");
    const { connection } = await open({ ...small, options: { ...small.options, packetSize: 512 } });
    try {
      const star = await query(connection, "select * from SYS.DM_GEO_REPLICATION_LINK_STATUS ;  ");
      const named = await query(connection, "SELECT Role_Desc, [replication_lag_sec] FROM [sys].[dm_geo_replication_link_status];");
      expect(Object.keys(star[0]!)).toEqual(["link_guid", "partner_server", "partner_database", "last_replication", "replication_lag_sec", "replication_state", "replication_state_desc", "role", "role_desc", "secondary_allow_connections", "secondary_allow_connections_desc", "last_commit"]);
      expect(named).toEqual([{ Role_Desc: "PRIMARY", replication_lag_sec: 0 }]);
    } finally {
      connection.close();
    }
  });

  it("shows the link SUSPENDED while the partner's region is down, its last replication held at the outage", async () => {
    await rawRequest(estate, "PUT", "/_estate/lag", { body: { resourceId: GROUP, seconds: 10 } });
    now = T0 + 60_000;
    await estate.setRegion("centralus", { down: true });
    now = T0 + 180_000;

    const [row] = await withConnection(EAST, "orders", (c) => query(c, LAG_QUERY));

    expect(row).toMatchObject({ replication_state: 4, replication_state_desc: "SUSPENDED", role: 0 });
    // Acknowledgements stopped when centralus went down; the primary went on committing.
    expect((row!.last_replication as Date).toISOString()).toBe(new Date(T0 + 60_000).toISOString());
    expect((row!.last_commit as Date).toISOString()).toBe(new Date(T0 + 180_000).toISOString());
  });

  it("also accepts a token sent inside LOGIN7 (the security token library)", async () => {
    const { connection } = await open(config(EAST, "orders", { type: "azure-active-directory-access-token", options: { token: "any-token" } }));
    try {
      expect(await query(connection, LAG_QUERY)).toHaveLength(1);
    } finally {
      connection.close();
    }
  });

  it("answers an empty set in master", async () => {
    const rows = await withConnection(EAST, "master", (c) => query(c, LAG_QUERY));
    expect(rows).toEqual([]);
  });

  it("answers SQL Server's errors for another object, an unknown column and another statement", async () => {
    await withConnection(EAST, "orders", async (c) => {
      await expect(query(c, "SELECT * FROM dbo.orders")).rejects.toMatchObject({ number: 208, class: 16, message: "Invalid object name 'dbo.orders'." });
      await expect(query(c, "SELECT lag FROM sys.dm_geo_replication_link_status")).rejects.toMatchObject({ number: 207, message: "Invalid column name 'lag'." });
      await expect(query(c, "DELETE FROM dbo.orders", "execSqlBatch")).rejects.toMatchObject({ number: 40510 });
      // The connection is still usable after errors.
      expect(await query(c, LAG_QUERY)).toHaveLength(1);
    });
  });

  it("refuses SQL authentication with error 18456 and ends the connection", async () => {
    const attempt = open(config(EAST, "orders", { type: "default", options: { userName: "sa", password: "secret" } }));
    await expect(attempt).rejects.toMatchObject({ code: "ELOGIN", message: "Login failed for user 'sa'.", messages: [{ number: 18456 }] });
  });

  it("refuses a database the server does not hold with error 4060, then 18456", async () => {
    const attempt = open(config(EAST, "no_such_db"));
    await expect(attempt).rejects.toMatchObject({
      code: "ELOGIN",
      messages: [
        { number: 4060, message: 'Cannot open database "no_such_db" requested by the login. The login failed.' },
        { number: 18456, message: "Login failed for user '<token-identified principal>'." },
      ],
    });
  });

  it("refuses connections to a server whose region is down, and serves it again when the region is back", async () => {
    await estate.setRegion("eastus2", { down: true });
    await expect(open(config(EAST, "orders"))).rejects.toMatchObject({ code: "ESOCKET" });
    // The socket is dropped when accepted: no TLS handshake completes.
    const handshake = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: "127.0.0.1", port: estate.sqlEndpoint(EAST).port, ca: estate.ca.cert, ALPNProtocols: ["tds/8.0"] });
      socket.on("secureConnect", () => {
        socket.destroy();
        resolve("completed");
      });
      socket.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(handshake).toBe("ECONNRESET");

    await estate.setRegion("eastus2", { down: false });
    expect(await withConnection(EAST, "orders", (c) => query(c, LAG_QUERY))).toHaveLength(1);
  });

  it("cuts an open session when its server's region goes down", async () => {
    const { connection } = await open(config(EAST, "orders"));
    const ended = new Promise<void>((resolve) => connection.once("end", () => resolve()));
    await estate.setRegion("eastus2", { down: true });
    await ended;
  });

  it("refuses a TLS client that does not offer ALPN tds/8.0", async () => {
    const { port } = estate.sqlEndpoint(EAST);
    // A well-formed PRELOGIN (VERSION only): a TDS 8.0 client would get the server's PRELOGIN back.
    const prelogin = Buffer.from([0x12, 0x01, 0x00, 0x14, 0, 0, 1, 0, 0x00, 0x00, 0x06, 0x00, 0x06, 0xff, 19, 2, 0, 0, 0, 0]);
    const outcome = (alpn?: string[]) =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, ca: estate.ca.cert, ...(alpn ? { ALPNProtocols: alpn } : {}) });
        let answered = false;
        socket.on("data", () => {
          answered = true;
          socket.end();
        });
        socket.on("secureConnect", () => socket.write(prelogin));
        socket.on("close", () => resolve(answered ? "answered" : "closed unanswered"));
        socket.on("error", (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
      });
    expect(await outcome(["h2"])).toBe("error ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL");
    expect(await outcome()).toBe("closed unanswered");
    expect(await outcome(["tds/8.0"])).toBe("answered");
  });

  it("closes a connection that sends malformed packets, and keeps serving others", async () => {
    const { port } = estate.sqlEndpoint(EAST);
    const garbage = [
      Buffer.from([0x12, 0x01, 0x00, 0x02, 0, 0, 0, 0]), // packet shorter than its header
      Buffer.from([0x10, 0x01, 0x00, 0x10, 0, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8]), // LOGIN7 before PRELOGIN
      Buffer.from([0x12, 0x01, 0x00, 0x0c, 0, 0, 1, 0, 0x00, 0xff, 0xff, 0x00]), // PRELOGIN option out of bounds
      Buffer.concat([
        Buffer.from([0x12, 0x01, 0x00, 0x14, 0, 0, 1, 0, 0x00, 0x00, 0x06, 0x00, 0x06, 0xff, 19, 2, 0, 0, 0, 0]), // a good PRELOGIN
        Buffer.from([0x10, 0x01, 0x00, 0x10, 0, 0, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]), // then a LOGIN7 shorter than its fixed part
      ]),
    ];
    for (const bytes of garbage) {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, ca: estate.ca.cert, ALPNProtocols: ["tds/8.0"] });
        socket.on("secureConnect", () => socket.write(bytes));
        socket.on("data", () => undefined);
        socket.on("close", () => resolve(true));
        socket.on("error", () => undefined);
      });
      expect(closed).toBe(true);
    }
    // A plain TCP client that is not TLS at all.
    await new Promise<void>((resolve) => {
      const socket = netConnect({ host: "127.0.0.1", port }, () => socket.write(Buffer.from([0x12, 0x01, 0x00, 0x08, 0, 0, 1, 0])));
      socket.on("close", () => resolve());
      socket.on("error", () => undefined);
    });
    expect(await withConnection(EAST, "orders", (c) => query(c, LAG_QUERY))).toHaveLength(1);
  });

  it("gives a SQL server seeded later its own listener", async () => {
    const WEST = `${SUB}/resourceGroups/orders-westus/providers/Microsoft.Sql/servers/orders-sql-westus`;
    const seeded = await rawRequest(estate, "POST", "/_estate/seed", { body: { regions: [{ name: "westus" }], sqlServers: [{ id: WEST, location: "westus" }] } });
    expect(seeded.status).toBe(201);
    expect(estate.clientTarget().sqlHosts["orders-sql-westus.database.windows.net"]).toBe(`127.0.0.1:${estate.sqlEndpoint(WEST).port}`);
    expect(await withConnection(WEST, "master", (c) => query(c, LAG_QUERY))).toEqual([]);
  });
});
