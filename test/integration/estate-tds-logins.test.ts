import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Connection, Request, type ConnectionConfiguration } from "tedious";
import { startEstate, type Estate } from "../../estate/server.ts";
import type { EstateSeed } from "../../estate/seed.ts";
import { EstateCredential, type Target } from "../../src/azure/clients.ts";
import { changeSqlLoginPassword, SqlLoginError, trySqlLogin } from "../../src/azure/sqlLogins.ts";
import { rawRequest } from "../helpers/estate.ts";

const SUB = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const EAST = `${SUB}/resourceGroups/orders-eastus2/providers/Microsoft.Sql/servers/orders-sql-eastus2`;
const CENTRAL = `${SUB}/resourceGroups/orders-centralus/providers/Microsoft.Sql/servers/orders-sql-centralus`;
const SERVER = "orders-sql-eastus2";

const APP_A = { name: "orders_app_a", password: "Seeded-A-Passw0rd" };
const APP_B = { name: "orders_app_b", password: "Seeded-B-Passw0rd" };
const DISABLED = { name: "orders_old", password: "Seeded-Old-Passw0rd" };

const SEED: EstateSeed = {
  regions: [{ name: "eastus2" }, { name: "centralus" }],
  sqlServers: [
    { id: EAST, location: "eastus2", logins: [APP_A, APP_B, { ...DISABLED, disabled: true }] },
    { id: CENTRAL, location: "centralus", logins: [APP_A] },
  ],
  failoverGroups: [{ id: `${EAST}/failoverGroups/orders-fog`, partnerServerId: CENTRAL, databases: ["orders"] }],
};

const T0 = Date.parse("2025-03-01T12:00:00.000Z");
const credential = new EstateCredential();

/** A tedious connection to a server of the estate, with SQL Server's login messages. */
async function open(estate: Estate, serverId: string, database: string, authentication: ConnectionConfiguration["authentication"]): Promise<Connection> {
  const connection = new Connection({
    server: "127.0.0.1",
    authentication,
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
  connection.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    connection.once("connect", (error) => (error ? reject(error) : resolve()));
    connection.connect();
  });
  return connection;
}

const entra = { type: "token-credential", options: { credential } } as const;
const sqlAuth = (userName: string, password: string) => ({ type: "default", options: { userName, password } }) as const;

/** Runs a batch; resolves with its rows' values. */
function batch(connection: Connection, sql: string): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    const rows: unknown[][] = [];
    const request = new Request(sql, (error) => (error ? reject(error) : resolve(rows)));
    request.on("row", (columns: { value: unknown }[]) => rows.push(columns.map((c) => c.value)));
    connection.execSqlBatch(request);
  });
}

