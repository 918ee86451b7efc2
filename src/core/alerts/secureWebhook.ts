/**
 * What Azure Monitor's secure webhook sends: an action group with "Enable secure webhook" (useAadAuth)
 * calls with `Authorization: Bearer <token>`, an Entra ID access token the Action Groups service
 * principal gets for the webhook's app registration. Pure constants, shared by the settings and the
 * token check.
 */

/**
 * The app role Azure Monitor's documented setup defines on the webhook's app registration and assigns
 * to the Action Groups service principal: a token that carries it was issued to a caller an
 * administrator allowed. (Without a role, any application in the tenant can get a token for the app.)
 */
export const SECURE_WEBHOOK_ROLE = "ActionGroupsSecureWebhook";

/** The Action Groups first-party application (its `azp`/`appid` in the tokens it gets), in the public cloud. */
export const ACTION_GROUPS_APP_ID = "461e8683-5575-4561-ac7f-899cc907d62a";

/**
 * Longest token lifetime (exp − iat) accepted by default. Entra ID access tokens live 60-90 minutes by
 * default, and a configurable token lifetime at most a day.
 */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;
