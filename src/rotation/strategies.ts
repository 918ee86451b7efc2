/**
 * How each kind of plan secret makes, recognises and tests its credential. Values stay inside the
 * activity that holds them: these functions return them to their caller and never log, journal or
 * throw them.
 */
import { randomInt } from "node:crypto";
import type { ArmResourceId } from "../core/plan/armId.ts";
import type { ClientFactory } from "../azure/clients.ts";
import { changeSqlLoginPassword, sqlLoginPassword, trySqlLogin } from "../azure/sqlLogins.ts";
import { DEFAULT_SECRET_ALPHABET } from "../core/plan/schema.ts";
import type { Plan } from "../core/plan/index.ts";
import type { PlanSecret } from "../core/rotation/model.ts";

/** SQL login operations over TDS (src/azure/sqlLogins.ts in Azure and on the estate). */
export interface SqlLoginOps {
  /** ALTER LOGIN … WITH PASSWORD on `server`'s master, as Switchyard's Microsoft Entra identity. */
  change(server: ArmResourceId, login: string, password: string): Promise<void>;
  /** A SQL-authentication login with the password; never throws for a refused login. */
  test(server: ArmResourceId, login: string, password: string, database?: string): Promise<{ ok: true } | { ok: false; message: string }>;
  /** A password Azure SQL's policy accepts, of `length` characters. */
  password(length: number): string;
}

/** A random string of `length` characters of `alphabet` (uniform: crypto.randomInt has no modulo bias). */
export function randomSecret(length: number, alphabet: string = DEFAULT_SECRET_ALPHABET): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** What a secret's content type says in Key Vault (a hint for people; never a value). */
export function contentTypeOf(secret: PlanSecret): string {
  switch (secret.source.kind) {
    case "storageAccountKey":
      return "storage account access key";
    case "generated":
      return "generated secret";
    case "sqlLogin":
      return "SQL connection string";
  }
}

/**
 * The host an application connects to for a SQL login secret: the failover group's listener when the
 * plan has a group on the first server (the listener follows a failover), else the server itself.
 */
export function sqlHostOf(plan: Plan, secret: Extract<PlanSecret["source"], { kind: "sqlLogin" }>): string {
  const first = secret.servers[0]!;
  const group = plan.sql.find((g) => g.failoverGroup.id.toLowerCase().startsWith(`${first.id.toLowerCase()}/`) || g.partnerServer.id.toLowerCase() === first.id.toLowerCase());
  return `${(group ? group.failoverGroup.name : first.name).toLowerCase()}.database.windows.net`;
}

/** The login and password of a connection string this module wrote (undefined for anything else). */
export function loginOfConnectionString(value: string): { login: string; password: string } | undefined {
  const fields = new Map<string, string>();
  for (const part of value.split(";")) {
    const at = part.indexOf("=");
    if (at > 0) fields.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1));
  }
  const login = fields.get("user id") ?? fields.get("uid");
  const password = fields.get("password") ?? fields.get("pwd");
  return login !== undefined && password !== undefined ? { login: login.trim(), password } : undefined;
}

/** SQL login operations over TDS with the client factory's target and credential (Switchyard's identity). */
export function sqlLoginOps(clients: ClientFactory, timeoutMs = 15_000): SqlLoginOps {
  return {
    change: (server, login, password) => changeSqlLoginPassword(clients.target, clients.credential, { server: server.name, login, password, timeoutMs }),
    test: async (server, login, password, database) => {
      const result = await trySqlLogin(clients.target, { server: server.name, login, password, ...(database ? { database } : {}), timeoutMs });
      return result.ok ? { ok: true } : { ok: false, message: `${result.number !== undefined ? `error ${result.number}: ` : ""}${result.message}` };
    },
    password: (length) => sqlLoginPassword(length),
  };
}
