import fc from "fast-check";

/** Mutations of valid JSON documents for fuzzing: delete a field, replace its value, swap its type. */
export type JsonPath = (string | number)[];
export type Mutation = { op: "delete" | "replace" | "swap"; pick: number; value?: unknown };

/** Every path into a JSON value (objects and arrays), depth first. */
export function pathsOf(value: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const p = [...prefix, Array.isArray(value) ? Number(k) : k];
      out.push(p);
      pathsOf(v, p, out);
    }
  }
  return out;
}

/** Applies the mutations to a copy of `body`; each picks its path among the paths the copy has then. */
export function mutate<T>(body: T, mutations: readonly Mutation[]): T {
  const copy = structuredClone(body) as any;
  for (const m of mutations) {
    const paths = pathsOf(copy);
    if (paths.length === 0) break;
    const path = paths[m.pick % paths.length]!;
    let parent = copy;
    for (const key of path.slice(0, -1)) parent = parent[key];
    const key = path[path.length - 1]!;
    if (m.op === "delete") {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (m.op === "replace") parent[key] = m.value;
    else {
      // Swap the type: strings become numbers, numbers strings, objects arrays, arrays objects.
      const v = parent[key];
      parent[key] = typeof v === "string" ? v.length : typeof v === "number" ? String(v) : Array.isArray(v) ? { ...v } : v && typeof v === "object" ? Object.values(v) : { v };
    }
  }
  return copy;
}

/** One mutation, with replacement values drawn from `replacement`. */
export function mutationOf(replacement: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
  return fc.oneof(
    fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }),
    fc.record({ op: fc.constant("replace" as const), pick: fc.nat(), value: replacement }),
    fc.record({ op: fc.constant("swap" as const), pick: fc.nat() }),
  );
}
