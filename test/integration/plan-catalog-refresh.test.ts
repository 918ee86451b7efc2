import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { BlobPlanCatalog } from "../../src/plan/catalog.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

describe("plans from a blob container: a refresh downloads only what changed (Azurite)", () => {
  let azurite: AzuriteBlob;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("lists once per time-to-live and downloads only the blobs whose ETag changed; deleted blobs go, invalid ones are reported at every refresh", async () => {
    const real = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("plans-refresh-test");
    await real.createIfNotExists();
    const example = readFileSync(EXAMPLE_PLAN, "utf8");
    const upload = (name: string, text: string) => real.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    const names = Array.from({ length: 30 }, (_, i) => `app-${String(i).padStart(2, "0")}`);
    for (const n of names) await upload(`${n}.yaml`, example.replace("name: contoso-orders", `name: ${n}`));
    await upload("broken.yaml", "name: Not A Valid Name\n");
    // The real container client, with the blobs it downloads written down.
    const downloads: string[] = [];
    const container = Object.create(real) as ContainerClient;
    container.getBlobClient = (name: string) => {
      downloads.push(name);
      return real.getBlobClient(name);
    };
    const invalid: string[] = [];
    let now = 0;
    const catalog = new BlobPlanCatalog(container, (blob) => invalid.push(blob), 60_000, () => now, () => undefined);

    expect((await catalog.list()).map((p) => p.name)).toEqual(names);
    expect(downloads).toHaveLength(31);

    downloads.length = 0;
    now = 60_000;
    expect((await catalog.list()).map((p) => p.name)).toEqual(names);
    expect(downloads).toEqual([]);
    expect(invalid).toEqual(["broken.yaml", "broken.yaml"]);

    await upload("app-07.yaml", example.replace("name: contoso-orders", "name: app-07").replace("rpoSeconds: 300", "rpoSeconds: 120"));
    await real.getBlobClient("app-08.yaml").delete();
    now = 120_000;
    const plans = await catalog.list();
    expect(downloads).toEqual(["app-07.yaml"]);
    expect(plans.map((p) => p.name)).toEqual(names.filter((n) => n !== "app-08"));
    expect(plans.find((p) => p.name === "app-07")?.objectives.rpoSeconds).toBe(120);
  });
});
