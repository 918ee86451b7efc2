/**
 * `switchyard status | runs | run | failover | failback | approve | abort | pause | resume | resume-run |
 * rotate-secret` as an operator runs them: `node bin/switchyard.mjs ...` as a child process against `switchyard serve`
 * (also a child process: the local estate, Azurite and the local durable host behind the operator API).
 *
 *   contoso-orders   examples/contoso.plan.yaml: pause/resume, a planned failover and its failback, refusals
 *   tailspin-auto    test/fixtures/storage-only.plan.json with auto-failover on (two probes, quorum 2): with
 *                    uksouth down on the estate and replication lag three times the RPO budget, serve's
 *                    health timer (every 0.5 s) starts an automatic failover that waits for an approval
 *
 * A route the app does not serve (an older Switchyard, another app) answers 404 NotFound: the CLI says so
 * clearly, exit code 1.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storagePlanDocument } from "../helpers/serveWorld.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CONTOSO = "contoso-orders";
const CONTOSO_ACCOUNT = "/subscriptions/6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/contoso-orders-eastus2/providers/Microsoft.Storage/storageAccounts/contosoordersdata";
const TAILSPIN = "tailspin-auto";
const TAILSPIN_PLAN = storagePlanDocument({ name: TAILSPIN, primary: "uksouth", secondary: "ukwest", account: "tailspinautomedia", autoFailover: { enabled: true, quorum: 2, downForSeconds: 0, healthyForSeconds: 300 } });
const TAILSPIN_ACCOUNT = (TAILSPIN_PLAN.storage as { account: string }[])[0]!.account;
/** Sent with every command: serve reads no function key, and the CLI must never print it. */
const KEY = "sy-e2e-function-key-4f0c9a7d2b";

interface Server {
  child: ChildProcess;
  lines: Record<string, string>;
}

function serve(tailspinFile: string): Promise<Server> {
  const child = spawn(process.execPath, ["bin/switchyard.mjs", "serve", "--plan", "examples/contoso.plan.yaml", tailspinFile, "--port", "0", "--probe-interval", "0.5"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WEBSITE_AUTH_ENABLED: "" },
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    // A serve that does not come up is stopped with the test: nothing it started outlives it.
    const timer = setTimeout(() => (child.kill("SIGTERM"), reject(new Error(`serve did not start: ${out}${err}`))), 90_000);
    child.stderr!.on("data", (d) => (err += String(d)));
    child.stdout!.on("data", (d) => {
      out += String(d);
      if (!/^health and lag timers: /m.test(out)) return;
      clearTimeout(timer);
      resolve({ child, lines: Object.fromEntries(out.split("\n").filter((l) => l.includes(": ")).map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)])) });
    });
    child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

interface CliResult {
  code: number | null;
  out: string;
  err: string;
}

let server: Server;
const app = () => server.lines.serving!;

/** `switchyard <args>` with SWITCHYARD_APP_URL naming serve and a function key in the environment. */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ["bin/switchyard.mjs", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SWITCHYARD_APP_URL: app(), SWITCHYARD_FUNCTION_KEY: KEY, SWITCHYARD_APP_SCOPE: "", ...env },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += String(d)));
  child.stderr!.on("data", (d) => (err += String(d)));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, out, err })));
}

