/**
 * A generic JSON webhook signed per the Standard Webhooks specification (symmetric scheme):
 *
 * - headers `webhook-id` (the event id: the same on every retry, the receiver's idempotency key),
 *   `webhook-timestamp` (integer Unix seconds of this attempt) and `webhook-signature`, a
 *   space-separated list of `v1,<base64 HMAC-SHA256>` signatures;
 * - the signed content is `${id}.${timestamp}.${body}`, the body exactly as sent;
 * - the secret is serialized as `whsec_` + base64 of 24 to 64 random bytes (a secret without the
 *   prefix is read as the base64 part);
 * - the body follows the recommended payload structure: `{ type, timestamp, data }`.
 *
 * The verifier (for receivers) checks the timestamp against a tolerance, then compares every `v1`
 * signature in constant time. No error or verdict ever contains the secret or a signature.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { EVENT_ID_PATTERN, type NotificationEvent } from "../event.ts";
import type { HttpDelivery } from "./types.ts";

export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** The specification's bounds on a symmetric signing key, in bytes. */
export const WEBHOOK_KEY_BYTES = { min: 24, max: 64 } as const;
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The payload a Switchyard webhook carries. */
export interface SwitchyardWebhookPayload {
  readonly type: `switchyard.${string}`;
  readonly timestamp: string;
  readonly data: NotificationEvent;
}

export function webhookDelivery(event: NotificationEvent, url: string, secret: string, now: Date): HttpDelivery {
  if (!EVENT_ID_PATTERN.test(event.id)) throw new Error(`'${event.id.slice(0, 40)}' is not a notification event id`);
  const key = signingKey(secret);
  const timestamp = unixSeconds(now);
  const payload: SwitchyardWebhookPayload = { type: `switchyard.${event.kind}`, timestamp: event.at, data: event };
  const body = JSON.stringify(payload);
  return {
    url,
    headers: {
      "content-type": "application/json",
      "webhook-id": event.id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": sign(key, event.id, timestamp, body),
    },
    body,
  };
}

/** The `v1,<base64>` signature of one message. */
export function signStandardWebhook(id: string, timestampSeconds: number, body: string, secret: string): string {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new Error("a webhook timestamp must be a non-negative integer number of seconds");
  }
  return sign(signingKey(secret), id, timestampSeconds, body);
}

export type WebhookVerdict = { ok: true } | { ok: false; why: string };

/**
 * Whether a received webhook is authentic: all three headers present (names in any case), the
 * timestamp within `toleranceSeconds` of `now` either way, and one of the `v1` signatures matching.
 * Throws only when the secret itself is unusable (a receiver's configuration error).
 */
export function verifyStandardWebhook(
  headers: Record<string, string | undefined>,
  body: string,
  secret: string,
  now: Date,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): WebhookVerdict {
  const key = signingKey(secret);
  const header = (name: string): string | undefined => {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
    return undefined;
  };
  const id = header("webhook-id");
  const stamp = header("webhook-timestamp");
  const signatures = header("webhook-signature");
  if (!id || !stamp || !signatures) return { ok: false, why: "missing webhook-id, webhook-timestamp or webhook-signature header" };
  if (!/^\d{1,15}$/.test(stamp.trim())) return { ok: false, why: "webhook-timestamp is not an integer number of seconds" };
  const timestamp = Number(stamp.trim());
  const current = unixSeconds(now);
  if (current - timestamp > toleranceSeconds) return { ok: false, why: "webhook-timestamp is too old" };
  if (timestamp - current > toleranceSeconds) return { ok: false, why: "webhook-timestamp is too far in the future" };

  const expected = Buffer.from(sign(key, id, timestamp, body).slice("v1,".length), "utf8");
  let matched = false;
  for (const candidate of signatures.split(" ")) {
    const comma = candidate.indexOf(",");
    if (comma < 0 || candidate.slice(0, comma) !== "v1") continue;
    const given = Buffer.from(candidate.slice(comma + 1), "utf8");
    // Every candidate is compared (no early exit); lengths differ only for malformed signatures.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, why: "no webhook-signature matches" };
}

function sign(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`, "utf8").digest("base64")}`;
}

function unixSeconds(now: Date): number {
  const ms = now.getTime();
  if (!Number.isFinite(ms)) throw new Error("the webhook clock gave an invalid date");
  return Math.floor(ms / 1000);
}

/**
 * The HMAC key behind a secret: `whsec_<base64>`, or the base64 alone. Anything else is refused with a
 * message that describes the secret's shape, never its value.
 */
function signingKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const unusable = (what: string) =>
    new Error(
      `the webhook signing secret is not usable (${what}): expected ${WEBHOOK_SECRET_PREFIX} followed by the base64 of ` +
        `${WEBHOOK_KEY_BYTES.min} to ${WEBHOOK_KEY_BYTES.max} random bytes`,
    );
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) throw unusable("not base64");
  const key = Buffer.from(encoded, "base64");
  // Buffer.from skips what it cannot decode; a round trip shows whether every character counted.
  if (key.toString("base64").replace(/=+$/, "") !== encoded.replace(/=+$/, "")) throw unusable("not base64");
  if (key.length < WEBHOOK_KEY_BYTES.min || key.length > WEBHOOK_KEY_BYTES.max) {
    throw unusable(`${key.length} bytes`);
  }
  return key;
}
