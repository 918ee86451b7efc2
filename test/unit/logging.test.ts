import { InvocationContext } from "@azure/functions";
import { describe, expect, it } from "vitest";
import { contextLogger, jsonLogger } from "../../src/app/logging.ts";
import { withKeys } from "../../src/core/logger.ts";

describe("loggers", () => {
  it("writes through the invocation context in Azure, with the persistent keys on every line", () => {
    const lines: { level: string; args: unknown[] }[] = [];
    const context = new InvocationContext({ invocationId: "inv-1", functionName: "failoverSqlGroup", logHandler: (level, ...args) => lines.push({ level, args }) });

    const log = withKeys(contextLogger(context), { runId: "r-1", plan: "northwind", activity: "failoverSqlGroup" });
    log.info("failover accepted", { resourceId: "/subscriptions/x/fg" });
    log.warn("retrying");

    expect(lines).toEqual([
      { level: "information", args: ["failover accepted", JSON.stringify({ runId: "r-1", plan: "northwind", activity: "failoverSqlGroup", resourceId: "/subscriptions/x/fg" })] },
      { level: "warning", args: ["retrying", JSON.stringify({ runId: "r-1", plan: "northwind", activity: "failoverSqlGroup" })] },
    ]);
  });

  it("lets a line's own field win over a persistent key, and keeps JSON lines for the CLI", () => {
    const out: string[] = [];
    const log = withKeys(jsonLogger((line) => out.push(line)), { step: "data-tier" });

    log.error("stopped", { step: "traffic" });

    expect(JSON.parse(out[0]!)).toMatchObject({ level: "error", message: "stopped", step: "traffic" });
  });
});
