/**
 * What Switchyard tells stakeholders, independent of any channel: one event with a stable id (the
 * deduplication key everywhere: outbox, Standard Webhooks `webhook-id`, ACS operation id), a kind and
 * severity the plan's channels filter on, a title and text, facts for cards, the actions a person can
 * take (approve, abort), links, and the PagerDuty incident it opens or closes.
 *
 * Events carry no secret: everything in them is redacted before they are stored or sent.
 */

/** Every kind of event, in the order a run meets them, then the ones outside runs. */
export const NOTIFICATION_KINDS = [
  "run-started",
  "step-failed",
  "approval-needed",
  "approval-reminder",
  "approval-answered",
  "failback-waiting",
  "run-finished",
  "region-down",
  "region-healthy",
  "auto-failover-paused",
  "auto-failover-resumed",
  "auto-failover-retry",
  "lag-breach",
  "lag-recovered",
] as const;

export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** True when `severity` is at least `floor` (info < warning < critical). */
export function atLeast(severity: Severity, floor: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(floor);
}

/** An event id: letters, digits and `._:-`, at most 160 characters (safe in blob names and headers). */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,160}$/;

export interface NotificationFact {
  readonly name: string;
  readonly value: string;
}

/** Something a person can do about the event: an HTTP request to Switchyard's API. */
export interface NotificationAction {
  /** E.g. `Approve data loss`, `Abort`. */
  readonly label: string;
  readonly method: "POST";
  /** The API path (`/api/runs/{id}/approve`), always present. */
  readonly path: string;
  /** The absolute URL when Switchyard knows its own address (`https://{WEBSITE_HOSTNAME}/api/...`). */
  readonly url?: string;
  /** The JSON body the request takes. */
  readonly body: Record<string, unknown>;
}

export interface NotificationLink {
  readonly label: string;
  readonly url: string;
}

export interface NotificationEvent {
  /** Stable across orchestration replays and activity retries (see EVENT_ID_PATTERN). */
  readonly id: string;
  readonly kind: NotificationKind;
  readonly severity: Severity;
  /** When it happened (ISO 8601, UTC). */
  readonly at: string;
  /** The plan's name. */
  readonly plan: string;
  /** The run it belongs to, if any. */
  readonly runId?: string;
  /** One line, at most 150 characters. */
  readonly title: string;
  /** The message in plain text (may span lines), at most 3,000 characters. */
  readonly text: string;
  /** Name/value facts for cards and tables (at most 20). */
  readonly facts: readonly NotificationFact[];
  readonly actions: readonly NotificationAction[];
  readonly links: readonly NotificationLink[];
  /**
   * The incident this event opens or closes (PagerDuty `dedup_key`): one per run, per region outage
   * or per plan's lag breach. Events without one open nothing.
   */
  readonly incident?: { readonly key: string; readonly action: "trigger" | "resolve" };
}

/**
 * The kind of a notification named the older way (`failover-started`, `failback-completed`, …): what
 * runs of earlier versions and callers without a kind send.
 */
export function kindOfEvent(event: string): NotificationKind {
  if ((NOTIFICATION_KINDS as readonly string[]).includes(event)) return event as NotificationKind;
  if (/^(failover|failback)-started$/.test(event)) return "run-started";
  if (/^(failover|failback)-(completed|stopped)$/.test(event)) return "run-finished";
  // Anything else a person should look at.
  return "step-failed";
}
