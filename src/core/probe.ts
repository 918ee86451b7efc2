import type { ProbeResult } from "./run/model.ts";

/** Probes an application endpoint named in a plan (the factory maps it onto the estate locally). */
export type Probe = (url: string, options: { expectStatus: number; timeoutMs: number }) => Promise<ProbeResult>;
