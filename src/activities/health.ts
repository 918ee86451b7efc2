import { PreconditionError } from "../core/errors.ts";
import type { Plan } from "../core/plan/index.ts";
import { Steps, type AssessRegionsInput, type AssessRegionsResult, type ProbeResult, type RegionHealth, type RegionVerdict } from "../core/run/model.ts";
import { journalObservation } from "./writes.ts";
import type { ActivityDeps } from "./deps.ts";

/** The plan's description of `region` (primary or secondary), or a PreconditionError naming both. */
export function planRegion(plan: Plan, region: string): Plan["regions"]["primary"] {
  const found = [plan.regions.primary, plan.regions.secondary].find((r) => r.name === region);
  if (!found) {
    throw new PreconditionError(
      `region '${region}' is not one of plan '${plan.name}''s regions (${plan.regions.primary.name}, ${plan.regions.secondary.name})`,
      "UnknownRegion",
    );
  }
  return found;
}

/** Azure names a region `eastus2` or `East US 2` depending on the API. */
export function sameRegion(a: string | undefined, b: string): boolean {
  return a !== undefined && a.replace(/\s+/g, "").toLowerCase() === b.replace(/\s+/g, "").toLowerCase();
}

/** The plan's other region. */
export function otherRegion(plan: Plan, region: string): string {
  planRegion(plan, region);
  return region === plan.regions.primary.name ? plan.regions.secondary.name : plan.regions.primary.name;
}

/**
 * Probes every health endpoint of one region at once. A region is healthy when a strict majority of
 * its endpoints answer as the plan expects (a tie is unhealthy: half the front ends down is an outage).
 * A probe that cannot even be sent (an unmapped host) counts as a failed probe.
 */
export async function probeRegion(plan: Plan, region: string, deps: ActivityDeps): Promise<RegionHealth> {
  const endpoints = planRegion(plan, region).healthEndpoints;
  const probes = await Promise.all(
    endpoints.map(async (endpoint): Promise<ProbeResult> => {
      try {
        return await deps.probe(endpoint.url, { expectStatus: endpoint.expectStatus, timeoutMs: endpoint.timeoutMs });
      } catch (error) {
        return { url: endpoint.url, ok: false, error: error instanceof Error ? error.message : String(error), ms: 0 };
      }
    }),
  );
  const answering = probes.filter((p) => p.ok).length;
  return { healthy: answering * 2 > probes.length, probes };
}

/**
 * Activity: the health of each listed region by its plan health endpoints, probed concurrently.
 * Read-only. The probes are journaled (an observation of the run's step); the run gets each region's
 * verdict and count.
 */
export async function assessRegions(input: AssessRegionsInput, deps: ActivityDeps): Promise<AssessRegionsResult> {
  for (const region of input.regions) planRegion(input.plan, region);
  const at = deps.clock().toISOString();
  const assessed = await Promise.all(input.regions.map(async (region) => [region, await probeRegion(input.plan, region, deps)] as const));
  const regions: Record<string, RegionVerdict> = {};
  for (const [region, health] of assessed) {
    const failed = health.probes.filter((p) => !p.ok);
    regions[region] = { healthy: health.healthy, answering: health.probes.length - failed.length, endpoints: health.probes.length };
    deps.log.info(`region ${region} is ${health.healthy ? "healthy" : "unhealthy"}`, {
      runId: input.runId,
      region,
      answering: health.probes.length - failed.length,
      endpoints: health.probes.length,
      ...(failed.length > 0 ? { failed: failed.map((p) => `${p.url}: ${p.error ?? p.status}`) } : {}),
    });
  }
  await journalObservation(deps, {
    runId: input.runId,
    step: input.step ?? Steps.assess,
    message: Object.entries(regions).map(([region, v]) => `${region} ${v.healthy ? "healthy" : "unhealthy"} (${v.answering} of ${v.endpoints} endpoints answer)`).join("; "),
    data: { at, regions: Object.fromEntries(assessed) },
  });
  return { at, regions };
}
