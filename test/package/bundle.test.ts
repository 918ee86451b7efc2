/**
 * The deployable package (`npm run package`, scripts/package.ts), built once into a temporary folder
 * outside the checkout, so that nothing in it can resolve through the checkout's node_modules.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { builtinModules, createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assertWithinBudget,
  BUNDLE_BUDGET_BYTES,
  EXTERNALS,
  ENTRY_DIR,
  packageApp,
  packageOf,
  PackageError,
  PACKAGE_MAIN,
  PACKAGE_MARKER,
  type PackageReport,
} from "../../scripts/package.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const posix = (p: string) => p.split(sep).join("/");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

/** Entry names of a zip archive, from its central directory. */
function zipEntries(file: string): string[] {
  const zip = readFileSync(file);
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error("no end of central directory");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const nameLength = zip.readUInt16LE(at + 28);
    const extra = zip.readUInt16LE(at + 30);
    const comment = zip.readUInt16LE(at + 32);
    names.push(zip.subarray(at + 46, at + 46 + nameLength).toString("utf8"));
    at += 46 + nameLength + extra + comment;
  }
  return names;
}

const FAKE_CORE = join(ROOT, "test/package/fake-functions-core.mjs");

interface Registration {
  name: string;
  bindings: Record<string, unknown>;
}

/**
 * The functions an app registers, with their bindings: its modules are imported in a fresh Node.js
 * process where test/package/fake-functions-core.mjs answers `require("@azure/functions-core")` the way
 * the Functions worker does, and records every registration. The optional scheduled drill is turned on
 * so that every registration the code can make is made.
 */
async function registrations(cwd: string, files: string[], nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<Registration[]> {
  const script = `for (const f of ${JSON.stringify(files.map((f) => pathToFileURL(f).href))}) await import(f);`;
  const { stdout } = await run(process.execPath, [...nodeArgs, "--import", pathToFileURL(FAKE_CORE).href, "--input-type=module", "-e", script], {
    cwd,
    env: { ...process.env, SWITCHYARD_DRILL_SCHEDULE: "0 0 3 * * 1", NODE_OPTIONS: "", ...env },
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = /^REGISTERED (.*)$/m.exec(stdout);
  if (!line) throw new Error(`no registrations reported:\n${stdout.slice(-2000)}`);
  return (JSON.parse(line[1]!) as Registration[]).sort((a, b) => a.name.localeCompare(b.name));
}

let work: string;
let report: PackageReport;
let log: string[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "switchyard-package-"));
  log = [];
  report = await packageApp({ root: ROOT, outDir: join(work, "package"), zipFile: join(work, "switchyard.zip"), log: (l) => log.push(l) });
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the bundle's size", () => {
  it("is within BUNDLE_BUDGET_BYTES", () => {
    expect(report.jsBytes).toBeGreaterThan(0);
    expect(report.jsBytes).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES);
    // The build says what it measured.
    expect(log.join("\n")).toContain(`JavaScript ${report.jsBytes} bytes`);
  });

  it("over the budget, the build fails and names the largest packages", () => {
    expect(() => assertWithinBudget(report.jsBytes, report.byPackage, report.jsBytes - 1)).toThrow(PackageError);
    expect(() => assertWithinBudget(report.jsBytes, report.byPackage, report.jsBytes - 1)).toThrow(new RegExp(`${report.jsBytes} bytes.*budget of ${report.jsBytes - 1} bytes.*largest: ${report.byPackage[0]![0]}`));
    expect(() => assertWithinBudget(report.jsBytes, report.byPackage, report.jsBytes)).not.toThrow();
  });

  it("counts every JavaScript file written, and the maps and zip are measured", () => {
    const js = filesUnder(report.outDir).filter((f) => f.endsWith(".js") && !posix(relative(report.outDir, f)).startsWith("node_modules/"));
    expect(js.map((f) => posix(relative(report.outDir, f))).sort()).toEqual(report.js.map((f) => f.file).sort());
    expect(js.reduce((n, f) => n + statSync(f).size, 0)).toBe(report.jsBytes);
    expect(report.mapBytes).toBeGreaterThan(0);
    expect(report.zipBytes).toBe(statSync(report.zipFile!).size);
  });
});

