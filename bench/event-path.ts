// Event path: ring-buffer records delivered into a guest callback, against a native libbpf
// consumer of the same ring fed by the same producer. Both consumers measure their own window
// (first to last delivering poll): records/s and process CPU time per record, in steady state
// (after a warm-up batch, so one-off costs such as V8 tiering up the callback are excluded).
import type { BenchArtifacts } from './build.js';
import { median, watch } from './child.js';

export interface ConsumerResult {
  records: number;
  recordsPerSecond: number;
  cpuNsPerRecord: number;
}

const WARMUP_TRIGGERS = 100;
const TRIGGERS = 500;
const RUNS = 5;

async function runConsumer(command: string, args: string[], a: BenchArtifacts): Promise<ConsumerResult> {
  const expected = TRIGGERS * a.recordsPerTrigger;
  const consumer = watch(command, [...args, String(WARMUP_TRIGGERS * a.recordsPerTrigger), String(expected)]);
  const generate = async (triggers: number) => {
    const gen = await watch(a.loadgen, [String(triggers)]).done();
    if (gen.code !== 0) throw new Error(`load generator failed: ${gen.stderr}`);
  };
  await consumer.line(/^ready$/, 30_000);
  await generate(WARMUP_TRIGGERS);
  await consumer.line(/^warm$/, 30_000);
  await generate(TRIGGERS);
  const { code, stdout, stderr } = await consumer.done();
  const m = /^result records=(\d+) wall_ns=(\d+) cpu_ns=(\d+)/m.exec(stdout);
  if (code !== 0 || !m) throw new Error(`${command} failed (exit ${code}): ${stderr || stdout}`);
  const [records, wallNs, cpuNs] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (records !== expected) throw new Error(`${command}: got ${records} of ${expected} records`);
  if (cpuNs === 0) throw new Error(`${command}: process CPU-time clock reported 0`);
  return { records, recordsPerSecond: records / (wallNs / 1e9), cpuNsPerRecord: cpuNs / records };
}

async function medianOf(run: () => Promise<ConsumerResult>): Promise<ConsumerResult> {
  const results: ConsumerResult[] = [];
  for (let i = 0; i < RUNS; i++) results.push(await run());
  return {
    records: results[0]!.records,
    recordsPerSecond: median(results.map((r) => r.recordsPerSecond)),
    cpuNsPerRecord: median(results.map((r) => r.cpuNsPerRecord)),
  };
}

export function nativeEventPath(a: BenchArtifacts): Promise<ConsumerResult> {
  return medianOf(() => runConsumer(a.ringbufConsumer, [a.ringbufObject], a));
}

export function wbpfEventPath(a: BenchArtifacts, cli: string): Promise<ConsumerResult> {
  return medianOf(() => runConsumer(process.execPath, [cli, 'run', '--timeout', '60s', a.ringbufGuest, '--'], a));
}
