/**
 * SQL authentication logins of an Azure SQL logical server (kept in its `master`): how a password
 * is kept (a salted hash, never the password), Azure SQL Database's password policy, and the one
 * statement that changes a password, `ALTER LOGIN <name> WITH PASSWORD = '<password>' [OLD_PASSWORD
 * = '<old>']`, with SQL Server's errors for it. Nothing here puts a password, or the statement that
 * carries one, into an error message.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { SqlLogin } from "../state.ts";

/** SQL Server's error fields (number, state, class) and its message. */
export interface LoginError {
  readonly number: number;
  readonly state: number;
  readonly class: number;
  readonly message: string;
}

// ---- keeping a password --------------------------------------------------------------------------

/**
 * SQL Server keeps a login's password as SHA-512 of the password (UTF-16LE) and a salt ("CREATE
 * LOGIN": "the stored password information is calculated using SHA-512 of the salted password").
 * The estate does the same with a 16-byte salt.
 */
export function hashLoginPassword(password: string, salt: Buffer = randomBytes(16)): { salt: string; hash: string } {
  return { salt: salt.toString("base64"), hash: digest(password, salt).toString("base64") };
}

/** Whether `password` is the one whose hash a login keeps (compared in constant time). */
export function loginPasswordMatches(login: Pick<SqlLogin, "passwordHash">, password: string): boolean {
  const expected = Buffer.from(login.passwordHash.hash, "base64");
  const actual = digest(password, Buffer.from(login.passwordHash.salt, "base64"));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function digest(password: string, salt: Buffer): Buffer {
  return createHash("sha512").update(salt).update(Buffer.from(password, "utf16le")).digest();
}

// ---- the password policy -------------------------------------------------------------------------

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 128;

/**
 * Azure SQL Database enforces password complexity ("Password policy", SQL Server docs: the password
 * does not contain the account name, is at least eight characters long, up to 128, and has characters
 * from three of four categories: Latin uppercase, Latin lowercase, base 10 digits, non-alphanumeric).
 * Undefined when the password meets it; otherwise SQL Server's error for the breach: 15116 too short,
 * 15117 too long, 15118 not complex enough (a missing category or the login's name inside it). The
 * wording is Azure's ("does not meet policy requirements", as Azure SQL answers; the SQL Server error
 * table's says "Windows policy requirements").
 */
export function passwordPolicyError(login: string, password: string): LoginError | undefined {
  const fail = (number: number, why: string): LoginError => ({
    number,
    state: 1,
    class: 16,
    message: `Password validation failed. The password does not meet policy requirements because it ${why}.`,
  });
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return fail(15116, "is too short");
  if (length > MAX_PASSWORD_LENGTH) return fail(15117, "is too long");
  const categories = [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((c) => c.test(password)).length;
  // Windows' complexity rule (which SQL Server's follows) skips the account-name check for names shorter than three characters.
  const containsName = login.length >= 3 && password.toLowerCase().includes(login.toLowerCase());
  if (categories < 3 || containsName) return fail(15118, "is not complex enough");
  return undefined;
}

// ---- ALTER LOGIN ---------------------------------------------------------------------------------

export interface AlterLoginPassword {
  readonly login: string;
  readonly password: string;
  readonly oldPassword?: string;
}

type Token =
  | { readonly kind: "word"; readonly text: string }
  | { readonly kind: "name"; readonly text: string }
  | { readonly kind: "string"; readonly text: string }
  | { readonly kind: "symbol"; readonly text: string };

/**
 * Reads `ALTER LOGIN <name> WITH PASSWORD = [N]'<password>' [OLD_PASSWORD = [N]'<old>']` (the
 * statement Azure SQL Database documents for a password change; a name as a regular identifier, in
 * brackets or in double quotes; `''` for a quote inside a literal; an optional trailing semicolon).
 * Undefined for anything else, including other ALTER LOGIN forms (ENABLE, DISABLE, NAME = …, HASHED).
 */
export function parseAlterLoginPassword(statement: string): AlterLoginPassword | undefined {
  const tokens = tokenize(statement);
  if (!tokens) return undefined;
  if (tokens.at(-1)?.kind === "symbol" && tokens.at(-1)?.text === ";") tokens.pop();
  let at = 0;
  const word = (w: string) => {
    const t = tokens[at];
    if (t?.kind !== "word" || t.text.toUpperCase() !== w) return false;
    at += 1;
    return true;
  };
  const symbol = (s: string) => {
    const t = tokens[at];
    if (t?.kind !== "symbol" || t.text !== s) return false;
    at += 1;
    return true;
  };
  const literal = (): string | undefined => {
    const t = tokens[at];
    if (t?.kind !== "string") return undefined;
    at += 1;
    return t.text;
  };
  if (!word("ALTER") || !word("LOGIN")) return undefined;
  const nameToken = tokens[at];
  if (nameToken?.kind !== "word" && nameToken?.kind !== "name") return undefined;
  at += 1;
  const login = nameToken.text;
  if (!word("WITH") || !word("PASSWORD") || !symbol("=")) return undefined;
  const password = literal();
  if (password === undefined) return undefined;
  let oldPassword: string | undefined;
  if (word("OLD_PASSWORD")) {
    if (!symbol("=")) return undefined;
    oldPassword = literal();
    if (oldPassword === undefined) return undefined;
  }
  if (at !== tokens.length) return undefined;
  return { login, password, ...(oldPassword !== undefined ? { oldPassword } : {}) };
}

/** The statement's tokens, or undefined when it holds anything this reader does not know (an unterminated literal, a comment, …). */
function tokenize(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const c = text[at]!;
    if (/\s/.test(c)) {
      at += 1;
      continue;
    }
    if (c === "=" || c === ";") {
      tokens.push({ kind: "symbol", text: c });
      at += 1;
      continue;
    }
    // A string literal, optionally prefixed N (Unicode): '' stands for one quote.
    if (c === "'" || ((c === "N" || c === "n") && text[at + 1] === "'")) {
      const read = delimited(text, c === "'" ? at : at + 1, "'");
      if (!read) return undefined;
      tokens.push({ kind: "string", text: read.value });
      at = read.end;
      continue;
    }
    // A delimited identifier: [name] or "name" (QUOTED_IDENTIFIER is on for drivers).
    if (c === "[" || c === '"') {
      const read = delimited(text, at, c === "[" ? "]" : '"');
      if (!read || read.value.length === 0 || read.value.length > 128) return undefined;
      tokens.push({ kind: "name", text: read.value });
      at = read.end;
      continue;
    }
    const word = /^[A-Za-z_@#][\w@#$]{0,127}/.exec(text.slice(at, at + 129));
    if (!word) return undefined;
    // A regular identifier is followed by a space, a symbol or the end (never glued to another token).
    const next = text[at + word[0].length];
    if (next !== undefined && !/[\s=;'"[]/.test(next)) return undefined;
    tokens.push({ kind: "word", text: word[0] });
    at += word[0].length;
  }
  return tokens;
}

/** A value between `text[start]` and its closing `close`, where a doubled `close` stands for one. */
function delimited(text: string, start: number, close: string): { value: string; end: number } | undefined {
  let value = "";
  let at = start + 1;
  while (at < text.length) {
    const c = text[at]!;
    if (c === close) {
      if (text[at + 1] === close) {
        value += close;
        at += 2;
        continue;
      }
      return { value, end: at + 1 };
    }
    value += c;
    at += 1;
  }
  return undefined;
}

/** Who runs a statement: a Microsoft Entra session (the server's Entra admin, here) or a SQL login. */
export type Principal = { readonly kind: "entra" } | { readonly kind: "sql"; readonly login: string };

/** What ALTER LOGIN needs of the server it runs on. */
export interface LoginStore {
  /** The login by name (compared case-insensitively, as the server's collation does). */
  find(name: string): SqlLogin | undefined;
  /** Sets a login's password (kept as a salted hash). */
  setPassword(login: SqlLogin, password: string): void;
}

/**
 * Runs a password change as Azure SQL Database does, in this order:
 * - only in master: elsewhere 5001 "User must be in the master database." (what Azure SQL answers
 *   for login statements in a user database; its state for ALTER LOGIN is assumed);
 * - the login must exist and the caller may alter it, else 15151 "Cannot alter the login '<name>',
 *   because it does not exist or you do not have permission." A login without ALTER ANY LOGIN may
 *   change its own password only by giving OLD_PASSWORD; an OLD_PASSWORD that is not the current
 *   password is refused the same way (assumed also for the admin, who need not give one);
 * - the new password must meet the policy (passwordPolicyError).
 * Sessions already logged in are not affected: a connection keeps the identity it authenticated
 * with ("ALTER LOGIN": a password reset takes effect at the next login).
 */
export function alterLoginPassword(change: AlterLoginPassword, ctx: { readonly database: string; readonly principal: Principal; readonly logins: LoginStore }): LoginError | undefined {
  if (ctx.database.toLowerCase() !== "master") return { number: 5001, state: 2, class: 16, message: "User must be in the master database." };
  const cannotAlter: LoginError = {
    number: 15151,
    state: 1,
    class: 16,
    message: `Cannot alter the login '${change.login.slice(0, 128)}', because it does not exist or you do not have permission.`,
  };
  const login = ctx.logins.find(change.login);
  if (!login) return cannotAlter;
  if (ctx.principal.kind === "sql") {
    const self = ctx.principal.login.toLowerCase() === login.name.toLowerCase();
    if (!self || change.oldPassword === undefined) return cannotAlter;
  }
  if (change.oldPassword !== undefined && !loginPasswordMatches(login, change.oldPassword)) return cannotAlter;
  const policy = passwordPolicyError(login.name, change.password);
  if (policy) return policy;
  ctx.logins.setPassword(login, change.password);
  return undefined;
}

// ---- LOGIN7 --------------------------------------------------------------------------------------

/**
 * A LOGIN7 password as sent (MS-TDS 2.2.6.4): the client swaps the high and low four bits of every
 * byte of the UTF-16LE password, then XORs it with 0xA5. This undoes both.
 */
export function revealLogin7Password(scrambled: Buffer): string {
  const bytes = Buffer.alloc(scrambled.length);
  for (let i = 0; i < scrambled.length; i++) {
    const x = scrambled[i]! ^ 0xa5;
    bytes[i] = ((x & 0x0f) << 4) | (x >> 4);
  }
  return bytes.toString("utf16le");
}
