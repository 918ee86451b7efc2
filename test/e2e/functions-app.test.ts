import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

describe("the Functions app as deployed", () => {
  it("compiles, and every entry point loads and registers its functions", async () => {
    // Inside the checkout, so that the compiled modules resolve node_modules as in a deployment.
    mkdirSync(join(ROOT, ".switchyard"), { recursive: true });
    const out = mkdtempSync(join(ROOT, ".switchyard", "build-"));
    await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out], { cwd: ROOT });
    const entries = readdirSync(join(out, "src/functions")).filter((f) => f.endsWith(".js"));
    expect(entries.sort()).toEqual(["drills.js", "http.js", "run.js", "secrets.js"]);
    const script = `Promise.all(${JSON.stringify(entries.map((e) => join(out, "src/functions", e)))}.map((f) => import(f))).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })`;
    const { stderr } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT });
    // Outside the Functions host the library skips registration and says so: one line per function.
    const registered = [...stderr.matchAll(/register function "([^"]+)"/g)].map((m) => m[1]).sort();
    expect(registered).toEqual(expect.arrayContaining(["alerts", "assessRegions", "failbackRun", "failoverRun", "failbackRunV2", "failoverRunV2", "watchOperations", "reprotectStorage", "healthProbe", "replicationLag", "notificationDelivery", "failoverRunV3", "failbackRunV3", "failoverRunV4", "journal", "planFailover", "runApprove", "verifyPrimary", "rotateSecretV1", "rotationCreate", "rotationReplicate", "rotationApply", "rotationVerify", "rotationRetire", "rotationRecord", "rotationNotify", "keyVaultSecretEvents", "secretSweep", "planSecretRotate", "planSecretGet", "plannedDrillV1", "scheduledDrillsV1", "drillAdvance", "drillNotify", "readiness"]));
    // The scheduledDrill timer is registered only when SWITCHYARD_DRILL_SCHEDULE is set (off by default).
    expect(registered).not.toContain("scheduledDrill");
    rmSync(out, { recursive: true, force: true });
  }, 120_000);
});
