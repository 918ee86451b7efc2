/**
 * `npm run package`: the deployable Function App in build/package/ and build/switchyard.zip.
 *
 * The entry points (src/functions/*.ts) are bundled by esbuild into ESM for Node 22, minified, with
 * source maps and code splitting (shared code in one chunk, optional code in lazy chunks). Two modules
 * stay outside the bundle (EXTERNALS below); the folder gets a package.json naming only them, at the
 * versions of package-lock.json, and a node_modules holding them and their dependencies, copied from
 * the checkout's node_modules (no network). Each stage prints what it did; any failure stops the
 * build with the stage and the reason.
 *
 *   npx tsx scripts/package.ts [--out <dir>] [--no-zip]
 */
import { build, type Metafile, type Plugin } from "esbuild";
import { builtinModules } from "node:module";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { writeZip } from "./zip.ts";

/**
 * The most JavaScript (bytes, entry points and every chunk, lazy ones included; maps and legal notices
 * not counted) the bundle may hold: the 6,280,663 bytes measured with every size reduction below and
 * the telemetry in, plus about 5%. 5 MB is out of reach without dropping functionality: the Resource
 * Manager SDKs the app drives (SQL, App Service, CDN, Front Door, Storage, Authorization) are 2.2 MB of
 * generated clients and serialization mappers, SQL over TDS (tedious with its code page tables and
 * js-joda) 0.9 MB, identity and MSAL 0.58 MB, durable-functions with axios 0.55 MB, Blob storage
 * 0.44 MB, the app itself 0.42 MB (`npm run bench` prints the figures).
 */
export const BUNDLE_BUDGET_BYTES = 6_600_000;

/**
 * Modules the bundle imports at run time instead of containing.
 *
 * - `@azure/functions-core` is no npm package: the Functions Node.js worker provides it by intercepting
 *   `require` (azure-functions-nodejs-worker, src/setupCoreModule.ts), so a bundler must leave it
 *   external (https://github.com/Azure/azure-functions-nodejs-library/issues/201).
 * - `@azure/functions` stays a real package in node_modules: it reaches the worker with a CommonJS
 *   `require("@azure/functions-core")`, which only the worker's hook on Node's CommonJS loader answers,
 *   and it holds the one registry of the app's functions. durable-functions imports it too; importing
 *   both through node_modules keeps a single instance, as in the unbundled app.
 */
export const EXTERNALS = ["@azure/functions", "@azure/functions-core"] as const;

/** Externals the worker provides: not in package.json, not in node_modules. */
const PROVIDED_BY_WORKER = new Set(["@azure/functions-core"]);

/** Where the bundle lives inside the package, and the `main` glob that loads its entry points. */
export const ENTRY_DIR = "dist/functions";
export const CHUNK_DIR = "dist/chunks";
export const PACKAGE_MAIN = `${ENTRY_DIR}/*.js`;

export interface PackageOptions {
  /** The checkout (package.json, package-lock.json, node_modules, src/functions, host.json). */
  root: string;
  /** The folder to write the package to (emptied first). Default: <root>/build/package. */
  outDir?: string;
  /** Where to write the zip of the folder; null for none. Default: <outDir>/../switchyard.zip. */
  zipFile?: string | null;
  log?: (line: string) => void;
  /** The budget to hold the bundle to (default BUNDLE_BUDGET_BYTES; Infinity to measure without one). */
  budgetBytes?: number;
  /** Turns the size reductions off one by one, to measure each (bench/bundle.ts). All on by default. */
  reductions?: Partial<Reductions>;
}

export interface Reductions {
  /** Dependencies' ES module builds before their CommonJS ones (`mainFields`). */
  esmFirst: boolean;
  /** License comments in .LEGAL.txt files beside the code instead of inside it. */
  legalOutside: boolean;
  /** One copy of each package version (the dedupe plugin). */
  dedupe: boolean;
  /** Library code the app never runs left out (the leave-out plugin). */
  leaveOut: boolean;
}

