/**
 * Readiness on the local estate, on a plan no code was tuned to (meridian: australiaeast →
 * australiasoutheast, every kind of resource): it passes on a clean estate with zero writes, and each
 * planted drift makes exactly the check it concerns fail, naming what is wrong.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { loadPlanFile, type Plan } from "../../src/core/plan/index.ts";
import type { ReadinessCheck } from "../../src/core/readiness.ts";
import { runReadinessDrill, type ReadinessDrillOptions } from "../../src/local/readiness.ts";
import { startLocalApp, type LocalApp } from "../../src/local/app.ts";
import type { NotifyInput } from "../../src/core/run/model.ts";

const out = mkdtempSync(join(tmpdir(), "switchyard-readiness-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const plan: Plan = await loadPlanFile(new URL("../fixtures/meridian.plan.yaml", import.meta.url).pathname);
const SUB = plan.sql[0]!.failoverGroup.subscriptionId;
const STANDBY = plan.regions.secondary.name;

async function evaluate(prepare?: (app: LocalApp) => Promise<void> | void, extra: Partial<ReadinessDrillOptions> = {}) {
  return runReadinessDrill({ plan, outputDir: out, ...(prepare ? { prepare } : {}), ...extra });
}

/** The checks that did not pass, as `area: subject`. */
const open = (checks: readonly ReadinessCheck[]) => checks.filter((c) => c.result !== "pass" && c.advisory !== true);

