import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isObject } from "../core/guards.ts";

const HOST_JSON = fileURLToPath(new URL("../../host.json", import.meta.url));

/**
 * The Functions host's `functionTimeout` from the app's host.json, in milliseconds: how long any
 * function, each activity included, may run before the host stops it. Format `hh:mm:ss` (or
 * `d.hh:mm:ss`); `-1` (unbounded, allowed on some plans) gives Infinity.
 */
export function functionTimeoutMs(hostJsonPath: string = HOST_JSON): number {
  const host: unknown = JSON.parse(readFileSync(hostJsonPath, "utf8"));
  if (!isObject(host)) throw new Error(`${hostJsonPath} is not a JSON object`);
  return parseTimeSpanMs(host.functionTimeout);
}

export function parseTimeSpanMs(value: unknown): number {
  if (value === "-1" || value === -1) return Number.POSITIVE_INFINITY;
  const match = typeof value === "string" ? /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(value) : null;
  if (!match) throw new Error(`host.json functionTimeout '${String(value)}' is not a time span (hh:mm:ss)`);
  const [, days, h, m, s] = match;
  return (((Number(days ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(s)) * 1000;
}

/** `hh:mm:ss` for a duration in ms, as the Functions host prints its timeout. */
export function formatTimeSpan(ms: number): string {
  const total = Math.round(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(total / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
}