export interface PackageReport {
  outDir: string;
  zipFile: string | null;
  /** Entry point files, relative to outDir. */
  entries: string[];
  /** Every JavaScript file of the bundle, relative to outDir, with its size. */
  js: { file: string; bytes: number }[];
  jsBytes: number;
  mapBytes: number;
  legalBytes: number;
  zipBytes: number | null;
  /** The externals the bundle imports (npm packages), with the lock file's versions. */
  dependencies: Record<string, string>;
  /** Packages copied into node_modules (lock file paths). */
  copied: string[];
  /** Bytes of JavaScript per npm package (or src/ folder), largest first. */
  byPackage: [string, number][];
  metafile: Metafile;
  durationMs: number;
}

export class PackageError extends Error {
  constructor(stage: string, message: string) {
    super(`package: ${stage}: ${message}`);
    this.name = "PackageError";
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const posix = (p: string) => p.split(sep).join("/");
const isBuiltin = (spec: string) => spec.startsWith("node:") || builtinModules.includes(spec.split("/")[0]!);
/** The npm package a bare specifier names: "@scope/name" or "name". */
export const packageOf = (spec: string) => spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/");

/**
 * Library code the app never runs, left out of the bundle. Each entry names the proof; the package
 * tests check the conditions it rests on (test/package/bundle.test.ts).
 *
 * - Apache Arrow: @azure/storage-blob imports it (dynamically) only to parse a blob listing asked for
 *   with `responseFormat: StorageResponseFormat.Arrow`; without that option the format resolves to
 *   XML (utils.common.js, resolveResponseFormat), and no module of the app passes `responseFormat`.
 *   The import is answered by a module that fails with a clear message if that ever changes.
 * - zod's translated error messages: `z.locales.*` (and `z.core.locales.*`) are only reached by `z.config(z.locales.xx())`,
 *   which the app never calls; English, the default, is imported by zod's schemas directly and stays.
 */
const leaveOut: Plugin = {
  name: "leave-out-unused-paths",
  setup(b) {
    b.onResolve({ filter: /^apache-arrow$/ }, (args) =>
      /[\\/]@azure[\\/]storage-blob[\\/]/.test(args.importer) ? { path: "apache-arrow", namespace: "left-out" } : undefined,
    );
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic[\\/]external|core[\\/]index)\.js$/.test(args.importer)
        ? { path: "english-only", namespace: "zod-locales", pluginData: { dir: join(dirname(args.importer), "../locales") } }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "left-out" }, () => ({
      contents:
        "const fail = () => { throw new Error('Apache Arrow blob listings are not part of this package (scripts/package.ts)'); };\n" +
        "export const tableFromIPC = fail;\nexport default { tableFromIPC: fail };\n",
      loader: "js",
    }));
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: "js",
      resolveDir: (args.pluginData as { dir: string }).dir,
    }));
  },
};

/**
 * One copy of each package version: npm installs the same version of a package in several nested
 * node_modules when the hoisted one is another version (e.g. @azure/core-lro 2.7.2 under six
 * packages, 3.3.1 at the top). Imports of a copy are pointed at the first one of that name, version
 * and integrity whose own dependencies resolve to the same versions, so the bundle holds it once.
 */
