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
