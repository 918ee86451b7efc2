import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { styleFor } from "../../src/cli/style.ts";

// The command line as a person meets it: exit codes (0 ok, 1 a failed run or bad input, 2 usage),
// --version, and number options that say what they accept. No command here starts anything: each is
// refused before it would (a missing plan file stops a command that got past its options).

let stdout: string[];
let stderr: string[];
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "switchyard-cli-"));
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => main(["node", "switchyard", ...args]);
const MISSING_PLAN = "/nonexistent/plan.yaml";

describe("switchyard exit codes", () => {
  it("is 2 for a command line that names no command, whichever level it stops at", async () => {
    expect(await run()).toBe(2);
    expect(await run("plan")).toBe(2);
    expect(await run("estate")).toBe(2);
    expect(stderr.join("")).toContain("Usage: switchyard plan");
  });

  it("is 2 for an unknown command or option and a missing argument, in subcommands too", async () => {
    expect(await run("nope")).toBe(2);
    expect(await run("plan", "validate")).toBe(2);
    expect(await run("plan", "validate", "x.yaml", "--nope")).toBe(2);
    expect(await run("report")).toBe(2);
    expect(stderr.join("")).toContain("error: missing required argument 'files'");
  });

  it("is 0 for help and 1 for an invalid plan", async () => {
    expect(await run("--help")).toBe(0);
    expect(await run("plan", "--help")).toBe(0);
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "name: [unclosed\n");
    expect(await run("plan", "validate", bad)).toBe(1);
  });
});

describe("switchyard --version", () => {
  it("prints the package's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(await run("--version")).toBe(0);
    expect(stdout.join("")).toBe(`${version}\n`);
  });
});

describe("number options", () => {
  it.each([
    [["drill", "--approval-timeout", "abc"], "'abc' is invalid. It must be a whole number of seconds from 1 to 604800."],
    [["drill", "--approval-timeout", "-5"], "'-5' is invalid. It must be a whole number of seconds from 1 to 604800."],
    [["drill", "--approval-timeout", "1e9"], "'1e9' is invalid. It must be a whole number of seconds from 1 to 604800."],
    [["drill", "--approval-timeout", "0"], "'0' is invalid."],
    [["drill", "--approval-timeout", "604801"], "'604801' is invalid."],
    [["drill", "--approval-timeout", ""], "'' is invalid."],
    [["drill", "--time-scale", "0x10"], "'0x10' is invalid. It must be a number from 1 to 1000000."],
    [["serve", "--port", "70000"], "'70000' is invalid. It must be a whole number from 0 to 65535."],
    [["serve", "--port", "80.5"], "'80.5' is invalid."],
    [["serve", "--probe-interval", "0"], "'0' is invalid. It must be a number of seconds from 0.1 to 3600."],
    [["serve", "--probe-interval", "Infinity"], "'Infinity' is invalid."],
    [["estate", "serve", "--port", "abc"], "'abc' is invalid. It must be a whole number from 0 to 65535."],
  ])("%j is refused with the range, exit 2", async (args, message) => {
    expect(await run(...args, "--plan", MISSING_PLAN)).toBe(2);
    expect(stderr.join("")).toContain(`error: option '${args.at(-2)}`);
    expect(stderr.join("")).toContain(message);
  });

  it("accepts numbers in range (the command then stops at the missing plan, exit 1)", async () => {
    expect(await run("drill", "--approval-timeout", "600", "--time-scale", "7200.5", "--plan", MISSING_PLAN)).toBe(1);
    expect(await run("serve", "--port", "0", "--probe-interval", "0.5", "--plan", MISSING_PLAN)).toBe(1);
    expect(stderr.join("")).toContain("file not found");
    expect(stderr.join("")).not.toContain("is invalid");
  });
});

describe("colour and symbols", () => {
  it("only on a TTY, and never with NO_COLOR set", () => {
    expect(styleFor({ isTTY: true }, {}).good("drill passed")).toBe("\u001b[32m✓ drill passed\u001b[0m");
    expect(styleFor({ isTTY: true }, { NO_COLOR: "1" }).good("drill passed")).toBe("drill passed");
    expect(styleFor({ isTTY: false }, {}).bad("drill FAILED")).toBe("drill FAILED");
    expect(styleFor({}, {}).warn("timed out")).toBe("timed out");
  });
});
