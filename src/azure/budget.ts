/**
 * The time budget of the work in progress (an activity invocation), as an abort signal that every
 * Azure request and probe made on its behalf carries. Activities run each invocation inside
 * `withBudget`; the client factory's ARM, metrics and Key Vault clients pick the signal up in a
 * pipeline policy, and probes in their request options, so a call cannot outlive the budget whichever
 * adapter makes it, without threading a signal through every function in between. (Blob requests to
 * Switchyard's own storage are not covered: see ClientFactory.blobService.)
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";

const current = new AsyncLocalStorage<AbortSignal>();

/** The abort signal of the work in progress, if it has a budget. */
export function currentAbortSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Runs `work` with a budget of `ms` (Infinity or undefined: none): requests it makes are aborted when it runs out. */
export function withBudget<T>(ms: number | undefined, work: () => Promise<T>): Promise<T> {
  if (ms === undefined || !Number.isFinite(ms)) return work();
  const signal = AbortSignal.timeout(Math.max(1, Math.round(ms)));
  const outer = current.getStore();
  return current.run(outer ? AbortSignal.any([outer, signal]) : signal, work);
}

/** `signal` together with the budget in progress (either aborts the request). */
export function withCurrentSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  const budget = current.getStore();
  if (!budget) return signal;
  return signal ? AbortSignal.any([signal, budget]) : budget;
}

/** A pipeline policy that gives each request the budget's signal (with the caller's own, if any). */
export const budgetPolicy: PipelinePolicy = {
  name: "switchyardTimeBudget",
  sendRequest(request, next) {
    const budget = current.getStore();
    if (!budget) return next(request);
    const own = request.abortSignal;
    if (!own) {
      request.abortSignal = budget;
      return next(request);
    }
    // The caller's signal (an SDK "abort-like" one) and the budget: whichever aborts first.
    const both = new AbortController();
    const abort = () => both.abort();
    if (own.aborted || budget.aborted) both.abort();
    own.addEventListener("abort", abort);
    budget.addEventListener("abort", abort, { once: true });
    request.abortSignal = both.signal;
    return next(request).finally(() => {
      own.removeEventListener("abort", abort);
      budget.removeEventListener("abort", abort);
    });
  },
};
