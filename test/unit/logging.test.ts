import { InvocationContext } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { contextLogger, jsonLogger } from "../../src/app/logging.ts";
import { withKeys } from "../../src/core/logger.ts";

describe("loggers", () => {
  it("writes through the invocation context in Azure, with the persistent keys and the invocation id on every line", () => {
    const lines: { level: string; args: unknown[] }[] = [];
    const context = new InvocationContext({ invocationId: "inv-1", functionName: "failoverSqlGroup", logHandler: (level, ...args) => lines.push({ level, args }) });

    const log = withKeys(contextLogger(context), { runId: "r-1", plan: "northwind", activity: "failoverSqlGroup" });
    log.info("failover accepted", { resourceId: "/subscriptions/x/fg" });
    log.warn("retrying");

    expect(lines).toEqual([
      { level: "information", args: ["failover accepted", JSON.stringify({ runId: "r-1", plan: "northwind", activity: "failoverSqlGroup", resourceId: "/subscriptions/x/fg", invocationId: "inv-1" })] },
      { level: "warning", args: ["retrying", JSON.stringify({ runId: "r-1", plan: "northwind", activity: "failoverSqlGroup", invocationId: "inv-1" })] },
    ]);
  });

  it("lets a line's own field win over a persistent key, and keeps JSON lines for the CLI", () => {
    const out: string[] = [];
    const log = withKeys(jsonLogger((line) => out.push(line)), { step: "data-tier" });

    log.error("stopped", { step: "traffic" });

    expect(JSON.parse(out[0]!)).toMatchObject({ level: "error", message: "stopped", step: "traffic" });
  });

  it("masks secret-looking parts of a line's message and fields, in both loggers", () => {
    const out: string[] = [];
    jsonLogger((line) => out.push(line)).warn("alert Bearer TokenValidationFailuresHigh ignored", { by: "x;Password=hunter2", detail: { clientSecret: "s3cr3t" }, plan: "orders" });
    const line = JSON.parse(out[0]!);
    expect(line).toMatchObject({ message: "alert [redacted] ignored", by: "x;[redacted]", detail: { clientSecret: "[redacted]" }, plan: "orders" });

    const lines: unknown[][] = [];
    const context = new InvocationContext({ invocationId: "inv-2", functionName: "alerts", logHandler: (_level, ...args) => lines.push(args) });
    contextLogger(context).info("caller Password=abc", { reason: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2ln" });
    expect(JSON.stringify(lines)).not.toMatch(/abc|eyJ/);
  });
});
