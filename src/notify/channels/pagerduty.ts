/**
 * PagerDuty Events API v2 (`POST /v2/enqueue`). Only events that open or close an incident go to
 * PagerDuty: a `trigger` opens (or adds to) the alert keyed by the incident's `dedup_key`, a `resolve`
 * closes it and needs nothing but the routing key and that key. Addresses in quoted text (summary,
 * details) are made inert (text.ts `inert`): the only links of an alert are Switchyard's own.
 */
import { createHash } from "node:crypto";
import type { NotificationEvent, Severity } from "../event.ts";
import { ACTIONS_INTRO, displayText, fit, inert, linkUrl, oneLine, requestBody, requestLine } from "./text.ts";
import type { HttpDelivery } from "./types.ts";

export const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

/** Field limits of the Events API v2. */
export const PAGERDUTY_LIMITS = { summary: 1024, dedupKey: 255 } as const;

/** Our severities on PagerDuty's scale (critical | error | warning | info). */
export const PAGERDUTY_SEVERITY: Readonly<Record<Severity, "critical" | "error" | "warning" | "info">> = {
  critical: "critical",
  warning: "warning",
  info: "info",
};

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: "trigger";
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: "critical" | "error" | "warning" | "info";
    timestamp: string;
    component?: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
  client: "Switchyard";
}

export interface PagerDutyResolve {
  routing_key: string;
  event_action: "resolve";
  dedup_key: string;
}

export function pagerDutyDelivery(event: NotificationEvent, routingKey: string, url = PAGERDUTY_EVENTS_URL): HttpDelivery | undefined {
  const body = pagerDutyEvent(event, routingKey);
  return body && { url, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/** The Events API body, or undefined for an event without an incident (exported for tests). */
export function pagerDutyEvent(event: NotificationEvent, routingKey: string): PagerDutyTrigger | PagerDutyResolve | undefined {
  if (!event.incident) return undefined;
  // The key is a credential: say what is wrong with it, never what it is.
  if (routingKey.trim() === "" || /[\s\u0000-\u001F\u007F]/.test(routingKey)) {
    throw new Error("the PagerDuty routing key is empty or contains whitespace or control characters");
  }
  const dedup_key = dedupKey(event.incident.key);
  if (event.incident.action === "resolve") return { routing_key: routingKey, event_action: "resolve", dedup_key };

  const title = inert(oneLine(event.title)) || event.kind;
  const firstLine = inert(oneLine(displayText(event.text).split("\n").find((l) => l.trim() !== "") ?? ""));
  const links = event.links.flatMap((l) => {
    const href = linkUrl(l);
    return href === undefined ? [] : [{ href, text: oneLine(l.label) || href }];
  });
  return {
    routing_key: routingKey,
    event_action: "trigger",
    dedup_key,
    payload: {
      summary: fit(firstLine && firstLine !== title ? `${title}: ${firstLine}` : title, PAGERDUTY_LIMITS.summary),
      source: `switchyard/${event.plan}`,
      severity: PAGERDUTY_SEVERITY[event.severity],
      timestamp: event.at,
      ...(event.runId ? { component: event.runId } : {}),
      group: event.plan,
      class: event.kind,
      custom_details: customDetails(event),
    },
    ...(links.length > 0 ? { links } : {}),
    client: "Switchyard",
  };
}

/**
 * The incident key as PagerDuty's `dedup_key` (at most 255 characters). A longer key keeps its start
 * and ends with a SHA-256 of the whole key, so the trigger and the resolve still agree.
 */
export function dedupKey(key: string): string {
  if (key.length <= PAGERDUTY_LIMITS.dedupKey) return key;
  const digest = createHash("sha256").update(key, "utf8").digest("hex");
  return `${key.slice(0, PAGERDUTY_LIMITS.dedupKey - digest.length - 1)}#${digest}`;
}

function customDetails(event: NotificationEvent): Record<string, unknown> {
  // No prototype: a fact named `__proto__` is kept as a fact, not taken as the object's prototype.
  const facts: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const f of event.facts) {
    const name = inert(oneLine(f.name)) || "fact";
    let key = name;
    for (let n = 2; Object.hasOwn(facts, key); n++) key = `${name} (${n})`;
    facts[key] = inert(displayText(f.value));
  }
  return {
    text: inert(displayText(event.text)),
    ...(event.facts.length > 0 ? { facts } : {}),
    ...(event.actions.length > 0
      ? { how_to_act: ACTIONS_INTRO, actions: event.actions.map((a) => ({ label: oneLine(a.label), request: requestLine(a), body: requestBody(a) })) }
      : {}),
    event_id: event.id,
    kind: event.kind,
    plan: event.plan,
    ...(event.runId ? { run_id: event.runId } : {}),
  };
}
