import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { crossChecks } from "./crossChecks.ts";
import { planSchema, type Plan } from "./schema.ts";

export interface PlanIssue {
  /** Path of the bad field, e.g. `sql[1].failoverGroup` (empty for the document itself). */
  readonly path: string;
  readonly message: string;
}

export class PlanValidationError extends Error {
  readonly issues: readonly PlanIssue[];
  constructor(source: string, issues: readonly PlanIssue[]) {
    super(`${source}: ${issues.length} error${issues.length === 1 ? "" : "s"}\n${issues.map(formatIssue).join("\n")}`);
    this.name = "PlanValidationError";
    this.issues = issues;
  }
}

export function formatIssue(issue: PlanIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** `["sql", 1, "failoverGroup"]` → `sql[1].failoverGroup` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const key = String(part);
      const plain = /^[A-Za-z_$][\w$-]*$/.test(key);
      out += plain ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

function issuesOf(error: z.ZodError): PlanIssue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: describe(issue) }));
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "invalid_type" && issue.message.includes("received undefined")) return "required";
  return issue.message;
}

/** Validates an already-parsed document; throws PlanValidationError listing every problem. */
export function parsePlan(document: unknown, source = "plan"): Plan {
  const result = planSchema.safeParse(document);
  const issues = [
    ...(result.success ? [] : issuesOf(result.error)),
    ...crossChecks(document).map((i) => ({ path: formatPath(i.path), message: i.message })),
  ];
  if (issues.length > 0 || !result.success) throw new PlanValidationError(source, issues);
  return result.data;
}

/** Parses YAML or JSON text (JSON is YAML; the file name only picks the error wording). */
export function parsePlanText(text: string, source = "plan"): Plan {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PlanValidationError(
      source,
      doc.errors.map((e) => ({ path: "", message: `${extname(source) === ".json" ? "JSON" : "YAML"} syntax: ${e.message.split("\n")[0]}` })),
    );
  }
  return parsePlan(doc.toJS(), source);
}

export async function loadPlanFile(path: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PlanValidationError(path, [{ path: "", message: code === "ENOENT" ? "file not found" : `cannot read: ${String(error)}` }]);
  }
  return parsePlanText(text, path);
}
