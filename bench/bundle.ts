/**
 * Benchmark: the deployable package (scripts/package.ts). Its sizes (JavaScript, source maps, zip),
 * what each size reduction saves, and how long a fresh Node.js process takes to load every entry
 * point of the app, bundled (the package) against unbundled (the tsc build importing through
 * node_modules) — a proxy for the worker's share of a cold start. Each round starts one process per
 * variant, in turn; the figure is the median over the rounds of the time from spawning the process to
 * its exit (the imports' own time, measured inside the process, beside it). The bundled app is also
 * loaded with --enable-source-maps, the flag its stack traces need. A measurement, not a test.
 *
 *   BENCH_BUNDLE_ROUNDS   processes per variant (default 9)
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { BUNDLE_BUDGET_BYTES, packageApp, type Reductions } from "../scripts/package.ts";

const ROUNDS = Number(process.env.BENCH_BUNDLE_ROUNDS ?? 9);
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const run = promisify(execFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

const work = mkdtempSync(join(tmpdir(), "switchyard-bench-bundle-"));
mkdirSync(join(ROOT, ".switchyard"), { recursive: true });
const compiled = mkdtempSync(join(ROOT, ".switchyard", "bench-build-"));
try {
  const report = await packageApp({ root: ROOT, outDir: join(work, "package"), zipFile: join(work, "switchyard.zip"), log: () => undefined });
  console.log("deployable package (npm run package)");
  console.log(`  JavaScript ${report.jsBytes} bytes (${mb(report.jsBytes)}) in ${report.js.length} files, budget ${BUNDLE_BUDGET_BYTES} bytes`);
  console.log(`  source maps ${mb(report.mapBytes)}, legal notices ${kb(report.legalBytes)}, zip ${mb(report.zipBytes!)}, node_modules: ${report.copied.length} packages`);
  console.log(`  largest: ${report.byPackage.slice(0, 12).map(([p, n]) => `${p} ${kb(n)}`).join(", ")}`);

  // What each reduction saves: the bundle built with that one turned off.
  const reductions: [keyof Reductions, string][] = [
    ["esmFirst", "dependencies' ES module builds first"],
    ["legalOutside", "license comments in .LEGAL.txt files"],
    ["dedupe", "one copy of each package version"],
    ["leaveOut", "Arrow listings and zod locales left out"],
  ];
  for (const [key, what] of reductions) {
    const without = await packageApp({ root: ROOT, outDir: join(work, `without-${key}`), zipFile: null, log: () => undefined, budgetBytes: Infinity, reductions: { [key]: false } });
    console.log(`  ${what}: saves ${kb(without.jsBytes - report.jsBytes)} (${without.jsBytes} bytes without it)`);
    rmSync(join(work, `without-${key}`), { recursive: true, force: true });
  }

  // The unbundled app: the tsc build (npm run build) inside the checkout, so that it resolves node_modules.
  await run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", compiled], { cwd: ROOT });
  const unbundledEntries = readdirSync(join(compiled, "src/functions")).filter((f) => f.endsWith(".js")).map((f) => join(compiled, "src/functions", f));
  const bundledEntries = report.entries.map((e) => join(report.outDir, e));

  const variants = [
    { name: "unbundled (tsc build + node_modules)", cwd: ROOT, entries: unbundledEntries, args: [] as string[] },
    { name: "bundled (build/package)", cwd: report.outDir, entries: bundledEntries, args: [] as string[] },
    { name: "bundled, --enable-source-maps", cwd: report.outDir, entries: bundledEntries, args: ["--enable-source-maps"] },
  ];
  const wall = variants.map(() => [] as number[]);
  const imports = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, v] of variants.entries()) {
      const script =
        "const t = performance.now();" +
        `for (const f of ${JSON.stringify(v.entries.map((e) => pathToFileURL(e).href))}) await import(f);` +
        "process.stdout.write(`\\nimports-ms=${performance.now() - t}\\n`);";
      const started = performance.now();
      const { stdout } = await run(process.execPath, [...v.args, "--input-type=module", "-e", script], { cwd: v.cwd, env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 16 * 1024 * 1024 });
      wall[i]!.push(performance.now() - started);
      imports[i]!.push(Number(/imports-ms=([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN));
    }
  }
  console.log(`loading every entry point in a fresh node process (${ROUNDS} rounds; median ms, process wall time / imports alone)`);
  for (const [i, v] of variants.entries()) console.log(`  ${v.name.padEnd(38)} ${median(wall[i]!).toFixed(0).padStart(5)} / ${median(imports[i]!).toFixed(0).padStart(5)}`);
  const ratio = median(wall[1]!) / median(wall[0]!);
  const importRatio = median(imports[1]!) / median(imports[0]!);
  console.log(`  bundled / unbundled: ${ratio.toFixed(2)} (process), ${importRatio.toFixed(2)} (imports alone)`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(compiled, { recursive: true, force: true });
}
