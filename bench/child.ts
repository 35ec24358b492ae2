// Spawning benchmark processes: wait for a line on stdout, time it, collect the rest.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface Watched {
  child: ChildProcess;
  /** Resolves with the time (performance.now()) at which a stdout line matched. */
  line(pattern: RegExp, timeoutMs: number): Promise<number>;
  /** Resolves with the exit code and all stdout/stderr once the process has ended. */
  done(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function watch(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Watched {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (t: number) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const now = performance.now();
    stdout += chunk;
    for (const w of waiters.splice(0)) {
      if (stdout.split('\n').some((l) => w.pattern.test(l))) w.resolve(now);
      else waiters.push(w);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  return {
    child,
    line(pattern, timeoutMs) {
      if (stdout.split('\n').some((l) => pattern.test(l))) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${command}: no line matching ${pattern} within ${timeoutMs} ms\n${stderr}`));
        }, timeoutMs);
        void closed.then(() => {
          clearTimeout(timer);
          reject(new Error(`${command} exited before printing a line matching ${pattern}\n${stderr}`));
        });
        waiters.push({
          pattern,
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
        });
      });
    },
    async done() {
      const code = await closed;
      return { code, stdout, stderr };
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
