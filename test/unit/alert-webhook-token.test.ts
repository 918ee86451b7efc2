import { HttpRequest } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { alertWebhook, type AlertWebhookDeps } from "../../src/http/alerts.ts";
import type { EntraTokenResult } from "../../src/http/entraToken.ts";
import { createLocalEasyAuth } from "../../src/http/localAuth.ts";

/** The webhook with only a token validator: a request refused at the token touches nothing else. */
function webhookWith(verdict: EntraTokenResult) {
  const seen: (string | null)[] = [];
  const deps = {
    validateToken: async (authorization: string | null) => {
      seen.push(authorization);
      return verdict;
    },
  } as unknown as AlertWebhookDeps;
  return { handle: alertWebhook(deps), seen };
}

const request = () => new HttpRequest({ method: "POST", url: "http://localhost/api/alerts", headers: { authorization: "Bearer x.y.z" }, body: { string: "{}" } });

describe("alert webhook with a secure-webhook token", () => {
  it("answers 401 with the validator's reason for a rejected token", async () => {
    const { handle, seen } = webhookWith({ ok: false, status: 401, reason: "token has expired" });
    const response = await handle(request());
    expect(response.status).toBe(401);
    expect(response.jsonBody).toEqual({ error: { code: "Unauthorized", message: "token has expired" } });
    expect(seen).toEqual(["Bearer x.y.z"]);
  });

  it("answers 503 with Retry-After when the signing keys are unavailable, so that the action group retries", async () => {
    const { handle } = webhookWith({ ok: false, status: 401, reason: "signing keys unavailable", retryable: true });
    const response = await handle(request());
    expect(response.status).toBe(503);
    expect(response.headers).toMatchObject({ "Retry-After": "30" });
    expect(response.jsonBody).toEqual({ error: { code: "SigningKeysUnavailable", message: "signing keys unavailable" } });
  });

  it("answers 401 to a valid token of an app without the ActionGroupsSecureWebhook role", async () => {
    // The secure webhook's check over a key of its own (as serve --auth builds it); no other dependency:
    // a request that went past the token would fail on the missing plan catalog.
    const auth = await createLocalEasyAuth();
    const handle = alertWebhook({ validateToken: auth.validateAlertToken } as unknown as AlertWebhookDeps);
    const token = await auth.issueToken({ name: "some app in the tenant", roles: ["Switchyard.Operator"] });
    const response = await handle(new HttpRequest({ method: "POST", url: "http://localhost/api/alerts", headers: { authorization: `Bearer ${token}` }, body: { string: "{}" } }));
    expect(response.status).toBe(401);
    expect(response.jsonBody).toEqual({ error: { code: "Unauthorized", message: "token carries none of the allowed app roles (ActionGroupsSecureWebhook) and its client application (azp/appid) is not allowed" } });
  });
});
