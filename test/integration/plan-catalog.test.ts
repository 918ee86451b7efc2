import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BlobServiceClient } from "@azure/storage-blob";
import { BlobPlanCatalog } from "../../src/plan/catalog.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

describe("plans from a blob container (Azurite)", () => {
  let azurite: AzuriteBlob;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("uses the valid plans, reports the invalid ones, and reads again only after its time-to-live", async () => {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient("plans-catalog-test");
    await container.createIfNotExists();
    const upload = (name: string, text: string) => container.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
    await upload("contoso.yaml", readFileSync(EXAMPLE_PLAN, "utf8"));
    await upload("broken.yaml", "name: Not A Valid Name\n");
    await upload("notes.txt", "not a plan");
    const invalid: string[] = [];
    let now = 0;
    const catalog = new BlobPlanCatalog(container, (blob) => invalid.push(blob), 60_000, () => now);

    expect((await catalog.list()).map((p) => p.name)).toEqual(["contoso-orders"]);
    expect(invalid).toEqual(["broken.yaml"]);
    expect((await catalog.get("contoso-orders"))?.regions.primary.name).toBe("eastus2");

    await upload("fabrikam.json", readFileSync(new URL("../fixtures/fabrikam.plan.json", import.meta.url), "utf8"));
    now = 59_000;
    expect((await catalog.list()).map((p) => p.name)).toEqual(["contoso-orders"]);
    now = 60_000;
    expect((await catalog.list()).map((p) => p.name).sort()).toEqual(["contoso-orders", "fabrikam-claims"]);
  });
});
