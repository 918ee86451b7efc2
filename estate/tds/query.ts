/**
 * The statements the estate's SQL servers answer: `SELECT <columns | *> FROM
 * sys.dm_geo_replication_link_status`, computed from the estate's failover groups; `SELECT 1` (a
 * driver's connection test); `ALTER LOGIN <name> WITH PASSWORD = '…'` (estate/tds/logins.ts); the SET
 * statements drivers send after login; and SQL Server's own errors for everything else. No error
 * quotes more of a statement than its first keyword, an object or column name, or a login name.
 */
import { key, type EstateState, type FailoverGroup, type SqlServer } from "../state.ts";
import { alterLoginPassword, parseAlterLoginPassword, type Principal } from "./logins.ts";
import type { Column, Value } from "./tokens.ts";

/** SQL Server's error fields (number, state, class) and its message. */
export interface SqlError {
  readonly number: number;
  readonly state: number;
  readonly class: number;
  readonly message: string;
}

export type Outcome =
  | { readonly kind: "rows"; readonly columns: readonly Column[]; readonly rows: readonly (readonly Value[])[] }
  /** `changed`: the statement changed the estate (it is then saved). */
  | { readonly kind: "done"; readonly changed?: boolean }
  | { readonly kind: "error"; readonly error: SqlError };

/** sys.dm_geo_replication_link_status as Azure documents it (column names, types). */
const VIEW_COLUMNS: readonly Column[] = [
  { name: "link_guid", type: "uniqueidentifier", nullable: false },
  { name: "partner_server", type: "sysname", nullable: false },
  { name: "partner_database", type: "sysname", nullable: false },
  { name: "last_replication", type: "datetimeoffset", nullable: true },
  { name: "replication_lag_sec", type: "int", nullable: true },
  { name: "replication_state", type: "tinyint", nullable: true },
  { name: "replication_state_desc", type: "nvarchar(256)", nullable: true },
  { name: "role", type: "tinyint", nullable: true },
  { name: "role_desc", type: "nvarchar(256)", nullable: true },
  { name: "secondary_allow_connections", type: "tinyint", nullable: true },
  { name: "secondary_allow_connections_desc", type: "nvarchar(256)", nullable: true },
  { name: "last_commit", type: "datetimeoffset", nullable: true },
];

const VIEW = ["sys", "dm_geo_replication_link_status"] as const;

/** The context a statement runs in. */
export interface QueryContext {
  readonly state: EstateState;
  readonly server: SqlServer;
  /** The connected database as stored ("master" or a failover group member). */
  readonly database: string;
  /** The estate's clock (ms), read once for the statement. */
  readonly now: number;
  /** Who runs it (a Microsoft Entra session or a SQL login). */
  readonly principal: Principal;
}

/** Runs a batch (or sp_executesql's statement). */
export function runStatement(text: string, ctx: QueryContext): Outcome {
  const statement = text.trim().replace(/;\s*$/, "").trim();
  if (statement === "") return { kind: "done" };
  // Drivers set session options after login (tedious: one SET per line); they are accepted and not kept.
  const parts = statement.split(/[;\r\n]+/).map((s) => s.trim()).filter((s) => s !== "");
  if (parts.every((s) => /^set\s+\w+/i.test(s))) return { kind: "done" };
  if (/^select\s+1$/i.test(statement)) return { kind: "rows", columns: [{ name: "", type: "int", nullable: false }], rows: [[1]] };
  if (/^alter\s+login\b/i.test(statement)) return alterLogin(text.trim(), ctx);
  const select = /^select\s+([\s\S]+?)\s+from\s+(\S+)$/i.exec(statement);
  if (!select) return { kind: "error", error: unsupported(statement) };
  const objectName = select[2]!;
  const parts2 = nameParts(objectName);
  if (!parts2) return { kind: "error", error: unsupported(statement) };
  const isView = parts2.length === 2 && parts2.every((p, i) => p.toLowerCase() === VIEW[i]);
  if (!isView) return { kind: "error", error: invalidObject(parts2.join(".")) };
  const columns = selectList(select[1]!);
  if (columns === undefined) return { kind: "error", error: unsupported(statement) };
  const chosen: { column: Column; index: number }[] = [];
  for (const name of columns === "*" ? VIEW_COLUMNS.map((c) => c.name) : columns) {
    const index = VIEW_COLUMNS.findIndex((c) => c.name === name.toLowerCase());
    if (index < 0) return { kind: "error", error: { number: 207, state: 1, class: 16, message: `Invalid column name '${name}'.` } };
    // The result names a column as the statement wrote it.
    chosen.push({ column: { ...VIEW_COLUMNS[index]!, name }, index });
  }
  const rows = linkRows(ctx).map((row) => chosen.map(({ index }) => row[index] ?? null));
  return { kind: "rows", columns: chosen.map((c) => c.column), rows };
}

/** ALTER LOGIN … WITH PASSWORD: its outcome; any other ALTER LOGIN form is not run here (40510). */
function alterLogin(statement: string, ctx: QueryContext): Outcome {
  const change = parseAlterLoginPassword(statement);
  if (!change) return { kind: "error", error: unsupported(statement) };
  const logins = {
    find: (name: string) => ctx.state.sqlLogin(ctx.server.id, name),
    setPassword: (login: Parameters<EstateState["setSqlLoginPassword"]>[0], password: string) => ctx.state.setSqlLoginPassword(login, password),
  };
  const error = alterLoginPassword(change, { database: ctx.database, principal: ctx.principal, logins });
  return error ? { kind: "error", error } : { kind: "done", changed: true };
}

