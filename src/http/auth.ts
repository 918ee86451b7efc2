import { z } from "zod";
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

/**
 * The caller, from App Service authentication's `x-ms-client-principal` header (base64 JSON with the
 * token's claims). Without App Service authentication, requests carry only the function key.
 */
export function callerOf(headers: { get(name: string): string | null }): Caller {
  const header = headers.get("x-ms-client-principal");
  if (!header) return { name: "function-key caller", roles: [], authenticated: false };
  const principal = principalOf(header.trim());
  if (!principal) throw new ApiError(401, "InvalidClientPrincipal", "the x-ms-client-principal header is not valid");
  const claims = principal.claims ?? [];
  const nameTypes = [principal.name_typ, ...NAME_CLAIMS].filter((t): t is string => !!t);
  const roleTypes = [principal.role_typ, ...ROLE_CLAIMS].filter((t): t is string => !!t);
  const name = nameTypes.map((t) => claims.find((c) => c.typ === t)?.val).find((v) => v) ?? headers.get("x-ms-client-principal-name") ?? "signed-in caller";
  return { name, roles: claims.filter((c) => roleTypes.includes(c.typ)).map((c) => c.val), authenticated: true };
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
 * When App Service authentication is on, override routes need the Switchyard.Operator app role: 401
 * without a principal, 403 without the role. (The function key is checked by the Functions host.)
 */
export function requireOperator(caller: Caller, appServiceAuthOn: boolean): void {
  if (!appServiceAuthOn) return;
  if (!caller.authenticated) throw new ApiError(401, "Unauthenticated", "sign in: App Service authentication is on for this app");
  if (!caller.roles.includes(OPERATOR_ROLE)) throw new ApiError(403, "Forbidden", `the ${OPERATOR_ROLE} app role is required`);
}
