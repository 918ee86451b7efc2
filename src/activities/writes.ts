import type { ActivityDeps } from "./deps.ts";

/**
 * Collects the `x-ms-request-id` of every response an SDK call receives. Pass `capture.options` into
 * the operation options (both SDK generations call `onResponse`).
 */
export function captureRequestIds() {
  const ids: string[] = [];
  return {
    ids,
    options: {
      onResponse: (response: { headers: { get(name: string): string | undefined } }) => {
        const id = response.headers.get("x-ms-request-id");
        if (id && !ids.includes(id)) ids.push(id);
      },
    },
  };
}

/** Journals one Azure write: what, on which resource, Azure's request ids, and the result. */
export async function journalWrite(
  deps: ActivityDeps,
  entry: { runId: string; step: string; resourceId: string; operation: string; requestIds: readonly string[]; result: string; details?: Record<string, unknown> },
): Promise<void> {
  await deps.journal.append({
    runId: entry.runId,
    at: deps.clock().toISOString(),
    kind: "write",
    step: entry.step,
    message: `${entry.operation} on ${entry.resourceId}: ${entry.result}`,
    data: { resourceId: entry.resourceId, operation: entry.operation, requestIds: [...entry.requestIds], result: entry.result, ...entry.details },
  });
}

/**
 * Journals what an activity observed (probes, replication, verification checks) where it observed it:
 * the run receives the verdict, and the evidence stays in the journal instead of durable history.
 * Each attempt of an activity is a new observation, so a retried activity journals each.
 */
export async function journalObservation(deps: ActivityDeps, entry: { runId: string; step: string; message: string; data: Record<string, unknown> }): Promise<void> {
  await deps.journal.append({ runId: entry.runId, at: deps.clock().toISOString(), kind: "observation", step: entry.step, message: entry.message, data: entry.data });
}
