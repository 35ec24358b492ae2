// `npm run bench`: wbpf against native libbpf baselines measured in the same run. Prints a table
// and a JSON summary. Nothing here asserts speed; parts that cannot run here say why and are
// skipped.
import { existsSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildArtifacts, buildBlocker } from './build.js';
import { coldStartMs, withoutExtraCaCerts } from './cold-start.js';
import { eventPath, type ConsumerResult } from './event-path.js';
import { benchOci } from './oci.js';
import { benchVm } from './vm.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = join(root, 'dist/runtime/cli/main.js');
const bootstrap = join(root, 'examples/bootstrap');

const CPU_RATIO_GOAL = 1.5;
const COLD_START_GOAL_MS = 150;

interface Summary {
  /**
   * cpuRatio, the one held against the goal, is the drain's: there both consumers get the same
   * batches, while live batch sizes depend on each consumer's speed (see event-path.ts).
   */
  eventPath?: {
    native: ConsumerResult;
    wbpf?: ConsumerResult;
    liveCpuRatio?: number;
    cpuRatio?: number;
    goal: number;
    met?: boolean;
  };
  /** nodeStartMs: a bare `node` printing one line, the floor under any wbpf start. */
  coldStart?: {
    nativeMs: number; nodeStartMs: number; wbpfMs?: number; ratio?: number; goalMs: number; met?: boolean;
    /** The same two Node figures with NODE_EXTRA_CA_CERTS unset, when it is set here. */
    withoutExtraCaCerts?: { nodeStartMs: number; wbpfMs?: number };
  };
  skipped: string[];
}

function row(cells: string[]): string {
  const widths = [34, 16, 16, 10, 12];
  return cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join(' ');
}

const fmt = (n: number | undefined, digits = 1) => (n === undefined ? '-' : n.toFixed(digits));

function printTable(s: Summary): void {
  const lines = [row(['measure', 'native (libbpf)', 'wbpf', 'wbpf/native', 'goal'])];
  if (s.eventPath) {
    const { native, wbpf } = s.eventPath;
    lines.push(row(['event path live: records/s', fmt(native.live.recordsPerSecond, 0), fmt(wbpf?.live.recordsPerSecond, 0),
      fmt(wbpf && wbpf.live.recordsPerSecond / native.live.recordsPerSecond, 2), '']));
    lines.push(row(['event path live: CPU ns/record', fmt(native.live.cpuNsPerRecord), fmt(wbpf?.live.cpuNsPerRecord),
      fmt(s.eventPath.liveCpuRatio, 2), '']));
    lines.push(row(['drain a full ring: CPU ns/record', fmt(native.drain.cpuNsPerRecord), fmt(wbpf?.drain.cpuNsPerRecord),
      fmt(s.eventPath.cpuRatio, 2), `<= ${CPU_RATIO_GOAL}x`]));
  }
  if (s.coldStart) {
    lines.push(row(['cold start to attached (ms)', fmt(s.coldStart.nativeMs), fmt(s.coldStart.wbpfMs),
      fmt(s.coldStart.ratio, 2), `< ${COLD_START_GOAL_MS} ms`]));
    lines.push(row(['  (bare node start, for scale)', '', fmt(s.coldStart.nodeStartMs), '', '']));
    const bare = s.coldStart.withoutExtraCaCerts;
    if (bare) {
      lines.push(row(['  without NODE_EXTRA_CA_CERTS', '', fmt(bare.wbpfMs), fmt(bare.wbpfMs === undefined ? undefined : bare.wbpfMs / s.coldStart.nativeMs, 2), '']));
      lines.push(row(['  bare node, without it', '', fmt(bare.nodeStartMs), '', '']));
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const summary: Summary = { skipped: [] };
  const skip = (what: string) => {
    what = what.trim();
    summary.skipped.push(what);
    process.stderr.write(`bench: skipped ${what}\n`);
  };

  const blocker = process.getuid?.() !== 0 ? 'not root (eBPF programs need root)' : buildBlocker();
  if (blocker) {
    skip(`everything: ${blocker}`);
  } else {
    // Tracepoint attach needs tracefs, which a fresh machine may not have mounted.
    if (!existsSync('/sys/kernel/tracing/events')) spawnSync('mount', ['-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
    const haveCli = existsSync(cli);
    if (!haveCli) skip(`wbpf measurements: ${cli} is missing (npm run build)`);
    const a = buildArtifacts(root);
    try {
      const { native, wbpf, wbpfError } = await eventPath(a, haveCli ? cli : undefined);
      summary.eventPath = { native, goal: CPU_RATIO_GOAL };
      if (wbpfError !== undefined) skip(`wbpf event path: ${wbpfError}`);
      if (wbpf) {
        // Held against the goal: the drain, where both sides get equal batches (see Summary).
        const cpuRatio = wbpf.drain.cpuNsPerRecord / native.drain.cpuNsPerRecord;
        Object.assign(summary.eventPath, {
          wbpf,
          liveCpuRatio: wbpf.live.cpuNsPerRecord / native.live.cpuNsPerRecord,
          cpuRatio,
          met: cpuRatio <= CPU_RATIO_GOAL,
        });
      }

      const nativeMs = await coldStartMs(a.loader, [join(bootstrap, 'bootstrap.bpf.o')], /^attached$/);
      const nodeStartMs = await coldStartMs(process.execPath, ['-e', 'console.log("up")'], /^up$/);
      summary.coldStart = { nativeMs, nodeStartMs, goalMs: COLD_START_GOAL_MS };
      if (haveCli) {
        try {
          const args = [cli, 'run', '--timeout', '30s', join(bootstrap, 'bootstrap.wasm')];
          const wbpfMs = await coldStartMs(process.execPath, args, /^EVENT\s/);
          Object.assign(summary.coldStart, { wbpfMs, ratio: wbpfMs / nativeMs, met: wbpfMs < COLD_START_GOAL_MS });
          const env = withoutExtraCaCerts();
          if (env) {
            summary.coldStart.withoutExtraCaCerts = {
              nodeStartMs: await coldStartMs(process.execPath, ['-e', 'console.log("up")'], /^up$/, env),
              wbpfMs: await coldStartMs(process.execPath, args, /^EVENT\s/, env),
            };
          }
        } catch (err) {
          skip(`wbpf cold start: ${(err as Error).message}`);
        }
      }
    } finally {
      rmSync(a.dir, { recursive: true, force: true });
    }
  }
  printTable(summary);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}

/** `npm run bench -- [runtime] [vm] [oci]`: the parts to run, all by default. */
async function all(): Promise<void> {
  const wanted = new Set(process.argv.slice(2));
  const run = (part: string) => wanted.size === 0 || wanted.has(part);
  if (run('runtime')) await main();
  for (const [part, bench] of [['vm', benchVm], ['oci', benchOci]] as const) {
    if (!run(part)) continue;
    process.stdout.write(`\n== ${part} ==\n`);
    try {
      await bench();
    } catch (err) {
      process.stderr.write(`bench: ${part}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}

all().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
