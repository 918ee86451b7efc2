/**
 * `switchyard serve --auth`, as a process: App Service authentication, locally. The override routes
 * need the Switchyard.Operator role of a principal built from a validated Bearer token (principal
 * headers a client sends are dropped); the alert route needs the secure webhook's token; serve prints
 * where the tokens are, never a key or a token.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricAlert, alertIdOf } from "../helpers/alertBodies.ts";
import { httpRequest, principal } from "../helpers/serveWorld.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PLAN = "contoso-orders";

/** Starts `switchyard serve` and resolves with what it printed once it is ready (the health and lag timers line). */
function serve(args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; out: string; lines: Record<string, string> }> {
  // Journal copies go to a folder of the test's own, not the checkout's .switchyard/.
  const journalDir = join(mkdtempSync(join(tmpdir(), "switchyard-serve-auth-")), "journal");
  const child = spawn(process.execPath, ["bin/switchyard.mjs", "serve", "--plan", "examples/contoso.plan.yaml", "--port", "0", "--probe-interval", "3600", "--journal-dir", journalDir, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WEBSITE_AUTH_ENABLED: "", ...env },
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
      const lines = Object.fromEntries(out.split("\n").filter((l) => l.includes(": ")).map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]));
      resolve({ child, out, lines });
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

const pause = { enabled: false, reason: "maintenance window" };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("switchyard serve --auth", () => {
  let server: Awaited<ReturnType<typeof serve>>;
  let operatorToken: string;
  let alertToken: string;
  beforeAll(async () => {
    server = await serve(["--auth"]);
    operatorToken = readFileSync(server.lines["operator token"]!.split(" ")[0]!, "utf8");
    alertToken = readFileSync(server.lines["alert token"]!, "utf8");
  }, 120_000);
  afterAll(() => stop(server?.child), 30_000);

  const url = () => server.lines.serving!;

  it("prints where the tokens are (files only this user reads), and neither a key nor a token", () => {
    expect(server.lines.auth).toMatch(/^on .*Switchyard\.Operator/);
    const file = server.lines["operator token"]!.split(" ")[0]!;
    expect(statSync(file).mode & 0o077).toBe(0);
    expect(operatorToken.split(".")).toHaveLength(3);
    expect(server.out).not.toContain(operatorToken);
    expect(server.out).not.toContain(alertToken);
    expect(server.out).not.toMatch(/PRIVATE KEY|"d":/);
  });

  it("refuses an override without a token (401), with a forged principal header only (401), and with a token of another role (403)", async () => {
    const anonymous = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, pause);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.code).toBe("Unauthenticated");
    const forged = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, pause, principal("alice@contoso.com", ["Switchyard.Operator"]));
    expect(forged.status).toBe(401);
    const wrongRole = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, pause, bearer(alertToken));
    expect(wrongRole.status).toBe(403);
    const badToken = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, pause, bearer(`${operatorToken.slice(0, -4)}AAAA`));
    expect(badToken.status).toBe(401);
    expect(badToken.body.error).toEqual({ code: "InvalidToken", message: "token signature is invalid" });
  });

  it("takes the override from the operator token's principal, whatever principal headers come with it", async () => {
    const paused = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, pause, { ...bearer(operatorToken), ...principal("alice@contoso.com", ["Switchyard.Operator"]), "x-ms-client-principal-name": "alice@contoso.com" });
    expect(paused.status, paused.text).toBe(200);
    expect(paused.body.state.paused).toMatchObject({ by: "local operator", reason: "maintenance window" });
    const resumed = await httpRequest(url(), "POST", `/api/plans/${PLAN}/auto-failover`, { enabled: true, reason: "maintenance over" }, bearer(operatorToken));
    expect(resumed.status).toBe(200);
  });

  it("takes an alert only with the secure webhook's token", async () => {
    const alert = metricAlert({ alertId: alertIdOf("serve-auth-1"), rule: "unrelated-rule", condition: "Fired", firedAt: new Date() });
    const without = await httpRequest(url(), "POST", "/api/alerts", alert);
    expect(without.status).toBe(401);
    expect(without.body.error).toEqual({ code: "Unauthorized", message: "missing Authorization header" });
    const operator = await httpRequest(url(), "POST", "/api/alerts", alert, bearer(operatorToken));
    expect(operator.status).toBe(401);
    expect(operator.body.error.message).toMatch(/ActionGroupsSecureWebhook/);
    const secure = await httpRequest(url(), "POST", "/api/alerts", alert, bearer(alertToken));
    // Past the token: the alert is classified (this one names no resource of the plan's).
    expect([200, 202], secure.text).toContain(secure.status);
    expect(["ignored", "recorded"]).toContain(secure.body.status);
  });

  it("removes the token files when it stops", async () => {
    const file = server.lines["operator token"]!.split(" ")[0]!;
    await stop(server.child);
    expect(existsSync(file)).toBe(false);
  }, 30_000);
});

describe("switchyard serve without --auth", () => {
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    server = await serve([]);
  }, 120_000);
  afterAll(() => stop(server?.child), 30_000);

  it("says authentication is off, and a forged principal is the function-key caller", async () => {
    expect(server.lines.auth).toMatch(/^off/);
    const paused = await httpRequest(server.lines.serving!, "POST", `/api/plans/${PLAN}/auto-failover`, pause, { ...principal("alice@contoso.com", ["Switchyard.Operator"]), "x-ms-client-principal-name": "alice@contoso.com" });
    expect(paused.status).toBe(200);
    expect(paused.body.state.paused.by).toBe("function-key caller");
  });
});

describe("switchyard serve where WEBSITE_AUTH_ENABLED is true", () => {
  let server: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    server = await serve([], { WEBSITE_AUTH_ENABLED: "True" });
  }, 120_000);
  afterAll(() => stop(server?.child), 30_000);

  it("turns the local App Service authentication on: an override needs a token", async () => {
    expect(server.lines.auth).toMatch(/^on/);
    const forged = await httpRequest(server.lines.serving!, "POST", `/api/plans/${PLAN}/auto-failover`, pause, principal("alice@contoso.com", ["Switchyard.Operator"]));
    expect(forged.status).toBe(401);
  });
});
