import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The state folder is held by another live process. */
export class StateDirInUseError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the state folder ${dir} is in use by process ${pid} (its lock is ${join(dir, LOCK_FILE)}); stop that process, or use another folder`);
  }
}

export const LOCK_FILE = "serve.lock";

export interface StateLock {
  release(): Promise<void>;
}

/**
 * Holds `dir` for this process: a lock file created exclusively, holding this process's id. A lock
 * whose process is gone (killed, crashed) is taken over; one held by a live process is refused with
 * StateDirInUseError.
 */
export async function lockStateDir(dir: string, pid = process.pid): Promise<StateLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    // The lock appears with its content (a hard link of a written file), never empty.
    const written = `${path}.${pid}.new`;
    await writeFile(written, `${pid}\n`, { mode: 0o600 });
    try {
      await link(written, path);
      return { release: () => releaseLock(path, pid) };
    } catch (error) {
      if (!isCode(error, "EEXIST")) throw error;
    } finally {
      await unlink(written);
    }
    const holder = await holderOf(path);
    if (holder === undefined) continue; // released meanwhile
    if (holder !== pid && alive(holder)) throw new StateDirInUseError(dir, holder);
    // Stale: move it aside (one taker wins the rename), check it is the one read, then create anew.
    const aside = `${path}.${pid}.stale`;
    try {
      await rename(path, aside);
    } catch (error) {
      if (isCode(error, "ENOENT")) continue;
      throw error;
    }
    if ((await holderOf(aside)) !== holder) {
      // A live process locked the folder between the read and the rename: give its lock back.
      await rename(aside, path);
      continue;
    }
    await unlink(aside);
  }
  throw new Error(`could not take the lock ${path}`);
}

async function releaseLock(path: string, pid: number): Promise<void> {
  if ((await holderOf(path)) === pid) await unlink(path).catch(() => undefined);
}

/** The pid a lock file names; undefined when there is no such file. A file that names none reads as pid 0 (stale). */
async function holderOf(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch (error) {
    if (isCode(error, "ENOENT")) return undefined;
    throw error;
  }
}

/** Is a process with this id running? (EPERM: it runs, as another user.) */
function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return isCode(error, "EPERM");
  }
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof Error && "code" in error && error.code === code;
}
