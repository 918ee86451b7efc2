/**
 * The client side of the operator HTTP API (routes under /api of a deployed Switchyard, or of
 * `switchyard serve`): one request with the function key and, where App Service authentication is on,
 * a bearer token; the answer's JSON, or an OperateError that says what went wrong and what to do.
 * Neither the key nor the token is ever part of a message.
 */

/** What the commands need from the outside world: tests pass plain objects. */
export interface OperateDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly fetch: typeof fetch;
  /** A bearer token for the scope (the Azure CLI's credential in production). */
  readonly getToken: (scope: string, abortSignal: AbortSignal) => Promise<string>;
  readonly clock: () => Date;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Where and how to call: the app's base URL, the function key, the token scope, the time limit. */
export interface ApiTarget {
  readonly app: URL;
  readonly functionKey?: string;
  readonly scope?: string;
  readonly timeoutMs: number;
}

/** A call that failed: the API's error code and message (when it sent one), the HTTP status, and the remedy. */
export class OperateError extends Error {
  constructor(
    message: string,
    readonly remedy: string,
    readonly status?: number,
    readonly code?: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = "OperateError";
  }
}

/** The header the Functions host reads a function (or host) key from. */
export const FUNCTION_KEY_HEADER = "x-functions-key";

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Calls `method path` (path under /api, query included) and resolves with a 2xx answer's JSON. */
export async function callApi(deps: OperateDeps, target: ApiTarget, method: "GET" | "POST", path: string, body?: unknown): Promise<ApiAnswer> {
  const signal = AbortSignal.timeout(target.timeoutMs);
  const url = new URL(`${target.app.pathname.replace(/\/+$/, "")}/api/${path}`, target.app);
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (target.functionKey) headers[FUNCTION_KEY_HEADER] = target.functionKey;
  if (target.scope) {
    let token: string;
    try {
      token = await deps.getToken(target.scope, signal);
    } catch (error) {
      throw new OperateError(
        `no token for ${target.scope} from the Azure CLI: ${firstLine(error)}`,
        "sign in with `az login` (as a user who holds the Switchyard.Operator app role), or check SWITCHYARD_APP_SCOPE / --scope",
      );
    }
    headers.authorization = `Bearer ${token}`;
  }
  let response: Response;
  try {
    response = await deps.fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal, redirect: "manual" });
  } catch (error) {
    if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
      throw new OperateError(`no answer from ${target.app.origin} within ${target.timeoutMs / 1000} s`, "check that the app is running and reachable; a longer --timeout may help");
    }
    throw new OperateError(`could not reach ${target.app.origin}: ${causeOf(error)}`, "check --app (or SWITCHYARD_APP_URL) and your network");
  }
  const text = await response.text().catch(() => "");
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (response.status >= 200 && response.status < 300) {
    if (parsed === undefined) throw new OperateError(`${method} /api/${path} answered ${response.status} without a JSON body`, "check that --app is a Switchyard app", response.status);
    return { status: response.status, body: parsed };
  }
  throw apiError(method, path, response.status, parsed, { keySent: target.functionKey !== undefined, tokenSent: target.scope !== undefined });
}

/** The error of a non-2xx answer: the API's code and message, and what to do about it. */
export function apiError(method: string, path: string, status: number, body: unknown, sent: { keySent: boolean; tokenSent: boolean }): OperateError {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  const code = typeof error?.code === "string" ? error.code : undefined;
  const message = typeof error?.message === "string" ? error.message : undefined;
  const what = code ? `${code}: ${message ?? "(no message)"}` : `${method} /api/${path} failed`;
  return new OperateError(`${what} (HTTP ${status})`, remedyOf(status, code, sent, isObject(error?.details) ? error.details : undefined), status, code, body);
}

function remedyOf(status: number, code: string | undefined, sent: { keySent: boolean; tokenSent: boolean }, details: Record<string, unknown> | undefined): string {
  switch (code) {
    case "PlanNotFound":
      return "`switchyard status` lists the app's plans";
    case "RunNotFound":
      return "`switchyard runs --plan PLAN` lists a plan's runs";
    case "RunInProgress":
      return typeof details?.runningRunId === "string" ? `follow it with \`switchyard run ${details.runningRunId}\`, or abort it first if it waits for a decision` : "follow the run in progress with `switchyard status --plan PLAN`";
    case "SecretNotFound":
      return "the plan's secrets are in its `secrets` section (names as Key Vault spells them)";
    case "RotationInProgress":
      return "one rotation per secret at a time: wait for it (GET /api/plans/PLAN/secrets/<name> shows it)";
    case "UseFailback":
      return "use `switchyard failback`: it re-protects before it returns to the plan's primary";
    case "NothingToFailBack":
      return "nothing to do: the plan's primary is already serving";
    case "NotWaitingForApproval":
      return "see what the run waits for with `switchyard run ID`";
    case "DecisionTaken":
      return "the first decision stands; see the run with `switchyard run ID`";
    case "DecisionNotDelivered":
      return "send the same command again: the decision is kept and will be delivered";
    case "HomeRegionDown":
      return "wait until detection sees the home region healthy again (`switchyard status --plan PLAN`), then fail back";
    case "NotResumable":
      return "see the run with `switchyard run ID`; only a run that stopped halfway, the plan's latest, can be resumed";
    case "InvalidRequestBody":
    case "InvalidJson":
    case "EmptyBody":
      return "fix the field named above";
    case "Unauthenticated":
    case "InvalidToken":
      return "sign in with `az login` and set SWITCHYARD_APP_SCOPE (or --scope) to the app's client id or app id URI";
    case "Forbidden":
      return "ask for the Switchyard.Operator app role on the app's Entra application";
    case "NotFound":
      return "this app does not serve that route: it may run an older Switchyard, or --app may name another app";
  }
  if (status === 401) {
    if (!sent.keySent) return "set SWITCHYARD_FUNCTION_KEY to the app's function key";
    if (!sent.tokenSent) return "App Service authentication may be on: `az login` and set SWITCHYARD_APP_SCOPE (or --scope); else check SWITCHYARD_FUNCTION_KEY";
    return "check SWITCHYARD_FUNCTION_KEY, and that the Azure CLI's account may call the app";
  }
  // Redirects are not followed (the key and the token go to the app only): App Service authentication
  // set to redirect unauthenticated callers to sign in answers 302.
  if (status >= 300 && status < 400) return "the app redirected instead of answering: where App Service authentication is on, `az login` and set SWITCHYARD_APP_SCOPE (or --scope); else check --app";
  if (status === 403) return "the caller lacks the right: the Switchyard.Operator app role is needed for changes";
  if (status === 404) return "this app does not serve that route: it may run an older Switchyard, or --app may name another app";
  if (status >= 500) return "the app failed; its logs (Application Insights) tell why, and the same command may be sent again";
  return "see the message above";
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!.slice(0, 300);
}

/** The network cause of a failed fetch ("ECONNREFUSED"), without anything of the request. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === "string") return cause.code;
  return firstLine(cause?.message ?? error);
}