function dedupe(root: string, packages: Record<string, LockEntry>): Plugin {
  const nameOf = (path: string) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
  const depsOf = (path: string) =>
    Object.keys(packages[path]!.dependencies ?? {}).map((d) => `${d}@${packages[resolveInLock(packages, path, d) ?? ""]?.version ?? "?"}`).sort().join(",");
  const canonical = new Map<string, string>();
  const first = new Map<string, string>();
  // Development packages are left out: CI may install with --omit=dev, and they are not what runs.
  for (const path of Object.keys(packages).filter((p) => p.includes("node_modules/") && !packages[p]!.link && !packages[p]!.dev && !packages[p]!.devOptional).sort()) {
    const entry = packages[path]!;
    const key = `${nameOf(path)}@${entry.version}#${entry.integrity ?? ""}#${depsOf(path)}`;
    const kept = first.get(key);
    if (kept === undefined) first.set(key, path);
    else canonical.set(path, kept);
  }
  return {
    name: "dedupe-package-versions",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.deduped || isBuiltin(args.path) || args.namespace !== "file") return undefined;
        const result = await b.resolve(args.path, { importer: args.importer, resolveDir: args.resolveDir, kind: args.kind, pluginData: { deduped: true } });
        if (result.errors.length > 0 || result.external || !result.path) return result;
        const rel = posix(relative(root, result.path));
        const at = rel.lastIndexOf("node_modules/");
        if (at < 0) return result;
        const name = rel.slice(at + "node_modules/".length).split("/").slice(0, rel.slice(at + 13).startsWith("@") ? 2 : 1).join("/");
        const pkgPath = `${rel.slice(0, at)}node_modules/${name}`;
        const kept = canonical.get(pkgPath);
        return kept ? { ...result, path: join(root, kept, rel.slice(pkgPath.length)) } : result;
      });
    },
  };
}

/**
 * Bundled CommonJS code calls `require` (Node built-ins, the externals); an ES module has none, so each
 * output file makes one first. (No bundled CommonJS module reads `__dirname` or `__filename`: the
 * bundle stage checks it.)
 */
const ESM_PRELUDE = [
  'import { createRequire as __sy_createRequire } from "node:module";',
  "const require = __sy_createRequire(import.meta.url);",
].join("\n");

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  integrity?: string;
  link?: boolean;
}

/** Node's lookup of `name` from the lock file path `from` ("" for the root): the nearest node_modules up. */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf("/node_modules/");
    dir = i < 0 ? "" : dir.slice(0, i);
  }
}

