import type { NotifyInput } from "../core/run/model.ts";
import { formatNotification, type Notifier } from "./notifier.ts";

/** Writes each notification as one line to a stream (the drill's terminal, the Functions host log). */
export class ConsoleNotifier implements Notifier {
  readonly name = "console";

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}

  notify(n: NotifyInput): Promise<void> {
    const line = `switchyard ${formatNotification(n)}\n`;
    return new Promise((resolve, reject) => {
      this.stream.write(line, (error) => (error ? reject(error) : resolve()));
    });
  }
}
