import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CORPUS } from "../helpers/estate.ts";

const SHARED = fileURLToPath(new URL("../../../shared/azure-corpus/", import.meta.url));

function files(root: string, dir = root): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(root, path) : [relative(root, path)];
  });
}

describe("the copied Azure corpus", () => {
  it("parses: every JSON file is valid JSON", () => {
    const json = files(CORPUS).filter((f) => f.endsWith(".json"));
    expect(json.length).toBeGreaterThan(40);
    for (const f of json) expect(() => JSON.parse(readFileSync(join(CORPUS, f), "utf8")), f).not.toThrow();
  });

  it.skipIf(!existsSync(SHARED))("is identical to the team's shared corpus when that is present", () => {
    expect(files(CORPUS).sort()).toEqual(files(SHARED).sort());
    for (const f of files(SHARED)) expect(readFileSync(join(CORPUS, f), "utf8"), f).toBe(readFileSync(join(SHARED, f), "utf8"));
  });
});