/** The lock file paths of `names` and everything they depend on at run time. */
export function dependencyClosure(lock: { packages: Record<string, LockEntry> }, names: string[]): string[] {
  const seen = new Set<string>();
  const visit = (from: string, name: string, optional: boolean) => {
    const at = resolveInLock(lock.packages, from, name);
    if (!at) {
      if (optional) return;
      throw new PackageError("node_modules", `${name} (needed by ${from || "the package"}) is not in package-lock.json`);
    }
    if (seen.has(at)) return;
    seen.add(at);
    const entry = lock.packages[at]!;
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(at, dep, false);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(at, dep, true);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) visit(at, dep, true);
  };
  for (const name of names) visit("", name, false);
  return [...seen].sort();
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/** Bytes of JavaScript per npm package (or per folder of the app) in the bundle. */
export function bytesByPackage(metafile: Metafile): [string, number][] {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(input) ?? /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = m ? m[1]! : input.includes(":") ? input : input.split("/").slice(0, 2).join("/");
      totals.set(key, (totals.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...totals].sort((a, b) => b[1] - a[1]);
}

/** Fails when the bundle's JavaScript is over `budget` bytes, naming its largest packages. */
export function assertWithinBudget(jsBytes: number, byPackage: [string, number][], budget = BUNDLE_BUDGET_BYTES): void {
  if (jsBytes <= budget) return;
  const top = byPackage.slice(0, 8).map(([p, n]) => `${p} ${kb(n)}`).join(", ");
  throw new PackageError("budget", `the bundle holds ${jsBytes} bytes of JavaScript (${mb(jsBytes)}), over its budget of ${budget} bytes (BUNDLE_BUDGET_BYTES in scripts/package.ts); largest: ${top}`);
}

/** Written into every package folder: a folder holding it may be emptied by the next run. */
export const PACKAGE_MARKER = ".switchyard-package";

/** The first line of the .funcignore every package has written (packages from before the marker have only this). */
const FUNCIGNORE_HEAD = "# The folder deploys as it is, node_modules included (no remote build).";

/** Whether `dir` holds a package this script wrote: its marker, or (written before the marker) its .funcignore. */
function isEarlierPackage(dir: string): boolean {
  if (existsSync(join(dir, PACKAGE_MARKER))) return true;
  const ignore = join(dir, ".funcignore");
  return existsSync(ignore) && existsSync(join(dir, "host.json")) && readFileSync(ignore, "utf8").split("\n")[0] === FUNCIGNORE_HEAD;
}

export async function packageApp(options: PackageOptions): Promise<PackageReport> {
  const started = performance.now();
  const root = resolve(options.root);
  const outDir = resolve(options.outDir ?? join(root, "build/package"));
  const zipFile = options.zipFile === null ? null : resolve(options.zipFile ?? join(outDir, "../switchyard.zip"));
  const log = options.log ?? ((line: string) => console.log(line));
  const reductions: Reductions = { esmFirst: true, legalOutside: true, dedupe: true, leaveOut: true, ...options.reductions };
  const within = (folder: string, path: string) => path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
  if (within(outDir, root)) throw new PackageError("setup", `the output folder ${outDir} would contain the checkout`);
  // The folder is emptied first: only one that is empty, absent, or an earlier package (its marker file).
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !isEarlierPackage(outDir)) {
    throw new PackageError("setup", `the output folder ${outDir} is not empty and is not an earlier package (no ${PACKAGE_MARKER}): delete it, or give an empty or new folder with --out`);
  }

  // 1. Inputs.
  const readJson = (file: string) => {
    try {
      return JSON.parse(readFileSync(join(root, file), "utf8"));
    } catch (error) {
      throw new PackageError("inputs", `cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const manifest = readJson("package.json") as { name: string; version: string; dependencies?: Record<string, string> };
  const lock = readJson("package-lock.json") as { lockfileVersion: number; packages: Record<string, LockEntry> };
  if (!lock.packages) throw new PackageError("inputs", `package-lock.json has no "packages" (lockfileVersion ${lock.lockfileVersion}; npm 7 or later writes it)`);
  if (!existsSync(join(root, "host.json"))) throw new PackageError("inputs", "host.json is missing");
  const functionsDir = join(root, "src/functions");
  const entryPoints = existsSync(functionsDir) ? readdirSync(functionsDir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).sort() : [];
  if (entryPoints.length === 0) throw new PackageError("inputs", "no entry points in src/functions/*.ts");
  log(`package: ${entryPoints.length} entry points (${entryPoints.join(", ")}) → ${relative(root, outDir) || outDir}`);

  // 2. Bundle.
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, PACKAGE_MARKER), "A folder written by `npm run package`: the next run empties it.\n");
  let result;
  try {
    result = await build({
      absWorkingDir: root,
      entryPoints: entryPoints.map((f) => `src/functions/${f}`),
      outdir: join(outDir, "dist"),
      entryNames: "functions/[name]",
      chunkNames: "chunks/[name]-[hash]",
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      target: "node22",
      // ESM builds of the dependencies first: esbuild removes their unused exports, not CommonJS ones.
      mainFields: reductions.esmFirst ? ["module", "main"] : ["main", "module"],
      minify: true,
      sourcemap: "linked",
      // Stack traces need the mappings only; the source text is left out of the maps (and of the package).
      sourcesContent: false,
      // The dependencies' license notices, out of the code and into a .LEGAL.txt beside each file.
      legalComments: reductions.legalOutside ? "external" : "eof",
      banner: { js: ESM_PRELUDE },
      external: [...EXTERNALS],
      plugins: [...(reductions.leaveOut ? [leaveOut] : []), ...(reductions.dedupe ? [dedupe(root, lock.packages)] : [])],
      metafile: true,
      logLevel: "silent",
    });
  } catch (error) {
    const errors = (error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const detail = errors?.length ? errors.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ""}${e.text}`).join("; ") : (error as Error).message;
    throw new PackageError("bundle", detail);
  }
  const metafile = result.metafile;
  const dirnameReaders = Object.entries(metafile.inputs)
    .filter(([input, meta]) => meta.format === "cjs" && existsSync(join(root, input)) && /\b__(dirname|filename)\b/.test(readFileSync(join(root, input), "utf8")))
    .map(([input]) => input);
  if (dirnameReaders.length > 0) throw new PackageError("bundle", `CommonJS modules that read __dirname/__filename would see the chunk's folder, not their own: ${dirnameReaders.join(", ")}`);
  const outputs = Object.entries(metafile.outputs).map(([file, o]) => ({ file: posix(relative(outDir, resolve(root, file))), ...o }));
  const js = outputs.filter((o) => o.file.endsWith(".js")).map((o) => ({ file: o.file, bytes: o.bytes }));
  const jsBytes = js.reduce((n, o) => n + o.bytes, 0);
  // The maps name their sources from the checkout's root ("/src/app/handlers.ts", "/node_modules/..."),
  // so that a stack trace reads the same wherever the package is built or installed.
  for (const o of outputs.filter((f) => f.file.endsWith(".map"))) {
    const mapFile = join(outDir, o.file);
    const map = JSON.parse(readFileSync(mapFile, "utf8")) as { sources: string[]; sourceRoot?: string };
    map.sources = map.sources.map((source) => (/^[a-z-]+:/.test(source) ? source : posix(relative(root, resolve(dirname(mapFile), source)))));
    map.sourceRoot = "/";
    writeFileSync(mapFile, JSON.stringify(map));
  }
  const mapBytes = outputs.filter((o) => o.file.endsWith(".map")).reduce((n, o) => n + statSync(join(outDir, o.file)).size, 0);
  const legalBytes = filesUnder(join(outDir, "dist")).filter((f) => f.endsWith(".LEGAL.txt")).reduce((n, f) => n + statSync(f).size, 0);
  const entries = outputs.filter((o) => o.entryPoint?.startsWith("src/functions/")).map((o) => o.file).sort();
  if (entries.length !== entryPoints.length) throw new PackageError("bundle", `${entryPoints.length} entry points but ${entries.length} entry files`);
  log(`package: bundle ${js.length} files, JavaScript ${jsBytes} bytes (${mb(jsBytes)}; budget ${BUNDLE_BUDGET_BYTES}), maps ${mb(mapBytes)}, legal notices ${kb(legalBytes)}`);
  for (const o of js.filter((f) => f.bytes >= 100_000 || entries.includes(f.file))) log(`  ${o.file.padEnd(40)} ${kb(o.bytes).padStart(8)}`);
  assertWithinBudget(jsBytes, bytesByPackage(metafile), options.budgetBytes ?? BUNDLE_BUDGET_BYTES);

  // 3. The externals the bundle imports, checked against the ones it may import.
  const imported = new Set<string>();
  for (const o of outputs) for (const i of o.imports ?? []) if (i.external && !isBuiltin(i.path)) imported.add(packageOf(i.path));
  const unexpected = [...imported].filter((p) => !(EXTERNALS as readonly string[]).includes(p));
  if (unexpected.length > 0) throw new PackageError("externals", `the bundle imports ${unexpected.join(", ")} from outside, which is not in EXTERNALS`);
  const installed = [...imported].filter((p) => !PROVIDED_BY_WORKER.has(p)).sort();
  const dependencies: Record<string, string> = {};
  for (const name of installed) {
    const version = lock.packages[`node_modules/${name}`]?.version;
    if (!version) throw new PackageError("externals", `${name} is not in package-lock.json`);
    if (!manifest.dependencies?.[name]) throw new PackageError("externals", `${name} is not a dependency in package.json`);
    dependencies[name] = version;
  }

  // 4. node_modules: the externals and their dependencies, as the lock file lays them out.
  const copied = dependencyClosure(lock, installed);
  for (const path of copied) {
    const from = join(root, path);
    const entry = lock.packages[path]!;
    if (!existsSync(join(from, "package.json"))) throw new PackageError("node_modules", `${path} is in package-lock.json but not installed (run npm ci)`);
    const version = (JSON.parse(readFileSync(join(from, "package.json"), "utf8")) as { version: string }).version;
    if (version !== entry.version) throw new PackageError("node_modules", `${path} is ${version} in node_modules but ${entry.version} in package-lock.json (run npm ci)`);
    // A package's own nested node_modules are lock file entries of their own, copied when needed.
    cpSync(from, join(outDir, path), { recursive: true, dereference: true, filter: (src) => !posix(relative(from, src)).split("/").includes("node_modules") });
  }
  const copiedBytes = copied.flatMap((p) => filesUnder(join(outDir, p))).reduce((n, f) => n + statSync(f).size, 0);
  log(`package: node_modules ${copied.length} packages (${copied.map((p) => p.replace(/^.*node_modules\//, "")).join(", ")}), ${kb(copiedBytes)}`);

  // 5. package.json, its lock file and host.json.
  const pkg = { name: manifest.name, version: manifest.version, private: true, type: "module", main: PACKAGE_MAIN, dependencies };
  writeFileSync(join(outDir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  const lockOut = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: manifest.name, version: manifest.version, dependencies },
      ...Object.fromEntries(copied.map((p) => [p, lock.packages[p]])),
    },
  };
  writeFileSync(join(outDir, "package-lock.json"), `${JSON.stringify(lockOut, null, 2)}\n`);
  cpSync(join(root, "host.json"), join(outDir, "host.json"));
  // Deployment tools read a .funcignore in the folder they zip (Core Tools; azd: with none, it leaves
  // node_modules out of a JavaScript app's zip unless remoteBuild is false). This one keeps node_modules.
  writeFileSync(join(outDir, ".funcignore"), `${FUNCIGNORE_HEAD}\nlocal.settings.json\n${PACKAGE_MARKER}\n`);
  log(`package: package.json (main ${PACKAGE_MAIN}; dependencies ${Object.entries(dependencies).map(([n, v]) => `${n}@${v}`).join(", ")}), package-lock.json, host.json, .funcignore`);

  // 6. The zip.
  let zipBytes: number | null = null;
  if (zipFile) {
    mkdirSync(dirname(zipFile), { recursive: true });
    const files = filesUnder(outDir).map((f) => posix(relative(outDir, f))).filter((f) => f !== ".funcignore" && f !== PACKAGE_MARKER).sort();
    zipBytes = writeZip(zipFile, outDir, files);
    log(`package: ${relative(root, zipFile) || zipFile} ${files.length} files, ${mb(zipBytes)}`);
  }
  const durationMs = performance.now() - started;
  log(`package: done in ${(durationMs / 1000).toFixed(1)} s`);
  return { outDir, zipFile, entries, js, jsBytes, mapBytes, legalBytes, zipBytes, dependencies, copied, byPackage: bytesByPackage(metafile), metafile, durationMs };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const root = fileURLToPath(new URL("../", import.meta.url));
  const at = args.indexOf("--out");
  const outDir = at >= 0 ? args[at + 1] : undefined;
  if (at >= 0 && !outDir) {
    console.error("package: --out needs a folder");
    process.exit(2);
  }
  try {
    await packageApp({ root, ...(outDir ? { outDir: resolve(outDir) } : {}), ...(args.includes("--no-zip") ? { zipFile: null } : {}) });
  } catch (error) {
    console.error(error instanceof PackageError ? error.message : `package: ${(error as Error).stack ?? error}`);
    process.exit(1);
  }
}
