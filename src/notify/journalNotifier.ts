import { notificationEntry } from "../core/run/entries.ts";
import type { NotifyInput } from "../core/run/model.ts";
import type { Journal } from "../core/journal.ts";
import type { Notifier } from "./notifier.ts";

/** Records a notification in the run's journal as a `notification` entry (event, severity, message, details). */
export class JournalNotifier implements Notifier {
  readonly name = "journal";

  constructor(
    private readonly journal: Journal,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async notify(n: NotifyInput, extra?: Record<string, unknown>): Promise<void> {
    await this.journal.append(notificationEntry(n, this.clock().toISOString(), extra));
  }
}
