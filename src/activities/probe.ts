import { request as httpsRequest } from "node:https";
import { request as httpRequest } from "node:http";
import { currentAbortSignal } from "../azure/budget.ts";
import type { ClientFactory } from "../azure/clients.ts";
import type { ProbeResult } from "../core/run/model.ts";
import type { Probe } from "./deps.ts";

/**
 * An HTTP(S) probe of an application endpoint: a fresh connection each time (a pooled one would hide
 * a refused connection), a hard timeout, and the status checked against what the plan expects.
 * Against the local estate it trusts the estate's certificate; in Azure the system's roots.
 */
export function createProbe(clients: ClientFactory, now: () => number = Date.now): Probe {
  const target = clients.target;
  const ca = target.kind === "estate" ? target.ca : undefined;
  return async (url, { expectStatus, timeoutMs }) => {
    const started = now();
    const requestUrl = new URL(clients.endpointUrl(url));
    const send = requestUrl.protocol === "https:" ? httpsRequest : httpRequest;
    const done = (result: Omit<ProbeResult, "url" | "ms">): ProbeResult => ({ url, ms: now() - started, ...result });
    return new Promise<ProbeResult>((resolve) => {
      const req = send(requestUrl, { method: "GET", agent: false, timeout: timeoutMs, ...(ca ? { ca } : {}), headers: { "User-Agent": "switchyard-probe" } }, (res) => {
        res.resume();
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          resolve(done(status === expectStatus ? { ok: true, status } : { ok: false, status, error: `expected ${expectStatus}, got ${status}` }));
        });
        res.on("error", (error) => resolve(done({ ok: false, error: error.message })));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      // The activity's time budget ends the probe too (it answers as not ok: a probe never throws).
      const budget = currentAbortSignal();
      if (budget) {
        const stop = () => req.destroy(new Error("the activity's time budget ran out"));
        if (budget.aborted) stop();
        else budget.addEventListener("abort", stop, { once: true });
        req.on("close", () => budget.removeEventListener("abort", stop));
      }
      req.on("error", (error: NodeJS.ErrnoException) => resolve(done({ ok: false, error: error.code ?? error.message })));
      req.end();
    });
  };
}
