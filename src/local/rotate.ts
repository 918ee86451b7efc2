/**
 * A secret rotation on the local estate (`switchyard secrets rotate`): the estate seeded from the plan
 * (each secret's credential in use, every site referencing it), the same orchestration and activities
 * as in Azure, each step shown as it finishes, and what the plan's channels received.
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { jsonLogger } from "../app/logging.ts";
import type { JournalEntry } from "../core/journal.ts";
import type { Plan } from "../core/plan/index.ts";
import { rotationInstanceId, type RotationOutput } from "../core/rotation/model.ts";
import type { NotifyInput } from "../core/run/model.ts";
import type { Notifier } from "../notify/notifier.ts";
import { startLocalApp, type LocalApp } from "./app.ts";
import { localChannelSettings } from "./channelSettings.ts";
import { formatReceived, receivedByChannel, type EstateDelivery, type ReceivedByChannel } from "./received.ts";

export interface LocalRotationOptions {
  readonly plan: Plan;
  /** The secrets to rotate, by name (default: every secret of the plan), one after another. */
  readonly secrets?: readonly string[];
  /** Where the log goes (`rotate.log`). */
  readonly outputDir: string;
  /** Each line of progress. */
  readonly progress?: (line: string) => void;
  /** Who asked (recorded in the journal). */
  readonly by?: string;
  /** Called with the app before it stops (tests). */
  readonly inspect?: (app: LocalApp) => Promise<void>;
  /** Called with the app before the first rotation starts (tests set the estate's conditions). */
  readonly prepare?: (app: LocalApp) => Promise<void> | void;
}

export interface LocalRotationResult {
  readonly plan: string;
  readonly rotations: readonly RotationOutput[];
  readonly ok: boolean;
  readonly notifications: readonly ReceivedByChannel[];
  readonly wallSeconds: number;
}

/** Unknown secret names, with the plan's, for the caller's error. */
export function unknownSecrets(plan: Plan, names: readonly string[]): string[] {
  return names.filter((n) => !plan.secrets.some((s) => s.name.toLowerCase() === n.toLowerCase()));
}

class QuietNotifier implements Notifier {
  readonly name = "rotate";
  async notify(_n: NotifyInput): Promise<void> {}
}

/** One line per journal entry worth showing while a rotation runs. */
function lineOf(entry: JournalEntry): string | undefined {
  const at = entry.at.slice(11, 19);
  if (entry.kind === "step-finished") {
    const ms = typeof entry.data.durationMs === "number" ? ` (${entry.data.durationMs} ms)` : "";
    return `${at}   ${entry.step!.padEnd(9)} ${entry.message}${ms}`;
  }
  if (entry.kind === "wait") return `${at}   ${(entry.step ?? "").padEnd(9)} waiting: ${entry.message}`;
  return undefined;
}

export async function rotateLocally(options: LocalRotationOptions): Promise<LocalRotationResult> {
  const started = Date.now();
  const plan = options.plan;
  const names = options.secrets && options.secrets.length > 0 ? options.secrets.map((n) => plan.secrets.find((s) => s.name.toLowerCase() === n.toLowerCase())!.name) : plan.secrets.map((s) => s.name);
  await mkdir(options.outputDir, { recursive: true });
  const logFile = createWriteStream(join(options.outputDir, "rotate.log"), { flags: "a" });
  const show = options.progress ?? (() => undefined);
  let app: LocalApp | undefined;
  try {
    const channels = localChannelSettings(plan);
    app = await startLocalApp({
      plans: [plan],
      channelSettings: channels.settings,
      log: jsonLogger((line) => logFile.write(`${line}\n`)),
      notifier: new QuietNotifier(),
    });
    for (const { host, secret } of channels.webhookSecrets) app.estate.setWebhookSecret(host, secret);
    await options.prepare?.(app);
    const since = Date.now();
    const rotations: RotationOutput[] = [];
    for (const name of names) {
      const secret = plan.secrets.find((s) => s.name === name)!;
      show(`rotating ${name} (${secret.source.kind === "storageAccountKey" ? `storage account key of ${secret.source.account.name}` : secret.source.kind === "sqlLogin" ? `SQL login password on ${secret.source.servers.length} server(s)` : `generated, ${secret.source.length} characters`}) in ${secret.vaults.map((v) => v.name).join(", ")}`);
      const start = await app.rotations.start(plan, name, { kind: "cli", by: options.by ?? "switchyard secrets rotate" });
      const rotationId = start.rotation.rotationId;
      show(`  rotation ${rotationId}`);
      // Each step as it finishes, from the rotation's journal.
      let shown = 0;
      const tick = async () => {
        const entries = await app!.rotationJournal.read(rotationId).catch(() => [] as JournalEntry[]);
        for (const entry of entries.slice(shown)) {
          const line = lineOf(entry);
          if (line) show(line);
        }
        shown = Math.max(shown, entries.length);
      };
      const ticker = setInterval(() => void tick(), 100);
      const status = await app.host.waitForCompletion(rotationInstanceId(plan.name, name)).finally(() => clearInterval(ticker));
      await tick();
      const output = status.output as RotationOutput | undefined;
      if (!output) {
        show(`  ${name}: the rotation ended ${status.runtimeStatus.toLowerCase()}${status.error ? `: ${status.error}` : ""}`);
        rotations.push({ rotationId, plan: plan.name, secret: name, outcome: "failed", steps: [], versions: [], deferrals: 0, error: status.error ?? status.runtimeStatus });
        continue;
      }
      rotations.push(output);
      if (output.outcome === "rotated") {
        show(`  ${name} rotated${output.credential && output.credential !== "generated" ? ` to ${output.credential}` : ""}: new version ${output.versions.map((v) => `${v.version} in ${v.vault}`).join(", ")}`);
      } else {
        show(`  ${name} NOT rotated: ${output.failedStep} failed: ${output.error}`);
      }
    }
    // Notifications still being delivered (email sends) get a few passes.
    for (let pass = 0; pass < 50; pass++) {
      const open = (await app.deliverNotifications()).flatMap((r) => r.channels.filter((c) => c.state === "pending" || c.state === "accepted"));
      if (open.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const notifications = receivedByChannel(plan, app.estate.notifications() as readonly EstateDelivery[], channels.identify, since);
    if (plan.notifications.length > 0) show(formatReceived(notifications));
    await options.inspect?.(app);
    return { plan: plan.name, rotations, ok: rotations.every((r) => r.outcome === "rotated"), notifications, wallSeconds: (Date.now() - started) / 1000 };
  } finally {
    await app?.stop();
    await new Promise<void>((resolve) => logFile.end(() => resolve()));
  }
}
