import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ESTATE = join(ROOT, "estate");
const SRC = join(ROOT, "src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : tsFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Every module a file names: static imports and re-exports (type-only ones too), dynamic `import()`, `require()`. */
function specifiers(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** Where a relative specifier resolves from `file`; bare specifiers (packages, `node:`) resolve outside the tree. */
function resolved(file: string, specifier: string): string | undefined {
  return specifier.startsWith(".") || specifier.startsWith("/") ? resolve(dirname(file), specifier) : undefined;
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);

describe("the estate's boundary", () => {
  it("finds the estate's sources and their imports", () => {
    const files = tsFiles(ESTATE);
    expect(files.length).toBeGreaterThan(10);
    expect(files.some((f) => specifiers(f).length > 0)).toBe(true);
  });

  it("imports nothing from src/: it knows Azure's shapes, not Switchyard's", () => {
    const offending = tsFiles(ESTATE).flatMap((file) =>
      specifiers(file)
        .filter((s) => {
          const target = resolved(file, s);
          return target !== undefined && inside(target, SRC);
        })
        .map((s) => `${relative(ROOT, file)} imports ${s}`),
    );
    expect(offending).toEqual([]);
  });
});

/**
 * The layers of src/, lowest first: a module may import its own layer or a lower one, never a higher
 * one. core is pure (plan, run and detection models, gates, the journal's types and secret rules);
 * then the adapters to storage and Azure, and telemetry (which imports only core); then the steps (activities, orchestrations, detection, rotation);
 * then the run port implementations, the HTTP handlers and readiness (which reads through the steps' own
 * reads); then the assembly (app); then the hosts
 * (Functions registrations, the local app, the CLI).
 */
const LAYERS: readonly (readonly string[])[] = [
  ["core"],
  ["config", "azure", "journal", "notify", "plan", "durable", "telemetry"],
  ["activities", "orchestrations", "detection", "lag", "rotation", "drills"],
  ["runs", "http", "readiness"],
  ["app"],
  ["functions", "local", "cli"],
];
const layerOf = (dir: string) => LAYERS.findIndex((layer) => layer.includes(dir));

describe("the layers of src/", () => {
  it("places every folder of src/ in a layer", () => {
    const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it("keeps src/core pure: it imports nothing outside src/core", () => {
    const core = join(SRC, "core");
    const offending = tsFiles(core).flatMap((file) =>
      specifiers(file)
        .filter((s) => {
          const target = resolved(file, s);
          return target !== undefined && !inside(target, core);
        })
        .map((s) => `${relative(ROOT, file)} imports ${s}`),
    );
    expect(offending).toEqual([]);
  });

  it("keeps telemetry out of orchestrations, whose replays would repeat every span and metric, and keeps src/telemetry on core alone", () => {
    const importsOf = (dir: string) =>
      tsFiles(join(SRC, dir)).flatMap((file) =>
        specifiers(file)
          .map((s) => ({ s, target: resolved(file, s) }))
          .filter(({ target }) => target !== undefined && inside(target, SRC))
          .map(({ s, target }) => ({ file: relative(ROOT, file), s, folder: relative(SRC, target!).split(sep)[0]! })),
      );
    const orchestrations = importsOf("orchestrations");
    expect(orchestrations.length).toBeGreaterThan(0);
    expect(orchestrations.filter((i) => i.folder === "telemetry").map((i) => `${i.file} imports ${i.s}`)).toEqual([]);
    expect(importsOf("telemetry").filter((i) => i.folder !== "telemetry" && i.folder !== "core").map((i) => `${i.file} imports ${i.s}`)).toEqual([]);
  });

  it("never imports upward", () => {
    const offending = tsFiles(SRC).flatMap((file) => {
      const from = relative(SRC, file).split(sep)[0]!;
      return specifiers(file)
        .map((s) => ({ s, target: resolved(file, s) }))
        .filter(({ target }) => target !== undefined && inside(target, SRC))
        .filter(({ target }) => layerOf(relative(SRC, target!).split(sep)[0]!) > layerOf(from))
        .map(({ s }) => `${relative(ROOT, file)} imports ${s}`);
    });
    expect(offending).toEqual([]);
  });
});
