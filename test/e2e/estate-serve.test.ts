import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

/** POSTs JSON over HTTPS, trusting only `ca`. */
function post(url: string, body: unknown, ca: Buffer): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", ca, headers: { "Content-Type": "application/json", "Content-Length": String(Buffer.byteLength(payload)) } }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += String(chunk)));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** Starts `switchyard estate serve` and resolves with the lines it printed once it is ready. */
function serve(args: string[]): Promise<{ child: ChildProcess; lines: Record<string, string> }> {
  const child = spawn(process.execPath, ["bin/switchyard.mjs", "estate", "serve", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => (child.kill("SIGTERM"), reject(new Error(`estate serve did not start: ${out}`))), 30_000);
    child.stderr!.on("data", (d) => (out += String(d)));
    child.stdout!.on("data", (d) => {
      out += String(d);
      if (!/^state: /m.test(out)) return;
      clearTimeout(timer);
      const lines = Object.fromEntries(
        out
          .split("\n")
          .filter((l) => l.includes(": "))
          .map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]),
      );
      resolve({ child, lines });
    });
    child.once("exit", (code) => reject(new Error(`estate serve exited ${code}: ${out}`)));
  });
}

describe("switchyard estate serve, driven by the public SDK clients", () => {
  let server: { child: ChildProcess; lines: Record<string, string> };
  beforeAll(async () => {
    server = await serve(["--plan", "test/fixtures/fabrikam.plan.json", "--port", "0"]);
  });
  afterAll(() => {
    server?.child.kill("SIGTERM");
  });

  it("prints its URL, CA file and the regions of a plan it has never seen", () => {
    expect(server.lines.estate).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.lines.ca).toMatch(/estate-ca\.pem$/);
    expect(server.lines["region westeurope"]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.lines["region northeurope"]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it("serves every operation of the example client script, trusted through NODE_EXTRA_CA_CERTS", async () => {
    const { stdout } = await run(process.execPath, ["examples/estate-client.mjs"], {
      cwd: ROOT,
      env: { ...process.env, ESTATE_URL: server.lines.estate, NODE_EXTRA_CA_CERTS: server.lines.ca },
      timeout: 60_000,
    });
    const lines = stdout.trim().split("\n");
    expect(lines.every((l) => l.startsWith("ok: "))).toBe(true);
    expect(stdout).toContain("ok: after failover claims is primary on fab-claims-neu");
    expect(stdout).toContain("ok: storage locations swapped to northeurope/westeurope");
    expect(stdout).toContain("ok: AFD origin claims-weu disabled");
    expect(stdout).toContain("ok: classic backend");
    expect(stdout).toContain("ok: app setting written on fab-claims-neu");
    expect(stdout).toContain("ok: secret set and read back in fab-claims-kv");
    expect(stdout).toContain("ok: unknown resource: 404 ResourceNotFound");
  });

  it("is refused by a client that was not given the estate's certificate", async () => {
    const script = `fetch(process.argv[1] + "/_estate/state").then(() => process.exit(0), (e) => { console.log(e.cause?.code ?? e.message); process.exit(3); })`;
    const result = await run(process.execPath, ["-e", script, server.lines.estate!], { cwd: ROOT }).catch((e) => e as { code: number; stdout: string });
    expect(result).toMatchObject({ code: 3 });
    expect((result as { stdout: string }).stdout).toMatch(/SELF_SIGNED|CERT/);
  });

  it("takes the seed that `switchyard estate seed` prints for another plan at /_estate/seed", async () => {
    const { stdout } = await run(process.execPath, ["bin/switchyard.mjs", "estate", "seed", "--plan", "examples/contoso.plan.yaml"], { cwd: ROOT });
    const res = await post(`${server.lines.estate}/_estate/seed`, JSON.parse(stdout), readFileSync(server.lines.ca!));
    expect(res.status).toBe(201);
    expect(Object.keys(res.body.regions)).toEqual(["westeurope", "northeurope", "eastus2", "centralus"]);
    expect(res.body.storageAccounts.map((a: { id: string }) => a.id)).toContainEqual(expect.stringMatching(/contosoordersdata$/));
  });
});
