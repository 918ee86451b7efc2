import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { BUILT_IN_ROLES, findBuiltInRole } from "./roles.ts";
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

const permissionStrings = z.array(z.string().min(1).max(512)).max(1_000).optional();
const rolePermissionSchema = z.strictObject({ actions: permissionStrings, notActions: permissionStrings, dataActions: permissionStrings, notDataActions: permissionStrings });

/**
 * A role assignment (estate/rbac.ts): a built-in role (`role`: display name, GUID or role definition
 * id) or a custom one (`roleName` and `permissions`) given to a principal at a scope and below it.
 */
const rbacAssignmentSchema = z
  .strictObject({
    principalId: z.string().min(1).max(4_096),
    scope: z.string().regex(/^\/[^\s]*$/, "an ARM resource id (or / for the root scope)"),
    role: z
      .string()
      .min(1)
      .refine((role) => findBuiltInRole(role) !== undefined, {
        error: (issue) => `'${String(issue.input)}' is not a built-in role the estate knows (${BUILT_IN_ROLES.map((r) => r.roleName).join(", ")}, or their GUIDs)`,
      })
      .optional(),
    roleName: z.string().min(1).max(512).optional(),
    permissions: z.array(rolePermissionSchema).min(1).max(100).optional(),
  })
  .refine((a) => (a.role === undefined) !== (a.permissions === undefined), { message: "give either role (a built-in role) or roleName and permissions (a custom role)", path: ["role"] })
  .refine((a) => a.permissions === undefined || a.roleName !== undefined, { message: "a custom role needs a name", path: ["roleName"] });

/** The RBAC mode: on or off, and every role assignment (replacing those before). */
export const rbacSchema = z.strictObject({
  enabled: z.boolean(),
  assignments: z.array(rbacAssignmentSchema).max(10_000).optional(),
});

/** A scenario file: the state of the world to set up on the estate (all parts optional). */
export const scenarioSchema = z.strictObject({
  regions: z.record(z.string(), regionSchema).optional(),
  lag: z.array(lagSchema).optional(),
  faults: z.array(faultSchema).optional(),
  timing: timingSchema.optional(),
  throttling: throttlingSchema.optional(),
  rbac: rbacSchema.optional(),
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
  if (scenario.rbac) estate.setRbac(scenario.rbac);
  for (const [region, update] of Object.entries(scenario.regions ?? {})) {
    if (!estate.state.regions.has(region)) throw new ScenarioError(`regions.${region}: the estate has no region '${region}' (its plans name ${[...estate.state.regions.keys()].join(", ")})`);
    await estate.setRegion(region, update);
  }
  for (const lag of scenario.lag ?? []) estate.setLag(lag.resourceId, lag.seconds);
  for (const fault of scenario.faults ?? []) estate.addFault(fault);
}
