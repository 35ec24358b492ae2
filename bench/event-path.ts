// Event path: ring-buffer records delivered into a guest callback, against a native libbpf
// consumer of the same ring fed by the same producer. Each consumer process is warmed up (so
// one-off costs such as V8 tiering up the callback are excluded), then measured twice:
//  - live: records consumed while the producer writes them. Records/s and CPU per record, but
//    the batch size depends on the consumer's own speed (epoll reports the ring ready whenever
//    it is not empty, so a faster consumer wakes more often per record), so CPU per record
//    compares different amounts of wake-up work.
//  - drain: the consumer is stopped (SIGSTOP) while the producer fills the ring, then continued
//    (SIGCONT) and drains the fill in one batch. Both sides then do the same work per record,
//    so this is the fair CPU comparison. It counts the consumer process's CPU time only.
// Native and wbpf runs alternate, so drift in machine load hits both alike; results are medians.
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchArtifacts } from './build.js';
import { median, watch } from './child.js';

export interface LiveResult {
  records: number;
  recordsPerSecond: number;
  cpuNsPerRecord: number;
  /** Polls that delivered records: how finely the consumer's speed split the stream. */
  batches: number;
}

export interface DrainResult {
  records: number;
  cpuNsPerRecord: number;
  /** Polls that delivered records, per fill: 1 when a fill was drained in one batch. */
  batchesPerFill: number;
  /** Every run's CPU ns per record, for judging the spread behind the median. */
  cpuNsPerRecordRuns: number[];
}

export interface ConsumerResult {
  live: LiveResult;
  drain: DrainResult;
}

/** Sizes in load-generator triggers (BenchArtifacts.recordsPerTrigger records each). */
export interface EventPathPlan {
  runs: number;
  warmupTriggers: number;
  liveTriggers: number;
  fillTriggers: number;
  fills: number;
}

/**
 * A fill of 800 triggers is 800k 72-byte ring entries (57.6 MB): most of the 64 MiB ring of
 * bench/bpf/ringbuf-bench.bpf.c, so nothing is dropped, and with 3 fills 2.4M records per run,
 * several milliseconds of CPU even for the native consumer.
 */
export const DEFAULT_PLAN: EventPathPlan = { runs: 5, warmupTriggers: 100, liveTriggers: 500, fillTriggers: 800, fills: 3 };

export interface EventPathResult {
  native: ConsumerResult;
  wbpf?: ConsumerResult;
  /** Why the wbpf side has no result. */
  wbpfError?: string;
}

const LINE_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

async function generate(a: BenchArtifacts, triggers: number): Promise<void> {
  const gen = await watch(a.loadgen, [String(triggers)]).done();
  if (gen.code !== 0) throw new Error(`load generator failed (exit ${gen.code}): ${gen.stderr}`);
}

function taskStopped(pid: number, tid: string): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return true; // the thread ended between listing and reading
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'T' || state === 't';
}

/**
 * Stops the process and waits until every thread is stopped: SIGSTOP only queues the stop, and
 * a thread still running when the fill begins would consume it live, in several batches.
 */
async function stop(child: ChildProcess, what: string): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || !child.kill('SIGSTOP')) throw new Error(`${what}: cannot send SIGSTOP`);
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (!readdirSync(`/proc/${pid}/task`).every((tid) => taskStopped(pid, tid))) {
    if (Date.now() > deadline) throw new Error(`${what}: pid ${pid} not stopped ${STOP_TIMEOUT_MS} ms after SIGSTOP`);
    await sleep(1);
  }
}

type Quad = [number, number, number, number];

function parseLine(stdout: string, line: RegExp, what: string): number[] {
  const m = line.exec(stdout);
  if (!m) throw new Error(`${what}: no line matching ${line} in its output:\n${stdout}`);
  return m.slice(1).map(Number);
}

