/**
 * What each stakeholder received on the local estate: the estate's record of every request the
 * notification channels made (as Slack, Teams, PagerDuty, a webhook receiver or ACS took it), grouped
 * by the plan's channel, each with its time and one line of what it said.
 */
import type { Plan } from "../core/plan/index.ts";

/** One delivery as the estate records it (`GET /_estate/notifications`), the fields read here. */
export interface EstateDelivery {
  readonly seq: number;
  readonly at: string;
  readonly channel: string;
  readonly host: string;
  readonly status: number;
  readonly problems: readonly string[];
  readonly body: unknown;
  readonly credential?: string;
  readonly operationStatus?: string;
  readonly signature?: string;
}

export interface ReceivedMessage {
  /** Seconds after `since`. */
  readonly afterSeconds: number;
  readonly at: string;
  readonly status: number;
  readonly accepted: boolean;
  readonly line: string;
  readonly problems: readonly string[];
}

export interface ReceivedByChannel {
  readonly channel: string;
  readonly kind: string;
  /** Who it reaches (email recipients), when the plan says. */
  readonly to?: readonly string[];
  readonly messages: readonly ReceivedMessage[];
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** One line for what a delivery said, by the channel's own body shape. */
export function deliveryLine(d: Pick<EstateDelivery, "channel" | "body" | "operationStatus">): string {
  const b = obj(d.body);
  switch (d.channel) {
    case "teams": {
      const card = obj(obj((b.attachments as unknown[] | undefined)?.[0]).content);
      const first = obj((card.body as unknown[] | undefined)?.[0]);
      return str(first.text) ?? "(an Adaptive Card without a title)";
    }
    case "slack":
      return str(b.text) ?? "(blocks without fallback text)";
    case "pagerduty": {
      const action = str(b.event_action) ?? "?";
      const payload = obj(b.payload);
      return action === "trigger" ? `trigger (${str(payload.severity) ?? "?"}): ${str(payload.summary) ?? ""}` : `${action} ${str(b.dedup_key) ?? ""}`;
    }
    case "webhook": {
      const data = obj(b.data);
      return `${str(b.type) ?? "?"}: ${str(data.title) ?? ""}`;
    }
    case "email": {
      const subject = str(obj(b.content).subject) ?? "(no subject)";
      return `${subject}${d.operationStatus ? ` — send ${d.operationStatus.toLowerCase()}` : ""}`;
    }
    default:
      return JSON.stringify(d.body).slice(0, 120);
  }
}

/** The deliveries grouped by the plan's channels (`identify` names a channel from a record's host and credential). */
export function receivedByChannel(plan: Plan, deliveries: readonly EstateDelivery[], identify: (host: string, credential?: string) => string | undefined, since: number): ReceivedByChannel[] {
  return plan.notifications.map((channel) => ({
    channel: channel.name,
    kind: channel.kind,
    ...(channel.kind === "email" ? { to: channel.to } : {}),
    messages: deliveries
      .filter((d) => identify(d.host, d.credential) === channel.name)
      .sort((a, b) => a.seq - b.seq)
      .map((d) => ({
        afterSeconds: Math.round((Date.parse(d.at) - since) / 100) / 10,
        at: d.at,
        status: d.status,
        accepted: d.status >= 200 && d.status < 300,
        line: deliveryLine(d).replace(/\s+/g, " ").slice(0, 160),
        problems: d.problems,
      })),
  }));
}

/** The drill's section: per channel, what arrived and when (local seconds from the outage). */
export function formatReceived(received: readonly ReceivedByChannel[]): string {
  const lines = ["notifications received (local estate, as each service took them):"];
  for (const r of received) {
    const accepted = r.messages.filter((m) => m.accepted).length;
    lines.push(`  ${r.channel} (${r.kind}${r.to ? ` to ${r.to.join(", ")}` : ""}): ${accepted} accepted${r.messages.length > accepted ? `, ${r.messages.length - accepted} refused` : ""}`);
    for (const m of r.messages) lines.push(`    ${`+${m.afterSeconds.toFixed(1)} s`.padStart(9)}  ${m.accepted ? "" : `REFUSED ${m.status} (${m.problems.join("; ") || "fault"}): `}${m.line}`);
  }
  return lines.join("\n");
}
