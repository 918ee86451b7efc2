/**
 * `switchyard status | runs | run | failover | failback | approve | abort | pause | resume | resume-run | rotate-secret`:
 * operate a deployed Switchyard from a terminal through its operator HTTP API. The function key comes
 * from SWITCHYARD_FUNCTION_KEY; where App Service authentication is on, a bearer token from the Azure
 * CLI's sign-in for SWITCHYARD_APP_SCOPE (or --scope). Neither is ever printed.
 *
 * Exit codes: 0 done, 1 refused / failed run / API or network error, 2 bad or missing arguments.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { isValidRunId } from "../journal/guard.ts";
import { callApi, OperateError, type ApiTarget, type OperateDeps } from "./operateApi.ts";
import { formatAutoFailover, formatRotation, formatDecision, formatDryRun, formatPlan, formatPlans, formatResumed, formatRun, formatRuns, formatStarted, isFailedRun, type FormatContext } from "./operateFormat.ts";

/** Bad or missing arguments (exit code 2), found after commander parsed them (values from the environment). */
export class UsageError extends Error {
  override name = "UsageError";
}

// ---- argument validation (each throws InvalidArgumentError with a message naming what is wrong) ----

/** The app's base URL: http(s), no credentials, no query (the function key goes in SWITCHYARD_FUNCTION_KEY). */
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function parseAppUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`'${clip(value)}' is not a URL (expected https://<app>.azurewebsites.net)`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InvalidArgumentError(`the app URL must be http(s), not ${url.protocol.replace(/:$/, "")}`);
  // The function key and the token go with every request: in clear only to this machine (serve, func start).
  if (url.protocol === "http:" && !LOOPBACK.has(url.hostname.toLowerCase())) {
    throw new InvalidArgumentError(`the app URL must be https (http only for this machine: localhost, 127.0.0.1, [::1]), not ${clip(value)}`);
  }
  if (url.username || url.password) throw new InvalidArgumentError("the app URL must not carry credentials");
  if (url.search || url.hash) throw new InvalidArgumentError("the app URL must not have a query or fragment (pass the function key in SWITCHYARD_FUNCTION_KEY, never in the URL)");
  // https://app/ and https://app/api both name the app: the routes are appended under /api.
  url.pathname = url.pathname.replace(/\/+$/, "").replace(/\/api$/, "") || "/";
  return url;
}

const PLAN_NAME = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;

export function parsePlanName(value: string): string {
  if (!PLAN_NAME.test(value)) throw new InvalidArgumentError(`'${clip(value)}' is not a plan name: 3-40 lower-case letters, digits and dashes, starting with a letter`);
  return value;
}

