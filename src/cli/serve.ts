import { localChannelSettings } from "../local/channelSettings.ts";
import { Command } from "commander";
import { numberOption, portOption } from "./options.ts";
import { jsonLogger } from "../app/logging.ts";
import { loadPlanFile } from "../core/plan/index.ts";
import { serveHttp } from "../http/server.ts";
import { appServiceAuthEnabled } from "../config/settings.ts";
import { createLocalEasyAuth, describeLocalAuth, writeLocalTokens } from "../http/localAuth.ts";
import { startLocalApp } from "../local/app.ts";
import { lockStateDir, StateDirInUseError, type StateLock } from "../local/stateLock.ts";
import { parseTimeScale } from "./drill.ts";
import { DEFAULT_JOURNAL_DIR } from "./report.ts";
import { ConsoleNotifier } from "../notify/consoleNotifier.ts";

export function serveCommand(setCode: (code: number) => void): Command {
  return new Command("serve")
    .description("Serve Switchyard's HTTP functions on loopback (alert webhook, override API), backed by the local estate, Azurite and the local durable host; runs the health and replication lag timers.")
    .requiredOption("--plan <file...>", "plan file(s)")
    .option("--port <n>", "HTTP port (0 picks a free one)", portOption(), 0)
    .option("--probe-interval <seconds>", "how often the health and lag timers run", numberOption({ min: 0.1, max: 3600, unit: "seconds" }), 60)
    .option("--time-scale <n>", "Azure time: every Azure duration ÷ N (default: none, operations end in milliseconds)", parseTimeScale)
    .option("--auth", "App Service authentication, locally (also when WEBSITE_AUTH_ENABLED is true): Bearer tokens signed by a key made at start; override routes need the Switchyard.Operator role, alerts the secure webhook's token")
    .option("--state-dir <dir>", "keep Azurite's blobs and the estate in this folder: a serve started again on it resumes its runs (default: temporary, in memory)")
    .option("--journal-dir <dir>", "where a copy of every run's journal goes, one {runId}.jsonl per run: `switchyard report` reads it there by default", DEFAULT_JOURNAL_DIR)
    .action(async (o: { plan: string[]; port: number; probeInterval: number; timeScale?: number; stateDir?: string; auth?: boolean; journalDir: string }) => {
      const plans = await Promise.all(o.plan.map((f) => loadPlanFile(f)));
      let lock: StateLock | undefined;
      if (o.stateDir !== undefined) {
        try {
          lock = await lockStateDir(o.stateDir);
        } catch (error) {
          if (!(error instanceof StateDirInUseError)) throw error;
          process.stderr.write(`switchyard serve: ${error.message}\n`);
          setCode(2);
          return;
        }
      }
      const log = jsonLogger((line) => process.stderr.write(`${line}\n`));
      // Without --auth (or WEBSITE_AUTH_ENABLED), an app without App Service authentication: principal headers are not read.
      const easyAuth = o.auth === true || appServiceAuthEnabled() ? await createLocalEasyAuth() : undefined;
      const authOptions = easyAuth ? { appServiceAuthOn: true, validateToken: easyAuth.validateAlertToken } : {};
      // The plans' notification channels get made-up credentials: the estate plays each service.
      const channels = plans.map((p) => localChannelSettings(p));
      const channelSettings = Object.assign({}, ...channels.map((c) => c.settings)) as Record<string, string>;
      const app = await startLocalApp({ plans, log, notifier: new ConsoleNotifier(process.stderr), channelSettings, deliveryTimer: true, ...(o.timeScale !== undefined ? { timeScale: o.timeScale } : {}), ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}), journalDir: o.journalDir, ...authOptions });
      let http: Awaited<ReturnType<typeof serveHttp>>;
      try {
        http = await serveHttp(app.routes, { port: o.port, ...(easyAuth ? { authenticate: easyAuth.authenticate } : {}) });
      } catch (error) {
        // Nothing started is left running or on disk: the estate's temporary folder goes with it.
        await app.stop();
        await lock?.release();
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EADDRINUSE" && code !== "EACCES") throw error;
        process.stderr.write(`switchyard serve: port ${o.port} ${code === "EADDRINUSE" ? "is in use" : "is not allowed"}; choose another with --port (0 picks a free one)\n`);
        setCode(2);
        return;
      }
      for (const { host, secret } of channels.flatMap((c) => c.webhookSecrets)) app.estate.setWebhookSecret(host, secret);
      const tokens = easyAuth ? await writeLocalTokens(easyAuth) : undefined;
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`serving: ${http.url}`);
      out(`estate: ${app.estate.url}`);
      out(`ca: ${app.estate.ca.caPath}`);
      out(`azurite: ${app.azurite.blobEndpoint}`);
      out(`plans: ${plans.map((p) => p.name).join(", ")}`);
      if (plans.some((p) => p.notifications.length > 0)) out(`notifications: ${app.estate.url}/_estate/notifications (what each channel received)`);
      for (const line of describeLocalAuth(tokens)) out(line);
      out(`journal: ${o.journalDir} (switchyard report <runId> reads it)`);
      if (o.stateDir !== undefined) out(`state: ${o.stateDir} (kept; a serve started again on it resumes its runs)`);
      if (o.timeScale !== undefined) out(`time scale: ${o.timeScale} (an Azure hour lasts ${(3600 / o.timeScale).toFixed(1)} s)`);
      out(`health and lag timers: every ${o.probeInterval} s (Ctrl+C stops)`);
      let running = false;
      const tick = async () => {
        if (running) return;
        running = true;
        try {
          for (const summary of await app.checkHealth()) {
            for (const change of summary.changes) log.info(`region ${change.region} is now ${change.to}`, { plan: summary.plan, region: change.region });
            if (summary.started) log.info(`automatic failover ${summary.started.runId} started`, { plan: summary.plan, runId: summary.started.runId });
          }
        } catch (error) {
          log.error("health check failed", { error: error instanceof Error ? error.message : String(error) });
        } finally {
          running = false;
        }
      };
      // The replicationLag timer, on the same interval but on its own: a slow round never delays detection.
      let measuring = false;
      const lagTick = async () => {
        if (measuring) return;
        measuring = true;
        try {
          await app.measureLag(); // the samples the RPO gate falls back on in an outage (GET /api/plans/{plan} shows them)
        } catch (error) {
          log.error("lag round failed", { error: error instanceof Error ? error.message : String(error) });
        } finally {
          measuring = false;
        }
      };
      const timer = setInterval(() => {
        void tick();
        void lagTick();
      }, o.probeInterval * 1000);
      void tick();
      void lagTick();
      // The readiness timer: at start, then every 30 minutes (GET /api/plans/{plan} shows the latest).
      const readinessTick = () =>
        app.checkReadiness().then(
          (results) => {
            for (const r of results) log.info(`readiness of ${r.plan}: ${r.error ? `not evaluated (${r.error})` : r.result?.ready ? "ready" : "not ready"}`);
          },
          (error: unknown) => log.error("readiness round failed", { error: error instanceof Error ? error.message : String(error) }),
        );
      const readinessTimer = setInterval(() => void readinessTick(), 30 * 60_000);
      void readinessTick();
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      clearInterval(timer);
      clearInterval(readinessTimer);
      await http.close();
      await tokens?.remove();
      await app.stop();
      await lock?.release();
      setCode(0);
    });
}
