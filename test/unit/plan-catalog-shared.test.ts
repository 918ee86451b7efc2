import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadPlanFile, parsePlan, type Plan } from "../../src/core/plan/index.ts";
import { sharedClassicFrontDoors, StaticPlanCatalog } from "../../src/plan/catalog.ts";

const TAILSPIN = fileURLToPath(new URL("../fixtures/tailspin.plan.json", import.meta.url));
const CONTOSO = fileURLToPath(new URL("../../examples/contoso.plan.yaml", import.meta.url));

/** A second plan on tailspin's classic Front Door (another pool), with the id spelt in other case. */
function refunds(frontDoorId: string): Plan {
  return parsePlan({
    name: "tailspin-refunds",
    regions: {
      primary: { name: "westeurope", healthEndpoints: [{ url: "https://refunds-weu.tailspin.example/status" }] },
      secondary: { name: "northeurope", healthEndpoints: [{ url: "https://refunds-neu.tailspin.example/status" }] },
    },
    objectives: { rpoSeconds: 300, rtoMinutes: 30 },
    frontDoor: { classic: [{ frontDoor: frontDoorId.replace("tailspin-edge", "TAILSPIN-EDGE"), backendPool: "refunds-pool", backends: { westeurope: "refunds-weu.tailspin.example", northeurope: "refunds-neu.tailspin.example" } }] },
  });
}

describe("plans that share a classic Front Door", () => {
  it("are found case-insensitively and warned about once, naming the Front Door and the plans", async () => {
    const tickets = await loadPlanFile(TAILSPIN);
    const contoso = await loadPlanFile(CONTOSO);
    const fd = tickets.frontDoor.classic[0]!.frontDoor.id;
    const warnings: { message: string; fields?: Record<string, unknown> }[] = [];

    const shared = sharedClassicFrontDoors([tickets, refunds(fd), contoso]);
    new StaticPlanCatalog([tickets, refunds(fd), contoso], (message, fields) => warnings.push({ message, ...(fields ? { fields } : {}) }));
    new StaticPlanCatalog([tickets, contoso], (message) => warnings.push({ message }));

    expect(shared).toEqual([{ frontDoor: fd, plans: ["tailspin-refunds", "tailspin-tickets"] }]);
    expect(warnings).toEqual([
      {
        message: expect.stringMatching(/^plans tailspin-refunds, tailspin-tickets share the classic Front Door .*tailspin-legacy: each switch takes the Front Door's lease/),
        fields: { frontDoor: fd, plans: ["tailspin-refunds", "tailspin-tickets"] },
      },
    ]);
  });
});
