// Builds what the benchmarks run into a temporary directory: the native baselines (against
// Debian's libbpf), the load generator, the benchmark's eBPF object and its Wasm consumer.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchArtifacts {
  dir: string;
  loader: string;
  ringbufConsumer: string;
  loadgen: string;
  ringbufObject: string;
  ringbufGuest: string;
  /** RECORDS_PER_TRIGGER of bench/bpf/ringbuf-bench.h: records per load-generator syscall. */
  recordsPerTrigger: number;
}

/** Why the artifacts cannot be built here, or '' when they can. */
export function buildBlocker(): string {
  const missing = ['cc', 'clang', 'llvm-strip', 'wasm-ld'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  for (const [file, pkg] of [
    ['/usr/include/bpf/libbpf.h', 'libbpf-dev'],
    ['/usr/include/wasm32-wasi/stdio.h', 'wasi-libc'],
  ] as const) {
    if (spawnSync('test', ['-f', file]).status !== 0) missing.push(pkg);
  }
  return missing.length ? `missing ${missing.join(', ')} (see scripts/setup.sh)` : '';
}

export function buildArtifacts(root: string): BenchArtifacts {
  const dir = mkdtempSync(join(tmpdir(), 'wbpf-bench-'));
  const bench = join(root, 'bench');
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const out = (name: string) => join(dir, name);
  const libbpf = ['-lbpf', '-lelf', '-lz'];

  run('cc', ['-O2', '-o', out('loader'), join(bench, 'native/loader.c'), ...libbpf]);
  run('cc', ['-O2', '-I', join(bench, 'bpf'), '-o', out('ringbuf-consumer'), join(bench, 'native/ringbuf-consumer.c'), ...libbpf]);
  // The eBPF producer matches this file name as the command name.
  run('cc', ['-O2', '-o', out('wbpfgen'), join(bench, 'native/loadgen.c')]);
  run('clang', [
    '-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-D__TARGET_ARCH_x86',
    '-I', join(root, 'examples/vmlinux'), '-I', join(bench, 'bpf'),
    '-c', join(bench, 'bpf/ringbuf-bench.bpf.c'), '-o', out('ringbuf-bench.debug.bpf.o'),
  ]);
  run('llvm-strip', ['-g', out('ringbuf-bench.debug.bpf.o'), '-o', out('ringbuf-bench.bpf.o')]);
  run(process.execPath, [join(root, 'scripts/embed-object.mjs'), out('ringbuf-bench.bpf.o'), out('ringbuf-bench.bpf.o.h'), 'ringbuf_bench_bpf_o']);
  run('clang', [
    '--target=wasm32-wasi', '-O2', '-I', join(root, 'sdk/c'), '-I', join(bench, 'bpf'), '-I', dir,
    '-Wl,--export-table', '-Wl,--strip-all', '-o', out('ringbuf-consumer.wasm'), join(bench, 'guest/ringbuf-consumer.c'),
  ]);
  return {
    dir,
    loader: out('loader'),
    ringbufConsumer: out('ringbuf-consumer'),
    loadgen: out('wbpfgen'),
    ringbufObject: out('ringbuf-bench.bpf.o'),
    ringbufGuest: out('ringbuf-consumer.wasm'),
    recordsPerTrigger: recordsPerTrigger(join(bench, 'bpf/ringbuf-bench.h')),
  };
}

function recordsPerTrigger(header: string): number {
  const m = /#define RECORDS_PER_TRIGGER (\d+)/.exec(readFileSync(header, 'utf8'));
  if (!m) throw new Error(`${header}: no RECORDS_PER_TRIGGER definition`);
  return Number(m[1]);
}
