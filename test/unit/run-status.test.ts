import { describe, expect, it } from "vitest";
import { runStatusOf } from "../../src/core/run/model.ts";

describe("a run's custom status read back from the Durable runtime", () => {
  it("keeps a status the run wrote, and drops a waitingFor it does not know", () => {
    const written = { runId: "r-1", kind: "failback", step: "reprotect", stepStartedAt: "2026-12-02T00:00:00.000Z", waitingFor: "reprotection" };

    expect(runStatusOf(written)).toEqual(written);
    expect(runStatusOf({ ...written, waitingFor: "coffee" })).toEqual({ runId: "r-1", kind: "failback", step: "reprotect", stepStartedAt: "2026-12-02T00:00:00.000Z" });
  });

  it("is not a status when a field is missing or of another type (another orchestration's status, a string, null)", () => {
    for (const value of [null, "data-tier", { step: "data-tier" }, { runId: "r", kind: "sideways", step: "x", stepStartedAt: "t" }, { runId: 1, kind: "failover", step: "x", stepStartedAt: "t" }]) {
      expect(runStatusOf(value), JSON.stringify(value)).toBeUndefined();
    }
  });
});
