import { readdirSync, readFileSync, statSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join, relative } from "node:path";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * `dependencies` is what the Function App loads at run time; everything else (the switchyard command,
 * the local estate, the benchmarks, the tests) is a devDependency. The command is a development tool —
 * run from a checkout after `npm ci`, which installs both — so `npm ci --omit=dev`, the install to
 * deploy, carries the Function App and nothing else. The graphs are computed from the sources with
 * esbuild, which drops type-only imports as tsc does when it builds dist/.
 */

const ROOT = join(import.meta.dirname, "..", "..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  main: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/**
 * Packages in `dependencies` that the Function App's code does not import, and why they must be there
 * all the same. None today: the Functions host brings its own Node worker and loads nothing from
 * node_modules but what the app's files import (the Durable extension comes from the extension bundle
 * in host.json, not from npm).
 */
const RUNTIME_WITHOUT_IMPORT: Readonly<Record<string, string>> = {};

/** The Function App's entry files: the sources of package.json `main` (`dist/src/functions/*.js`). */
function functionAppEntries(): string[] {
  const match = /^dist\/(.+)\/\*\.js$/.exec(pkg.main);
  if (!match) throw new Error(`package.json main is ${pkg.main}: expected dist/<dir>/*.js`);
  const dir = match[1]!;
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `${dir}/${f}`);
}

/** Every source file under `dir` with one of `extensions`. */
function sourcesUnder(dir: string, extensions: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(join(ROOT, d))) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const path = `${d}/${name}`;
      if (statSync(join(ROOT, path)).isDirectory()) walk(path);
      else if (extensions.some((e) => name.endsWith(e)) && !name.endsWith(".d.ts")) out.push(path);
    }
  };
  walk(dir);
  return out;
}

interface ImportGraph {
  /** Package name → the files that import it. */
  packages: Map<string, string[]>;
  files: string[];
}

/** The package of a bare specifier: `@scope/name` or `name`, without a subpath. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** The files reachable from `entryPoints` and the npm packages they import at run time. */
async function importGraph(entryPoints: string[]): Promise<ImportGraph> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    metafile: true,
    write: false,
    outdir: "out",
    logLevel: "silent",
  });
  const packages = new Map<string, string[]>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const imported of input.imports) {
      if (!imported.external || isBuiltin(imported.path) || imported.path.startsWith(".") || imported.path.startsWith("/")) continue;
      const name = packageOf(imported.path);
      packages.set(name, [...(packages.get(name) ?? []), relative(ROOT, join(ROOT, file))]);
    }
  }
  return { packages, files: Object.keys(result.metafile.inputs) };
}

describe("package.json dependencies", () => {
  let app: ImportGraph;
  beforeAll(async () => {
    app = await importGraph(functionAppEntries());
  });

  it("finds the Function App's graph from its entry files", () => {
    expect(functionAppEntries()).toContain("src/functions/http.ts");
    expect(app.files).toContain("src/http/alerts.ts");
    expect(app.files.some((f) => f.startsWith("src/cli/") || f.startsWith("estate/") || f.startsWith("test/"))).toBe(false);
  });

  it("lists every package the Function App imports in dependencies", () => {
    const missing = [...app.packages].filter(([name]) => !(name in pkg.dependencies)).map(([name, files]) => `${name} (imported by ${files.join(", ")})`);
    expect(missing).toEqual([]);
  });

  it("lists in dependencies only packages the Function App imports, or a named exception", () => {
    const unused = Object.keys(pkg.dependencies).filter((name) => !app.packages.has(name) && !(name in RUNTIME_WITHOUT_IMPORT));
    expect(unused, "move these to devDependencies, or name them in RUNTIME_WITHOUT_IMPORT with the reason").toEqual([]);
    for (const name of Object.keys(RUNTIME_WITHOUT_IMPORT)) expect(pkg.dependencies).toHaveProperty([name]);
  });

  it("declares every package the command, the estate, the benchmarks and the tests import", async () => {
    const entries = [
      "bin/switchyard.mjs",
      "vitest.config.ts",
      ...["src", "estate", "bench", "test"].flatMap((dir) => sourcesUnder(dir, [".ts", ".mjs"])),
      ...sourcesUnder("examples", [".mjs"]),
    ];
    const all = await importGraph(entries);
    const declared = { ...pkg.dependencies, ...pkg.devDependencies };
    const undeclared = [...all.packages].filter(([name]) => !(name in declared)).map(([name, files]) => `${name} (imported by ${files.slice(0, 3).join(", ")})`);
    expect(undeclared).toEqual([]);
    const both = Object.keys(pkg.dependencies).filter((name) => name in pkg.devDependencies);
    expect(both).toEqual([]);
  });
});
