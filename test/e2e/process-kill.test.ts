import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import type { RunInput } from "../../src/core/run/model.ts";
import type { RunView } from "../../src/core/run/port.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { startEstate, type Estate } from "../../estate/server.ts";
import { seedFromPlans } from "../../src/local/estateSeed.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = fileURLToPath(new URL("./child/run-child.ts", import.meta.url));
const run = promisify(execFile);

describe("a Switchyard process killed right after a step's write", () => {
  let estate: Estate;
  let azurite: AzuriteBlob;
  let plan: Plan;
  beforeAll(async () => {
    plan = await loadPlanFile(EXAMPLE_PLAN);
    [estate, azurite] = await Promise.all([startEstate({ seed: seedFromPlans([plan]), timing: { durations: { default: 20 } } }), startAzuriteBlob()]);
  });
  afterAll(async () => {
    await estate?.close();
    await azurite?.stop();
  });

  it("resumes the run in a new process from the history in Azurite, without writing twice", async () => {
    const input: RunInput = {
      runId: "kill-test-1",
      kind: "failover",
      mode: "planned",
      plan,
      from: plan.regions.primary.name,
      to: plan.regions.secondary.name,
      trigger: { source: "manual", by: "test", reason: "process kill", detectedAt: new Date().toISOString() },
      options: { retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 }, timeScale: 1000 },
    };
    const env = {
      ...process.env,
      CHILD_TARGET: JSON.stringify(estate.clientTarget()),
      CHILD_AZURITE: azurite.connectionString,
      CHILD_JOURNAL: "kill-journal",
      CHILD_STORE: "kill-durable",
      CHILD_INPUT: JSON.stringify(input),
    };
    const tsx = ["--import", "tsx", CHILD];

    const killed = await run(process.execPath, tsx, { cwd: ROOT, env: { ...env, CHILD_ACTION: "start", CHILD_CRASH_AFTER: "failoverStorageAccount" } }).catch((e: { signal?: string }) => e);
    expect(killed).toMatchObject({ signal: "SIGKILL" });
    const failoversBefore = estate.requests({ writesOnly: true }).filter((r) => r.operationId === "StorageAccounts_Failover" && r.status < 300);
    expect(failoversBefore.length).toBeGreaterThanOrEqual(1);

    const resumed = await run(process.execPath, tsx, { cwd: ROOT, env: { ...env, CHILD_ACTION: "resume" } }).catch((e: { stderr?: string; stdout?: string; signal?: string; code?: number }) => { throw new Error(`the resumed process failed (${e.signal ?? e.code}): ${e.stderr ?? ""} ${e.stdout ?? ""}`); });
    const view = JSON.parse(resumed.stdout.trim().split("\n").at(-1)!) as RunView;

    expect(view.status).toBe("completed");
    expect(view.output?.outcome, view.output?.message).toBe("completed");
    const writes = estate.requests({ writesOnly: true }).filter((r) => r.status < 300);
    const perResource = new Map<string, number>();
    for (const w of writes.filter((w) => w.operationId === "StorageAccounts_Failover")) perResource.set(w.path, (perResource.get(w.path) ?? 0) + 1);
    expect([...perResource.values()]).toEqual(plan.storage.map(() => 1));
    expect(estate.snapshot().storageAccounts.every((a) => a.primaryLocation === plan.regions.secondary.name)).toBe(true);
  }, 120_000);
});
