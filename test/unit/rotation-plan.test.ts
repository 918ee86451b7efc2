/** The plan's `secrets` section: what a rotation needs from it, refused with the path of the bad field. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parsePlanText, PlanValidationError } from "../../src/core/plan/index.ts";

const doc = parse(readFileSync(new URL("../fixtures/harbor.plan.yaml", import.meta.url), "utf8")) as Record<string, any>;
const rg = "/subscriptions/3d2c1b0a-9f8e-4d7c-a6b5-4c3d2e1f0a9b/resourceGroups";
const account = doc.secrets[0].source.account as string;
const vaults = doc.secrets[0].vaults as string[];
const servers = [`${rg}/harbor-san/providers/Microsoft.Sql/servers/harbor-sql-san`, `${rg}/harbor-saw/providers/Microsoft.Sql/servers/harbor-sql-saw`];

function issues(secrets: unknown[]): { path: string; message: string }[] {
  try {
    parsePlanText(stringify({ ...doc, secrets }), "test");
    return [];
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    // Paths as the plan validator writes them (`secrets[1].source.account`), compared here with dots.
    return error.issues.map((i) => ({ path: i.path.replace(/\[(\d+)\]/g, ".$1"), message: i.message }));
  }
}

describe("a plan's secrets", () => {
  it("takes the harbor plan as it is, each secret in both vaults", () => {
    const plan = parsePlanText(stringify(doc), "harbor");
    expect(plan.secrets.map((s) => s.vaults.map((v) => v.name))).toEqual([["harbor-kv-san", "harbor-kv-saw"], ["harbor-kv-san", "harbor-kv-saw"]]);
  });

  it("reads a single `vault` as a list of one, and refuses both or neither", () => {
    const one = parsePlanText(stringify({ ...doc, secrets: [{ vault: vaults[0], name: "x-token", source: { kind: "generated" } }] }), "t");
    expect(one.secrets[0]!.vaults.map((v) => v.name)).toEqual(["harbor-kv-san"]);
    expect(issues([{ vault: vaults[0], vaults, name: "x", source: { kind: "generated" } }])).toEqual([{ path: "secrets.0.vault", message: expect.stringContaining("either vault or vaults") }]);
    expect(issues([{ name: "x", source: { kind: "generated" } }])).toEqual([{ path: "secrets.0.vaults", message: expect.stringContaining("name the vaults") }]);
    expect(issues([{ vaults: [vaults[0], vaults[0]!.toUpperCase()], name: "x", source: { kind: "generated" } }])).toEqual([{ path: "secrets.0.vaults.1", message: expect.stringContaining("twice") }]);
  });

  it("refuses a generated secret of fewer than 128 bits, and an alphabet with spaces or repeats", () => {
    expect(issues([{ vaults, name: "x", source: { kind: "generated", length: 20, alphabet: "0123456789" } }])).toEqual([{ path: "secrets.0.source.length", message: expect.stringContaining("66 bits") }]);
    expect(issues([{ vaults, name: "x", source: { kind: "generated", length: 64, alphabet: "ab cd" } }])[0]?.path).toBe("secrets.0.source.alphabet");
    expect(issues([{ vaults, name: "x", source: { kind: "generated", length: 64, alphabet: "abca" } }])[0]?.message).toContain("twice");
  });

  it("refuses SQL logins that are not plain identifiers (no T-SQL in a name), or the same login twice", () => {
    expect(issues([{ vaults, name: "db", source: { kind: "sqlLogin", servers, logins: ["a]; DROP LOGIN sa; --", "b"] } }])[0]?.path).toBe("secrets.0.source.logins.0");
    expect(issues([{ vaults, name: "db", source: { kind: "sqlLogin", servers, logins: ["app_a", "APP_A"] } }])).toEqual([{ path: "secrets.0.source.logins.1", message: expect.stringContaining("differ") }]);
  });

  it("refuses two secrets of one storage account or one SQL login, and two secrets of one name", () => {
    const key = (name: string) => ({ vaults, name, source: { kind: "storageAccountKey", account } });
    expect(issues([key("a-key"), key("b-key")])).toEqual([{ path: "secrets.1.source.account", message: expect.stringContaining("already rotated by secrets[0]") }]);
    const login = (name: string, logins: string[]) => ({ vaults, name, source: { kind: "sqlLogin", servers, logins } });
    expect(issues([login("a-db", ["app_a", "app_b"]), login("b-db", ["app_c", "APP_B"])]).map((i) => i.path)).toEqual(["secrets.1.source.logins"]);
    expect(issues([login("a-db", ["app_a", "app_b"]), login("b-db", ["app_c", "app_d"])])).toEqual([]);
    expect(issues([key("same"), { vaults, name: "SAME", source: { kind: "generated" } }])[0]?.path).toBe("secrets.1.name");
  });
});