export function parseRunId(value: string): string {
  if (!isValidRunId(value)) throw new InvalidArgumentError(`'${clip(value)}' is not a run id: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  return value;
}

/** A Key Vault secret name: 1-127 letters, digits and dashes. */
export function parseSecretName(value: string): string {
  if (!/^[0-9a-zA-Z-]{1,127}$/.test(value)) throw new InvalidArgumentError(`'${clip(value)}' is not a Key Vault secret name: 1-127 letters, digits and dashes`);
  return value;
}

/** Why, in one line: control characters become spaces (as the API does), then 3-500 characters. */
export function parseReason(value: string): string {
  const text = value.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  if (text.length < 3) throw new InvalidArgumentError("say why (at least 3 characters)");
  if (text.length > 500) throw new InvalidArgumentError(`a reason is at most 500 characters (this one has ${text.length})`);
  return text;
}

/** The Entra scope of the app: its client id or app id URI, with `/.default` added when missing. */
export function parseScope(value: string): string {
  const text = value.trim();
  if (text === "" || /\s/.test(text)) throw new InvalidArgumentError("the scope is the app's client id or app id URI (api://...), without spaces");
  return text.endsWith("/.default") ? text : `${text}/.default`;
}

const integer = (what: string, min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`${what} is a whole number ${min}-${max}`);
  return n;
};

const clip = (text: string) => (text.length > 60 ? `${text.slice(0, 60)}…` : text).replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

// ---- the commands -----------------------------------------------------------------------------------

interface Common {
  app?: URL;
  scope?: string;
  timeout: number;
  json?: boolean;
}

/** Where to call, from the options and the environment; a UsageError when the app is not named. */
export function targetOf(options: Common, env: OperateDeps["env"]): ApiTarget {
  let app = options.app;
  let scope = options.scope;
  try {
    if (!app && env.SWITCHYARD_APP_URL) app = parseAppUrl(env.SWITCHYARD_APP_URL);
    if (!scope && env.SWITCHYARD_APP_SCOPE) scope = parseScope(env.SWITCHYARD_APP_SCOPE);
  } catch (error) {
    throw new UsageError(`${app ? "SWITCHYARD_APP_SCOPE" : "SWITCHYARD_APP_URL"}: ${(error as Error).message}`);
  }
  if (!app) throw new UsageError("name the app: --app https://<app>.azurewebsites.net (or set SWITCHYARD_APP_URL)");
  const key = env.SWITCHYARD_FUNCTION_KEY?.trim();
  return { app, timeoutMs: options.timeout * 1000, ...(key ? { functionKey: key } : {}), ...(scope ? { scope } : {}) };
}

/** The Azure CLI's token for the scope (`az login` first). */
async function azureCliToken(scope: string, abortSignal: AbortSignal): Promise<string> {
  const { AzureCliCredential } = await import("@azure/identity");
  const token = await new AzureCliCredential().getToken(scope, { abortSignal });
  return token.token;
}

export function defaultOperateDeps(): OperateDeps {
  return {
    env: process.env,
    fetch: globalThis.fetch,
    getToken: azureCliToken,
    clock: () => new Date(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
}

type Call = (target: ApiTarget) => Promise<{ body: unknown; lines: (ctx: FormatContext) => string[]; failed?: boolean }>;

/** The operator commands, each with --app, --scope, --timeout and --json. */
export function operateCommands(setCode: (code: number) => void, deps: OperateDeps = defaultOperateDeps()): Command[] {
  const make = (name: string, description: string) =>
    new Command(name)
      .description(description)
      .exitOverride()
      .configureOutput({ writeErr: (s) => deps.err(s) })
      .option("--app <url>", "the Switchyard app's URL (default: SWITCHYARD_APP_URL)", parseAppUrl)
      .option("--scope <scope>", "where App Service authentication is on: the app's client id or app id URI, for a token of the Azure CLI's sign-in (default: SWITCHYARD_APP_SCOPE)", parseScope)
      .option("--timeout <seconds>", "how long to wait for the answer", integer("the timeout", 1, 300), 30)
      .option("--json", "print the API's answer as it is");

  /** Runs one call: prints the answer (or the error in one voice) and sets the exit code. */
  const act = (name: string, options: Common, call: Call, subject: { plan?: string; runId?: string } = {}) => async () => {
    let target: ApiTarget;
    try {
      target = targetOf(options, deps.env);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      deps.err(`switchyard ${name}: ${error.message}\n`);
      setCode(2);
      return;
    }
    const ctx: FormatContext = { app: target.app.href.replace(/\/$/, ""), now: deps.clock() };
    try {
      const answer = await call(target);
      deps.out(options.json ? `${JSON.stringify(answer.body, null, 2)}\n` : `${answer.lines(ctx).join("\n")}\n`);
      setCode(answer.failed ? 1 : 0);
    } catch (error) {
      if (!(error instanceof OperateError)) throw error;
      if (options.json && error.body !== undefined) deps.out(`${JSON.stringify(error.body, null, 2)}\n`);
      let remedy = error.remedy;
      if (subject.runId) remedy = remedy.replace(/\bID\b/g, subject.runId);
      if (subject.plan) remedy = remedy.replace(/\bPLAN\b/g, subject.plan);
      deps.err(`switchyard ${name}: ${error.message}\n  what to do: ${remedy}\n`);
      setCode(1);
    }
  };

  const get = (path: string, lines: (body: unknown, ctx: FormatContext) => string[], failed?: (body: unknown) => boolean): Call => async (target) => {
    const { body } = await callApi(deps, target, "GET", path);
    return { body, lines: (ctx) => lines(body, ctx), failed: failed?.(body) ?? false };
  };
  const post = (path: string, payload: unknown, lines: (body: unknown, ctx: FormatContext) => string[]): Call => async (target) => {
    const { body } = await callApi(deps, target, "POST", path, payload);
    return { body, lines: (ctx) => lines(body, ctx) };
  };
  const seg = encodeURIComponent;

  const status = make("status", "Show every plan of the app (or one plan with --plan): the primary serving, region health, auto-failover, the current run.")
    .option("--plan <name>", "one plan, with its detection details", parsePlanName)
    .action(async (o: Common & { plan?: string }) =>
      act("status", o, o.plan ? get(`plans/${seg(o.plan)}`, formatPlan) : get("plans", formatPlans), o.plan ? { plan: o.plan } : {})(),
    );

  const runs = make("runs", "List a plan's runs, newest first.")
    .requiredOption("--plan <name>", "the plan", parsePlanName)
    .option("--top <n>", "how many runs (1-100)", integer("--top", 1, 100), 20)
    .action(async (o: Common & { plan: string; top: number }) => act("runs", o, get(`plans/${seg(o.plan)}/runs?top=${o.top}`, (b) => formatRuns(b)), { plan: o.plan })());

  const run = make("run", "Show a run: its step, what it waits for, how it ended, and the command that answers or resumes it. Exit code 1 when the run failed or stopped.")
    .argument("<id>", "the run id", parseRunId)
    .action(async (id: string, o: Common) => act("run", o, get(`runs/${seg(id)}`, formatRun, isFailedRun), { runId: id })());

  const failover = make("failover", "Start a failover of a plan to its secondary region.")
    .requiredOption("--plan <name>", "the plan", parsePlanName)
    .requiredOption("--reason <text>", "why (3-500 characters; journaled and notified)", parseReason)
    .addOption(new Option("--mode <mode>", "planned: no data loss; forced: may lose data within the RPO budget or after an approval").choices(["planned", "forced"]).default("planned"))
    .option("--dry-run", "show the writes the run would make, resource by resource, and make none")
    .action(async (o: Common & { plan: string; reason: string; mode: string; dryRun?: boolean }) =>
      act("failover", o, post(`plans/${seg(o.plan)}/failover${o.dryRun ? "?dryRun=true" : ""}`, { mode: o.mode, reason: o.reason }, o.dryRun ? formatDryRun : formatStarted), { plan: o.plan })(),
    );

  const failback = make("failback", "Start a failback of a plan to its primary region (re-protects first).")
    .requiredOption("--plan <name>", "the plan", parsePlanName)
    .requiredOption("--reason <text>", "why (3-500 characters; journaled and notified)", parseReason)
    .option("--dry-run", "show the writes the run would make, resource by resource, and make none")
    .action(async (o: Common & { plan: string; reason: string; dryRun?: boolean }) =>
      act("failback", o, post(`plans/${seg(o.plan)}/failback${o.dryRun ? "?dryRun=true" : ""}`, { reason: o.reason }, o.dryRun ? formatDryRun : formatStarted), { plan: o.plan })(),
    );

  const decision = (name: "approve" | "abort", description: string) =>
    make(name, description)
      .argument("<id>", "the run id", parseRunId)
      .requiredOption("--reason <text>", "why (3-500 characters; journaled and notified)", parseReason)
      .action(async (id: string, o: Common & { reason: string }) => act(name, o, post(`runs/${seg(id)}/${name}`, { reason: o.reason }, formatDecision), { runId: id })());

  const auto = (name: "pause" | "resume", enabled: boolean, description: string) =>
    make(name, description)
      .requiredOption("--plan <name>", "the plan", parsePlanName)
      .requiredOption("--reason <text>", "why (3-500 characters; journaled and notified)", parseReason)
      .action(async (o: Common & { plan: string; reason: string }) => act(name, o, post(`plans/${seg(o.plan)}/auto-failover`, { enabled, reason: o.reason }, (b) => formatAutoFailover(b)), { plan: o.plan })());

  const resumeRun = make("resume-run", "Resume a run that stopped halfway: a new run of the same kind, from and to, which decides from Azure's state.")
    .argument("<id>", "the stopped run's id", parseRunId)
    .requiredOption("--reason <text>", "why (3-500 characters; journaled and notified)", parseReason)
    .action(async (id: string, o: Common & { reason: string }) => act("resume-run", o, post(`runs/${seg(id)}/resume`, { reason: o.reason }, formatResumed), { runId: id })());

  const rotateSecret = make("rotate-secret", "Rotate one of a plan's Key Vault secrets now (in every vault the plan names; deferred while a run holds the plan).")
    .requiredOption("--plan <name>", "the plan", parsePlanName)
    .requiredOption("--secret <name>", "the secret's name in the plan", parseSecretName)
    .requiredOption("--reason <text>", "why (3-500 characters; journaled)", parseReason)
    .action(async (o: Common & { plan: string; secret: string; reason: string }) =>
      act("rotate-secret", o, post(`plans/${seg(o.plan)}/secrets/${seg(o.secret)}/rotate`, { reason: o.reason }, (b) => formatRotation(b)), { plan: o.plan })(),
    );

  return [
    status,
    runs,
    run,
    failover,
    failback,
    decision("approve", "Approve a run waiting for approval of a forced (data-loss) failover."),
    decision("abort", "Abort a run waiting for approval (or a failback waiting for re-protection)."),
    auto("pause", false, "Pause a plan's auto-failover (alerts are still recorded)."),
    auto("resume", true, "Resume a plan's auto-failover."),
    resumeRun,
    rotateSecret,
  ];
}
