import type { NotifyInput } from "../core/run/model.ts";
import { redactText } from "../core/secrets.ts";
import { redactNotification } from "../notify/redact.ts";
import { ChannelNotifier, eventOf, type ChannelNotifierDeps } from "../notify/channelNotifier.ts";
import { credentialScrubber, type ChannelOutcome } from "../notify/delivery.ts";
import type { PlanChannel } from "../notify/outbox.ts";
import { JournalNotifier } from "../notify/journalNotifier.ts";
import type { Notifier } from "../notify/notifier.ts";
import type { ActivityDeps } from "./deps.ts";

export interface NotifyDeps extends ActivityDeps {
  /** Where every notification is written as it is made (the console, the drill); not the journal. */
  readonly notifier: Notifier;
  /** Delivery to the plan's channels (outbox, transport, app settings); absent: local notifier only. */
  readonly channels?: Omit<ChannelNotifierDeps, "log" | "clock">;
}

export interface NotifyResult {
  readonly delivered: boolean;
  /** The event id (the deduplication key of its delivery). */
  readonly id?: string;
  /** Why delivery failed (the journal has it too). */
  readonly error?: string;
  /** Each channel's state after the first attempt (later attempts are the delivery timer's). */
  readonly channels?: readonly Pick<ChannelOutcome, "channel" | "state" | "attempts">[];
}

/**
 * The notify activity: journals the notification (a `notification` entry with event, severity, message,
 * details and event id), writes it to the local notifier, then queues it for the plan's channels and
 * makes one attempt on each at once (each bounded by its timeout; retries are the delivery timer's).
 *
 * Deduplicated by event id: a run numbers its notices, so an activity Durable runs again (after a
 * crash) finds the event in the outbox and sends only what is still due. A channel that fails does not
 * fail the activity: a run must not stop because a webhook is down. Secret-looking parts of the
 * notification are redacted before it is journaled or sent. A journal that fails does fail it (the
 * orchestrator retries: nothing was sent yet).
 */
export async function notifyActivity(given: NotifyInput, deps: NotifyDeps): Promise<NotifyResult> {
  const planChannels: readonly PlanChannel[] = (given.plan as { notifications?: PlanChannel[] }).notifications ?? [];
  // What looks like a secret, and every credential of the plan's channels by its value (a routing key
  // quoted in a reason looks like nothing in particular), before anything is journaled or sent.
  const scrub = deps.channels ? credentialScrubber(planChannels, deps.channels.setting) : (text: string) => text;
  const input = redactNotification(given, scrub);
  const channelNames = planChannels.map((c) => c.name);
  const event = eventOf(input, deps.clock(), deps.channels?.publicUrl);
  const journal = new JournalNotifier(deps.journal, deps.clock);
  await journal.notify(input, { eventId: event.id, channels: [deps.notifier.name, ...channelNames].join("+") });
  try {
    const report = deps.channels ? await new ChannelNotifier(deps.notifier, { ...deps.channels, log: deps.log, clock: deps.clock }).deliver({ ...input, id: event.id }, deps.journal) : (await deps.notifier.notify(input), undefined);
    const channels = report?.channels.map((c) => ({ channel: c.channel, state: c.state, attempts: c.attempts })) ?? [];
    return { delivered: true, id: event.id, ...(channels.length > 0 ? { channels } : {}) };
  } catch (error) {
    const raw = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    // Channel errors may quote a URL with a signature in it, or a channel's credential as it is (a
    // routing key looks like nothing in particular): both are masked.
    const message = redactText(scrub(raw));
    deps.log.warn("notification not delivered", { runId: input.runId, event: input.event, eventId: event.id, error: message });
    await deps.journal.append({
      runId: input.runId,
      at: deps.clock().toISOString(),
      kind: "notification",
      step: "notify",
      message: `delivery of ${input.event} failed: ${message}`,
      data: { event: input.event, eventId: event.id, severity: input.severity, delivery: "failed", channels: deps.notifier.name, error: message },
    });
    return { delivered: false, id: event.id, error: message };
  }
}
