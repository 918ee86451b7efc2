/**
 * The operator commands without a network: argument validation, the formatting of the API's answers,
 * errors in one voice, and what a request carries (the function key, the bearer token), through a
 * fetch that answers like the API.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { describe, expect, it } from "vitest";
import { operateCommands, parseAppUrl, parsePlanName, parseReason, parseRunId, parseScope } from "../../src/cli/operate.ts";
import { apiError, FUNCTION_KEY_HEADER, type OperateDeps } from "../../src/cli/operateApi.ts";
import { formatPlans, formatRun, formatRuns, isFailedRun, relative } from "../../src/cli/operateFormat.ts";

const NOW = new Date("2026-12-03T08:00:00.000Z");
const APP = "https://sy-func.azurewebsites.net";
const ctx = { app: APP, now: NOW };
const KEY = "fk_unit-test-function-key-0123456789";
const TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.unit.token";

interface Sent {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** Runs `switchyard <args>` with the operator commands over a fetch that answers `answer`; the exit code as main maps it. */
async function run(args: string[], answer: (sent: Sent) => { status: number; body?: unknown } | Error, env: Record<string, string> = {}, tokenError?: Error) {
  const sent: Sent[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const scopes: string[] = [];
  const deps: OperateDeps = {
    env: { SWITCHYARD_APP_URL: APP, ...env },
    fetch: (async (url: URL, init: RequestInit) => {
      expect(init.redirect).toBe("manual");
      const s: Sent = { url: String(url), method: String(init.method), headers: init.headers as Record<string, string>, ...(init.body ? { body: JSON.parse(String(init.body)) } : {}) };
      sent.push(s);
      const a = answer(s);
      if (a instanceof Error) throw a;
      return new Response(a.body === undefined ? "" : JSON.stringify(a.body), { status: a.status });
    }) as typeof fetch,
    getToken: async (scope) => {
      scopes.push(scope);
      if (tokenError) throw tokenError;
      return TOKEN;
    },
    clock: () => NOW,
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  };
  let code = 0;
  const program = new Command().exitOverride().configureOutput({ writeErr: (s) => err.push(s), writeOut: (s) => out.push(s) });
  for (const c of operateCommands((c) => (code = c), deps)) program.addCommand(c);
  try {
    await program.parseAsync(["node", "switchyard", ...args]);
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    code = error.exitCode === 0 ? 0 : 2;
  }
  return { code, out: out.join(""), err: err.join(""), sent, scopes };
}

const refusal = (status: number, code: string, message: string, details?: unknown) => ({ status, body: { error: { code, message, ...(details ? { details } : {}) } } });

describe("argument validation", () => {
  it("takes an http(s) app URL, with or without /api, and refuses other schemes, credentials and a query", () => {
    expect(parseAppUrl("https://sy.azurewebsites.net/api/").href).toBe("https://sy.azurewebsites.net/");
    expect(parseAppUrl("http://127.0.0.1:7071").href).toBe("http://127.0.0.1:7071/");
    expect(parseAppUrl("http://localhost:7071/api").href).toBe("http://localhost:7071/");
    // The key and token travel with every request: in clear only to this machine.
    expect(() => parseAppUrl("http://sy-func.azurewebsites.net")).toThrow(/must be https \(http only for this machine/);
    expect(() => parseAppUrl("ftp://sy.example")).toThrow("the app URL must be http(s), not ftp");
    expect(() => parseAppUrl("sy.azurewebsites.net")).toThrow(/is not a URL/);
    expect(() => parseAppUrl("https://user:pw@sy.example")).toThrow("the app URL must not carry credentials");
    expect(() => parseAppUrl("https://sy.example/?code=abc")).toThrow(/SWITCHYARD_FUNCTION_KEY, never in the URL/);
  });

  it("takes a reason of 3-500 characters on one line, as the API counts them", () => {
    expect(parseReason("  region\nlost \u001b[2J ")).toBe("region lost  [2J");
    expect(() => parseReason(" \n\t ")).toThrow("say why (at least 3 characters)");
    expect(() => parseReason("ok")).toThrow("say why (at least 3 characters)");
    expect(parseReason("x".repeat(500))).toHaveLength(500);
    expect(() => parseReason("x".repeat(501))).toThrow("a reason is at most 500 characters (this one has 501)");
  });

  it("takes plan names and run ids of the shapes the API accepts, naming what is wrong", () => {
    expect(parsePlanName("contoso-orders")).toBe("contoso-orders");
    expect(() => parsePlanName("Contoso/../x")).toThrow(InvalidArgumentError);
    expect(() => parsePlanName("a")).toThrow(/not a plan name: 3-40 lower-case letters/);
    expect(parseRunId("contoso-orders-failover-20261203T080000Z")).toBe("contoso-orders-failover-20261203T080000Z");
    expect(() => parseRunId("../etc")).toThrow(/not a run id/);
  });

  it("adds /.default to a client id or app id URI, and refuses an empty scope", () => {
    expect(parseScope("api://switchyard")).toBe("api://switchyard/.default");
    expect(parseScope("0f3c2a1b-0000-4000-8000-000000000001/.default")).toBe("0f3c2a1b-0000-4000-8000-000000000001/.default");
    expect(() => parseScope(" ")).toThrow(/client id or app id URI/);
  });

  it("answers a bad or missing argument with exit code 2 and sends nothing", async () => {
    const answer = () => ({ status: 200, body: {} });
    for (const args of [
      ["failover", "--plan", "contoso-orders"],
      ["failover", "--plan", "contoso-orders", "--reason", "ok"],
      ["failover", "--plan", "contoso-orders", "--reason", "drill", "--mode", "sideways"],
      ["runs"],
      ["runs", "--plan", "contoso-orders", "--top", "101"],
      ["run"],
      ["approve", "some-run"],
      ["status", "--app", "ftp://x"],
      ["status", "--timeout", "0"],
    ]) {
      const r = await run(args, answer);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.sent, args.join(" ")).toEqual([]);
    }
    const missingApp = await run(["status"], answer, { SWITCHYARD_APP_URL: "" });
    expect(missingApp.code).toBe(2);
    expect(missingApp.err).toContain("switchyard status: name the app: --app https://<app>.azurewebsites.net (or set SWITCHYARD_APP_URL)");
    const badEnv = await run(["status"], answer, { SWITCHYARD_APP_URL: "javascript:alert(1)" });
    expect(badEnv.code).toBe(2);
    expect(badEnv.err).toContain("SWITCHYARD_APP_URL: the app URL must be http(s)");
  });
});

describe("requests", () => {
  it("sends the function key as x-functions-key and, with a scope, the Azure CLI's token, and prints neither", async () => {
    const r = await run(["failover", "--plan", "contoso-orders", "--reason", "region lost", "--mode", "forced"], () => refusal(409, "UseFailback", "centralus is serving"), {
      SWITCHYARD_FUNCTION_KEY: KEY,
      SWITCHYARD_APP_SCOPE: "api://switchyard",
    });
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]).toMatchObject({ url: `${APP}/api/plans/contoso-orders/failover`, method: "POST", body: { mode: "forced", reason: "region lost" } });
    expect(r.sent[0]!.headers[FUNCTION_KEY_HEADER]).toBe(KEY);
    expect(r.sent[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(r.scopes).toEqual(["api://switchyard/.default"]);
    expect(r.out + r.err).not.toContain(KEY);
    expect(r.out + r.err).not.toContain(TOKEN);
  });

  it("sends no key and asks for no token when neither is configured", async () => {
    const r = await run(["status", "--plan", "contoso-orders"], () => ({ status: 200, body: { plan: "contoso-orders" } }));
    expect(r.sent[0]!.headers[FUNCTION_KEY_HEADER]).toBeUndefined();
    expect(r.sent[0]!.headers.authorization).toBeUndefined();
    expect(r.scopes).toEqual([]);
  });

  it("says when the Azure CLI has no token, without sending the request", async () => {
    const r = await run(["status"], () => ({ status: 200, body: { plans: [] } }), { SWITCHYARD_APP_SCOPE: "api://switchyard" }, new Error("Please run 'az login' to set up an account.\nmore"));
    expect(r.code).toBe(1);
    expect(r.sent).toEqual([]);
    expect(r.err).toBe(
      "switchyard status: no token for api://switchyard/.default from the Azure CLI: Please run 'az login' to set up an account.\n" +
        "  what to do: sign in with `az login` (as a user who holds the Switchyard.Operator app role), or check SWITCHYARD_APP_SCOPE / --scope\n",
    );
  });
});

describe("errors in one voice", () => {
  it("prints the API's code, message and HTTP status, and what to do with this run; exit code 1", async () => {
    const r = await run(["approve", "contoso-orders-failover-20261203T080000Z", "--reason", "accept the loss"], () =>
      refusal(409, "NotWaitingForApproval", "run contoso-orders-failover-20261203T080000Z is not waiting for approval"),
    );
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      "switchyard approve: NotWaitingForApproval: run contoso-orders-failover-20261203T080000Z is not waiting for approval (HTTP 409)\n" +
        "  what to do: see what the run waits for with `switchyard run contoso-orders-failover-20261203T080000Z`\n",
    );
  });

  it("names the running run of a RunInProgress refusal", () => {
    const e = apiError("POST", "plans/p/failover", 409, { error: { code: "RunInProgress", message: "plan p already has run r1 in progress", details: { runningRunId: "r1" } } }, { keySent: true, tokenSent: false });
    expect(e.message).toBe("RunInProgress: plan p already has run r1 in progress (HTTP 409)");
    expect(e.remedy).toMatch(/switchyard run r1/);
  });

  it("tells a route the app does not serve (404 NotFound) from an unknown plan", async () => {
    const route = await run(["runs", "--plan", "contoso-orders"], () => refusal(404, "NotFound", "no route for /api/plans/contoso-orders/runs"));
    expect(route.code).toBe(1);
    expect(route.err).toContain("NotFound: no route for /api/plans/contoso-orders/runs (HTTP 404)");
    expect(route.err).toContain("this app does not serve that route: it may run an older Switchyard");
    const plan = await run(["status", "--plan", "fabrikam-web"], () => refusal(404, "PlanNotFound", "no plan named 'fabrikam-web'"));
    expect(plan.err).toContain("what to do: `switchyard status` lists the app's plans");
  });

  it("tells a 401 without a function key to set one, and a body that is not the API's by its status", async () => {
    const r = await run(["status"], () => ({ status: 401 }));
    expect(r.code).toBe(1);
    expect(r.err).toBe("switchyard status: GET /api/plans failed (HTTP 401)\n  what to do: set SWITCHYARD_FUNCTION_KEY to the app's function key\n");
  });

  it("does not follow a redirect (the key stays with the app) and says what a redirect to sign in means", async () => {
    const r = await run(["status"], () => ({ status: 302 }), { SWITCHYARD_FUNCTION_KEY: KEY });
    expect(r.sent).toHaveLength(1);
    expect(r.code).toBe(1);
    expect(r.err).toContain("switchyard status: GET /api/plans failed (HTTP 302)\n  what to do: the app redirected instead of answering: where App Service authentication is on, `az login` and set SWITCHYARD_APP_SCOPE");
  });

  it("reports an unreachable app and a timeout without a stack", async () => {
    const refused = await run(["status"], () => Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } }));
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(`switchyard status: could not reach ${APP}: ECONNREFUSED\n  what to do: check --app (or SWITCHYARD_APP_URL) and your network\n`);
    const slow = await run(["status", "--timeout", "5"], () => Object.assign(new Error("timed out"), { name: "TimeoutError" }));
    expect(slow.err).toContain(`no answer from ${APP} within 5 s`);
  });

  it("with --json prints the API's error body as it is on stdout, and the error on stderr", async () => {
    const body = { error: { code: "HomeRegionDown", message: "eastus2 is down", details: { verdict: "down", signals: 3 } } };
    const r = await run(["failback", "--plan", "contoso-orders", "--reason", "home is back", "--json"], () => ({ status: 409, body }));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual(body);
    expect(r.err).toContain("HomeRegionDown: eastus2 is down (HTTP 409)");
    expect(r.err).toContain("wait until detection sees the home region healthy again (`switchyard status --plan contoso-orders`)");
  });
});