/** GET /api/runs/{id} until `done` holds (the run is a real durable run in serve: it moves on its own). */
async function runUntil(runId: string, done: (run: Record<string, any>) => boolean): Promise<Record<string, any>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const run = (await (await fetch(`${app()}/api/runs/${runId}`)).json()) as Record<string, any>;
    if (done(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not get there: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
const ended = (run: Record<string, any>) => run.status !== "running" && run.status !== "pending";

/** A control request to the estate (`/_estate/...`, over TLS with the estate's CA); resolves with the status. */
function estateControl(method: string, path: string, body?: unknown): Promise<number> {
  const payload = body === undefined ? "" : JSON.stringify(body);
  const headers = { Authorization: "Bearer test", ...(payload ? { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } : {}) };
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.lines.estate), { method, ca: readFileSync(server.lines.ca!), headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

const startedRunId = (out: string) => /^started \w+ run (\S+):/m.exec(out)?.[1];

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-cli-operate-"));
  const file = join(dir, `${TAILSPIN}.plan.json`);
  await writeFile(file, JSON.stringify(TAILSPIN_PLAN, null, 2));
  server = await serve(file);
}, 120_000);
afterAll(async () => {
  await stop(server?.child);
  await rm(dir, { recursive: true, force: true });
}, 30_000);

describe("switchyard operator commands against switchyard serve", () => {
  it("refuses bad or missing arguments with exit code 2 before calling the app", async () => {
    const noApp = await cli(["status"], { SWITCHYARD_APP_URL: "" });
    expect(noApp.code).toBe(2);
    expect(noApp.err).toContain("name the app: --app https://<app>.azurewebsites.net (or set SWITCHYARD_APP_URL)");
    const shortReason = await cli(["failover", "--plan", CONTOSO, "--reason", "no"]);
    expect(shortReason.code).toBe(2);
    expect(shortReason.err).toContain("say why (at least 3 characters)");
    const badUrl = await cli(["status", "--app", "file:///etc/passwd"]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).toContain("the app URL must be http(s), not file");
  }, 60_000);

  it("status --plan shows the plan's serving region and auto-failover; --json is the API's answer as it is", async () => {
    const text = await cli(["status", "--plan", CONTOSO]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^contoso-orders: eastus2 serving \(primary eastus2, secondary centralus\)/);
    expect(text.out).toMatch(/auto-failover: /);
    const json = await cli(["status", "--plan", CONTOSO, "--json"]);
    const direct = (await (await fetch(`${app()}/api/plans/${CONTOSO}`)).json()) as Record<string, any>;
    expect(JSON.parse(json.out).regions).toEqual(direct.regions);
    expect(JSON.parse(json.out).plan).toBe(CONTOSO);
  }, 60_000);

  it("status without --plan lists every plan; an app that does not serve the route is a clear 404", async () => {
    const r = await cli(["status"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^contoso-orders: eastus2 serving \(primary eastus2, secondary centralus\), auto-failover enabled\n {2}eastus2: healthy/m);
    expect(r.out).toMatch(/^tailspin-auto: uksouth serving \(primary uksouth, secondary ukwest\), auto-failover enabled$/m);
    // Under another path, serve has no such route: the answer an app without it (an older version) gives.
    const elsewhere = await cli(["status", "--app", `${app()}/elsewhere`]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.err).toBe("switchyard status: NotFound: no route for /elsewhere/api/plans (HTTP 404)\n  what to do: this app does not serve that route: it may run an older Switchyard, or --app may name another app\n");
  }, 60_000);

  it("rotate-secret starts a rotation of one secret; a second while it runs, an unknown secret and a bad name are refused", async () => {
    const badName = await cli(["rotate-secret", "--plan", CONTOSO, "--secret", "no spaces allowed", "--reason", "quarterly rotation"]);
    expect(badName.code).toBe(2);
    expect(badName.err).toContain("is not a Key Vault secret name");
    const unknown = await cli(["rotate-secret", "--plan", CONTOSO, "--secret", "no-such-secret", "--reason", "quarterly rotation"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("SecretNotFound");
    expect(unknown.err).toContain("what to do: the plan's secrets are in its `secrets` section");
    const started = await cli(["rotate-secret", "--plan", CONTOSO, "--secret", "orders-api-signing-key", "--reason", "quarterly rotation", "--json"]);
    expect(started.code, started.err).toBe(0);
    const body = JSON.parse(started.out) as { rotationId: string; secret: string; statusUrl: string };
    expect(body).toMatchObject({ secret: "orders-api-signing-key", statusUrl: "/api/plans/contoso-orders/secrets/orders-api-signing-key" });
    expect(body.rotationId).toMatch(/^contoso-orders\.\d{8}T\d{6}Z\.rotate-[0-9a-f]{4}$/);
  }, 60_000);

  it("pause and resume switch the plan's auto-failover, with the reason journaled by the app", async () => {
    const paused = await cli(["pause", "--plan", CONTOSO, "--reason", "maintenance window"]);
    expect(paused.code, paused.err).toBe(0);
    expect(paused.out).toBe("auto-failover of contoso-orders: paused\n");
    const shown = await cli(["status", "--plan", CONTOSO]);
    expect(shown.out).toContain("auto-failover: paused by function-key caller");
    expect(shown.out).toContain("maintenance window");
    const resumed = await cli(["resume", "--plan", CONTOSO, "--reason", "maintenance over"]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toBe("auto-failover of contoso-orders: enabled\n");
  }, 60_000);

  it("failover starts a run, run follows it to its end, a second failover is refused (exit 1), runs lists it, failback returns", async () => {
    const started = await cli(["failover", "--plan", CONTOSO, "--reason", "drill from the terminal"]);
    expect(started.code, started.err).toBe(0);
    const runId = startedRunId(started.out)!;
    expect(started.out).toContain(`started failover run ${runId}: eastus2 → centralus (planned)`);
    expect(started.out).toContain(`follow it: switchyard run ${runId} --app ${app()}`);
    await runUntil(runId, ended);

    const shown = await cli(["run", runId]);
    expect(shown.code, shown.out + shown.err).toBe(0);
    expect(shown.out).toContain(`run ${runId}: failover eastus2 → centralus, completed`);
    expect(shown.out).toContain("started by manual function-key caller: drill from the terminal");
    expect(shown.out).toMatch(/outcome: completed/);

    const again = await cli(["failover", "--plan", CONTOSO, "--reason", "once more"]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^switchyard failover: UseFailback: centralus is serving contoso-orders; .* \(HTTP 409\)\n {2}what to do: use `switchyard failback`/);

    const runs = await cli(["runs", "--plan", CONTOSO]);
    expect(runs.code, runs.err).toBe(0);
    expect(runs.out).toContain(`  ${runId}  failover eastus2 → centralus, completed/completed, started `);
    expect(runs.out).toContain("by manual function-key caller");

    const back = await cli(["failback", "--plan", CONTOSO, "--reason", "home region healthy again"]);
    expect(back.code, back.err).toBe(0);
    const backId = startedRunId(back.out)!;
    expect(back.out).toContain(`started failback run ${backId}: centralus → eastus2`);
    const finished = await runUntil(backId, ended);
    expect(finished.output?.outcome).toBe("completed");
    expect((await cli(["status", "--plan", CONTOSO])).out).toMatch(/^contoso-orders: eastus2 serving/);

    // The run is over: a decision on it is a refusal, and so is resuming a run that completed its switch.
    const abort = await cli(["abort", backId, "--reason", "too late"]);
    expect(abort.code).toBe(1);
    expect(abort.err).toContain(`NotWaitingForApproval: run ${backId} is not waiting for approval or re-protection (HTTP 409)`);
    expect(abort.err).toContain(`what to do: see what the run waits for with \`switchyard run ${backId}\``);
    const resume = await cli(["resume-run", backId, "--reason", "try again"]);
    expect(resume.code).toBe(1);
    expect(resume.err).toMatch(/^switchyard resume-run: NotResumable: .*completed its switch \(HTTP 409\)\n/);
  }, 180_000);

  it("a run that stopped halfway shows the command that resumes it (exit 1); resume-run starts the rest", async () => {
    // Azure throttles every failover of contoso's storage account: the data tier fails, the run stops.
    expect(await estateControl("POST", "/_estate/faults", { kind: "throttle", operationId: "StorageAccounts_Failover", resourceId: CONTOSO_ACCOUNT, count: 1000, retryAfterSeconds: 0 })).toBe(201);
    const started = await cli(["failover", "--plan", CONTOSO, "--reason", "drill under throttling"]);
    expect(started.code, started.err).toBe(0);
    const runId = startedRunId(started.out)!;
    await runUntil(runId, ended);
    const stopped = await cli(["run", runId]);
    expect(stopped.code).toBe(1);
    expect(stopped.out).toContain(`run ${runId}: failover eastus2 → centralus, failed`);
    expect(stopped.out).toMatch(/outcome: failed — Failed in data-tier: StorageAccounts_Failover/);
    expect(stopped.out).toContain(`STOPPED HALFWAY — resume it: switchyard resume-run ${runId} --reason "<why>" --app ${app()}`);

    expect(await estateControl("DELETE", "/_estate/faults")).toBe(204);
    const resumed = await cli(["resume-run", runId, "--reason", "throttling is over"]);
    expect(resumed.code, resumed.err).toBe(0);
    const next = /resumed as failover run (\S+): eastus2 → centralus/.exec(resumed.out)?.[1];
    expect(next, resumed.out).toBeDefined();
    expect((await runUntil(next!, ended)).output?.outcome).toBe("completed");
    const back = await cli(["failback", "--plan", CONTOSO, "--reason", "home region healthy again"]);
    expect(back.code, back.err).toBe(0);
    await runUntil(startedRunId(back.out)!, ended);
  }, 180_000);

  it("an automatic failover over the RPO budget waits for approval: status and run show what to answer, approve answers it, a second decision is refused", async () => {
    expect(await estateControl("PUT", "/_estate/lag", { resourceId: TAILSPIN_ACCOUNT, seconds: 900 })).toBe(200);
    expect(await estateControl("PUT", "/_estate/regions/uksouth", { down: true, healthWhenDown: "refused" })).toBe(200);
    // serve's health timer sees both probes down, declares uksouth down and starts the run; the RPO gate stops it for a decision.
    const deadline = Date.now() + 60_000;
    let runId: string | undefined;
    while (!runId) {
      const plan = (await (await fetch(`${app()}/api/plans/${TAILSPIN}`)).json()) as Record<string, any>;
      if (plan.currentRun?.progress?.waitingFor === "approval") runId = plan.currentRun.runId as string;
      else if (Date.now() > deadline) throw new Error(`no run waiting for approval: ${JSON.stringify(plan)}`);
      else await new Promise((r) => setTimeout(r, 200));
    }

    const status = await cli(["status", "--plan", TAILSPIN]);
    expect(status.code, status.err).toBe(0);
    expect(status.out).toContain(`  run: ${runId} (failover uksouth → ukwest, running, waiting for approval) — switchyard run ${runId} --app ${app()}`);
    const shown = await cli(["run", runId]);
    expect(shown.code, shown.err).toBe(0);
    expect(shown.out).toContain(`run ${runId}: failover uksouth → ukwest, running`);
    expect(shown.out).toMatch(/waiting for approval/);
    const json = JSON.parse((await cli(["run", runId, "--json"])).out) as Record<string, any>;
    expect(shown.out).toContain(`WAITING FOR YOUR DECISION — deadline ${json.approval.deadline} (in `);
    expect(shown.out).toMatch(/ {2}why: .*lag \d+ s exceeds the RPO budget of 300 s/);
    expect(shown.out).toMatch(/ {2}at stake: up to \d+ s of writes/);
    expect(shown.out).toContain(`  approve: switchyard approve ${runId} --reason "<why>" --app ${app()}`);
    expect(shown.out).toContain(`  abort:   switchyard abort ${runId} --reason "<why>" --app ${app()}`);

    const approved = await cli(["approve", runId, "--reason", "accept the data loss"]);
    expect(approved.code, approved.err).toBe(0);
    expect(approved.out).toBe(`approve taken for run ${runId}\n  follow it: switchyard run ${runId} --app ${app()}\n`);
    const second = await cli(["abort", runId, "--reason", "changed my mind"]);
    expect(second.code).toBe(1);
    expect(second.err).toMatch(/^switchyard abort: (DecisionTaken|NotWaitingForApproval): .* \(HTTP 409\)\n {2}what to do: /);

    const finished = await runUntil(runId, ended);
    expect(finished.output?.outcome).toBe("completed");
    expect(finished.output?.dataLossAllowedBy).toBe("approval");
    const done = await cli(["run", runId]);
    expect(done.code).toBe(0);
    expect(done.out).toContain("outcome: completed");

    // uksouth is still down: going home is refused until detection sees it healthy.
    const home = await cli(["failback", "--plan", TAILSPIN, "--reason", "back home"]);
    expect(home.code).toBe(1);
    expect(home.err).toMatch(/^switchyard failback: HomeRegionDown: detection holds uksouth down .* \(HTTP 409\)\n {2}what to do: wait until detection sees the home region healthy again \(`switchyard status --plan tailspin-auto`\)/);
  }, 180_000);

  it("an unknown run is a clear RunNotFound (exit 1); an unreachable app and a missing token are clear too; the function key is never printed", async () => {
    const unknown = await cli(["run", "contoso-orders-failover-20200101T000000Z"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain("RunNotFound: no run 'contoso-orders-failover-20200101T000000Z' (HTTP 404)");
    expect(unknown.err).toContain("what to do: `switchyard runs --plan PLAN` lists a plan's runs");

    const port = await closedPort();
    const closed = await cli(["status", "--app", `http://127.0.0.1:${port}`]);
    expect(closed.code).toBe(1);
    expect(closed.err).toBe(`switchyard status: could not reach http://127.0.0.1:${port}: ECONNREFUSED\n  what to do: check --app (or SWITCHYARD_APP_URL) and your network\n`);

    // With a scope, the Azure CLI's credential is asked for a token; without `az` (or its sign-in) it has none.
    const noToken = await cli(["status", "--plan", CONTOSO], { SWITCHYARD_APP_SCOPE: "api://switchyard-e2e", PATH: "/nonexistent" });
    expect(noToken.code).toBe(1);
    expect(noToken.err).toMatch(/^switchyard status: no token for api:\/\/switchyard-e2e\/\.default from the Azure CLI: /);
    expect(noToken.err).toContain("what to do: sign in with `az login`");

    for (const r of [unknown, closed, noToken]) expect(r.out + r.err).not.toContain(KEY);
  }, 60_000);
});
