/**
 * The packager's own rules, without a build: which lock file entries go into node_modules, and the
 * messages it stops with when its inputs are wrong.
 */
import { existsSync, mkdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dependencyClosure, packageApp, PACKAGE_MARKER, PackageError, packageOf } from "../../scripts/package.ts";

describe("dependencyClosure", () => {
  const lock = {
    packages: {
      "": { dependencies: { a: "1" } },
      "node_modules/a": { version: "1.0.0", dependencies: { b: "^2", c: "^1" }, optionalDependencies: { gone: "1" } },
      "node_modules/a/node_modules/b": { version: "2.0.0", dependencies: { c: "^1" } },
      "node_modules/b": { version: "1.0.0" },
      "node_modules/c": { version: "1.2.0" },
      "node_modules/unrelated": { version: "9.0.0" },
    },
  };

  it("follows Node's lookup: a package's nested copy first, then the folders above", () => {
    expect(dependencyClosure(lock, ["a"])).toEqual(["node_modules/a", "node_modules/a/node_modules/b", "node_modules/c"]);
  });

  it("a missing optional dependency is skipped, a missing dependency names who needs it", () => {
    expect(() => dependencyClosure({ packages: { ...lock.packages, "node_modules/c": undefined as never } }, ["a"])).toThrow(/^package: node_modules: c \(needed by node_modules\/a[^)]*\) is not in package-lock\.json$/);
    expect(() => dependencyClosure(lock, ["nothere"])).toThrow(PackageError);
  });

  it("packageOf names the package of a specifier", () => {
    expect(packageOf("@azure/functions")).toBe("@azure/functions");
    expect(packageOf("@azure/functions/types/index.js")).toBe("@azure/functions");
    expect(packageOf("cookie/index.js")).toBe("cookie");
  });
});

describe("packageApp's inputs", () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  const checkout = (files: Record<string, string>) => {
    root = mkdtempSync(join(tmpdir(), "switchyard-inputs-"));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(root, name, ".."), { recursive: true });
      writeFileSync(join(root, name), text);
    }
    return root;
  };
  const manifest = JSON.stringify({ name: "x", version: "1.0.0", dependencies: {} });
  const lockFile = JSON.stringify({ lockfileVersion: 3, packages: { "": {} } });

  it("stops with the stage and the file at fault", async () => {
    await expect(packageApp({ root: checkout({ "package.json": manifest }), log: () => undefined })).rejects.toThrow(/^package: inputs: cannot read package-lock\.json/);
    await expect(packageApp({ root: checkout({ "package.json": manifest, "package-lock.json": lockFile }), log: () => undefined })).rejects.toThrow("package: inputs: host.json is missing");
    await expect(
      packageApp({ root: checkout({ "package.json": manifest, "package-lock.json": JSON.stringify({ lockfileVersion: 1, dependencies: {} }), "host.json": "{}" }), log: () => undefined }),
    ).rejects.toThrow(/has no "packages" \(lockfileVersion 1/);
    await expect(packageApp({ root: checkout({ "package.json": manifest, "package-lock.json": lockFile, "host.json": "{}" }), log: () => undefined })).rejects.toThrow(
      "package: inputs: no entry points in src/functions/*.ts",
    );
  });

  it("a bundling error names the file and line", async () => {
    const dir = checkout({ "package.json": manifest, "package-lock.json": lockFile, "host.json": "{}", "src/functions/broken.ts": 'import { nothing } from "./missing.ts";\nexport const x = nothing;\n' });
    await expect(packageApp({ root: dir, outDir: join(dir, "out"), zipFile: null, log: () => undefined })).rejects.toThrow(/^package: bundle: src\/functions\/broken\.ts:1: Could not resolve "\.\/missing\.ts"/);
  });

  it("refuses an output folder that would hold the checkout", async () => {
    const dir = checkout({ "package.json": manifest });
    await expect(packageApp({ root: dir, outDir: join(dir, ".."), log: () => undefined })).rejects.toThrow(/would contain the checkout/);
    // The file system's root holds every checkout.
    await expect(packageApp({ root: dir, outDir: "/", log: () => undefined })).rejects.toThrow(/would contain the checkout/);
  });

  it("empties only a folder that is empty or an earlier package: another folder is refused and left as it was", async () => {
    const dir = checkout({ "package.json": manifest, "package-lock.json": lockFile, "host.json": "{}", "src/functions/a.ts": "export const a = 1;\n", "docs/notes.md": "keep me\n" });
    await expect(packageApp({ root: dir, outDir: join(dir, "docs"), zipFile: null, log: () => undefined })).rejects.toThrow(/docs is not empty and is not an earlier package/);
    expect(readFileSync(join(dir, "docs", "notes.md"), "utf8")).toBe("keep me\n");
    // A package folder is emptied and written again.
    const out = join(dir, "out");
    await packageApp({ root: dir, outDir: out, zipFile: null, log: () => undefined });
    writeFileSync(join(out, "stale.txt"), "from before");
    await packageApp({ root: dir, outDir: out, zipFile: null, log: () => undefined });
    expect(existsSync(join(out, "stale.txt"))).toBe(false);
    expect(existsSync(join(out, "host.json"))).toBe(true);
    // A package written before the marker (its .funcignore and host.json, no marker) is emptied too; a
    // .funcignore of someone else's is not enough.
    rmSync(join(out, PACKAGE_MARKER));
    writeFileSync(join(out, "stale.txt"), "from before");
    await packageApp({ root: dir, outDir: out, zipFile: null, log: () => undefined });
    expect(existsSync(join(out, "stale.txt"))).toBe(false);
    const other = join(dir, "other");
    mkdirSync(other);
    writeFileSync(join(other, ".funcignore"), "local.settings.json\n");
    writeFileSync(join(other, "host.json"), "{}");
    await expect(packageApp({ root: dir, outDir: other, zipFile: null, log: () => undefined })).rejects.toThrow(/other is not empty and is not an earlier package .*delete it, or give an empty or new folder with --out/);
    expect(readFileSync(join(other, "host.json"), "utf8")).toBe("{}");
  });
});
