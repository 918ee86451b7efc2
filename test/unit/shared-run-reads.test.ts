import { describe, expect, it } from "vitest";
import { SharedRunReads } from "../../src/app/handlers.ts";
import type { RunPort, RunView } from "../../src/core/run/port.ts";

/** A run port whose reads wait until the test answers them. */
function port() {
  const pending: { plan: string; answer: (view: RunView | undefined) => void; fail: (error: Error) => void }[] = [];
  const runs = {
    get: (plan: string) => new Promise<RunView | undefined>((answer, fail) => pending.push({ plan, answer, fail })),
  } as unknown as RunPort;
  return { runs, pending };
}

describe("SharedRunReads: detection's reads of a plan's run in an alert storm", () => {
  it("reads made while one is in flight share it; a read after it answered reads again", async () => {
    const { runs, pending } = port();
    const reads = new SharedRunReads();
    const storm = Array.from({ length: 200 }, () => reads.get(runs, "plan-a"));
    const other = reads.get(runs, "plan-b");
    expect(pending.map((p) => p.plan)).toEqual(["plan-a", "plan-b"]);
    const view = { runId: "r1" } as RunView;
    pending[0]!.answer(view);
    pending[1]!.answer(undefined);
    expect(new Set(await Promise.all(storm))).toEqual(new Set([view]));
    expect(await other).toBeUndefined();
    const later = reads.get(runs, "plan-a");
    expect(pending).toHaveLength(3);
    pending[2]!.answer(undefined);
    expect(await later).toBeUndefined();
  });

  it("a failed read fails the reads that shared it, and the next read tries again", async () => {
    const { runs, pending } = port();
    const reads = new SharedRunReads();
    const both = [reads.get(runs, "plan-a"), reads.get(runs, "plan-a")];
    pending[0]!.fail(new Error("storage unavailable"));
    for (const r of await Promise.allSettled(both)) expect(r.status === "rejected" && String(r.reason)).toContain("storage unavailable");
    const again = reads.get(runs, "plan-a");
    expect(pending).toHaveLength(2);
    pending[1]!.answer(undefined);
    expect(await again).toBeUndefined();
  });
});
