// A cross-process lock file (O_EXCL create) for read-modify-write of index.json. A lock left by
// a dead process, or older than the stale limit, is broken so a crash never wedges the store.
import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WbpfError } from '../host-bindings/errors.js';

const STALE_MS = 30_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function breakIfStale(lockPath: string): Promise<void> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    const pid = Number(text.trim());
    if ((Number.isInteger(pid) && pid > 0 && !processAlive(pid)) || Date.now() - stat.mtimeMs > STALE_MS) {
      await fs.rm(lockPath, { force: true });
    }
  } catch {
    // gone or half-written: the next attempt decides
  }
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await fs.open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new WbpfError(`lock ${lockPath}: ${(e as Error).message}`);
      if (Date.now() > deadline) throw new WbpfError(`lock ${lockPath}: still held after ${timeoutMs} ms`);
      if (attempt % 20 === 19) await breakIfStale(lockPath);
      await sleep(5 + Math.random() * 20);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}
