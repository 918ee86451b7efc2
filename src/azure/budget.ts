/**
 * The time budget of the work in progress (an activity invocation), as an abort signal that every
 * Azure request and probe made on its behalf carries. Activities run each invocation inside
 * `withBudget`; the client factory's ARM, metrics and Key Vault clients pick the signal up in a
 * pipeline policy, and probes in their request options, so a call cannot outlive the budget whichever
 * adapter makes it, without threading a signal through every function in between. Blob requests to
 * Switchyard's own storage carry it in each call's options instead (`budgetOptions`, and `readBody` for
 * a download's stream), as the blob client cannot take the pipeline policy (see ClientFactory.blobService).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setMaxListeners } from "node:events";
import { addAbortSignal, Readable } from "node:stream";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";

const current = new AsyncLocalStorage<AbortSignal>();

/** Requests one budget may have in flight before Node warns of a listener leak. */
const MAX_CONCURRENT_REQUESTS = 1000;

/** The abort signal of the work in progress, if it has a budget. */
export function currentAbortSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** Runs `work` with a budget of `ms` (Infinity or undefined: none): requests it makes are aborted when it runs out. */
export function withBudget<T>(ms: number | undefined, work: () => Promise<T>): Promise<T> {
  if (ms === undefined || !Number.isFinite(ms)) return work();
  const timeout = AbortSignal.timeout(Math.max(1, Math.round(ms)));
  const outer = current.getStore();
  const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
  // One budget serves every request of the work, many at once (a verify reads dozens of resources in
  // parallel): each request listens to it while in flight and lets go when it ends.
  setMaxListeners(MAX_CONCURRENT_REQUESTS, signal);
  return current.run(signal, work);
}

/** `signal` together with the budget in progress (either aborts the request). */
export function withCurrentSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  const budget = current.getStore();
  if (!budget) return signal;
  return signal ? AbortSignal.any([signal, budget]) : budget;
}

/**
 * Options for one SDK call: the budget in progress, with `signal` if the caller has one of its own.
 * Made at the call, so that the call carries the budget of the work that makes it.
 */
export function budgetOptions(signal?: AbortSignal): { abortSignal?: AbortSignal } {
  const abortSignal = withCurrentSignal(signal);
  return abortSignal ? { abortSignal } : {};
}

/**
 * The whole of a response body. A body is read after its request has answered, so it is cut by the
 * budget (or `signal`) itself: a server that stops sending half-way cannot hold the read forever.
 */
export async function readBody(stream: NodeJS.ReadableStream | undefined, signal: AbortSignal | undefined = currentAbortSignal()): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  signal?.throwIfAborted();
  const readable = stream instanceof Readable ? stream : new Readable().wrap(stream);
  if (signal) addAbortSignal(signal, readable);
  const chunks: Buffer[] = [];
  for await (const chunk of readable) chunks.push(bufferOf(chunk));
  return Buffer.concat(chunks);
}

function bufferOf(chunk: unknown): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  throw new TypeError(`a response body gave a ${typeof chunk} where bytes were expected`);
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
