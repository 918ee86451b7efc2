/**
 * What Switchyard tells stakeholders, independent of any channel: one event with a stable id (the
 * deduplication key everywhere: outbox, Standard Webhooks `webhook-id`, ACS operation id), a kind and
 * severity the plan's channels filter on, a title and text, facts for cards, the actions a person can
 * take (approve, abort), links, and the PagerDuty incident it opens or closes.
 *
 * Events carry no secret: everything in them is redacted before they are stored or sent.
 */
import { REDACTION } from "./secrets.ts";

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
  "secret-rotated",
  "secret-rotation-deferred",
  "secret-rotation-failed",
  "readiness-drift",
  "readiness-restored",
  "drill-started",
  "drill-finished",
] as const;

export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** True when `severity` is at least `floor` (info < warning < critical). */
export function atLeast(severity: Severity, floor: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(floor);
}

/**
 * The kinds whose incident a `resolve` of this kind closes: a run's incident is opened by what needs a
 * person (an approval, its reminder, a failed step, a run that stopped or failed) and closed by the
 * run's end; a region's by its outage; a plan's lag incident by a breach. A channel that takes the
 * openers takes the closer too (delivery.ts `channelsFor`), or the page it raised never closes.
 */
export function kindsOpening(kind: NotificationKind): readonly NotificationKind[] {
  switch (kind) {
    case "run-finished":
      return ["approval-needed", "approval-reminder", "step-failed", "run-finished"];
    case "region-healthy":
      return ["region-down"];
    case "lag-recovered":
      return ["lag-breach"];
    case "secret-rotated":
      return ["secret-rotation-failed"];
    case "readiness-restored":
      return ["readiness-drift"];
    default:
      return [];
  }
}

/**
 * Channel credentials by their shape (beyond core/secrets.ts's patterns): the address of a Slack
 * incoming webhook or workflow (its path is the credential), of an Office 365 connector (a Teams
 * incoming webhook: the same), a Standard Webhooks signing secret and a Slack token. A Teams Workflows
 * URL carries its credential in `sig=`, which core/secrets.ts covers; a PagerDuty routing key has no
 * shape of its own (delivery scrubs the plan's own keys by value). Each pattern starts at a literal,
 * so a scan is linear whatever the text.
 */
const CHANNEL_CREDENTIALS: readonly { readonly span: RegExp; readonly keep: (match: string, host?: string) => string }[] = [
  { span: /\b(hooks\.slack(?:-gov)?\.com\/)(?:services|workflows|triggers)\/[^\s"'<>|)\]]+/gi, keep: (_m, host) => `${host}${REDACTION}` },
  // The tenant's label before the host stays: it is no credential.
  { span: /(webhook\.office\.com\/)webhook[^\s"'<>|)\]]*/gi, keep: (_m, host) => `${host}${REDACTION}` },
  { span: /\bwhsec_[A-Za-z0-9+/=]{8,}/g, keep: () => REDACTION },
  { span: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g, keep: () => REDACTION },
];

/** `text` with every channel credential (by shape) replaced by `[redacted]`. */
export function redactChannelCredentials(text: string): string {
  let out = text;
  for (const { span, keep } of CHANNEL_CREDENTIALS) out = out.replace(span, (match: string, host?: string) => keep(match, typeof host === "string" ? host : undefined));
  return out;
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
