/**
 * `switchyard serve --state-dir` killed with SIGKILL in the middle of a failover, and started again on
 * the same folder: the run answers on its URL, completes, and the estate holds exactly the writes of a
 * clean run of the same failover. Azurite runs inside serve, so nothing it started outlives it.
 *
 * Time scale 1200: the example plan's storage account failover (about an hour in Azure) lasts 3 s,
 * so the kill lands while it is in flight — the test waits for the estate to show it, not for a time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { get } from "node:https";
import { afterAll, describe, expect, it } from "vitest";
import type { RunView } from "../../src/core/run/port.ts";
import type { LoggedRequest } from "../../estate/server.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PLAN = "contoso-orders";

interface Serve {
  readonly child: ChildProcess;
  readonly lines: Record<string, string>;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

/** Starts `switchyard serve` on the folder; resolves once it has printed its lines (or rejects with its output when it exits first). */
function serve(dir: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    ["bin/switchyard.mjs", "serve", "--plan", "examples/contoso.plan.yaml", "--port", "0", "--probe-interval", "3600", "--time-scale", "1200", "--state-dir", dir, "--journal-dir", `${dir}-journal`],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  started.push(child);
  let out = "";
  let err = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (d) => (err += String(d)));
    child.stdout!.on("data", (d) => {
      out += String(d);
      if (!/^health and lag timers: /m.test(out)) return;
      const lines = Object.fromEntries(out.split("\n").filter((l) => l.includes(": ")).map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]));
      resolve({ child, lines, stderr: () => err, exited });
    });
    void exited.then(({ code, signal }) => reject(new Error(`serve exited (${code ?? signal}) before it was ready: ${out}\n${err}`)));
  });
}

async function api(s: Serve, method: "GET" | "POST", path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.lines.serving}${path}`, { method, ...(body !== undefined ? { headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** GETs an estate control endpoint, trusting only the CA that serve printed. */
async function estate(s: Serve, path: string): Promise<any> {
  const ca = await readFile(s.lines.ca!, "utf8");
  return new Promise((resolve, reject) => {
    get(`${s.lines.estate}${path}`, { ca }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += String(chunk)));
      res.on("end", () => resolve(JSON.parse(text)));
    }).on("error", reject);
  });
}

/** Polls until `check` gives a value (bounded: the test's own timeout is the real bound). */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const finished = (s: Serve, runId: string) =>
  until(`run ${runId} to end`, async () => {
    const res = await api(s, "GET", `/api/runs/${encodeURIComponent(runId)}`);
    const view = res.body as RunView;
    return res.status === 200 && ["completed", "failed", "terminated"].includes(view.status) ? view : undefined;
  });

/** The estate's acknowledged writes, as `METHOD operation path` (sorted: the data tier's writes run in parallel). */
async function writes(s: Serve): Promise<string[]> {
  const { value } = (await estate(s, "/_estate/requests?writes=true")) as { value: LoggedRequest[] };
  // Azure's resources only: notifications (channel posts, ACS sends) carry each serve's made-up credentials,
  // and their once-per-event delivery is tested on its own (test/e2e/notifications.test.ts).
  return value
    .filter((r) => r.status < 300 && !r.path.startsWith("/channels/") && !r.path.startsWith("/communication/"))
    .map((r) => `${r.method} ${r.operationId} ${r.path.toLowerCase()}`)
    .sort();
}

/** Does anything accept connections on this URL's port? */
function listening(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** The processes whose parent is `pid` (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === pid) out.push(Number(entry));
  }
  return out;
}

const FAILOVER = { mode: "planned", reason: "state-dir test" };

describe("switchyard serve --state-dir, killed mid-run and started again", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("resumes the run to completion with exactly the writes of a clean run; nothing it started outlives the kill; a second serve on the folder is refused", async () => {
    const [cleanDir, killedDir] = await Promise.all([mkdtemp(join(tmpdir(), "serve-clean-")), mkdtemp(join(tmpdir(), "serve-killed-"))]);
    dirs.push(cleanDir, killedDir);

    // Arrange: a clean run of the failover, for its writes.
    const clean = await serve(cleanDir);
    const cleanStart = await api(clean, "POST", `/api/plans/${PLAN}/failover`, FAILOVER);
    expect(cleanStart.status).toBe(202);
    const cleanView = await finished(clean, cleanStart.body.runId);
    expect(cleanView.output?.outcome, cleanView.output?.message).toBe("completed");
    const cleanWrites = await writes(clean);
    clean.child.kill("SIGTERM");
    expect((await clean.exited).code).toBe(0);

    // Act 1: the same failover, killed while the storage account failover is in flight.
    const first = await serve(killedDir);
    const start = await api(first, "POST", `/api/plans/${PLAN}/failover`, FAILOVER);
    expect(start.status).toBe(202);
    const runId: string = start.body.runId;
    // Mid-run: the data tier's operations accepted (the run waits on them) and the storage failover still in flight.
    const midRun = await until("the run waiting on the storage failover", async () => {
      const view = (await api(first, "GET", `/api/runs/${encodeURIComponent(runId)}`)).body as RunView;
      if (view.progress?.step !== "data-tier" || view.progress.waitingFor !== "operation") return undefined;
      const state = (await estate(first, "/_estate/state")) as { storageAccounts: { failoverInProgress: boolean }[] };
      return state.storageAccounts.some((a) => a.failoverInProgress) ? view : undefined;
    });
    expect(midRun.status).toBe("running");
    expect(await childrenOf(first.child.pid!)).toEqual([]);
    first.child.kill("SIGKILL");
    expect((await first.exited).signal).toBe("SIGKILL");
    // Azurite (in serve's process) went with it: its port no longer answers.
    expect(await listening(first.lines.azurite!)).toBe(false);

    // Act 2: serve again on the same folder (its lock names a dead process: taken over).
    const restartedAt = performance.now();
    const second = await serve(killedDir);
    const answered = await api(second, "GET", `/api/runs/${encodeURIComponent(runId)}`);
    const resumeMs = performance.now() - restartedAt;
    const view = await finished(second, runId);
    const doneMs = performance.now() - restartedAt;

    // A third serve on the folder while the second runs is refused.
    const third = spawn(process.execPath, ["bin/switchyard.mjs", "serve", "--plan", "examples/contoso.plan.yaml", "--state-dir", killedDir, "--journal-dir", `${killedDir}-journal`], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    started.push(third);
    let thirdErr = "";
    third.stderr!.on("data", (d) => (thirdErr += String(d)));
    const thirdExit = await new Promise<number | null>((resolve) => third.once("exit", (code) => resolve(code)));

    // Assert
    expect(answered.status).toBe(200);
    expect(view.status, JSON.stringify(view).slice(0, 4000)).toBe("completed");
    expect(view.output?.outcome, view.output?.message).toBe("completed");
    expect(second.lines.estate).toBe(first.lines.estate); // operation URLs in the run's history name this port
    expect(second.lines.ca).toBe(first.lines.ca);
    const resumedWrites = await writes(second);
    expect(resumedWrites).toEqual(cleanWrites);
    expect(resumedWrites.filter((w) => w.includes("StorageAccounts_Failover")).length).toBeGreaterThan(0);
    expect(thirdExit).toBe(2);
    expect(thirdErr).toContain(`in use by process ${second.child.pid}`);
    process.stdout.write(`serve --state-dir: the run answered ${resumeMs.toFixed(0)} ms after the restart, completed ${doneMs.toFixed(0)} ms after it; ${resumedWrites.length} writes (clean run: ${cleanWrites.length})\n`);

    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
  }, 120_000);
});
