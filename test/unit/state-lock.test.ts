import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LOCK_FILE, lockStateDir, StateDirInUseError } from "../../src/local/stateLock.ts";

/** The pid of a process that has ended (a child that exited). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("lockStateDir", () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("writes this process's pid and removes the lock on release", async () => {
    dir = await mkdtemp(join(tmpdir(), "state-lock-"));
    const lock = await lockStateDir(dir);
    expect((await readFile(join(dir, LOCK_FILE), "utf8")).trim()).toBe(String(process.pid));
    await lock.release();
    await expect(readFile(join(dir, LOCK_FILE), "utf8")).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a folder whose lock names a live process, naming it, and leaves its lock alone", async () => {
    dir = await mkdtemp(join(tmpdir(), "state-lock-"));
    await writeFile(join(dir, LOCK_FILE), `${process.ppid}\n`);
    const refused = await lockStateDir(dir).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(StateDirInUseError);
    expect((refused as Error).message).toContain(`in use by process ${process.ppid}`);
    expect((await readFile(join(dir, LOCK_FILE), "utf8")).trim()).toBe(String(process.ppid));
  });

  it("takes over the lock of a process that is gone, and an empty or garbled one", async () => {
    dir = await mkdtemp(join(tmpdir(), "state-lock-"));
    for (const stale of [`${deadPid()}\n`, "", "not a pid"]) {
      await writeFile(join(dir, LOCK_FILE), stale);
      const lock = await lockStateDir(dir);
      expect((await readFile(join(dir, LOCK_FILE), "utf8")).trim()).toBe(String(process.pid));
      await lock.release();
    }
  });
});
