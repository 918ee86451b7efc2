/**
 * SQL authentication logins of an Azure SQL logical server, over TDS with the real `tedious` driver
 * (TDS 8.0 strict encryption, as src/azure/sqlQuery.ts connects): changing a login's password as the
 * server's Microsoft Entra admin (`ALTER LOGIN`, run in master), trying a login with its password,
 * making a password Azure SQL Database's policy accepts, and the ADO.NET connection string an app
 * uses with it.
 *
 * A password goes only into the statement or the LOGIN7 message that needs it: no error, message or
 * log line made here carries it or the statement (SQL Server's own messages for these errors do not
 * quote the password, and every driver message is masked for it anyway).
 */
import { randomInt } from "node:crypto";
import { Connection, Request, type ConnectionAuthentication } from "tedious";
import type { TokenCredential } from "@azure/core-auth";
import { SwitchyardError } from "../core/errors.ts";
import type { Target } from "./clients.ts";
import { currentAbortSignal } from "./budget.ts";
import { sqlEndpoint } from "./sqlQuery.ts";

const DEFAULT_TIMEOUT_MS = 30_000;
/** The port Azure SQL Database's gateway listens on. */
const SQL_PORT = 1433;

/** Azure SQL Database's password policy: 8 to 128 characters ("Password policy", SQL Server docs). */
export const SQL_PASSWORD_MIN_LENGTH = 8;
export const SQL_PASSWORD_MAX_LENGTH = 128;

/**
 * SQL Server errors that say the database or the service is busy or moving (Azure SQL's transient
 * errors: 40613 database unavailable, 40501 service busy, 40197 processing error, 49918–49920 not
 * enough resources, 4221 read-only replica not yet available): the same statement may work later.
 */
const TRANSIENT = new Set([40613, 40501, 40197, 49918, 49919, 49920, 4221, 10928, 10929]);
/** 15116–15118: the new password fails the policy (too short, too long, not complex enough). */
const POLICY = new Set([15116, 15117, 15118]);

/**
 * A login's password could not be changed. `code` says what to do: `SqlPasswordPolicy` (choose
 * another password), `SqlLoginNotAlterable` (15151: no such login, or the caller may not alter it),
 * `SqlNotMaster` (5001), `SqlUnavailable` (no connection or a transient SQL error: retry), or
 * `SqlLoginChangeFailed`. The message names the server, the login, SQL Server's error number and
 * its message; never the password or the statement.
 */
export class SqlLoginError extends SwitchyardError {
  constructor(
    message: string,
    code: string,
    readonly details: { readonly server: string; readonly login: string; readonly sqlNumber?: number; readonly driverCode?: string },
    retryable: boolean,
  ) {
    super(message, { code, retryable });
  }
}

export interface ChangeSqlLoginPasswordOptions {
  /** The logical server's name (not its host name). */
  readonly server: string;
  readonly login: string;
  /** The new password (written into the statement as a literal: ALTER LOGIN takes no variables). */
  readonly password: string;
  /** Connect, log in and run the statement, each (ms); default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * Sets `login`'s password on `server`: connects to master with the credential's Microsoft Entra
 * token (the server's Entra admin may alter any login) and runs `ALTER LOGIN [login] WITH PASSWORD =
 * N'…'`. Sessions already logged in with the old password keep working; new logins need the new one.
 * Rejects with a SqlLoginError.
 */
export async function changeSqlLoginPassword(target: Target, credential: TokenCredential, options: ChangeSqlLoginPasswordOptions): Promise<void> {
  const where = { server: options.server, login: options.login };
  const secrets = [options.password];
  checkLoginName(options.login, where);
  const statement = alterLoginStatement(options.login, options.password);
  const connection = await open(target, {
    server: options.server,
    database: "master",
    authentication: { type: "token-credential", options: { credential } },
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  }).catch((error: unknown) => {
    throw loginChangeError(error, where, secrets, "connect");
  });
  const signal = currentAbortSignal();
  const abort = () => connection.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      // A batch, not sp_executesql: ALTER LOGIN runs alone in its batch.
      const request = new Request(statement, (error) => (error ? reject(error) : resolve()));
      connection.execSqlBatch(request);
    });
  } catch (error) {
    throw loginChangeError(error, where, secrets, "statement");
  } finally {
    signal?.removeEventListener("abort", abort);
    connection.close();
  }
}

export interface TrySqlLoginOptions {
  /** The logical server's name (not its host name). */
  readonly server: string;
  readonly login: string;
  readonly password: string;
  /** Default master. */
  readonly database?: string;
  /** Connect and log in (ms); default 30 s. */
  readonly timeoutMs?: number;
}

export type SqlLoginResult =
  | { readonly ok: true }
  /** `number`: SQL Server's error (18456 for a refused login); `code`: the driver's (ELOGIN, ESOCKET, ETIMEOUT). */
  | { readonly ok: false; readonly number?: number; readonly code?: string; readonly message: string };