describe("readiness on the local estate", () => {
  it("is ready on a clean estate, and writes nothing to Azure", async () => {
    const { result, writes, requests } = await evaluate();
    expect(open(result.checks), JSON.stringify(open(result.checks), null, 2)).toEqual([]);
    expect(result.ready).toBe(true);
    expect(result.standby).toBe(STANDBY);
    expect(requests).toBeGreaterThan(10);
    expect(writes).toEqual([]);
    // One check per area the plan has resources in.
    expect(new Set(result.checks.map((c) => c.area))).toEqual(new Set(["regions", "resources", "replication", "front-door", "settings", "secrets", "permissions"]));
  });

  it("catches a missing standby origin", async () => {
    const { result, writes } = await evaluate((app) => {
      const origin = [...app.estate.state.afdOrigins.entries()].find(([, o]) => o.name === "intake-ause")!;
      app.estate.state.afdOrigins.delete(origin[0]);
    });
    expect(result.ready).toBe(false);
    expect(open(result.checks).map((c) => [c.area, c.subject, c.result])).toContainEqual(["front-door", "origin group intake", "fail"]);
    expect(open(result.checks).find((c) => c.subject === "origin group intake")?.detail).toContain("intake-ause missing");
    expect(writes).toEqual([]);
  });

  it("catches a failover group already failed over outside a run", async () => {
    const { result } = await evaluate(async (app) => {
      const partner = plan.sql[0]!.partnerServer;
      await app.clients.sql(SUB).failoverGroups.beginFailoverAndWait(partner.resourceGroup, partner.name, plan.sql[0]!.failoverGroup.name, { updateIntervalInMs: 20 });
    });
    const group = open(result.checks).find((c) => c.subject === "SQL failover group mer-claims");
    expect(group?.result).toBe("fail");
    expect(group?.detail).toContain("already failed over");
  });

  it("catches replication lag above the RPO", async () => {
    const { result } = await evaluate((app) => app.estate.setLag(plan.storage[0]!.account.id, 600));
    const lag = open(result.checks).find((c) => c.area === "replication");
    expect(lag?.subject).toBe("storage account merclaimdocs");
    expect(lag?.detail).toMatch(/lag \d+ s over the RPO of 60 s/);
  });

  it("catches geo-replication that is not Live", async () => {
    const { result } = await evaluate((app) => {
      for (const accounts of app.estate.state.storageAccounts.values()) {
        for (const account of accounts.values()) if (account.name === "merclaimdocs") account.geoSync = { startedAt: Date.now(), until: Date.now() + 3_600_000 };
      }
    });
    const account = open(result.checks).find((c) => c.subject === "storage account merclaimdocs" && c.area === "resources");
    expect(account?.detail).toContain("geo-replication Bootstrap, not Live");
  });

  it("catches a setting missing on the standby's site", async () => {
    const { result } = await evaluate(async (app) => {
      const site = plan.appService[1]!.site;
      const web = app.clients.web(SUB);
      const settings = await web.webApps.listApplicationSettings(site.resourceGroup, site.name);
      const { CLAIMS_WRITE_REGION: _dropped, ...rest } = settings.properties ?? {};
      await web.webApps.updateApplicationSettings(site.resourceGroup, site.name, { properties: rest });
    });
    const site = open(result.checks).find((c) => c.area === "settings");
    expect(site?.subject).toBe("site mer-intake-ause (australiasoutheast)");
    expect(site?.detail).toBe("app setting(s) CLAIMS_WRITE_REGION missing");
  });

  it("catches a secret near its expiry in one region's vault", async () => {
    const { result } = await evaluate(async (app) => {
      await app.clients.secrets("mer-kv-ause").setSecret("broker-signing-key", "a-value-that-expires-soon-0123456789", { expiresOn: new Date(Date.now() + 2 * 24 * 3600 * 1000) });
    });
    const secrets = open(result.checks).filter((c) => c.area === "secrets");
    expect(secrets.map((c) => c.subject)).toEqual(["secret broker-signing-key in mer-kv-ause"]);
    expect(secrets[0]!.detail).toMatch(/expires .* within 7 days/);
    expect(JSON.stringify(result)).not.toContain("a-value-that-expires-soon");
  });

  it("catches a failover group partnered with a server the plan does not name", async () => {
    const { result } = await evaluate(async (app) => {
      const other = `/subscriptions/${SUB}/resourceGroups/mer-aue/providers/Microsoft.Sql/servers/mer-sql-other`;
      await app.estate.seed({ sqlServers: [{ id: other, location: plan.regions.primary.name }] } as never);
      app.estate.state.failoverGroups.find((g) => g.name === "mer-claims")!.primaryServerId = other;
    });
    const group = result.checks.find((c) => c.subject === "SQL failover group mer-claims");
    expect(group?.result).toBe("fail");
    expect(group?.detail).toContain("its partner is mer-sql-other, not the plan's mer-sql-aue in australiaeast");
  });

  it("catches a storage account whose geo-secondary is not the standby region", async () => {
    const { result } = await evaluate((app) => {
      for (const accounts of app.estate.state.storageAccounts.values()) for (const a of accounts.values()) if (a.name === "merclaimdocs") a.secondaryLocation = "southeastasia";
    });
    const account = open(result.checks).find((c) => c.subject === "storage account merclaimdocs" && c.area === "resources");
    expect(account?.detail).toContain("its secondary is southeastasia, not australiasoutheast");
  });

  it("catches a standby origin that leads to the primary's host", async () => {
    const { result } = await evaluate((app) => {
      const origins = [...app.estate.state.afdOrigins.values()];
      const standby = origins.find((o) => o.name === "intake-ause")!;
      standby.hostName = origins.find((o) => o.name === "intake-aue")!.hostName;
    });
    const group = open(result.checks).find((c) => c.subject === "origin group intake");
    expect(group?.detail).toMatch(/the standby's origin intake-ause has the host name of australiaeast's origin intake-aue/);
  });

  it("catches vaults left on different rotations of one secret", async () => {
    const { result } = await evaluate(async (app) => {
      await app.clients.secrets("mer-kv-aue").setSecret("broker-signing-key", "half-rotated-value-0123456789abcdef0123", { tags: { "switchyard-rotation": "meridian-claims.20261203T000000Z.rotate-0001" }, expiresOn: new Date(Date.now() + 60 * 24 * 3600 * 1000) });
    });
    const across = open(result.checks).find((c) => c.subject === "secret broker-signing-key across its vaults");
    expect(across?.detail).toContain("come from different rotations");
    expect(JSON.stringify(result)).not.toContain("half-rotated-value");
  });
});