/**
 * Azure SQL Database's error 40510 for a statement this server does not run, naming its first
 * keyword only (a statement may carry a password): one that starts with no keyword is named ''.
 */
function unsupported(statement: string): SqlError {
  const keyword = (/^[A-Za-z_]+/.exec(statement)?.[0] ?? "").toUpperCase();
  return { number: 40510, state: 1, class: 16, message: `Statement '${keyword}' is not supported in this version of SQL Server` };
}

const invalidObject = (name: string): SqlError => ({ number: 208, state: 1, class: 16, message: `Invalid object name '${name}'.` });

/** The parts of a (possibly bracketed) multi-part name, or undefined when it is not one. */
function nameParts(name: string): string[] | undefined {
  const part = String.raw`(?:\[[^\]]{1,128}\]|[A-Za-z_#@][\w#@$]{0,127})`;
  if (!new RegExp(`^${part}(?:\\.${part})*$`).test(name)) return undefined;
  return [...name.matchAll(new RegExp(part, "g"))].map((m) => m[0].replace(/^\[|\]$/g, ""));
}

/** `*`, or the column names of a comma-separated list of (possibly bracketed) identifiers. */
function selectList(list: string): "*" | string[] | undefined {
  if (list.trim() === "*") return "*";
  const names: string[] = [];
  for (const item of list.split(",")) {
    const m = /^\s*(?:\[([^\]]{1,128})\]|([A-Za-z_][\w$#@]{0,127}))\s*$/.exec(item);
    if (!m) return undefined;
    names.push(m[1] ?? m[2]!);
  }
  return names;
}

// ---- the view's rows ----------------------------------------------------------------------------

const STATE_CATCH_UP = 2;
const STATE_SUSPENDED = 4;
/** Geo-secondaries are readable: secondary_allow_connections 2 (ALL). */
const ALLOW_ALL = 2;

/**
 * One row per replication link of the connected database: each failover group on this server that
 * holds it. Azure's definitions: last_replication is when the primary last received the secondary's
 * acknowledgement of a hardened log block (log blocks are sent continuously: now, on a working link),
 * replication_lag_sec is how long before that the acknowledged transaction committed (the group's lag),
 * and last_commit is the database's last commit (now, on a primary that takes writes; on the secondary,
 * the last transaction it has). The first two are NULL on the secondary (available on the primary only).
 * While the partner's region is down, replication has stopped: the link is SUSPENDED, last_replication
 * stays at the moment that region went down while the primary goes on committing, so
 * last_commit − (last_replication − replication_lag_sec) — the writes not yet on the secondary — grows.
 * In master the view is empty, as in Azure.
 */
function linkRows(ctx: QueryContext): Value[][] {
  if (ctx.database.toLowerCase() === "master") return [];
  const rows: Value[][] = [];
  for (const g of ctx.state.failoverGroups) {
    const primary = key(g.primaryServerId) === key(ctx.server.id);
    if (!primary && key(g.secondaryServerId) !== key(ctx.server.id)) continue;
    const db = g.databases.find((d) => d.toLowerCase() === ctx.database.toLowerCase());
    if (db === undefined) continue;
    const partner = ctx.state.sqlServer(primary ? g.secondaryServerId : g.primaryServerId);
    if (!partner) continue;
    rows.push(linkRow(ctx, g, db, partner, primary));
  }
  return rows;
}

function linkRow(ctx: QueryContext, g: FailoverGroup, db: string, partner: SqlServer, primary: boolean): Value[] {
  const partnerRegion = ctx.state.regions.get(partner.location);
  const suspended = ctx.state.isDown(partner.location) || ctx.state.isDown(ctx.server.location);
  const replicatedUntil = partnerRegion?.down && partnerRegion.downSince !== undefined ? Math.min(ctx.now, partnerRegion.downSince) : ctx.now;
  const lastReplicated = replicatedUntil - g.lagSeconds * 1000;
  return [
    g.linkIds[db.toLowerCase()] ?? null,
    partner.name,
    db,
    primary ? replicatedUntil : null,
    primary ? Math.round(g.lagSeconds) : null,
    suspended ? STATE_SUSPENDED : STATE_CATCH_UP,
    suspended ? "SUSPENDED" : "CATCH_UP",
    primary ? 0 : 1,
    primary ? "PRIMARY" : "SECONDARY",
    ALLOW_ALL,
    "ALL",
    primary ? ctx.now : lastReplicated,
  ];
}

/** The database of this server a login names (as stored), "master" for none, or undefined when it has no such database. */
export function findDatabase(state: EstateState, server: SqlServer, requested: string): string | undefined {
  const name = requested === "" ? "master" : requested;
  if (name.toLowerCase() === "master") return "master";
  for (const g of state.failoverGroups) {
    if (key(g.primaryServerId) !== key(server.id) && key(g.secondaryServerId) !== key(server.id)) continue;
    const db = g.databases.find((d) => d.toLowerCase() === name.toLowerCase());
    if (db !== undefined) return db;
  }
  return undefined;
}
