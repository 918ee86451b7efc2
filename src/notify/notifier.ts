import type { NotifyInput } from "../core/run/model.ts";

/**
 * The notification port: tells stakeholders what a run is doing and why. Implementations deliver to
 * one channel each (the journal, the console; webhook, Teams and e-mail channels come with the plan's
 * `notifications`). A notifier rejects when its channel did not take the notification.
 */
export interface Notifier {
  /** A short channel name for the journal (`console`, `journal`, a plan channel's name). */
  readonly name: string;
  notify(n: NotifyInput): Promise<void>;
}

/** Delivers to every notifier, all attempted even when some fail; rejects with every failure. */
export class FanOutNotifier implements Notifier {
  readonly name: string;
  private readonly notifiers: readonly Notifier[];

  constructor(notifiers: readonly Notifier[]) {
    this.notifiers = [...notifiers];
    this.name = this.notifiers.map((n) => n.name).join("+") || "none";
  }

  async notify(n: NotifyInput): Promise<void> {
    const results = await Promise.allSettled(this.notifiers.map((notifier) => notifier.notify(n)));
    const failures = results.flatMap((r, i) => (r.status === "rejected" ? [`${this.notifiers[i]!.name}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
    if (failures.length > 0) throw new Error(`notification ${n.event} not delivered to ${failures.join("; ")}`);
  }
}

/** The longest message a notification's line shows (a longer one is cut, with "…"). */
export const LINE_MESSAGE_MAX = 4000;

/** One line for a notification: severity, plan, run, event and message (no details: they go to the journal). */
export function formatNotification(n: NotifyInput): string {
  // One line, whatever the message quotes: line breaks fold to a space, and other control characters
  // (a terminal escape sequence in an operator's reason) are shown as \u escapes, never written raw.
  // Then cut by code points: a huge reason makes no huge log line, and no character is split.
  // (A whitespace run with a line break in it becomes one space: one linear pass, whatever the text.)
  const escaped = n.message.replace(/\s+/g, (run) => (run.includes("\n") ? " " : run)).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const points = Array.from(escaped);
  const message = points.length > LINE_MESSAGE_MAX ? `${points.slice(0, LINE_MESSAGE_MAX - 1).join("")}…` : escaped;
  return `[${n.severity.toUpperCase()}] ${n.plan.name} ${n.runId} ${n.event}: ${message}`;
}