/** Logs in to `database` with SQL authentication and disconnects: whether the password works now. Never rejects. */
export async function trySqlLogin(target: Target, options: TrySqlLoginOptions): Promise<SqlLoginResult> {
  const secrets = [options.password];
  try {
    const connection = await open(target, {
      server: options.server,
      database: options.database ?? "master",
      authentication: { type: "default", options: { userName: options.login, password: options.password } },
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    connection.close();
    return { ok: true };
  } catch (error) {
    const { message, code, number } = describeDriverError(error, secrets);
    return { ok: false, message, ...(number !== undefined ? { number } : {}), ...(code !== undefined ? { code } : {}) };
  }
}

// ---- passwords and connection strings ------------------------------------------------------------

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
/**
 * Symbols that need no quoting anywhere the password goes: no quote of any kind (T-SQL literals,
 * connection strings, shells), no `;` or `=` (connection string syntax), no braces (ODBC), no
 * backslash, no space.
 */
const SYMBOLS = "!#$%*+-.:?@^_~";

/**
 * A password of `length` characters (8 to 128) that Azure SQL Database's policy accepts: at least one
 * uppercase letter, lowercase letter, digit and symbol each (the policy asks for three of the four),
 * every character drawn with `random` (default node:crypto's randomInt) and the order shuffled. It
 * holds no quote, `;`, `=`, brace or space, so it goes into a T-SQL literal and a connection string
 * unquoted. A password of 8+ random characters is taken not to contain the login's name (the policy's
 * other rule): the caller gets SQL Server's 15118 in the rare case it does.
 */
export function sqlLoginPassword(length: number, random: (max: number) => number = randomInt): string {
  if (!Number.isInteger(length) || length < SQL_PASSWORD_MIN_LENGTH || length > SQL_PASSWORD_MAX_LENGTH) {
    throw new RangeError(`a SQL login password has ${SQL_PASSWORD_MIN_LENGTH} to ${SQL_PASSWORD_MAX_LENGTH} characters, not ${length}`);
  }
  const all = UPPER + LOWER + DIGITS + SYMBOLS;
  const pick = (from: string) => from[random(from.length)]!;
  const chars = [pick(UPPER), pick(LOWER), pick(DIGITS), pick(SYMBOLS)];
  while (chars.length < length) chars.push(pick(all));
  // Fisher–Yates, so the four guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join("");
}

export interface SqlConnectionStringOptions {
  /** `{server}.database.windows.net` (or the sovereign cloud's suffix). */
  readonly serverHost: string;
  readonly database: string;
  readonly login: string;
  readonly password: string;
}

/**
 * The ADO.NET connection string Azure's portal shows for SQL authentication, with each value quoted
 * as "Connection strings in ADO.NET" requires: a value holding `;`, a control character, leading or
 * trailing white space, or starting with a quote is enclosed in double quotes, a double quote inside
 * doubled. (Passwords from sqlLoginPassword never need it.)
 */
export function sqlConnectionString(options: SqlConnectionStringOptions): string {
  const pairs: [string, string][] = [
    ["Server", `tcp:${options.serverHost},${SQL_PORT}`],
    ["Initial Catalog", options.database],
    ["Persist Security Info", "False"],
    ["User ID", options.login],
    ["Password", options.password],
    ["MultipleActiveResultSets", "False"],
    ["Encrypt", "True"],
    ["TrustServerCertificate", "False"],
    ["Connection Timeout", "30"],
  ];
  return pairs.map(([k, v]) => `${k}=${connectionStringValue(v)};`).join("");
}

/** One value of an ADO.NET connection string, quoted when its syntax needs it. */
export function connectionStringValue(value: string): string {
  const needsQuotes = /[;\u0000-\u001f\u007f]/.test(value) || /^\s|\s$/.test(value) || /^["']/.test(value);
  return needsQuotes ? `"${value.replace(/"/g, '""')}"` : value;
}

/** `ALTER LOGIN [name] WITH PASSWORD = N'…'`: the name bracketed (`]` doubled), the password a Unicode literal (`'` doubled). */
export function alterLoginStatement(login: string, password: string): string {
  return `ALTER LOGIN [${login.replace(/]/g, "]]")}] WITH PASSWORD = N'${password.replace(/'/g, "''")}'`;
}

// ---- connecting ----------------------------------------------------------------------------------

interface OpenOptions {
  readonly server: string;
  readonly database: string;
  readonly authentication: ConnectionAuthentication;
  readonly timeoutMs: number;
}

/** A logged-in connection (closed on abort while it logs in); rejects with the driver's error, with SQL Server's login errors in `sqlErrors`. */
async function open(target: Target, options: OpenOptions): Promise<Connection> {
  const endpoint = sqlEndpoint(target, options.server);
  const signal = currentAbortSignal();
  signal?.throwIfAborted();
  const connection = new Connection({
    server: endpoint.host,
    authentication: options.authentication,
    options: {
      port: endpoint.port,
      database: options.database,
      encrypt: "strict",
      trustServerCertificate: false,
      connectTimeout: options.timeoutMs,
      requestTimeout: options.timeoutMs,
      ...(target.kind === "estate" ? { cryptoCredentialsDetails: { ca: target.ca } } : {}),
      appName: "switchyard",
      // The caller decides whether to try again (a rotation step is retried as a whole).
      maxRetriesOnTransientErrors: 0,
      rowCollectionOnRequestCompletion: false,
    },
  });
  const sqlErrors: { number: number; message: string }[] = [];
  connection.on("errorMessage", (m: { number: number; message: string }) => sqlErrors.push({ number: m.number, message: m.message }));
  connection.on("error", () => undefined); // a socket error after login fails the request in progress
  const abort = () => connection.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once("connect", (error) => (error ? reject(Object.assign(error, { sqlErrors })) : resolve()));
      connection.connect();
    });
    return connection;
  } catch (error) {
    connection.close();
    throw error;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/** What a driver error says, with every secret masked: its message, code and SQL Server's error number. */
function describeDriverError(error: unknown, secrets: readonly string[]): { message: string; code?: string; number?: number } {
  const e = (typeof error === "object" && error !== null ? error : {}) as { message?: unknown; code?: unknown; number?: unknown; errors?: unknown; sqlErrors?: unknown };
  // token-credential failures come as an AggregateError whose first error is the driver's.
  const first = Array.isArray(e.errors) && e.errors.length > 0 && typeof e.errors[0] === "object" && e.errors[0] !== null ? (e.errors[0] as typeof e) : e;
  const sqlErrors = Array.isArray(e.sqlErrors) ? (e.sqlErrors as { number: number; message: string }[]) : [];
  const raw = typeof first.message === "string" && first.message.length > 0 ? first.message : error instanceof Error ? error.name : "unknown error";
  const number = typeof first.number === "number" ? first.number : sqlErrors.at(-1)?.number;
  const code = typeof first.code === "string" ? first.code : undefined;
  return { message: mask(raw, secrets).slice(0, 300), ...(code !== undefined ? { code } : {}), ...(number !== undefined ? { number } : {}) };
}

function loginChangeError(error: unknown, where: { server: string; login: string }, secrets: readonly string[], during: "connect" | "statement"): SqlLoginError {
  if (error instanceof SqlLoginError) return error;
  const { message, code, number } = describeDriverError(error, secrets);
  const details = { ...where, ...(number !== undefined ? { sqlNumber: number } : {}), ...(code !== undefined ? { driverCode: code } : {}) };
  const subject = `changing the password of login '${where.login}' on SQL server '${where.server}'`;
  const said = number !== undefined ? `SQL error ${number}: ${message}` : message;
  if (number !== undefined && POLICY.has(number)) return new SqlLoginError(`${subject}: the new password fails Azure SQL's password policy (${said})`, "SqlPasswordPolicy", details, false);
  if (number === 15151) return new SqlLoginError(`${subject}: the login does not exist or may not be altered (${said})`, "SqlLoginNotAlterable", details, false);
  if (number === 5001) return new SqlLoginError(`${subject}: the statement did not run in master (${said})`, "SqlNotMaster", details, false);
  const unreachable = during === "connect" && (code === "ESOCKET" || code === "ETIMEOUT");
  if (unreachable || (number !== undefined && TRANSIENT.has(number)) || code === "ETIMEOUT") {
    return new SqlLoginError(`${subject}: ${during === "connect" ? "could not connect" : "the statement did not complete"} (${said})`, "SqlUnavailable", details, true);
  }
  return new SqlLoginError(`${subject}: ${during === "connect" ? "could not log in to master" : "the statement failed"} (${said})`, "SqlLoginChangeFailed", details, false);
}

/** A login name the statement can carry: 1 to 128 characters (sysname), no control characters. */
function checkLoginName(login: string, where: { server: string; login: string }): void {
  if (login.length === 0 || login.length > 128 || /[\u0000-\u001f]/.test(login)) {
    throw new SqlLoginError(`'${where.login.slice(0, 130)}' on SQL server '${where.server}' is not a SQL login name (1 to 128 characters, no control characters)`, "SqlLoginChangeFailed", where, false);
  }
}

/** The text with every occurrence of each (non-empty) secret replaced. */
function mask(text: string, secrets: readonly string[]): string {
  let masked = text;
  for (const secret of secrets) if (secret.length > 0) masked = masked.split(secret).join("***");
  return masked;
}
