import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CORPUS } from "./estate.ts";

type Kind = "object" | "array" | "string" | "number" | "boolean" | "null";

const kindOf = (v: unknown): Kind =>
  v === null ? "null" : Array.isArray(v) ? "array" : (typeof v as Kind);

export interface ShapeDiff {
  /** Fields the example has and the estate's body lacks. */
  readonly missing: string[];
  /** Fields present in both with different JSON types. */
  readonly mismatched: string[];
  /** Fields the estate sends that the example does not show. */
  readonly extra: string[];
}

/**
 * Compares two JSON bodies field by field, by name and JSON type (values, ids and times may differ).
 * Arrays are compared element shape to element shape (first elements). `null` in the example matches
 * any type (the examples use null for "not set").
 */
export function shapeDiff(actual: unknown, example: unknown, path = ""): ShapeDiff {
  const diff: ShapeDiff = { missing: [], mismatched: [], extra: [] };
  walk(actual, example, path, diff);
  return diff;
}

function walk(actual: unknown, example: unknown, path: string, diff: ShapeDiff): void {
  const a = kindOf(actual);
  const e = kindOf(example);
  if (e === "null") return;
  if (a !== e) {
    diff.mismatched.push(`${path || "(body)"}: example ${e}, estate ${a}`);
    return;
  }
  if (e === "array") {
    const [first] = example as unknown[];
    const [mine] = actual as unknown[];
    if (first !== undefined && mine !== undefined) walk(mine, first, `${path}[0]`, diff);
    return;
  }
  if (e !== "object") return;
  const ao = actual as Record<string, unknown>;
  const eo = example as Record<string, unknown>;
  for (const k of Object.keys(eo)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in ao)) diff.missing.push(p);
    else walk(ao[k], eo[k], p, diff);
  }
  for (const k of Object.keys(ao)) if (!(k in eo)) diff.extra.push(path ? `${path}.${k}` : k);
}

/** An x-ms-examples file from the corpus: `arm-examples/<service>/<file>`. */
export function corpusExample(relative: string): { parameters: Record<string, unknown>; responses: Record<string, { body?: unknown; headers?: Record<string, string> }> } {
  return JSON.parse(readFileSync(join(CORPUS, "arm-examples", relative), "utf8"));
}

/**
 * Captures the raw responses an SDK call receives (for a long-running operation: the 202, the polls,
 * the final GET). Pass `raw.options` as (part of) the operation options: both generations of Azure SDK
 * clients call `onResponse`.
 */
export function captureRaw() {
  const seen: { status: number; body: unknown; headers: Record<string, string> }[] = [];
  return {
    seen,
    options: {
      onResponse: (response: { status: number; bodyAsText?: string | null; headers: { toJSON(): Record<string, string> } }) => {
        const text = response.bodyAsText;
        seen.push({ status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers.toJSON() });
      },
    },
    get last() {
      const last = seen.at(-1);
      if (!last) throw new Error("no response captured");
      return last;
    },
  };
}
