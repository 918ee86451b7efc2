import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The tests run on the Node.js major the Function App is deployed on: package.json's `engines` names it,
 * and the `node` devDependency (from the npm registry) puts that runtime first on the PATH of every npm
 * script, so `npm test` exercises it whatever Node.js the machine has.
 */
const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};

describe("the Node.js runtime", () => {
  const major = (version: string) => Number(/(\d+)/.exec(version)?.[1]);

  it("is the major that package.json's engines and the node devDependency name", () => {
    const engines = major(pkg.engines.node);
    expect(engines).toBe(22);
    expect(major(pkg.devDependencies["node"] ?? "")).toBe(engines);
    expect(major(process.versions.node), `tests ran on Node ${process.versions.node}: run them through npm (npm test), which puts the node devDependency first`).toBe(engines);
  });

  it("types for the same major", () => {
    expect(major(pkg.devDependencies["@types/node"] ?? "")).toBe(major(pkg.engines.node));
  });
});
