import { asString, isObject } from "../core/guards.ts";
import { AzureRequestError, SwitchyardError } from "../core/errors.ts";

/** Helpers the data-tier activities (SQL failover groups, storage accounts, replication) share. */

/** `list[index]`, or an error naming the plan section when the orchestrator passed a bad index. */
export function planEntry<T>(list: readonly T[], index: number, section: string): T {
  const entry = Number.isInteger(index) ? list[index] : undefined;
  if (entry === undefined) {
    throw new SwitchyardError(`the plan has no ${section}[${index}] (it has ${list.length})`, { code: "InvalidInput" });
  }
  return entry;
}

/** The ARM error code of an SDK error, or the one a normalised error carries. */
export function azureCodeOf(error: unknown): string | undefined {
  if (error instanceof AzureRequestError) return error.details.azureCode;
  return isObject(error) || error instanceof Error ? asString((error as { code?: unknown }).code) : undefined;
}

/** The request ids of the responses captured for a write, plus the one a failed call's error carries. */
export function idsWith(ids: readonly string[], error?: unknown): string[] {
  const fromError = error instanceof AzureRequestError ? error.details.requestId : undefined;
  return fromError && !ids.includes(fromError) ? [...ids, fromError] : [...ids];
}
