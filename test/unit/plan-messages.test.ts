import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parsePlan, parsePlanText, PlanValidationError, type PlanIssue } from "../../src/core/plan/index.ts";
import { EXAMPLE_PLAN } from "../helpers/estate.ts";

// What a person reads when a plan is wrong: one voice for every field, and syntax errors that say
// where, once, with the line itself.

const exampleDoc = () => parse(readFileSync(EXAMPLE_PLAN, "utf8")) as Record<string, any>;

function issuesOf(parseIt: () => unknown): PlanIssue[] {
  try {
    parseIt();
  } catch (error) {
    if (error instanceof PlanValidationError) return [...error.issues];
    throw error;
  }
  throw new Error("the plan was accepted");
}

describe("plan schema messages", () => {
  it("say what a field must be, in the plan's words, never the schema library's", () => {
    const doc = exampleDoc();
    doc.name = 5;
    doc.objectives.rpoSeconds = -1;
    doc.objectives.rtoMinutes = "soon";
    doc.autoFailover = { ...doc.autoFailover, enabled: "maybe", approvalTimeoutMinutes: 2.5 };
    doc.storage[0].sku = "Premium_Something";
    doc.sql[0].databases = "orders";

    const byPath = Object.fromEntries(issuesOf(() => parsePlan(doc)).map((i) => [i.path, i.message]));

    expect(byPath).toMatchObject({
      name: "must be a string, not number",
      "objectives.rpoSeconds": "must be at least 0",
      "objectives.rtoMinutes": "must be a number, not string",
      "autoFailover.enabled": "must be a boolean, not string",
      "autoFailover.approvalTimeoutMinutes": "must be a whole number, not number",
      "sql[0].databases": "must be a list, not string",
    });
    expect(byPath["storage[0].sku"]).toMatch(/^must be one of "Standard_/);
    for (const message of Object.values(byPath)) expect(message).not.toMatch(/^(Invalid|Too (small|big))|expected .*, received|>=|<=/);
  });

  it("a missing field is 'required'; an unknown one is named", () => {
    const doc = exampleDoc();
    delete doc.objectives;
    doc.extra = 1;
    const issues = issuesOf(() => parsePlan(doc));
    expect(issues).toEqual(expect.arrayContaining([{ path: "objectives", message: "required" }, { path: "", message: 'unknown field "extra"' }]));
  });
});

describe("plan syntax errors", () => {
  it("give the line and column once, and the offending line, with nothing dangling", () => {
    const text = "name: x\nregions:\n  primary:\n    name: eastus2\n   bad: [1\n";
    const line = 5;

    const issues = issuesOf(() => parsePlanText(text, "contoso.plan.yaml"));

    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.message).toMatch(new RegExp(`^YAML syntax error at line ${line}, column \\d+: [^\\n]+ \\(line ${line}: "   bad: \\[1"\\)$`));
    for (const issue of issues) expect(issue.message).not.toMatch(/:$|\n/);
  });

  it("show the offending line with any credential in it redacted", () => {
    const signature = "sig=Zm9vYmFyYmF6cXV4c2VjcmV0c2lnbmF0dXJlMTIzNDU2Nzg5MA%3D%3D";
    const text = `name: x\nregions:\n  primary:\n    name: eastus2\n   bad: [https://prod-00.westus.logic.azure.com/workflows/1/triggers/manual/paths/invoke?sv=1.0&${signature}\n`;
    const issues = issuesOf(() => parsePlanText(text, "leaky.plan.yaml"));
    expect(issues.length).toBeGreaterThan(0);
    // The line is still shown (redacted), so the test reads the message that would have leaked.
    expect(issues[0]!.message).toMatch(/\(line 5: ".*logic\.azure\.com.*\[redacted\]/);
    for (const issue of issues) expect(issue.message).not.toContain("Zm9vYmFyYmF6cXV4c2VjcmV0c2lnbmF0dXJlMTIzNDU2Nzg5MA");
  });

  it("name JSON for a .json file", () => {
    const issues = issuesOf(() => parsePlanText('{"name": "x",\n  "regions": {"primary": [1}\n', "plan.json"));
    expect(issues[0]!.message).toMatch(/^JSON syntax error at line 2, column \d+: /);
  });
});
