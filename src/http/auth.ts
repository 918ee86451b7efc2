import { ApiError } from "./errors.ts";

export const OPERATOR_ROLE = "Switchyard.Operator";

export interface Caller {
  /** Who, for the journal: the signed-in principal's name, or the function key's holder. */
  readonly name: string;
  readonly roles: readonly string[];
  readonly authenticated: boolean;
}

interface ClientPrincipal {
  auth_typ?: string;
  name_typ?: string;
  role_typ?: string;
  claims?: { typ: string; val: string }[];
}

const NAME_CLAIMS = ["name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "upn", "email"];
const ROLE_CLAIMS = ["roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"];

/**
 * The caller, from App Service authentication's `x-ms-client-principal` header (base64 JSON with the
 * token's claims). Without App Service authentication, requests carry only the function key.
 */
export function callerOf(headers: { get(name: string): string | null }): Caller {
  const header = headers.get("x-ms-client-principal");
  if (!header) return { name: "function-key caller", roles: [], authenticated: false };
  let principal: ClientPrincipal;
  try {
    principal = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as ClientPrincipal;
  } catch {
    throw new ApiError(401, "InvalidClientPrincipal", "the x-ms-client-principal header is not valid");
  }
  const claims = Array.isArray(principal.claims) ? principal.claims.filter((c) => typeof c?.typ === "string" && typeof c?.val === "string") : [];
  const nameTypes = [principal.name_typ, ...NAME_CLAIMS].filter((t): t is string => !!t);
  const roleTypes = [principal.role_typ, ...ROLE_CLAIMS].filter((t): t is string => !!t);
  const name = nameTypes.map((t) => claims.find((c) => c.typ === t)?.val).find((v) => v) ?? headers.get("x-ms-client-principal-name") ?? "signed-in caller";
  return { name, roles: claims.filter((c) => roleTypes.includes(c.typ)).map((c) => c.val), authenticated: true };
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
