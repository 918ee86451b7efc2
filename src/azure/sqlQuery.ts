/**
 * Read-only T-SQL against an Azure SQL database over TDS, with the real `tedious` driver: TDS 8.0
 * strict encryption (TLS from the first byte, ALPN `tds/8.0`, the server's certificate checked) and a
 * Microsoft Entra token from the client factory's credential (`token-credential`: the driver asks the
 * credential for the scope the server names, `https://database.windows.net/.default` in the public
 * cloud). One connection per query, closed when it ends: the lag measurement asks each database once
 * a minute, and a pooled connection to a primary that went away is worth nothing in an outage.
 *
 * In Azure a server is `{name}.{sqlSuffix}:1433`; on the local estate the target's `sqlHosts` map that
 * host name to the estate's listener for the server, whose certificate the target's CA vouches for.
 */
import { Connection, Request } from "tedious";
import type { TokenCredential } from "@azure/core-auth";
import type { Target } from "./clients.ts";
import { CLOUDS } from "./clouds.ts";
import { currentAbortSignal } from "./budget.ts";
import { traceSql } from "../telemetry/azureCalls.ts";

export interface SqlQueryOptions {
  /** The logical server's name (not its host name). */
  readonly server: string;
  readonly database: string;
  /** A read-only statement. */
  readonly statement: string;
  /** TCP + TLS + login (ms). */
  readonly connectTimeoutMs: number;
  /** The statement itself (ms). */
  readonly requestTimeoutMs: number;
}

/** One row: column name (lower-case) → value as the driver decodes it (Date, number, string, null). */
export type SqlRow = Record<string, unknown>;

/** A connection or statement that failed: the driver's code (ESOCKET, ELOGIN, ETIMEOUT, EREQUEST) and SQL Server's error number. */
export class SqlQueryError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly number: number | undefined,
    /** No connection could be made at all (refused, reset, timed out before a login): the server, not the database. */
    readonly serverSilent = false,
  ) {
    super(message);
    this.name = "SqlQueryError";
  }
}

/** Host and port of a server: Azure's DNS name on 1433, or the estate's listener for it. */
export function sqlEndpoint(target: Target, server: string): { host: string; port: number; serverName: string } {
  const cloud = CLOUDS[target.kind === "azure" ? target.cloud : "AzurePublicCloud"];
  const hostName = `${server.toLowerCase()}.${cloud.sqlSuffix}`;
  if (target.kind === "azure") return { host: hostName, port: 1433, serverName: hostName };
  const mapped = target.sqlHosts?.[hostName];
  if (!mapped) throw new SqlQueryError(`the local estate serves no SQL server host '${hostName}'`, "ESOCKET", undefined);
  const at = mapped.lastIndexOf(":");
  return { host: mapped.slice(0, at), port: Number(mapped.slice(at + 1)), serverName: hostName };
}

/** Runs `statement` on `database` and returns its rows. Rejects with a SqlQueryError. */
export async function querySql(target: Target, credential: TokenCredential, options: SqlQueryOptions): Promise<SqlRow[]> {
  const endpoint = sqlEndpoint(target, options.server);
  // A client span per connection and statement (the server and database; never the statement).
  return traceSql({ server: endpoint.serverName, database: options.database }, () => query(target, credential, endpoint, options));
}

async function query(target: Target, credential: TokenCredential, endpoint: ReturnType<typeof sqlEndpoint>, options: SqlQueryOptions): Promise<SqlRow[]> {
  const signal = currentAbortSignal();
  signal?.throwIfAborted();
  const connection = new Connection({
    server: endpoint.host,
    authentication: { type: "token-credential", options: { credential } },
    options: {
      port: endpoint.port,
      database: options.database,
      encrypt: "strict",
      trustServerCertificate: false,
      connectTimeout: options.connectTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      // The estate's listener is addressed by IP; its certificate names 127.0.0.1 (Azure's: the host name).
      ...(target.kind === "estate" ? { cryptoCredentialsDetails: { ca: target.ca } } : {}),
      appName: "switchyard",
      // The driver would retry a login Azure refuses as transient (40613, 40501, ...) three times, each
      // with a fresh connect timeout: the caller decides instead (the next round, or the stored sample).
      maxRetriesOnTransientErrors: 0,
      rowCollectionOnRequestCompletion: false,
    },
  });
  const abort = () => connection.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once("connect", (error) => (error ? reject(asQueryError(error, "connect")) : resolve()));
      connection.on("error", () => undefined); // a later socket error ends the query below
      connection.connect();
    });
    return await new Promise<SqlRow[]>((resolve, reject) => {
      const rows: SqlRow[] = [];
      const request = new Request(options.statement, (error) => (error ? reject(asQueryError(error, "query")) : resolve(rows)));
      request.on("row", (columns: { value: unknown; metadata: { colName: string } }[]) => {
        const row: SqlRow = {};
        for (const c of columns) row[c.metadata.colName.toLowerCase()] = c.value;
        rows.push(row);
      });
      connection.execSql(request);
    });
  } finally {
    signal?.removeEventListener("abort", abort);
    connection.close();
  }
}

function asQueryError(error: unknown, during: "connect" | "query"): SqlQueryError {
  const e = error as { message?: unknown; code?: unknown; number?: unknown; errors?: unknown };
  // token-credential failures come as an AggregateError whose first error is the driver's.
  const first = Array.isArray(e.errors) && e.errors.length > 0 ? (e.errors[0] as typeof e) : e;
  const message = typeof first.message === "string" && first.message.length > 0 ? first.message : String(error);
  const code = typeof first.code === "string" ? first.code : undefined;
  const silent = during === "connect" && (code === "ESOCKET" || code === "ETIMEOUT");
  return new SqlQueryError(`${during === "connect" ? "could not connect" : "the statement failed"}: ${message.slice(0, 300)}`, code, typeof first.number === "number" ? first.number : undefined, silent);
}
