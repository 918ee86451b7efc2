import type { NotifyInput } from "../core/run/model.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";

/**
 * A notification with whatever looks like a secret masked, before it is journaled, stored or sent. Its
 * free text (message, title, facts, details) may quote untrusted words (an alert rule's name, an
 * operator's reason): the text is scanned for secret patterns, and `details` also by property name.
 * Facts are scanned by content only (their `value` is a fact, not a credential), and the fields
 * Switchyard makes itself (id, kind, incident key, action paths) are kept as they are.
 */
export function redactNotification(n: NotifyInput): NotifyInput {
  return {
    ...n,
    message: redactText(n.message),
    ...(n.title !== undefined ? { title: redactText(n.title) } : {}),
    ...(n.facts ? { facts: n.facts.map((f) => ({ name: redactText(f.name), value: redactText(f.value) })) } : {}),
    ...(n.details ? { details: redactSecrets(n.details, "details").value } : {}),
  };
}
