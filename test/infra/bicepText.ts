/**
 * Reading the deployment's Bicep as text, for tests that check it without a Bicep compiler: the
 * files, their params, modules, loaded JSON, and the keys of an object literal assigned to a `var`.
 * Deliberately plain: the Bicep is written one property per line.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const INFRA = join(ROOT, "infra");

export function read(path: string): string {
  return readFileSync(join(ROOT, path), "utf8");
}

/** Every .bicep file under infra/, relative to the repository root. */
export function bicepFiles(dir = INFRA): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? bicepFiles(join(dir, e.name)) : e.name.endsWith(".bicep") ? [relative(ROOT, join(dir, e.name))] : [],
  );
}

/** Comments out: `//` to the end of a line (outside strings) and block comments. */
export function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .split("\n")
    .map((line) => {
      let quoted = false;
      for (let i = 0; i < line.length; i++) {
        if (line[i] === "'" && line[i - 1] !== "\\") quoted = !quoted;
        if (!quoted && line[i] === "/" && line[i + 1] === "/") return line.slice(0, i);
      }
      return line;
    })
    .join("\n");
}

/** `param NAME TYPE [= default]` declarations: name → whether it has a default. */
export function params(text: string): Map<string, { hasDefault: boolean }> {
  const out = new Map<string, { hasDefault: boolean }>();
  for (const m of stripComments(text).matchAll(/^param\s+(\w+)\s+\w+(\s*=)?/gm)) out.set(m[1]!, { hasDefault: m[2] !== undefined });
  return out;
}

/** `module NAME 'path'` references, resolved against the referring file. */
export function modules(file: string, text: string): { name: string; path: string; body: string }[] {
  const source = stripComments(text);
  return [...source.matchAll(/^module\s+(\w+)\s+'([^']+)'/gm)].map((m) => {
    const start = m.index!;
    const next = source.slice(start + 1).search(/^(module|resource|var|param|output)\s/m);
    return { name: m[1]!, path: relative(ROOT, join(ROOT, dirname(file), m[2]!)), body: source.slice(start, next < 0 ? undefined : start + 1 + next) };
  });
}

/** `loadJsonContent('path')` references, resolved against the referring file. */
export function loadedJson(file: string, text: string): string[] {
  return [...stripComments(text).matchAll(/loadJsonContent\('([^']+)'\)/g)].map((m) => relative(ROOT, join(ROOT, dirname(file), m[1]!)));
}

/**
 * The keys of the object literal assigned to `var NAME`, with the text of each value (nested objects
 * and conditional branches included: a key anywhere inside counts).
 */
export function varObjectKeys(text: string, name: string): Map<string, string> {
  const source = stripComments(text);
  const start = source.search(new RegExp(`^var\\s+${name}\\s*=`, "m"));
  if (start < 0) throw new Error(`no var ${name}`);
  const rest = source.slice(start);
  const end = rest.search(/\n(var|resource|param|output|module)\s/);
  const block = end < 0 ? rest : rest.slice(0, end);
  const keys = new Map<string, string>();
  for (const m of block.matchAll(/^\s+'?([A-Za-z_][\w]*)'?:\s*(.+)$/gm)) keys.set(m[1]!, m[2]!.trim());
  return keys;
}

export const exists = (path: string) => existsSync(join(ROOT, path));
