/**
 * App Service authentication's part, for `switchyard serve --auth`: a signing key made when serve
 * starts (kept in memory, never written or printed), tokens signed with it, and the validators that
 * take them, built with the same check the secure webhook uses in Azure (createEntraTokenValidator)
 * over this key instead of the tenant's JWKS.
 *
 * - `authenticate` is what App Service authentication does in front of the app: a token of this issuer
 *   and audience, from an allowed client application, becomes the request's principal (serveHttp).
 * - `validateAlertToken` is the secure webhook's own check on the alert route: the token must carry the
 *   ActionGroupsSecureWebhook app role, as Azure Monitor's documented setup assigns it.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { ACTION_GROUPS_APP_ID, SECURE_WEBHOOK_ROLE } from "../core/alerts/secureWebhook.ts";
import { OPERATOR_ROLE } from "./auth.ts";
import { createEntraTokenValidator, type EntraTokenValidator } from "./entraToken.ts";

/** The issuer of the local tokens (matched exactly, as Entra ID's are). */
export const LOCAL_ISSUER = "https://login.switchyard.invalid/local/v2.0";
/** The audience of the local tokens: the app registration App Service authentication would name. */
export const LOCAL_AUDIENCE = "api://switchyard";
/** How long the tokens serve writes at start are valid. */
export const LOCAL_TOKEN_LIFETIME_SECONDS = 8 * 3600;

export interface LocalTokenSpec {
  /** The caller's name (the `name` claim). */
  readonly name: string;
  readonly roles: readonly string[];
  /** The client application (`azp`). Default: the local operator client. */
  readonly app?: string;
  /** Default LOCAL_TOKEN_LIFETIME_SECONDS. */
  readonly lifetimeSeconds?: number;
}

export interface LocalEasyAuth {
  /** For serveHttp: validates a request's Bearer token as App Service authentication would. */
  readonly authenticate: EntraTokenValidator;
  /** For the alert route (startLocalApp's validateToken): the secure webhook's check. */
  readonly validateAlertToken: EntraTokenValidator;
  /** The client application id of the operator tokens (`azp`). */
  readonly operatorApp: string;
  /** A token signed with this instance's key. */
  issueToken(spec: LocalTokenSpec): Promise<string>;
}

export async function createLocalEasyAuth(options: { clock?: () => number } = {}): Promise<LocalEasyAuth> {
  const clock = options.clock ?? Date.now;
  const { privateKey, publicKey } = await generateKeyPair("RS256", { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, use: "sig", alg: "RS256" };
  const operatorApp = randomUUID();
  const common = {
    tenantId: "local",
    audience: LOCAL_AUDIENCE,
    allowedIssuers: [LOCAL_ISSUER],
    jwksUri: "local:",
    fetchJwks: async () => ({ keys: [jwk] }),
    clock,
  };
  return {
    // App Service authentication's allowed client applications: the local operator client and Action Groups.
    authenticate: createEntraTokenValidator({ ...common, allowedRoles: [], allowedApps: [operatorApp, ACTION_GROUPS_APP_ID] }),
    validateAlertToken: createEntraTokenValidator({ ...common, allowedRoles: [SECURE_WEBHOOK_ROLE] }),
    operatorApp,
    issueToken: async (spec) => {
      const now = Math.floor(clock() / 1000);
      return new SignJWT({ name: spec.name, roles: [...spec.roles], azp: spec.app ?? operatorApp, oid: randomUUID(), tid: "local", ver: "2.0" })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(LOCAL_ISSUER)
        .setAudience(LOCAL_AUDIENCE)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + (spec.lifetimeSeconds ?? LOCAL_TOKEN_LIFETIME_SECONDS))
        .sign(privateKey);
    },
  };
}

export interface LocalTokenFiles {
  /** An operator's token (Switchyard.Operator), for the override routes. */
  readonly operator: string;
  /** Azure Monitor's token (ActionGroupsSecureWebhook, from Action Groups), for POST /api/alerts. */
  readonly alert: string;
  /** Removes the files. */
  remove(): Promise<void>;
}

/** Writes an operator token and an alert token to files only this user can read, in a new directory. */
export async function writeLocalTokens(auth: LocalEasyAuth): Promise<LocalTokenFiles> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-auth-"));
  const operator = join(dir, "operator.token");
  const alert = join(dir, "alert.token");
  await writeFile(operator, await auth.issueToken({ name: "local operator", roles: [OPERATOR_ROLE] }), { mode: 0o600 });
  await writeFile(alert, await auth.issueToken({ name: "Azure Monitor action group", roles: [SECURE_WEBHOOK_ROLE], app: ACTION_GROUPS_APP_ID }), { mode: 0o600 });
  return { operator, alert, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** What serve prints about authentication: how to call it, never a key or a token. */
export function describeLocalAuth(tokens: LocalTokenFiles | undefined): string[] {
  if (!tokens) return ["auth: off (an app without App Service authentication: every caller is the function-key caller; --auth turns it on)"];
  return [
    `auth: on (App Service authentication, locally): override routes need the ${OPERATOR_ROLE} app role; POST /api/alerts needs Azure Monitor's secure webhook token`,
    `operator token: ${tokens.operator} (send it as: Authorization: Bearer $(cat ${tokens.operator}))`,
    `alert token: ${tokens.alert}`,
  ];
}
