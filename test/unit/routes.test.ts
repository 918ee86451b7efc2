import { describe, expect, it } from "vitest";
import { httpRoutes, matchRoute, matchTemplate, type HttpHandlers, type HttpRoute } from "../../src/http/routes.ts";

const handler = async () => ({ status: 204 });
const route = (name: string, template: string, methods: HttpRoute["methods"] = ["GET"]): HttpRoute => ({ name, methods, route: template, handler });

describe("matchTemplate", () => {
  it("matches a literal dot only as a dot", () => {
    expect(matchTemplate("v1.0/plans/{plan}", "/api/v1.0/plans/contoso")).toEqual({ plan: "contoso" });
    expect(matchTemplate("v1.0/plans/{plan}", "/api/v1x0/plans/contoso")).toBeUndefined();
  });

  it("matches other regex characters of a template literally", () => {
    expect(matchTemplate("a+b/{id}", "/api/a+b/7")).toEqual({ id: "7" });
    expect(matchTemplate("a+b/{id}", "/api/aab/7")).toBeUndefined();
    expect(matchTemplate("(x)|y/*", "/api/(x)|y/*")).toEqual({});
    expect(matchTemplate("(x)|y/*", "/api/y/")).toBeUndefined();
    expect(matchTemplate("$ref^", "/api/$ref^")).toEqual({});
  });

  it("gives each parameter one decoded path segment, and allows a trailing slash", () => {
    expect(matchTemplate("runs/{id}/approve", "/api/runs/run%20one/approve/")).toEqual({ id: "run one" });
    expect(matchTemplate("runs/{id}/approve", "/api/runs/a/b/approve")).toBeUndefined();
    expect(matchTemplate("runs/{id}", "/api/runs/")).toBeUndefined();
    expect(matchTemplate("runs/{id}", "/api/runs/%E0%A4%A")).toEqual({ id: "%E0%A4%A" });
  });

  it("refuses parameter forms the matcher does not implement", () => {
    expect(() => matchTemplate("runs/{id:int}", "/api/runs/1")).toThrow(/unsupported parameter/);
    expect(() => matchTemplate("files/{*rest}", "/api/files/a")).toThrow(/unsupported parameter/);
  });
});

describe("matchRoute", () => {
  it("finds the route and its parameters, or the methods the path allows", () => {
    const routes = [route("planGet", "plans/{plan}"), route("planFailover", "plans/{plan}/failover", ["POST"])];
    expect(matchRoute(routes, "POST", "/api/plans/contoso/failover")).toMatchObject({ route: { name: "planFailover" }, params: { plan: "contoso" } });
    expect(matchRoute(routes, "GET", "/api/plans/contoso/failover")).toEqual({ allowed: ["POST"] });
    expect(matchRoute(routes, "GET", "/api/nothing")).toBeUndefined();
  });

  it("serves every route of the app's table at its own path", () => {
    const names = ["alerts", "failover", "failback", "approve", "abort", "autoFailover", "getPlan", "getRun", "listPlans", "listRuns", "resume"] as const;
    const routes = httpRoutes(Object.fromEntries(names.map((n) => [n, handler])) as unknown as HttpHandlers);
    for (const r of routes) {
      const path = `/api/${r.route.replace("{plan}", "contoso").replace("{id}", "run-1")}`;
      expect(matchRoute(routes, r.methods[0]!, path)).toMatchObject({ route: { name: r.name } });
    }
  });
});
