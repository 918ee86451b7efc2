import { z } from "zod";
import { parsePlan, PlanValidationError } from "../src/core/plan/index.ts";
import { EstateHttpError } from "./errors.ts";
import type { Route } from "./router.ts";
import type { Estate } from "./server.ts";
import { applyScenario, faultSchema, lagSchema, regionSchema, scenarioSchema, ScenarioError, timingSchema } from "./scenario.ts";

function body<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
    throw new EstateHttpError(400, "InvalidControlRequest", detail);
  }
  return result.data;
}

/** Inspection and scenario controls, under the reserved `/_estate/` prefix (no auth). */
export function controlRoutes(estate: Estate): Route[] {
  const route = (method: Route["method"], path: string, operationId: string, handler: Route["handler"]): Route => ({
    method,
    path: `/_estate${path}`,
    operationId,
    api: "control",
    handler,
  });
  return [
    route("GET", "/state", "Estate_State", () => ({ status: 200, body: estate.snapshot() })),
    route("GET", "/requests", "Estate_Requests", (req) => {
      const since = Number(req.url.searchParams.get("since") ?? 0);
      const writesOnly = req.url.searchParams.get("writes") === "true";
      return { status: 200, body: { value: estate.requests({ since, writesOnly }) } };
    }),
    route("POST", "/reset", "Estate_Reset", async () => {
      await estate.reset();
      return { status: 204 };
    }),
    route("PUT", "/regions/{region}", "Estate_SetRegion", async (req) => {
      const region = req.params.region!;
      if (!estate.state.regions.has(region)) throw new EstateHttpError(404, "RegionNotFound", `The estate has no region '${region}'.`);
      await estate.setRegion(region, body(regionSchema, req.body));
      return { status: 200, body: { region, ...estate.state.region(region) } };
    }),
    route("PUT", "/lag", "Estate_SetLag", (req) => {
      const { resourceId, seconds } = body(lagSchema, req.body);
      estate.setLag(resourceId, seconds);
      return { status: 200, body: { resourceId, seconds } };
    }),
    route("POST", "/faults", "Estate_AddFault", (req) => {
      estate.addFault(body(faultSchema, req.body));
      return { status: 201, body: { value: estate.faults.list() } };
    }),
    route("GET", "/faults", "Estate_ListFaults", () => ({ status: 200, body: { value: estate.faults.list() } })),
    route("DELETE", "/faults", "Estate_ClearFaults", () => {
      estate.faults.reset();
      return { status: 204 };
    }),
    route("PUT", "/timing", "Estate_SetTiming", (req) => {
      estate.setTiming(body(timingSchema, req.body));
      return { status: 200, body: estate.getTiming() };
    }),
    route("POST", "/scenario", "Estate_ApplyScenario", async (req) => {
      try {
        await applyScenario(estate, body(scenarioSchema, req.body));
      } catch (error) {
        if (error instanceof ScenarioError) throw new EstateHttpError(400, "InvalidScenario", error.message);
        throw error;
      }
      return { status: 200, body: estate.snapshot() };
    }),
    route("POST", "/plans", "Estate_SeedPlan", async (req) => {
      try {
        const plan = parsePlan(req.body, "plan");
        await estate.seed(plan);
        return { status: 201, body: { plans: estate.planNames() } };
      } catch (error) {
        if (error instanceof PlanValidationError) throw new EstateHttpError(400, "InvalidPlan", error.message);
        throw error;
      }
    }),
  ];
}
