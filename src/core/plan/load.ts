import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { crossChecks } from "./crossChecks.ts";
import { redactText } from "../secrets.ts";
import { planSchema, type Plan } from "./schema.ts";

export interface PlanIssue {
  /** Path of the bad field, e.g. `sql[1].failoverGroup` (empty for the document itself). */
  readonly path: string;
  readonly message: string;
}

export class PlanValidationError extends Error {
  readonly issues: readonly PlanIssue[];
  constructor(source: string, issues: readonly PlanIssue[]) {
    super(`${source}: ${issues.length} error${issues.length === 1 ? "" : "s"}\n${issues.map((i) => `  ${formatIssue(i)}`).join("\n")}`);
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

/**
 * A schema issue in the plan's own voice ("must be a whole number from 1 to 10080"): zod's default
 * messages ("Invalid input: expected int, received number") are translated; a message the schema
 * wrote itself is kept.
 */
function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "custom" || !/^(Invalid|Too (small|big))\b/.test(issue.message)) return issue.message;
  switch (issue.code) {
    case "invalid_type": {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === "undefined") return "required";
      const expected = issue.expected === "int" ? "a whole number" : issue.expected === "array" ? "a list" : issue.expected === "object" ? "a mapping (field: value)" : `a ${issue.expected}`;
      return `must be ${expected}${received ? `, not ${received === "array" ? "a list" : received === "object" ? "a mapping" : received}` : ""}`;
    }
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = Number(small ? issue.minimum : issue.maximum);
      const than = issue.inclusive ? (small ? "at least" : "at most") : small ? "more than" : "less than";
      if (issue.origin === "array" || issue.origin === "set") return `must have ${than} ${bound} item${bound === 1 ? "" : "s"}`;
      if (issue.origin === "string") return `must be ${than} ${bound} character${bound === 1 ? "" : "s"} long`;
      return `must be ${than} ${bound}`;
    }
    case "invalid_value":
      return issue.values.length === 1 ? `must be ${JSON.stringify(issue.values[0])}` : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_format":
      return issue.format === "regex" && "pattern" in issue ? `must match ${String(issue.pattern)}` : `must be a valid ${issue.format === "url" ? "URL" : issue.format}`;
    case "invalid_union":
      return "is none of the accepted forms";
    case "not_multiple_of":
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return issue.message;
  }
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
    const lines = text.split(/\r?\n/);
    const syntax = extname(source) === ".json" ? "JSON" : "YAML";
    throw new PlanValidationError(
      source,
      doc.errors.map((e) => {
        // The parser's own text ends with "at line L, column C:" and a drawing of the spot: give the place once, and the line itself.
        const reason = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
        const at = e.linePos?.[0];
        if (!at) return { path: "", message: `${syntax} syntax error: ${reason}` };
        // The line is shown as evidence, redacted: a plan's line may hold a credential (a URL with a signature).
        const raw = lines[at.line - 1];
        const shown = raw === undefined ? undefined : redactText(raw);
        return { path: "", message: `${syntax} syntax error at line ${at.line}, column ${at.col}: ${reason}${shown !== undefined && shown.trim() !== "" ? ` (line ${at.line}: ${JSON.stringify(shown.length > 120 ? `${shown.slice(0, 117)}...` : shown)})` : ""}` };
      }),
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
