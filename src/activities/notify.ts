import type { NotifyInput } from "../core/run/model.ts";
import { redactSecrets, redactText } from "../core/secrets.ts";
import { JournalNotifier } from "../notify/journalNotifier.ts";
import type { Notifier } from "../notify/notifier.ts";
import type { ActivityDeps } from "./deps.ts";

export interface NotifyDeps extends ActivityDeps {
  /** The channels to deliver to (not the journal: the activity journals every notification itself). */
  readonly notifier: Notifier;
}

export interface NotifyResult {
  readonly delivered: boolean;
  /** Why delivery failed (the journal has it too). */
  readonly error?: string;
}

/**
 * The notify activity: journals the notification (a `notification` entry with event, severity, message
 * and details), then delivers it through `deps.notifier`.
 *
 * A channel that fails does not fail the activity: a run must not stop because a webhook is down. The
 * failure is journaled (a second `notification` entry with `delivery: "failed"`), logged, and returned.
 * Secret-looking parts of the notification are redacted before it is journaled or sent.
 * A journal that fails does fail it (the orchestrator retries: nothing was sent yet).
 *
 * At least once, not exactly once: Durable may run an activity again after a crash, and then the
 * notification is journaled and delivered again. Every notification carries the run id and the event, so
 * a receiver can tell a repeat; suppressing repeats here would risk losing the only copy of a critical
 * notification when the crash came between journaling and delivery.
 */
export async function notifyActivity(given: NotifyInput, deps: NotifyDeps): Promise<NotifyResult> {
  // A notification quotes untrusted text (an alert rule's name, a reason): what looks like a secret is
  // masked before it reaches the journal or any channel.
  const input = redactSecrets(given, "notification").value;
  const journal = new JournalNotifier(deps.journal, deps.clock);
  await journal.notify(input, { channels: deps.notifier.name });
  try {
    await deps.notifier.notify(input);
    return { delivered: true };
  } catch (error) {
    const raw = error instanceof Error ? error.message.split("\n")[0]! : String(error);
    // Channel errors may quote a URL with a signature in it.
    const message = redactText(raw);
    deps.log.warn("notification not delivered", { runId: input.runId, event: input.event, error: message });
    await deps.journal.append({
      runId: input.runId,
      at: deps.clock().toISOString(),
      kind: "notification",
      step: "notify",
      message: `delivery of ${input.event} failed: ${message}`,
      data: { event: input.event, severity: input.severity, delivery: "failed", channels: deps.notifier.name, error: message },
    });
    return { delivered: false, error: message };
  }
}