describe("estate: SQL authentication and ALTER LOGIN over TDS, through tedious and Switchyard's SQL login client", () => {
  let estate: Estate;
  let target: Target;

  beforeAll(async () => {
    estate = await startEstate({ seed: SEED, clock: () => T0 });
    target = estate.clientTarget();
  });
  beforeEach(async () => {
    await estate.reset();
  });
  afterAll(async () => {
    await estate?.close();
  });

  it("logs a login in with its password, to master and to a failover group database", async () => {
    const toMaster = await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_A.password });
    const toOrders = await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_A.password, database: "orders" });

    expect(toMaster).toEqual({ ok: true });
    expect(toOrders).toEqual({ ok: true });
  });

  it("refuses a wrong password, an unknown login and a disabled login with 18456 for the name sent", async () => {
    const wrong = await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_B.password });
    const unknown = await trySqlLogin(target, { server: SERVER, login: "nobody", password: APP_A.password });
    const disabled = await trySqlLogin(target, { server: SERVER, login: DISABLED.name, password: DISABLED.password });
    const otherServer = await trySqlLogin(target, { server: "orders-sql-centralus", login: APP_B.name, password: APP_B.password });

    expect(wrong).toEqual({ ok: false, number: 18456, code: "ELOGIN", message: "Login failed for user 'orders_app_a'." });
    expect(unknown).toMatchObject({ ok: false, number: 18456, message: "Login failed for user 'nobody'." });
    expect(disabled).toMatchObject({ ok: false, number: 18456, message: "Login failed for user 'orders_old'." });
    expect(otherServer).toMatchObject({ ok: false, number: 18456 });
  });

  it("refuses a database the server does not hold with 4060, then 18456 for the login", async () => {
    const messages: number[] = [];
    const connection = new Connection({
      server: "127.0.0.1",
      authentication: sqlAuth(APP_A.name, APP_A.password),
      options: { port: estate.sqlEndpoint(EAST).port, database: "no_such_db", encrypt: "strict", cryptoCredentialsDetails: { ca: estate.ca.cert }, maxRetriesOnTransientErrors: 0 },
    });
    connection.on("errorMessage", (m: { number: number }) => messages.push(m.number));
    const error = await new Promise<Error | undefined>((resolve) => {
      connection.once("connect", resolve);
      connection.connect();
    });

    expect(error).toMatchObject({ code: "ELOGIN", message: "Login failed for user 'orders_app_a'." });
    expect(messages).toEqual([4060, 18456]);
  });

  it("answers SELECT 1 to a SQL login's session", async () => {
    const connection = await open(estate, EAST, "orders", sqlAuth(APP_A.name, APP_A.password));
    try {
      expect(await batch(connection, "SELECT 1")).toEqual([[1]]);
    } finally {
      connection.close();
    }
  });

  it("changes a login's password: the new one logs in, the old one no longer does", async () => {
    const next = "Rotated#2025-next";

    await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: next });

    expect(await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: next })).toEqual({ ok: true });
    expect(await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_A.password })).toMatchObject({ ok: false, number: 18456 });
    expect(estate.state.checkSqlLogin(EAST, APP_A.name, next)).toBe(true);
    // The other login and the same login on the partner server are untouched.
    expect(estate.state.checkSqlLogin(EAST, APP_B.name, APP_B.password)).toBe(true);
    expect(estate.state.checkSqlLogin(CENTRAL, APP_A.name, APP_A.password)).toBe(true);
  });

  it("keeps a session open before the change working after it", async () => {
    const session = await open(estate, EAST, "orders", sqlAuth(APP_A.name, APP_A.password));
    try {
      await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: "Rotated#2025-kept" });

      expect(await batch(session, "SELECT 1")).toEqual([[1]]);
    } finally {
      session.close();
    }
  });

  it("refuses a password that fails Azure SQL's policy with 15118 (15116 when too short) and keeps the old one", async () => {
    const simple = "onlylowercaseletters";
    const short = "Ab1!";
    const withName = "Xorders_app_a1!";

    const complexity = changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: simple });
    await expect(complexity).rejects.toBeInstanceOf(SqlLoginError);
    const error = (await complexity.catch((e: unknown) => e)) as SqlLoginError;
    const tooShort = (await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: short }).catch((e: unknown) => e)) as SqlLoginError;
    const named = (await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: withName }).catch((e: unknown) => e)) as SqlLoginError;

    expect(error).toMatchObject({ code: "SqlPasswordPolicy", retryable: false, details: { sqlNumber: 15118 } });
    expect(error.message).toContain("Password validation failed. The password does not meet policy requirements because it is not complex enough.");
    expect(tooShort).toMatchObject({ code: "SqlPasswordPolicy", details: { sqlNumber: 15116 } });
    expect(named).toMatchObject({ code: "SqlPasswordPolicy", details: { sqlNumber: 15118 } });
    for (const [e, password] of [[error, simple], [tooShort, short], [named, withName]] as const) {
      expect(JSON.stringify({ message: e.message, stack: e.stack, details: e.details })).not.toContain(password);
      expect(e.message).not.toMatch(/ALTER LOGIN/i);
    }
    expect(estate.state.checkSqlLogin(EAST, APP_A.name, APP_A.password)).toBe(true);
  });

  it("refuses an unknown login with 15151", async () => {
    const attempt = changeSqlLoginPassword(target, credential, { server: SERVER, login: "nobody", password: "Fine-Passw0rd!" });

    await expect(attempt).rejects.toMatchObject({
      code: "SqlLoginNotAlterable",
      details: { sqlNumber: 15151 },
      message: expect.stringContaining("Cannot alter the login 'nobody', because it does not exist or you do not have permission."),
    });
  });

  it("refuses ALTER LOGIN in a user database with 5001, changing nothing", async () => {
    const admin = await open(estate, EAST, "orders", entra);
    try {
      const attempt = batch(admin, `ALTER LOGIN ${APP_A.name} WITH PASSWORD = 'Outside-Master-1'`);

      await expect(attempt).rejects.toMatchObject({ number: 5001, class: 16, message: "User must be in the master database." });
      expect(estate.state.checkSqlLogin(EAST, APP_A.name, APP_A.password)).toBe(true);
    } finally {
      admin.close();
    }
  });

  it("reads the statement's forms: without N, a doubled quote, a bracketed name, OLD_PASSWORD", async () => {
    const admin = await open(estate, EAST, "master", entra);
    try {
      await batch(admin, `ALTER LOGIN [orders_app_a] WITH PASSWORD = 'It''s-Quoted-1';`);
      expect(estate.state.checkSqlLogin(EAST, APP_A.name, "It's-Quoted-1")).toBe(true);

      await batch(admin, `alter login ORDERS_APP_B with password = N'Next-B-Passw0rd' old_password = N'${APP_B.password}'`);
      expect(estate.state.checkSqlLogin(EAST, APP_B.name, "Next-B-Passw0rd")).toBe(true);

      // A wrong OLD_PASSWORD is refused as SQL Server refuses a login it may not alter.
      await expect(batch(admin, `ALTER LOGIN orders_app_b WITH PASSWORD = 'Third-B-Passw0rd' OLD_PASSWORD = 'Not-The-Old-1'`)).rejects.toMatchObject({ number: 15151 });
      expect(estate.state.checkSqlLogin(EAST, APP_B.name, "Next-B-Passw0rd")).toBe(true);
    } finally {
      admin.close();
    }
  });

  it("lets a SQL login change only its own password, and only with OLD_PASSWORD", async () => {
    const self = await open(estate, EAST, "master", sqlAuth(APP_A.name, APP_A.password));
    try {
      await expect(batch(self, `ALTER LOGIN orders_app_b WITH PASSWORD = 'Taken-Over-B-1' OLD_PASSWORD = '${APP_B.password}'`)).rejects.toMatchObject({ number: 15151 });
      await expect(batch(self, `ALTER LOGIN orders_app_a WITH PASSWORD = 'Own-Without-Old-1'`)).rejects.toMatchObject({ number: 15151 });
      await batch(self, `ALTER LOGIN orders_app_a WITH PASSWORD = 'Own-With-Old-1' OLD_PASSWORD = '${APP_A.password}'`);

      expect(estate.state.checkSqlLogin(EAST, APP_B.name, APP_B.password)).toBe(true);
      expect(estate.state.checkSqlLogin(EAST, APP_A.name, "Own-With-Old-1")).toBe(true);
    } finally {
      self.close();
    }
  });

  it("answers 40510 naming only ALTER for other ALTER LOGIN forms and malformed ones", async () => {
    const admin = await open(estate, EAST, "master", entra);
    try {
      for (const sql of [
        `ALTER LOGIN orders_app_a DISABLE`,
        `ALTER LOGIN orders_app_a WITH PASSWORD = 'Unterminated-Secret-1`,
        `ALTER LOGIN orders_app_a WITH PASSWORD = 'Two-Statements-1'; SELECT 1`,
        `ALTER LOGIN orders_app_a WITH PASSWORD = 'Comma-Secret-1', OLD_PASSWORD = '${APP_A.password}'`,
      ]) {
        const error = await batch(admin, sql).then(
          () => undefined,
          (e: unknown) => e as { number: number; message: string },
        );
        expect(error).toMatchObject({ number: 40510, message: "Statement 'ALTER' is not supported in this version of SQL Server" });
      }
      expect(estate.state.checkSqlLogin(EAST, APP_A.name, APP_A.password)).toBe(true);
    } finally {
      admin.close();
    }
  });

  it("refuses SQL logins to a server whose region is down", async () => {
    await estate.setRegion("eastus2", { down: true });

    const attempt = await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_A.password, timeoutMs: 5_000 });

    expect(attempt).toMatchObject({ ok: false, code: "ESOCKET" });
  });

  it("shows logins in /_estate/state without their passwords or hashes, and records no password anywhere", async () => {
    const rotated = "Never-Recorded-7x!";
    const refused = "neverrecordedweak";
    await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_A.name, password: rotated });
    await changeSqlLoginPassword(target, credential, { server: SERVER, login: APP_B.name, password: refused }).catch(() => undefined);
    await trySqlLogin(target, { server: SERVER, login: APP_B.name, password: rotated });
    const hash = estate.state.sqlLogin(EAST, APP_A.name)!.passwordHash.hash;

    const state = await rawRequest(estate, "GET", "/_estate/state");
    const requests = await rawRequest(estate, "GET", "/_estate/requests");

    const server = state.body.sqlServers.find((s: { id: string }) => s.id === EAST);
    expect(server.logins).toEqual([
      { name: APP_A.name, disabled: false, passwordSetAt: new Date(T0).toISOString() },
      { name: APP_B.name, disabled: false, passwordSetAt: new Date(T0).toISOString() },
      { name: DISABLED.name, disabled: true, passwordSetAt: new Date(T0).toISOString() },
    ]);
    const recorded = JSON.stringify([state.body, requests.body]);
    for (const secret of [rotated, refused, APP_A.password, APP_B.password, hash]) expect(recorded).not.toContain(secret);
  });

  it("refuses a seed whose login password fails the policy, without quoting it", async () => {
    const weak = "weakpassword";

    const answer = await rawRequest(estate, "POST", "/_estate/seed", { body: { sqlServers: [{ id: EAST, location: "eastus2", logins: [{ name: "weak_login", password: weak }] }] } });

    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain("logins[0]");
    expect(JSON.stringify(answer.body)).not.toContain(weak);
    expect(estate.state.sqlLogin(EAST, "weak_login")).toBeUndefined();
  });
});

describe("estate kept in a folder: SQL logins", () => {
  it("keeps a changed password across a restart, as a hash only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "estate-logins-"));
    const rotated = "Kept-Across-Restart-9!";
    try {
      const first = await startEstate({ seed: SEED, clock: () => T0, stateDir: dir });
      try {
        await changeSqlLoginPassword(first.clientTarget(), credential, { server: SERVER, login: APP_A.name, password: rotated });
      } finally {
        await first.close();
      }

      const second = await startEstate({ seed: SEED, clock: () => T0, stateDir: dir });
      try {
        const target = second.clientTarget();
        expect(await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: rotated })).toEqual({ ok: true });
        expect(await trySqlLogin(target, { server: SERVER, login: APP_A.name, password: APP_A.password })).toMatchObject({ ok: false, number: 18456 });
      } finally {
        await second.close();
      }
      const kept = (await readFile(join(dir, "estate.json"), "utf8")) + (await readFile(join(dir, "requests.jsonl"), "utf8").catch(() => ""));
      expect(kept).not.toContain(rotated);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