async function runConsumer(
  what: string, command: string, args: string[], a: BenchArtifacts, plan: EventPathPlan,
): Promise<ConsumerResult> {
  const [warmup, live, fill] = [plan.warmupTriggers, plan.liveTriggers, plan.fillTriggers]
    .map((triggers) => triggers * a.recordsPerTrigger) as [number, number, number];
  const consumer = watch(command, [...args, String(warmup), String(live), String(fill), String(plan.fills)]);
  try {
    await consumer.line(/^ready$/, LINE_TIMEOUT_MS);
    await generate(a, plan.warmupTriggers);
    await consumer.line(/^warm$/, LINE_TIMEOUT_MS);
    await generate(a, plan.liveTriggers);
    for (let i = 1; i <= plan.fills; i++) {
      await consumer.line(new RegExp(`^fill ${i}$`), LINE_TIMEOUT_MS);
      await stop(consumer.child, what);
      await generate(a, plan.fillTriggers);
      consumer.child.kill('SIGCONT');
    }
  } catch (err) {
    consumer.child.kill('SIGKILL');
    throw err;
  }
  const { code, stdout, stderr } = await consumer.done();
  if (code !== 0) {
    const how = code === null ? `killed by ${consumer.child.signalCode ?? 'a signal'}` : `exit ${code}`;
    throw new Error(`${what} failed (${how}): ${stderr || stdout}`);
  }
  const liveLine = /^live records=(\d+) wall_ns=(\d+) cpu_ns=(\d+) batches=(\d+)$/m;
  const drainLine = /^drain records=(\d+) cpu_ns=(\d+) batches=(\d+) sum=(\d+)$/m;
  const [liveRecords, wallNs, liveCpuNs, liveBatches] = parseLine(stdout, liveLine, what) as Quad;
  const [drainRecords, drainCpuNs, drainBatches, sum] = parseLine(stdout, drainLine, what) as Quad;
  const drained = fill * plan.fills;
  if (liveRecords !== live || drainRecords !== drained) {
    throw new Error(`${what}: got ${liveRecords} of ${live} live and ${drainRecords} of ${drained} drained records`);
  }
  // Sequence numbers run on from the warm-up and live records; their sum shows every drained
  // record was read intact.
  const first = warmup + live;
  const expectedSum = drained * first + (drained * (drained - 1)) / 2;
  if (sum !== expectedSum) throw new Error(`${what}: drained records' sequence numbers sum to ${sum}, not ${expectedSum}`);
  if (liveCpuNs === 0 || drainCpuNs === 0) throw new Error(`${what}: process CPU-time clock reported 0`);
  return {
    live: { records: live, recordsPerSecond: live / (wallNs / 1e9), cpuNsPerRecord: liveCpuNs / live, batches: liveBatches },
    drain: {
      records: drained,
      cpuNsPerRecord: drainCpuNs / drained,
      batchesPerFill: drainBatches / plan.fills,
      cpuNsPerRecordRuns: [drainCpuNs / drained],
    },
  };
}

function medianOf(results: ConsumerResult[]): ConsumerResult {
  const of = (pick: (r: ConsumerResult) => number) => median(results.map(pick));
  return {
    live: {
      records: results[0]!.live.records,
      recordsPerSecond: of((r) => r.live.recordsPerSecond),
      cpuNsPerRecord: of((r) => r.live.cpuNsPerRecord),
      batches: of((r) => r.live.batches),
    },
    drain: {
      records: results[0]!.drain.records,
      cpuNsPerRecord: of((r) => r.drain.cpuNsPerRecord),
      batchesPerFill: of((r) => r.drain.batchesPerFill),
      cpuNsPerRecordRuns: results.map((r) => r.drain.cpuNsPerRecord),
    },
  };
}

/**
 * Runs the native consumer, and the wbpf guest when `cli` (dist/runtime/cli/main.js) is given,
 * `plan.runs` times each, alternating. A wbpf failure ends the wbpf runs and is returned as
 * wbpfError; a native failure throws.
 */
export async function eventPath(
  a: BenchArtifacts, cli: string | undefined, plan: EventPathPlan = DEFAULT_PLAN,
): Promise<EventPathResult> {
  const native: ConsumerResult[] = [];
  const wbpf: ConsumerResult[] = [];
  let wbpfError: string | undefined;
  for (let i = 0; i < plan.runs; i++) {
    native.push(await runConsumer('native consumer', a.ringbufConsumer, [a.ringbufObject], a, plan));
    if (cli === undefined || wbpfError !== undefined) continue;
    try {
      const args = [cli, 'run', '--timeout', '60s', a.ringbufGuest, '--'];
      wbpf.push(await runConsumer('wbpf guest consumer', process.execPath, args, a, plan));
    } catch (err) {
      wbpfError = err instanceof Error ? err.message : String(err);
    }
  }
  const result: EventPathResult = { native: medianOf(native) };
  if (wbpfError !== undefined) result.wbpfError = wbpfError;
  else if (wbpf.length > 0) result.wbpf = medianOf(wbpf);
  return result;
}
