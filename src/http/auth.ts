import { z } from "zod";
import { redactText } from "../core/secrets.ts";
import { ApiError } from "./errors.ts";

export const OPERATOR_ROLE = "Switchyard.Operator";

export interface Caller {
  /** Who, for the journal: the signed-in principal's name, or the function key's holder. */
  readonly name: string;
  readonly roles: readonly string[];
  readonly authenticated: boolean;
}

/**
 * Longest `x-ms-client-principal` header read. Easy Auth's are a few KiB (the token's claims, base64);
 * where the app is reachable without Easy Auth the header is whatever the caller sends.
 */
export const MAX_CLIENT_PRINCIPAL_LENGTH = 64 * 1024;

/** Most claims read from one principal: Entra puts at most 200 groups in a token (more become an overage claim). */
export const MAX_CLIENT_PRINCIPAL_CLAIMS = 1000;

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The principal as Easy Auth writes it; fields it may add later are ignored. */
const clientPrincipal = z.object({
  auth_typ: z.string().nullish(),
  name_typ: z.string().nullish(),
  role_typ: z.string().nullish(),
  claims: z.array(z.object({ typ: z.string(), val: z.string() })).max(MAX_CLIENT_PRINCIPAL_CLAIMS).nullish(),
});
type ClientPrincipal = z.infer<typeof clientPrincipal>;

const NAME_CLAIMS = ["name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "upn", "email"];
const ROLE_CLAIMS = ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];

/** Longest caller name recorded; a longer one is cut (a name is for the journal, not an identity). */
export const MAX_CALLER_NAME_LENGTH = 256;

/** Who a request without a principal is: it passed the Functions host's function key check. */
export const FUNCTION_KEY_CALLER: Caller = { name: "function-key caller", roles: [], authenticated: false };

/**
 * The caller of a request.
 *
 * With App Service authentication on (`appServiceAuthOn`, WEBSITE_AUTH_ENABLED), the caller is the
 * principal in its `x-ms-client-principal` header (base64 JSON with the token's claims): App Service
 * strips the `x-ms-client-principal*` headers a client sends and sets them from the token it
 * validated. A malformed principal is 401. `x-ms-client-principal-name` names the caller only beside a
 * valid principal without a name claim, never on its own.
 *
 * Without App Service authentication nothing strips those headers: anyone can send them, so they are
 * not read, and the caller is the function key's holder, whatever the headers say.
 *
 * The name is untrusted text: it is redacted (redactText) and cut, never a reason to refuse.
 */
export function callerOf(headers: { get(name: string): string | null }, appServiceAuthOn: boolean): Caller {
  if (!appServiceAuthOn) return FUNCTION_KEY_CALLER;
  const header = headers.get("x-ms-client-principal");
  if (header === null || header.trim() === "") return FUNCTION_KEY_CALLER;
  const principal = principalOf(header.trim());
  if (!principal) throw new ApiError(401, "InvalidClientPrincipal", "the x-ms-client-principal header is not valid");
  const claims = principal.claims ?? [];
  const nameTypes = [principal.name_typ, ...NAME_CLAIMS].filter((t): t is string => !!t);
  const roleTypes = [principal.role_typ, ...ROLE_CLAIMS].filter((t): t is string => !!t);
  const name = nameTypes.map((t) => claims.find((c) => c.typ === t)?.val).find((v) => v?.trim()) ?? headers.get("x-ms-client-principal-name") ?? "";
  return { name: recordableName(name) || "signed-in caller", roles: claims.filter((c) => roleTypes.includes(c.typ)).map((c) => c.val), authenticated: true };
}

/** A caller's name as it may be recorded: secret-looking parts redacted, control characters dropped, cut to MAX_CALLER_NAME_LENGTH. */
function recordableName(name: string): string {
  const text = redactText(name.replace(/[\u0000-\u001f\u007f]/g, " ").trim());
  return text.length > MAX_CALLER_NAME_LENGTH ? `${text.slice(0, MAX_CALLER_NAME_LENGTH - 1)}…` : text;
}

/**
 * The `x-ms-client-principal*` headers App Service authentication sets for a validated token's claims
 * (the local stand-in of `switchyard serve --auth` builds them with this): every claim as `{typ, val}`
 * (one per item of a list), `name` and `roles` as the name and role claim types.
 */
export function principalHeaders(claims: Record<string, unknown>): Record<string, string> {
  const list: { typ: string; val: string }[] = [];
  for (const [typ, value] of Object.entries(claims)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item === "string" || typeof item === "number" || typeof item === "boolean") list.push({ typ, val: String(item) });
    }
  }
  const principal = { auth_typ: "aad", name_typ: "name", role_typ: "roles", claims: list.slice(0, MAX_CLIENT_PRINCIPAL_CLAIMS) };
  const name = NAME_CLAIMS.map((t) => claims[t]).find((v): v is string => typeof v === "string" && v.length > 0);
  const id = [claims.oid, claims.sub].find((v): v is string => typeof v === "string");
  return {
    "x-ms-client-principal": Buffer.from(JSON.stringify(principal)).toString("base64"),
    "x-ms-client-principal-idp": "aad",
    ...(name ? { "x-ms-client-principal-name": name } : {}),
    ...(id ? { "x-ms-client-principal-id": id } : {}),
  };
}

/** Whether a header is one App Service authentication owns: stripped from a client's request, set from the token it validated. */
export function isEasyAuthHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith("x-ms-client-principal") || lower.startsWith("x-ms-token-");
}

/**
 * The principal a header carries, or undefined when it is not one: too long, not base64, not JSON, or
 * JSON of another shape. Any of these is refused whole rather than read in part: nobody but Easy Auth
 * writes a valid one.
 */
function principalOf(header: string): ClientPrincipal | undefined {
  if (header.length > MAX_CLIENT_PRINCIPAL_LENGTH || !BASE64.test(header)) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(header, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
  const result = clientPrincipal.safeParse(document);
  return result.success ? result.data : undefined;
}

/**
 * The caller a validated Entra token names (the app checked its signature, issuer, audience, lifetime
 * and role itself): its name claim (redacted, cut) and its `roles`.
 */
export function callerOfClaims(claims: Record<string, unknown>): Caller {
  const name = NAME_CLAIMS.map((t) => claims[t]).find((v): v is string => typeof v === "string" && v.trim() !== "") ?? "";
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
  return { name: recordableName(name) || "signed-in caller", roles, authenticated: true };
}

/**
 * When App Service authentication is on, override routes need the Switchyard.Operator app role: 401
 * without a principal, 403 without the role. (The function key is checked by the Functions host.)
 */
export function requireOperator(caller: Caller, appServiceAuthOn: boolean): void {
  if (!appServiceAuthOn) return;
  if (!caller.authenticated) throw new ApiError(401, "Unauthenticated", "sign in: App Service authentication is on for this app");
  if (!caller.roles.includes(OPERATOR_ROLE)) throw new ApiError(403, "Forbidden", `the ${OPERATOR_ROLE} app role is required`);
}
