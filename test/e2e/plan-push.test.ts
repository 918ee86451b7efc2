import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { BlobPlanCatalog } from "../../src/plan/catalog.ts";
import { PlanPushError, pushPlan, readPlanForPush } from "../../src/plan/push.ts";
import { runCli } from "../helpers/cli.ts";

/**
 * `switchyard plan push` against Azurite: what it writes is what the Function App's catalog reads, an
 * invalid plan is refused with nothing written, and a second blob of one plan name is never created.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const CONTOSO = join(ROOT, "examples", "contoso.plan.yaml");
const MERIDIAN = join(ROOT, "test", "fixtures", "meridian.plan.yaml");

let azurite: AzuriteBlob;
let dir: string;

beforeAll(async () => {
  azurite = await startAzuriteBlob();
  dir = mkdtempSync(join(tmpdir(), "switchyard-push-"));
});
afterAll(async () => {
  await azurite?.stop();
});

const cli = (...args: string[]) => runCli("plan", "push", ...args);

function container(name: string) {
  return BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name);
}

async function blobNames(name: string): Promise<string[]> {
  const names: string[] = [];
  if (!(await container(name).exists())) return names;
  for await (const item of container(name).listBlobsFlat()) names.push(item.name);
  return names.sort();
}

describe("switchyard plan push", () => {
  it("uploads each plan as {name}.yaml, which the app's catalog then serves; the same text again is unchanged, an edit updates it", async () => {
    const c = azurite.connectionString;
    const missing = await cli("--plan", CONTOSO, "--connection-string", c, "--container", "plans-a");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/container plans-a at .* does not exist: provision it .* or pass --create-container/);
    expect(await blobNames("plans-a")).toEqual([]);

    const first = await cli("--plan", CONTOSO, "--connection-string", c, "--container", "plans-a", "--create-container");
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^plan contoso-orders created: http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/plans-a\/contoso-orders\.yaml$/m);
    const second = await cli("--plan", MERIDIAN, "--connection-string", c, "--container", "plans-a", "--json");
    expect(second.code, second.stderr).toBe(0);
    const pushed = JSON.parse(second.stdout) as { plan: string; blob: string; outcome: string; etag: string };
    expect(pushed).toMatchObject({ plan: "meridian-claims", blob: "meridian-claims.yaml", outcome: "created" });
    expect(await blobNames("plans-a")).toEqual(["contoso-orders.yaml", "meridian-claims.yaml"]);
    // The blob is the file's own text, comments and all.
    const stored = (await container("plans-a").getBlobClient("contoso-orders.yaml").downloadToBuffer()).toString("utf8");
    expect(stored).toBe(readFileSync(CONTOSO, "utf8"));

    const catalog = new BlobPlanCatalog(container("plans-a"), (blob) => {
      throw new Error(`catalog found ${blob} invalid`);
    });
    expect((await catalog.list()).map((p) => p.name).sort()).toEqual(["contoso-orders", "meridian-claims"]);

    const again = await cli("--plan", MERIDIAN, "--connection-string", c, "--container", "plans-a", "--json");
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: "unchanged", etag: pushed.etag });

    const edited = join(dir, "meridian-edited.yaml");
    writeFileSync(edited, `${readFileSync(MERIDIAN, "utf8")}\n# reviewed\n`);
    const update = await cli("--plan", edited, "--connection-string", c, "--container", "plans-a", "--json");
    expect(update.code, update.stderr).toBe(0);
    const updated = JSON.parse(update.stdout) as { outcome: string; etag: string };
    expect(updated.outcome).toBe("updated");
    expect(updated.etag).not.toBe(pushed.etag);
    expect((await container("plans-a").getBlobClient("meridian-claims.yaml").downloadToBuffer()).toString("utf8")).toContain("# reviewed");
  });

  it("two pushes of one plan at once: never two blobs, never a silent overwrite (the loser is told to push again)", async () => {
    const target = container("plans-race");
    await target.createIfNotExists();
    const a = await readPlanForPush(CONTOSO);
    const edited = join(dir, "contoso-edited.json");
    const { parse } = await import("yaml");
    writeFileSync(edited, JSON.stringify({ ...parse(readFileSync(CONTOSO, "utf8")), description: "edited" }));
    const b = await readPlanForPush(edited);
    const results = await Promise.allSettled([pushPlan(target, a), pushPlan(target, b)]);
    const written = results.flatMap((r, i) => (r.status === "fulfilled" ? [{ ...r.value, text: [a, b][i]!.text }] : []));
    const refused = results.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    expect(await blobNames("plans-race")).toEqual(["contoso-orders.yaml"]);
    const stored = (await target.getBlobClient("contoso-orders.yaml").downloadToBuffer()).toString("utf8");
    if (refused.length === 1) {
      // Both read the container before either wrote: the second write's condition failed.
      expect(refused[0]).toBeInstanceOf(PlanPushError);
      expect(String(refused[0])).toMatch(/changed while the plan was being pushed: push again/);
      expect(stored).toBe(written[0]!.text);
    } else {
      // One wrote before the other read: the second replaced exactly the version it read.
      expect(written.map((w) => w.outcome).sort()).toEqual(["created", "updated"]);
      expect(stored).toBe(written.find((w) => w.outcome === "updated")!.text);
    }
  });

  it("refuses an invalid plan with the path of every bad field, and sends nothing", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, readFileSync(CONTOSO, "utf8").replace(/rpoSeconds: \d+/, "rpoSeconds: -5").replace(/^name: .*$/m, "name: Not A Name"));
    const result = await cli("--plan", bad, "--connection-string", azurite.connectionString, "--container", "plans-b", "--create-container");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^.*bad\.yaml: \d+ errors?; not pushed$/m);
    expect(result.stdout).toMatch(/^ {2}name: /m);
    // Not even the container was created: an invalid plan is refused before anything is sent.
    expect(await container("plans-b").exists()).toBe(false);

    const notThere = await cli("--plan", join(dir, "nope.yaml"), "--connection-string", azurite.connectionString);
    expect(notThere.code).toBe(1);
    expect(notThere.stdout).toContain("file not found");
  });

  it("keeps one blob per plan name: a JSON file of the plan replaces its YAML; refuses another blob of the plan, and a blob of its name holding another plan", async () => {
    const c = azurite.connectionString;
    expect((await cli("--plan", CONTOSO, "--connection-string", c, "--container", "plans-c", "--create-container")).code).toBe(0);
    // The same plan as JSON goes to the same blob (JSON is YAML): one blob per plan name, so two pushes
    // of a plan, whatever their files' kinds, meet at one conditional write.
    const { parse } = await import("yaml");
    const asJson = join(dir, "contoso.json");
    writeFileSync(asJson, JSON.stringify(parse(readFileSync(CONTOSO, "utf8"))));
    const json = await cli("--plan", asJson, "--connection-string", c, "--container", "plans-c", "--json");
    expect(JSON.parse(json.stdout)).toMatchObject({ blob: "contoso-orders.yaml", outcome: "updated" });
    expect(await blobNames("plans-c")).toEqual(["contoso-orders.yaml"]);
    const catalog = new BlobPlanCatalog(container("plans-c"));
    expect((await catalog.list()).map((p) => p.name)).toEqual(["contoso-orders"]);

    // A blob of another name holding the plan (put there by hand) refuses the push.
    const text = readFileSync(CONTOSO, "utf8");
    await container("plans-d2").createIfNotExists();
    await container("plans-d2").getBlockBlobClient("orders-by-hand.yml").upload(text, Buffer.byteLength(text));
    const twice = await cli("--plan", CONTOSO, "--connection-string", c, "--container", "plans-d2");
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already holds plan contoso-orders in blob orders-by-hand\.yml/);
    expect(await blobNames("plans-d2")).toEqual(["orders-by-hand.yml"]);

    // A blob named for meridian-claims that holds another plan is not overwritten.
    await container("plans-c").getBlockBlobClient("meridian-claims.yaml").upload("x", 1);
    const other = readFileSync(CONTOSO, "utf8").replace(/^name: .*$/m, "name: other-plan");
    await container("plans-c").getBlockBlobClient("meridian-claims.yaml").upload(other, Buffer.byteLength(other));
    const refused = await cli("--plan", MERIDIAN, "--connection-string", c, "--container", "plans-c");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/holds plan other-plan, not meridian-claims/);
    expect((await container("plans-c").getBlobClient("meridian-claims.yaml").downloadToBuffer()).toString("utf8")).toBe(other);
  });

  it("checks where it writes before signing in or sending anything, and never prints a connection string", async () => {
    const plan = ["--plan", CONTOSO];
    const cases: [string[], RegExp][] = [
      [["--account-url", "http://contoso.blob.core.windows.net"], /must be https/],
      [["--account-url", "https://contoso.blob.core.windows.net/?sv=2024&sig=abc"], /no query string/],
      [["--account-url", "https://contoso.blob.core.windows.net/plans"], /no path/],
      [["--account-url", "not a url"], /must be a URL/],
      [["--account-url", "https://a.blob.core.windows.net", "--connection-string", "UseDevelopmentStorage=true"], /not both/],
      [["--connection-string", "UseDevelopmentStorage=true", "--container", "Bad_Name"], /--container "Bad_Name": must be a blob container name/],
      [["--connection-string", "AccountName=x;AccountKey=c2VjcmV0LWtleS12YWx1ZQ==;Nonsense"], /not a storage connection string/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(...plan, ...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(message);
      expect(result.stderr).not.toContain("c2VjcmV0LWtleS12YWx1ZQ==");
      expect(result.stderr).not.toContain("sig=abc");
    }
    const nowhere = await cli(...plan);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/say where the plans go/);
  });

  it("reports a refused write without the account key (Azurite with a wrong key)", async () => {
    const wrongKey = azurite.connectionString.replace(/AccountKey=[^;]+/, "AccountKey=d3Jvbmcta2V5LXZhbHVlLXRoYXQtaXMtYmFzZTY0");
    expect(wrongKey).not.toBe(azurite.connectionString);
    const result = await cli("--plan", CONTOSO, "--connection-string", wrongKey, "--container", "plans-d", "--create-container");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/container plans-d at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1: (refused \(403|403)/);
    expect(result.stderr).not.toContain("d3Jvbmcta2V5LXZhbHVlLXRoYXQtaXMtYmFzZTY0");
  });
});
