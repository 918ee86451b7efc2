import { createHash } from "node:crypto";
import { EVENT_ID_PATTERN, kindOfEvent, type NotificationEvent } from "../core/notification.ts";
import { planOfRunId, type NotifyInput } from "../core/run/model.ts";
import { displayText, fit, oneLine } from "./channels/text.ts";
import { redactNotification } from "./redact.ts";
import { redactText } from "../core/secrets.ts";
import { credentialScrubber, notifyChannels, type DeliveryDeps, type DeliveryReport } from "./delivery.ts";
import type { Notifier } from "./notifier.ts";
import type { PlanChannel } from "./outbox.ts";

const TITLE_MAX = 150;
const TEXT_MAX = 3000;
const FACTS_MAX = 20;
const FACT_NAME_MAX = 100;
const FACT_VALUE_MAX = 500;

/*
 * The event's text is clean for every receiver (a webhook's too): no control characters but line
 * breaks and tabs, no bidirectional overrides, no unpaired surrogates; cut by code points, so a cut
 * never leaves half a character (strict JSON parsers refuse a lone surrogate escape).
 */
const line = (text: string, max: number): string => fit(oneLine(text), max);

/**
 * The event a notification becomes (the input is redacted first: it may quote an alert rule's name or
 * an operator's reason). Its id is the one the run gave it, else one derived from its plan, kind, run,
 * message and time, so two different notifications never share one.
 */
export function eventOf(given: NotifyInput, now: Date, publicUrl?: string): NotificationEvent {
  const n = redactNotification(given);
  const kind = n.kind ?? kindOfEvent(n.event);
  const at = n.at ?? now.toISOString();
  const derived = `${n.plan.name}.${kind}.${createHash("sha256").update(JSON.stringify([n.runId, n.event, n.message, at])).digest("hex").slice(0, 20)}`;
  const id = n.id !== undefined && EVENT_ID_PATTERN.test(n.id) ? n.id : derived;
  const base = publicUrl?.replace(/\/+$/, "");
  // Notifications outside runs carry a placeholder run id (the lag timer's, detection's empty one).
  const runId = n.runId && planOfRunId(n.runId) !== undefined ? n.runId : undefined;
  return {
    id,
    kind,
    severity: n.severity,
    at,
    plan: n.plan.name,
    ...(runId ? { runId } : {}),
    title: line(n.title ?? n.message, TITLE_MAX),
    text: fit(displayText(n.message), TEXT_MAX),
    facts: (n.facts ?? []).slice(0, FACTS_MAX).map((f) => ({ name: line(f.name, FACT_NAME_MAX), value: line(f.value, FACT_VALUE_MAX) })),
    actions: (n.actions ?? []).map((a) => ({ ...a, ...(base ? { url: `${base}${a.path}` } : {}) })),
    links: base && runId ? [{ label: "Run status", url: `${base}/api/runs/${encodeURIComponent(runId)}` }] : [],
    ...(n.incident ? { incident: n.incident } : {}),
  };
}

/** What the channel notifier needs: delivery (outbox, transport, settings) and Switchyard's own address. */
export interface ChannelNotifierDeps extends Omit<DeliveryDeps, "journal"> {
  /** `https://{host}`: action and link URLs in messages (absent: messages give the API paths alone). */
  readonly publicUrl?: string;
}

/**
 * Delivers notifications to the channels of their plan (`plan.notifications`), through the outbox, with
 * a local notifier (the console, the drill's collector) told first. A channel that fails never makes
 * `notify` reject: it is retried by the delivery timer, or recorded as failed.
 */
export class ChannelNotifier implements Notifier {
  readonly name: string;

  constructor(
    private readonly local: Notifier,
    private readonly deps: ChannelNotifierDeps,
  ) {
    this.name = `${local.name}+channels`;
  }

  async notify(n: NotifyInput): Promise<void> {
    await this.deliver(n);
  }

  /** Tells the local notifier, then the plan's channels (first attempt now); the delivery report, if any channel takes it. */
  async deliver(n: NotifyInput, journal?: DeliveryDeps["journal"]): Promise<DeliveryReport | undefined> {
    const event = eventOf(n, this.deps.clock(), this.deps.publicUrl);
    const channels: readonly PlanChannel[] = (n.plan as { notifications?: PlanChannel[] }).notifications ?? [];
    // The local line never quotes a credential of the plan's channels either (a routing key in a reason).
    const scrub = channels.length > 0 && this.deps.setting ? credentialScrubber(channels, this.deps.setting) : (text: string) => text;
    try {
      await this.local.notify(redactNotification(n, scrub));
    } catch (error) {
      this.deps.log.warn("notification not written locally", { eventId: event.id, error: redactText(error instanceof Error ? error.message : String(error)) });
    }
    if (channels.length === 0) return undefined;
    return notifyChannels(event, channels, { ...this.deps, ...(journal ? { journal } : {}) });
  }
}
