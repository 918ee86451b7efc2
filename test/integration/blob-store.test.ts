import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFactory } from "../../src/azure/clients.ts";
import { startAzuriteBlob, type AzuriteBlob } from "../../src/local/azurite.ts";

describe("blob store through the client factory (Azurite)", () => {
  let azurite: AzuriteBlob;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it("writes and reads a blob with the connection-string client", async () => {
    const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" }, blobStore: { connectionString: azurite.connectionString } });
    const container = clients.blobService().getContainerClient("switchyard-plans");
    await container.createIfNotExists();
    const body = Buffer.from("name: contoso-orders\n");
    await container.getBlockBlobClient("contoso-orders.yaml").upload(body, body.length);
    const text = (await container.getBlobClient("contoso-orders.yaml").downloadToBuffer()).toString();
    expect(text).toBe("name: contoso-orders\n");
  });

  it("refuses to guess a blob store when none is configured", () => {
    const clients = new ClientFactory({ target: { kind: "azure", cloud: "AzurePublicCloud" } });
    expect(() => clients.blobService()).toThrow(/no blob store configured/);
  });
});
