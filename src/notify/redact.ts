import type { NotifyInput } from "../core/run/model.ts";
import { redactChannelCredentials } from "../core/notification.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";

/** `text` with every channel credential (by shape, core/notification.ts) and secret pattern (core/secrets.ts) redacted. */
export function redactNotificationText(text: string): string {
  return redactText(redactChannelCredentials(text));
}

/** Every string in `value` through redactNotificationText (objects and arrays copied). */
function redactStrings(value: unknown): unknown {
  if (typeof value === "string") return redactNotificationText(value);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(redactStrings);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactStrings(v)]));
}

/**
 * A notification with whatever looks like a secret masked, before it is journaled, stored or sent. Its
 * free text (message, title, facts, details) may quote untrusted words (an alert rule's name, an
 * operator's reason): the text is scanned for secret patterns and channel credentials, and `details`
 * also by property name. Facts are scanned by content only (their `value` is a fact, not a
 * credential), and the fields Switchyard makes itself (id, kind, incident key, action paths) are kept
 * as they are.
 */
export function redactNotification(n: NotifyInput, scrub: (text: string) => string = (text) => text): NotifyInput {
  // `scrub` masks what no pattern finds: the plan's own channel credentials, by value (delivery.ts credentialScrubber).
  const mask = (text: string) => scrub(redactNotificationText(text));
  return {
    ...n,
    message: mask(n.message),
    ...(n.title !== undefined ? { title: mask(n.title) } : {}),
    ...(n.facts ? { facts: n.facts.map((f) => ({ name: mask(f.name), value: mask(f.value) })) } : {}),
    ...(n.details ? { details: redactStrings(redactSecrets(n.details, "details").value) as Record<string, unknown> } : {}),
  };
}
