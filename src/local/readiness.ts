/**
 * `switchyard drill --mode readiness` on the local estate: the estate seeded from the plan (and a
 * scenario's drift, if any), optionally with RBAC enforced for the roles `switchyard plan roles`
 * lists (less any removed), then one readiness evaluation — and proof from the estate's request log
 * that it wrote nothing.
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createProbe } from "../activities/probe.ts";
import { jsonLogger } from "../app/logging.ts";
import type { Plan } from "../core/plan/index.ts";
import type { ReadinessResult } from "../core/readiness.ts";
import { planRoles } from "../core/roles.ts";
import type { Notifier } from "../notify/notifier.ts";
import { evaluateReadiness } from "../readiness/evaluate.ts";
import { LOCAL_IDENTITY_OBJECT_ID } from "../azure/clients.ts";
import { applyScenario, type Scenario } from "../../estate/scenario.ts";
import { startLocalApp, type LocalApp } from "./app.ts";

export interface ReadinessDrillOptions {
  readonly plan: Plan;
  /** Conditions to evaluate under (a region down, lag, faults, RBAC): the estate's scenario format. */
  readonly scenario?: Scenario;
  /**
   * Enforce RBAC on the estate for Switchyard's local identity, holding exactly the role assignments
   * `switchyard plan roles` lists for the plan, without those of the roles named in `withoutRoles`.
   */
  readonly rbac?: { readonly withoutRoles: readonly string[] };
  readonly outputDir: string;
  /** When the plan's last planned drill passed, if the caller knows (the drill history). */
  readonly lastDrill?: (plan: string) => Promise<string | undefined>;
  /** Called with the local app before the evaluation (tests plant drift here). */
  readonly prepare?: (app: LocalApp) => Promise<void> | void;
}

export interface ReadinessDrillResult {
  readonly result: ReadinessResult;
  /** Requests the evaluation sent to the estate, and those among them that would change Azure. */
  readonly requests: number;
  readonly writes: readonly { readonly operationId: string; readonly path: string; readonly status: number }[];
  /** With RBAC enforced: how many assignments the identity held, and which were left out. */
  readonly rbac?: { readonly assignments: number; readonly removed: readonly string[] };
}

/**
 * The estate's RBAC setting in which Switchyard's local identity holds exactly the role assignments
 * `switchyard plan roles` lists for the plan, less those of the roles named (by name or GUID).
 */
export function planRbac(plan: Plan, withoutRoles: readonly string[] = []) {
  const listed = planRoles(plan).assignments;
  const named = (a: (typeof listed)[number], role: string) => a.role.toLowerCase() === role.toLowerCase() || a.roleDefinitionId === role.toLowerCase();
  const unknown = withoutRoles.filter((role) => !listed.some((a) => named(a, role)));
  if (unknown.length > 0) throw new RangeError(`the plan's role assignments have no role ${unknown.map((r) => `'${r}'`).join(", ")} (see switchyard plan roles)`);
  const held = listed.filter((a) => !withoutRoles.some((role) => named(a, role)));
  return {
    enabled: true,
    assignments: held.map((a) => ({
      principalId: LOCAL_IDENTITY_OBJECT_ID,
      scope: a.scope,
      ...(a.custom ? { roleName: a.custom.name, permissions: [{ actions: [...a.custom.actions], notActions: [], dataActions: [], notDataActions: [] }] } : { role: a.roleDefinitionId! }),
    })),
  };
}

const quiet: Notifier = { name: "readiness", notify: async () => undefined };

export async function runReadinessDrill(options: ReadinessDrillOptions): Promise<ReadinessDrillResult> {
  const { plan } = options;
  await mkdir(options.outputDir, { recursive: true });
  const logFile = createWriteStream(join(options.outputDir, "drill.log"), { flags: "a" });
  let app: LocalApp | undefined;
  try {
    app = await startLocalApp({ plans: [plan], log: jsonLogger((line) => logFile.write(`${line}\n`)), notifier: quiet, pollIntervalMs: 25 });
    if (options.scenario) await applyScenario(app.estate, options.scenario);
    await options.prepare?.(app);
    let rbac: ReadinessDrillResult["rbac"];
    if (options.rbac) {
      const settings = planRbac(plan, options.rbac.withoutRoles);
      app.estate.setRbac(settings);
      rbac = { assignments: settings.assignments.length, removed: [...options.rbac.withoutRoles] };
    }
    const since = app.estate.requests().at(-1)?.seq ?? 0;
    const result = await evaluateReadiness(plan, { clients: app.clients, probe: createProbe(app.clients), clock: () => new Date(), ...(options.lastDrill ? { lastDrill: options.lastDrill } : {}) });
    const requests = app.estate.requests({ since });
    const writes = requests.filter((r) => r.write).map((r) => ({ operationId: r.operationId, path: r.path, status: r.status }));
    return { result, requests: requests.length, writes, ...(rbac ? { rbac } : {}) };
  } finally {
    await app?.stop();
    await new Promise<void>((resolve) => logFile.end(() => resolve()));
  }
}