describe("formatting", () => {
  const waiting = {
    runId: "tailspin-media-failover-20261203T074500Z",
    status: "running",
    kind: "failover",
    from: "uksouth",
    to: "ukwest",
    trigger: { source: "manual", by: "alice@contoso.com", reason: "uksouth outage", detectedAt: "2026-12-03T07:45:00.000Z" },
    progress: { runId: "tailspin-media-failover-20261203T074500Z", kind: "failover", step: "rpo-gate", stepStartedAt: "2026-12-03T07:46:00.000Z", waitingFor: "approval" },
    approval: {
      deadline: "2026-12-03T08:15:00.000Z",
      why: "replication lag 900 s is over the RPO budget of 300 s",
      atStake: "up to 900 s of writes to tailspinmedia",
      approve: "POST /api/runs/tailspin-media-failover-20261203T074500Z/approve",
      abort: "POST /api/runs/tailspin-media-failover-20261203T074500Z/abort",
    },
  };

  it("shows a run waiting for approval with its deadline, what is at stake and the commands that answer it", () => {
    const lines = formatRun(waiting, ctx);
    expect(lines).toContain("WAITING FOR YOUR DECISION — deadline 2026-12-03T08:15:00.000Z (in 15 min)");
    expect(lines).toContain("  at stake: up to 900 s of writes to tailspinmedia");
    expect(lines).toContain("  why: replication lag 900 s is over the RPO budget of 300 s");
    expect(lines).toContain(`  approve: switchyard approve tailspin-media-failover-20261203T074500Z --reason "<why>" --app ${APP}`);
    expect(lines).toContain(`  abort:   switchyard abort tailspin-media-failover-20261203T074500Z --reason "<why>" --app ${APP}`);
    expect(lines[0]).toBe("run tailspin-media-failover-20261203T074500Z: failover uksouth → ukwest, running");
    expect(isFailedRun(waiting)).toBe(false);
  });

  it("shows a stopped run with the command that resumes it, and counts it failed", () => {
    const stopped = { runId: "r-1", status: "failed", kind: "failover", from: "a", to: "b", error: "storage failover failed", resume: "POST /api/runs/r-1/resume" };
    expect(formatRun(stopped, ctx)).toContain(`STOPPED HALFWAY — resume it: switchyard resume-run r-1 --reason "<why>" --app ${APP}`);
    expect(isFailedRun(stopped)).toBe(true);
    expect(isFailedRun({ runId: "r-2", status: "completed", output: { outcome: "stopped-aborted" } })).toBe(true);
    expect(isFailedRun({ runId: "r-3", status: "completed", output: { outcome: "completed" } })).toBe(false);
    expect(isFailedRun({ runId: "r-4", status: "stopped" })).toBe(true);
  });

  it("shows a field's control characters as spaces, so an answer cannot move the terminal's cursor", () => {
    const lines = formatRun({ runId: "r-1", status: "running", trigger: { source: "alert", by: "rule\u001b[1A\u001b[2K", reason: "x\ny" } }, ctx);
    expect(lines.join("\n")).not.toMatch(/\u001b/);
    expect(lines).toContain("  started by alert rule [1A [2K: x y");
  });

  it("lists plans with the region serving, region health, auto-failover and the current run", () => {
    const lines = formatPlans(
      {
        plans: [
          { plan: "contoso-orders", primary: "eastus2", secondary: "centralus", currentPrimary: "centralus", regions: { eastus2: { state: "down", since: "2026-12-03T07:40:00.000Z" }, centralus: { state: "healthy" } }, autoFailover: "paused", currentRun: { runId: "r-9", kind: "failover", status: "running", waitingFor: "approval" } },
          { plan: "tailspin-media", primary: "uksouth", secondary: "ukwest", currentPrimary: "uksouth", regions: {}, autoFailover: "disabled", currentRun: null },
        ],
      },
      ctx,
    );
    expect(lines).toEqual([
      "contoso-orders: centralus serving (primary eastus2, secondary centralus), auto-failover paused",
      "  eastus2: down since 2026-12-03T07:40:00.000Z",
      "  centralus: healthy",
      `  run: r-9 (failover, running, waiting for approval) — switchyard run r-9 --app ${APP}`,
      "",
      "tailspin-media: uksouth serving (primary uksouth, secondary ukwest), auto-failover disabled",
      "  run: none",
    ]);
  });

  it("lists runs newest first with outcome, RTO and RPO exposure", () => {
    expect(formatRuns({ plan: "p", runs: [{ runId: "r-2", kind: "failback", from: "b", to: "a", status: "completed", outcome: "completed", rtoSeconds: 42, trigger: { source: "manual", by: "bob" } }] })).toEqual([
      "p: 1 run(s), newest first",
      "  r-2  failback b → a, completed/completed, RTO 42 s, by manual bob",
    ]);
    expect(formatRuns({ plan: "p", runs: [] })).toEqual(["p: no runs"]);
  });

  it("says how far a deadline is, before and after it", () => {
    expect(relative("2026-12-03T08:00:30.000Z", NOW)).toBe("in 30 s");
    expect(relative("2026-12-03T07:57:00.000Z", NOW)).toBe("3 min ago");
    expect(relative("2026-12-03T11:00:00.000Z", NOW)).toBe("in 3.0 h");
    expect(relative("soon", NOW)).toBe("");
  });
});

