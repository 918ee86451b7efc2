import { vi } from "vitest";
import { main } from "../../src/cli/main.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `switchyard ...args` in this process, with its exit code and what it printed. */
export async function runCli(...args: string[]): Promise<CliResult> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => (stdout.push(String(chunk)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));
  try {
    const code = await main(["node", "switchyard", ...args]);
    return { code, stdout: stdout.join(""), stderr: stderr.join("") };
  } finally {
    vi.restoreAllMocks();
  }
}
