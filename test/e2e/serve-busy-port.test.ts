import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the switchyard command to its end; resolves with its exit code and output (or `timedOut` after `ms`). */
function runCli(args: string[], env: Record<string, string>, ms: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const child = spawn(process.execPath, ["bin/switchyard.mjs", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += String(d)));
  child.stderr.on("data", (d) => (stderr += String(d)));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ code: null, stdout, stderr, timedOut: true });
    }, ms);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut: false });
    });
  });
}

describe("switchyard serve on a port already in use", () => {
  let busy: Server;
  let port: number;
  const tmp = mkdtempSync(join(tmpdir(), "switchyard-busy-port-"));
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => busy.close(resolve));
    rmSync(tmp, { recursive: true, force: true });
  });

  it("says so in one line, exits 2 and leaves nothing behind", async () => {
    const result = await runCli(["serve", "--plan", "examples/contoso.plan.yaml", "--port", String(port)], { TMPDIR: tmp }, 45_000);

    expect(result.timedOut, `still running; stderr: ${result.stderr}`).toBe(false);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`switchyard serve: port ${port} is in use; choose another with --port (0 picks a free one)\n`);
    expect(result.stdout).toBe("");
    // Only tsx's compile cache (the command's launcher) is left in the temporary folder: the estate's
    // certificate folder and everything else the serve made are gone.
    expect(readdirSync(tmp).filter((name) => !name.startsWith("tsx-"))).toEqual([]);
  }, 60_000);
});
