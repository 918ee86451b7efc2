import { describe, expect, it } from "vitest";
import { ancestorId, parseArmId, parseArmIdOfType, sameArmId, suggestRegion, isAzureRegion } from "../../src/core/plan/index.ts";

const SUB = "6b1f8e2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

describe("ARM ids", () => {
  it("parses nested resource ids into their parts", () => {
    const id = parseArmId(`/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.Cdn/profiles/afd/originGroups/web`);
    expect(id).toMatchObject({ subscriptionId: SUB, resourceGroup: "rg-1", namespace: "Microsoft.Cdn", type: "Microsoft.Cdn/profiles/originGroups", names: ["afd", "web"], name: "web" });
    expect(ancestorId(id, 1)).toBe(`/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.Cdn/profiles/afd`);
  });

  it("compares types and ids without regard to case, as ARM does", () => {
    const id = `/subscriptions/${SUB}/resourcegroups/RG/providers/microsoft.sql/SERVERS/s1`;
    expect(parseArmIdOfType(id, "Microsoft.Sql/servers").name).toBe("s1");
    expect(sameArmId(id, id.toLowerCase() + "/")).toBe(true);
  });

  it.each([
    ["", /starts with/],
    [`/subscriptions/${SUB}`, /resourceGroups/],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Sql`, /pairs/],
    [`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers//x`, /empty segments/],
  ])("rejects %j", (id, message) => {
    expect(() => parseArmId(id)).toThrow(message);
  });

  it("rejects an id of another type", () => {
    expect(() => parseArmIdOfType(`/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Sql/servers/s1`, "Microsoft.Storage/storageAccounts")).toThrow(
      /expected a Microsoft.Storage\/storageAccounts resource id, got a Microsoft.Sql\/servers id/,
    );
  });
});

describe("region names", () => {
  it("knows public, government and China regions", () => {
    expect(["eastus2", "centralus", "usgovvirginia", "chinanorth3"].every(isAzureRegion)).toBe(true);
    expect(isAzureRegion("East US 2")).toBe(false);
  });

  it("suggests the region a display name or typo meant", () => {
    expect(suggestRegion("East US 2")).toBe("eastus2");
    expect(suggestRegion("westeurop")).toBe("westeurope");
    expect(suggestRegion("mars")).toBeUndefined();
  });
});