describe("the bundled app", () => {
  it("has one entry file per src/functions module, and `main` loads exactly those", () => {
    const sources = readdirSync(join(ROOT, "src/functions")).filter((f) => f.endsWith(".ts")).map((f) => f.replace(/\.ts$/, ".js")).sort();
    const pkg = JSON.parse(readFileSync(join(report.outDir, "package.json"), "utf8"));
    expect(pkg.main).toBe(PACKAGE_MAIN);
    const [mainDir, pattern] = [dirname(pkg.main), pkg.main.slice(dirname(pkg.main).length + 1)];
    expect(mainDir).toBe(ENTRY_DIR);
    const matcher = new RegExp(`^${pattern.replace(/[.]/g, "\\.").replace(/\*/g, "[^/]*")}$`);
    const loaded = readdirSync(join(report.outDir, mainDir)).filter((f) => matcher.test(f)).sort();
    expect(loaded).toEqual(sources);
    expect(report.entries).toEqual(sources.map((f) => `${ENTRY_DIR}/${f}`));
  });

  it("loads every entry point and registers, through the worker's module, the same functions and bindings as the sources", async () => {
    const bundled = await registrations(
      report.outDir,
      report.entries.map((e) => join(report.outDir, e)),
    );
    const sources = readdirSync(join(ROOT, "src/functions")).filter((f) => f.endsWith(".ts")).map((f) => join(ROOT, "src/functions", f));
    const unbundled = await registrations(ROOT, sources, ["--import", "tsx"]);
    expect(unbundled.length).toBeGreaterThan(30);
    // The optional registration was made: the comparison covers the conditional paths too.
    expect(unbundled.map((r) => r.name)).toContain("scheduledDrill");
    expect(bundled.map((r) => r.name)).toEqual(unbundled.map((r) => r.name));
    expect(bundled).toEqual(unbundled);
  }, 120_000);

  it("registers the alert webhook without a function key only when the secure webhook is configured; every other route keeps it", async () => {
    const http = [join(report.outDir, ENTRY_DIR, "http.js")];
    const authLevels = (regs: Registration[]) => Object.fromEntries(regs.filter((r) => JSON.stringify(r.bindings).includes("httpTrigger")).map((r) => [r.name, JSON.stringify(r.bindings).match(/"authLevel":"(\w+)"/)?.[1]]));
    const plain = authLevels(await registrations(report.outDir, http));
    const secure = authLevels(await registrations(report.outDir, http, [], { SWITCHYARD_ALERT_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47", SWITCHYARD_ALERT_AUDIENCE: "api://switchyard" }));
    const halfway = authLevels(await registrations(report.outDir, http, [], { SWITCHYARD_ALERT_TENANT_ID: "72f988bf-86f1-41af-91ab-2d7cd011db47", SWITCHYARD_ALERT_AUDIENCE: " " }));
    expect(Object.keys(plain).length).toBeGreaterThan(10);
    expect(Object.values(plain).every((level) => level === "function")).toBe(true);
    expect(halfway).toEqual(plain);
    expect(secure).toEqual({ ...plain, alerts: "anonymous" });
  }, 120_000);
});

describe("the package's dependencies", () => {
  const externalImports = () => {
    const found = new Map<string, string[]>();
    for (const [file, output] of Object.entries(report.metafile.outputs)) {
      for (const i of output.imports) {
        if (!i.external || i.path.startsWith("node:") || builtinModules.includes(i.path.split("/")[0]!)) continue;
        found.set(i.path, [...(found.get(i.path) ?? []), join(ROOT, file)]);
      }
    }
    return found;
  };

  it("package.json names exactly the externals the bundle imports, at the lock file's versions", () => {
    const pkg = JSON.parse(readFileSync(join(report.outDir, "package.json"), "utf8"));
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
    const imported = [...new Set([...externalImports().keys()].map(packageOf))].sort();
    expect(imported).toContain("@azure/functions");
    for (const name of imported) expect(EXTERNALS as readonly string[]).toContain(name);
    // @azure/functions-core is the worker's own module, never installed.
    expect(Object.keys(pkg.dependencies).sort()).toEqual(imported.filter((p) => p !== "@azure/functions-core"));
    for (const [name, version] of Object.entries(pkg.dependencies)) expect(version).toBe(lock.packages[`node_modules/${name}`].version);
    expect(pkg.type).toBe("module");
    expect(pkg.devDependencies).toBeUndefined();
  });

  it("node_modules resolves every external import of the bundle, inside the package", () => {
    for (const [spec, importers] of externalImports()) {
      if (spec === "@azure/functions-core") continue;
      for (const importer of importers) {
        expect(existsSync(importer), importer).toBe(true);
        const resolved = createRequire(importer).resolve(spec);
        expect(posix(relative(report.outDir, resolved))).toMatch(/^node_modules\//);
      }
    }
  });

  it("every package copied into node_modules finds its own dependencies inside the package", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
    expect(report.copied.length).toBeGreaterThan(0);
    for (const path of report.copied) {
      const manifest = JSON.parse(readFileSync(join(report.outDir, path, "package.json"), "utf8"));
      expect(manifest.version).toBe(lock.packages[path].version);
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        // Node's lookup: the nearest node_modules/<dep> from the package's folder up, stopping at the package.
        let dir = join(report.outDir, path);
        let found: string | undefined;
        while (!found && dir.startsWith(report.outDir)) {
          if (existsSync(join(dir, "node_modules", dep, "package.json"))) found = join(dir, "node_modules", dep);
          dir = dirname(dir);
        }
        expect(found, `${dep} (for ${path})`).toBeDefined();
      }
    }
  });
});

describe("what the package holds", () => {
  const forbidden: [RegExp, string][] = [
    [/(^|\/)local\.settings[^/]*\.json$/, "local settings"],
    [/(^|\/)\.switchyard(\/|$)/, "the local state folder"],
    [/(^|\/)\.env(\.[^/]*)?$/, "an environment file"],
    [/\.(pem|pfx|p12|key|crt)$/, "a key or certificate"],
    [/^(src|test|estate|bench|scripts|infra|examples|plans|\.git)\//, "a folder of the checkout"],
    [/^(?!node_modules\/).*(?<!\.d)\.ts$/, "a TypeScript source"],
    [/(^|\/)\.npmrc$/, "npm credentials"],
  ];

  it("no secrets, sources or tests in the folder or the zip", () => {
    const files = filesUnder(report.outDir).map((f) => posix(relative(report.outDir, f))).sort();
    const zipped = zipEntries(report.zipFile!).sort();
    expect(zipped).toEqual(files.filter((f) => f !== ".funcignore" && f !== PACKAGE_MARKER));
    for (const name of files) for (const [pattern, what] of forbidden) expect(pattern.test(name), `${name} is ${what}`).toBe(false);
    const top = readdirSync(report.outDir).sort();
    expect(top).toEqual([".funcignore", PACKAGE_MARKER, "dist", "host.json", "node_modules", "package-lock.json", "package.json"]);
    // The folder's .funcignore keeps node_modules in the deployment.
    expect(readFileSync(join(report.outDir, ".funcignore"), "utf8")).not.toMatch(/^\s*\/?node_modules/m);
  });

  it("the source maps carry mappings but no source text", () => {
    const maps = filesUnder(join(report.outDir, "dist")).filter((f) => f.endsWith(".map"));
    expect(maps.length).toBe(report.js.length);
    for (const map of maps) {
      const json = JSON.parse(readFileSync(map, "utf8"));
      expect(json.sourcesContent, map).toBeUndefined();
      expect(typeof json.mappings).toBe("string");
      // Wherever the package is installed, a source resolves to its path in the checkout; none names a local folder.
      for (const source of json.sources as string[]) {
        if (/^[a-z-]+:/.test(source)) {
          expect(source, map).toMatch(/^(left-out|zod-locales):[a-z-]+$/);
          continue;
        }
        const installed = new URL(json.sourceRoot + source, pathToFileURL(join("/home/site/wwwroot", relative(report.outDir, map)))).pathname;
        expect(installed, `${source} in ${map}`).toMatch(/^\/(src|node_modules)\//);
      }
    }
  });

  it("the checks would catch a settings file, a source or the local state folder", () => {
    const caught = (name: string) => forbidden.some(([p]) => p.test(name));
    expect(caught("local.settings.json")).toBe(true);
    expect(caught("dist/local.settings.json")).toBe(true);
    expect(caught(".switchyard/runs.json")).toBe(true);
    expect(caught("src/functions/http.ts")).toBe(true);
    expect(caught("dist/functions/http.ts")).toBe(true);
    expect(caught("node_modules/@azure/functions/types/index.d.ts")).toBe(false);
    expect(caught("dist/functions/http.js")).toBe(false);
  });
});

describe("library code left out of the bundle", () => {
  it("Apache Arrow: no module of the app asks @azure/storage-blob for Arrow listings, and the default stays XML", async () => {
    for (const file of filesUnder(join(ROOT, "src")).filter((f) => f.endsWith(".ts"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/responseFormat|StorageResponseFormat|apache-arrow/);
    }
    const common = await import(pathToFileURL(join(ROOT, "node_modules/@azure/storage-blob/dist/esm/utils/utils.common.js")).href);
    const { StorageResponseFormat } = await import("@azure/storage-blob");
    expect(common.resolveResponseFormat(undefined)).toBe(StorageResponseFormat.Xml);
    expect(common.resolveResponseFormat(StorageResponseFormat.Auto)).toBe(StorageResponseFormat.Xml);
  });

  it("Apache Arrow: the module answering storage-blob's import fails with a clear message", async () => {
    const stub = readdirSync(join(report.outDir, "dist/chunks")).find((f) => /^apache-arrow-.*\.js$/.test(f));
    expect(stub).toBeDefined();
    const mod = await import(pathToFileURL(join(report.outDir, "dist/chunks", stub!)).href);
    expect(() => mod.tableFromIPC(new Uint8Array())).toThrow(/Apache Arrow blob listings are not part of this package/);
  });

  it("zod locales: the app never selects one, and the bundle keeps English", () => {
    for (const file of filesUnder(join(ROOT, "src")).filter((f) => f.endsWith(".ts"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/\blocales\b|\.config\(/);
    }
    const inputs = Object.keys(report.metafile.inputs);
    expect(inputs.some((i) => /zod\/v4\/locales\/en\.js$/.test(i))).toBe(true);
    expect(inputs.filter((i) => /zod\/v4\/locales\/(?!en\.js)[^/]+\.js$/.test(i))).toEqual([]);
  });
});
