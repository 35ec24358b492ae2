// Cold start: from spawning the process to all programs attached, for the bootstrap example.
// The native loader prints "attached"; the bootstrap guest prints its header right after
// attaching, so both are timed on their first line.
import { performance } from 'node:perf_hooks';
import { median, watch } from './child.js';

const RUNS = 5;

async function timeToLine(command: string, args: string[], pattern: RegExp, env?: NodeJS.ProcessEnv): Promise<number> {
  const start = performance.now();
  const p = watch(command, args, env);
  const at = await p.line(pattern, 30_000);
  p.child.kill('SIGINT');
  await p.done();
  return at - start;
}

export async function coldStartMs(command: string, args: string[], pattern: RegExp, env?: NodeJS.ProcessEnv): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await timeToLine(command, args, pattern, env));
  return median(samples);
}

/**
 * The environment without NODE_EXTRA_CA_CERTS, or undefined when it is not set: with it, every
 * Node process parses that CA file before running any code (~45 ms for a system bundle), which
 * a machine without the variable does not pay.
 */
export function withoutExtraCaCerts(): NodeJS.ProcessEnv | undefined {
  if (!process.env.NODE_EXTRA_CA_CERTS) return undefined;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}
