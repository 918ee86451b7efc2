import { parsePlan, type Plan, type PlanInput } from "../../src/core/plan/index.ts";

/** Fixtures for detection tests: an injected clock (every time is T0 + seconds) and a small plan. */
export const PRIMARY = "eastus2";
export const SECONDARY = "centralus";
export const T0 = Date.parse("2030-01-01T00:00:00.000Z");
export const iso = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
export const at = (seconds: number) => new Date(T0 + seconds * 1000);

/** Three health endpoints per region, one storage account, auto-failover on (quorum 2 of W = 180 s). */
export function testPlan(autoFailover: PlanInput["autoFailover"] = {}): Plan {
  const endpoints = (region: string) => ["a", "b", "c"].map((n) => ({ url: `https://${n}-${region}.app.example/healthz` }));
  return parsePlan({
    name: "detect-test",
    regions: { primary: { name: PRIMARY, healthEndpoints: endpoints(PRIMARY) }, secondary: { name: SECONDARY, healthEndpoints: endpoints(SECONDARY) } },
    objectives: { rpoSeconds: 300, rtoMinutes: 30 },
    storage: [{ account: "/subscriptions/0c6f4e2d-8b1a-4c3e-9f5d-2a7b6c8d9e0f/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/detecttest" }],
    autoFailover: { enabled: true, quorum: 2, downForSeconds: 180, healthyForSeconds: 900, cooldownMinutes: 60, maxPerDay: 1, ...autoFailover },
  });
}
