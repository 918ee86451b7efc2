import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Estate } from "./server.ts";

export const faultSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("throttle"),
    operationId: z.string().min(1),
    count: z.number().int().positive(),
    retryAfterSeconds: z.number().int().min(0).optional(),
    resourceId: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal("serverError"),
    operationId: z.string().min(1),
    count: z.number().int().positive(),
    status: z.number().int().min(500).max(599).optional(),
    resourceId: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal("lroFailure"),
    operationId: z.string().min(1),
    count: z.number().int().positive(),
    resourceId: z.string().optional(),
    outcome: z.enum(["Failed", "Canceled"]).optional(),
    code: z.string().min(1).optional(),
  }),
  z.strictObject({
    kind: z.literal("latency"),
    operationId: z.string().min(1),
    ms: z.number().int().min(0).max(600_000),
    count: z.number().int().positive().optional(),
    resourceId: z.string().optional(),
  }),
]);

/**
 * A region's state: `down` is its data plane and application (health endpoints, replication);
 * `controlPlane` is its regional resource providers: `reads-fail` fails reads of the ARM resources located
 * there, `down` their writes too. The two are set independently (an outage usually takes both).
 */
export const regionSchema = z
  .strictObject({
    down: z.boolean().optional(),
    healthWhenDown: z.enum(["refused", "503"]).optional(),
    controlPlane: z.enum(["up", "reads-fail", "down"]).optional(),
  })
  .refine((r) => r.down !== undefined || r.controlPlane !== undefined || r.healthWhenDown !== undefined, "set down, controlPlane or healthWhenDown");
export const lagSchema = z.strictObject({ resourceId: z.string().min(1), seconds: z.number().min(0) });
export const timingSchema = z.strictObject({
  /** Milliseconds each long-running operation takes, by operation id (`default` for the rest). */
  durations: z.record(z.string(), z.number().int().min(0)).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
});

const bucketSchema = z.strictObject({
  bucket: z.number().int().min(1).max(1_000_000).optional(),
  refillPerSecond: z.number().positive().max(1_000_000).optional(),
});
/**
 * Resource Manager throttling (estate/armThrottle.ts): the whole configuration; `enabled` defaults to
 * true and every limit not given is Azure's (reads 250 + 25/s, writes and deletes 200 + 10/s, global 15×).
 */
export const throttlingSchema = z.strictObject({
  enabled: z.boolean().optional(),
  read: bucketSchema.optional(),
  write: bucketSchema.optional(),
  delete: bucketSchema.optional(),
  globalFactor: z.number().min(1).max(1_000).optional(),
});

/** A scenario file: the state of the world to set up on the estate (all parts optional). */
export const scenarioSchema = z.strictObject({
  regions: z.record(z.string(), regionSchema).optional(),
  lag: z.array(lagSchema).optional(),
  faults: z.array(faultSchema).optional(),
  timing: timingSchema.optional(),
  throttling: throttlingSchema.optional(),
});

export type Scenario = z.infer<typeof scenarioSchema>;

export class ScenarioError extends Error {}

/** A document path as a reader writes it: `regions.eastus2.down`, `faults[0].count`, `lag["a b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === "number") return `${out}[${part}]`;
    const name = String(part);
    if (!/^[A-Za-z_$][\w$-]*$/.test(name)) return `${out}[${JSON.stringify(name)}]`;
    return out ? `${out}.${name}` : name;
  }, "");
}

export function parseScenario(document: unknown, source = "scenario"): Scenario {
  const result = scenarioSchema.safeParse(document ?? {});
  if (!result.success) {
    throw new ScenarioError(`${source}: ${result.error.issues.map((i) => `${formatPath(i.path) || "(document)"}: ${i.message}`).join("; ")}`);
  }
  return result.data;
}

export async function loadScenarioFile(path: string): Promise<Scenario> {
  return parseScenario(parseYaml(await readFile(path, "utf8")), path);
}

export async function applyScenario(estate: Estate, scenario: Scenario): Promise<void> {
  if (scenario.timing) estate.setTiming(scenario.timing);
  if (scenario.throttling) estate.armThrottle.configure(scenario.throttling);
  for (const [region, update] of Object.entries(scenario.regions ?? {})) {
    if (!estate.state.regions.has(region)) throw new ScenarioError(`regions.${region}: the estate has no region '${region}' (its plans name ${[...estate.state.regions.keys()].join(", ")})`);
    await estate.setRegion(region, update);
  }
  for (const lag of scenario.lag ?? []) estate.setLag(lag.resourceId, lag.seconds);
  for (const fault of scenario.faults ?? []) estate.addFault(fault);
}
