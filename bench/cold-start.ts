// Cold start: from spawning the process to all programs attached, for the bootstrap example.
// The native loader prints "attached"; the bootstrap guest prints its header right after
// attaching, so both are timed on their first line.
import { performance } from 'node:perf_hooks';
import { median, watch } from './child.js';

const RUNS = 5;

async function timeToLine(command: string, args: string[], pattern: RegExp): Promise<number> {
  const start = performance.now();
  const p = watch(command, args);
  const at = await p.line(pattern, 30_000);
  p.child.kill('SIGINT');
  await p.done();
  return at - start;
}

export async function coldStartMs(command: string, args: string[], pattern: RegExp): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await timeToLine(command, args, pattern));
  return median(samples);
}