describe("answers", () => {
  it("prints the started run and how to follow it; --json prints the answer as it is", async () => {
    const body = { runId: "contoso-orders-failover-20261203T080000Z", status: "running", kind: "failover", mode: "planned", from: "eastus2", to: "centralus", statusUrl: "/api/runs/contoso-orders-failover-20261203T080000Z" };
    const text = await run(["failover", "--plan", "contoso-orders", "--reason", "drill"], () => ({ status: 202, body }));
    expect(text.code).toBe(0);
    expect(text.out).toBe(`started failover run contoso-orders-failover-20261203T080000Z: eastus2 → centralus (planned)\n  follow it: switchyard run contoso-orders-failover-20261203T080000Z --app ${APP}\n`);
    const json = await run(["failover", "--plan", "contoso-orders", "--reason", "drill", "--json"], () => ({ status: 202, body }));
    expect(JSON.parse(json.out)).toEqual(body);
  });

  it("--dry-run asks for the dry run and prints each write with its current and target state, and what would not change", async () => {
    const body = {
      dryRun: true,
      plan: "contoso-orders",
      kind: "failover",
      from: "eastus2",
      to: "centralus",
      mode: "planned",
      dataLoss: "planned",
      writes: [
        { resourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/sql-cus/failoverGroups/fog", kind: "sql-failover-group", phase: "data-tier", operation: "FailoverGroups_Failover", current: { role: "Secondary" }, target: { role: "Primary" } },
        { resourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Cdn/profiles/afd/originGroups/web/origins/web-cus", kind: "afd-origin", phase: "traffic", operation: "AFDOrigins_Update", current: { priority: 2 }, target: { priority: 1 }, condition: "only if an operator approves\u001b[2K" },
      ],
      unchanged: [{ resourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web-cus", why: "settings already for centralus" }],
      blocked: [],
      unknown: [{ resourceId: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web-eus", reason: "unknown: eastus2 answered 503" }],
    };
    const text = await run(["failover", "--plan", "contoso-orders", "--reason", "what would it do", "--dry-run"], () => ({ status: 200, body }));
    expect(text.code).toBe(0);
    expect(text.sent.map((s) => [s.method, s.url])).toEqual([["POST", `${APP}/api/plans/contoso-orders/failover?dryRun=true`]]);
    expect(text.out.split("\n")).toEqual([
      "dry run of a failover of contoso-orders: eastus2 → centralus (planned); nothing was written",
      "  data tier: planned",
      "  writes (2, in the run's order):",
      "    [data-tier] FailoverGroups_Failover on fog: role=Secondary → role=Primary",
      "    [traffic] AFDOrigins_Update on web-cus: priority=2 → priority=1 (only if an operator approves [2K)",
      "  unchanged: web-cus: settings already for centralus",
      "  unknown: web-eus: unknown: eastus2 answered 503",
      `  to run it: switchyard failover --plan contoso-orders --reason "<why>" --app ${APP}`,
      "",
    ]);
    const back = await run(["failback", "--plan", "contoso-orders", "--reason", "what would it do", "--dry-run"], () => ({ status: 200, body: { ...body, kind: "failback", writes: [] } }));
    expect(back.sent[0]!.url).toBe(`${APP}/api/plans/contoso-orders/failback?dryRun=true`);
    expect(back.out).toContain("  writes: none\n");
  });

  it("exits 1 for a run that failed, 0 for one that completed its switch", async () => {
    const failed = await run(["run", "r-1"], () => ({ status: 200, body: { runId: "r-1", status: "completed", output: { outcome: "failed", message: "storage failover failed" } } }));
    expect(failed.code).toBe(1);
    expect(failed.out).toContain("outcome: failed — storage failover failed");
    const done = await run(["run", "r-1"], () => ({ status: 200, body: { runId: "r-1", status: "completed", output: { outcome: "completed" } } }));
    expect(done.code).toBe(0);
  });

  it("sends pause and resume as the auto-failover switch, and resume-run to the run's resume route", async () => {
    const paused = await run(["pause", "--plan", "contoso-orders", "--reason", "maintenance"], () => ({ status: 200, body: { plan: "contoso-orders", autoFailover: "paused" } }));
    expect(paused.sent[0]).toMatchObject({ url: `${APP}/api/plans/contoso-orders/auto-failover`, body: { enabled: false, reason: "maintenance" } });
    expect(paused.out).toBe("auto-failover of contoso-orders: paused\n");
    const resumed = await run(["resume", "--plan", "contoso-orders", "--reason", "maintenance over"], () => ({ status: 200, body: { plan: "contoso-orders", autoFailover: "enabled" } }));
    expect(resumed.sent[0]!.body).toEqual({ enabled: true, reason: "maintenance over" });
    const again = await run(["resume-run", "r-1", "--reason", "data tier is back"], () => ({ status: 202, body: { runId: "r-2", resumes: "r-1", kind: "failover", from: "a", to: "b" } }));
    expect(again.sent[0]).toMatchObject({ url: `${APP}/api/runs/r-1/resume`, method: "POST", body: { reason: "data tier is back" } });
    expect(again.out).toContain("run r-1 resumed as failover run r-2: a → b");
  });

  it("asks GET /api/plans without --plan, and the plan's runs with --top", async () => {
    const all = await run(["status"], () => ({ status: 200, body: { plans: [] } }));
    expect(all.sent[0]!.url).toBe(`${APP}/api/plans`);
    expect(all.out).toBe("no plans\n");
    const runs = await run(["runs", "--plan", "contoso-orders", "--top", "5"], () => ({ status: 200, body: { plan: "contoso-orders", runs: [] } }));
    expect(runs.sent[0]!.url).toBe(`${APP}/api/plans/contoso-orders/runs?top=5`);
  });
});