describe("switchyard drill --mode readiness", () => {
  const run = async (...args: string[]) => {
    const cli = await promisify(execFile)(process.execPath, ["bin/switchyard.mjs", "drill", "--mode", "readiness", "--plan", "test/fixtures/meridian.plan.yaml", "--out", out, ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    return { ...cli, lines: cli.stdout.trimEnd().split("\n") };
  };

  it("prints each check, ends with ready and proves it wrote nothing (exit 0)", async () => {
    const { code, lines } = await run();
    expect(code).toBe(0);
    expect(lines[0]).toMatch(/^readiness of meridian-claims: australiaeast serving, australiasoutheast standing by/);
    expect(lines.at(-2)).toBe("ready");
    expect(lines.at(-1)).toMatch(/^\d+ request\(s\) to the estate, 0 of them writes$/);
  }, 60_000);

  it("with RBAC enforced and one role removed, names exactly the action the run would miss (exit 1)", async () => {
    const { code, lines } = await run("--rbac", "--without-role", "CDN Profile Contributor");
    expect(code).toBe(1);
    expect(lines[0]).toMatch(/^RBAC enforced: the local identity holds \d+ role assignment\(s\) of switchyard plan roles, without CDN Profile Contributor$/);
    // Reader stays on the profile: Azure answers the question, and only what Reader lacks is missing.
    const missing = lines.filter((l) => l.startsWith("  FAIL permissions"));
    expect(missing).toEqual([
      "  FAIL permissions Microsoft.Cdn/profiles/mer-fd: missing Microsoft.Cdn/profiles/originGroups/origins/write (granted by CDN Profile Contributor)",
    ]);
    expect(lines.at(-1)).toMatch(/, 0 of them writes$/);
  }, 60_000);

  it("refuses a role the plan's assignments do not have, and RBAC options in other modes (exit 2)", async () => {
    expect((await run("--without-role", "Owner")).code).toBe(2);
    const other = (await promisify(execFile)(process.execPath, ["bin/switchyard.mjs", "drill", "--mode", "planned", "--rbac"]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("--rbac applies to --mode readiness only");
  }, 60_000);
});

describe("the readiness timer on the local app", () => {
  it("records each evaluation and tells a drift once, and its end once", async () => {
    const notices: NotifyInput[] = [];
    const app = await startLocalApp({ plans: [plan], log: { info: () => undefined, warn: () => undefined, error: () => undefined }, notifier: { name: "test", notify: async (n) => void notices.push(n) }, pollIntervalMs: 25 });
    try {
      const round = async () => (await app.checkReadiness())[0]!;
      expect((await round()).result?.ready).toBe(true);
      expect((await round()).change).toBeUndefined();
      const site = plan.appService[1]!.site;
      const web = app.clients.web(SUB);
      const before = await web.webApps.listApplicationSettings(site.resourceGroup, site.name);
      const { CLAIMS_WRITE_REGION: _dropped, ...rest } = before.properties ?? {};
      await web.webApps.updateApplicationSettings(site.resourceGroup, site.name, { properties: rest });
      expect((await round()).change).toBe("drift");
      expect((await round()).change).toBeUndefined();
      await web.webApps.updateApplicationSettings(site.resourceGroup, site.name, { properties: before.properties ?? {} });
      expect((await round()).change).toBe("restored");
      const readiness = notices.filter((n) => n.kind?.startsWith("readiness-"));
      expect(readiness.map((n) => n.kind)).toEqual(["readiness-drift", "readiness-restored"]);
      expect(readiness[0]!.message).toContain("settings: site mer-intake-ause (australiasoutheast): app setting(s) CLAIMS_WRITE_REGION missing");
      expect(readiness.map((n) => n.incident)).toEqual([{ key: "switchyard/meridian-claims/readiness", action: "trigger" }, { key: "switchyard/meridian-claims/readiness", action: "resolve" }]);
      const record = await app.readiness.get(plan.name);
      expect(record.history.map((h) => h.ready)).toEqual([true, true, false, false, true]);
      expect(record.pending).toBeUndefined();
    } finally {
      await app.stop();
    }
  }, 60_000);
});
