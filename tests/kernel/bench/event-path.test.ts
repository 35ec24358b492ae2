// The event-path benchmark's protocol on the real kernel, at a small size: both consumers get
// every record, and the drain delivers each fill in one batch (the consumer really was stopped
// while the ring filled, and the native one survived the EINTR that SIGCONT causes). No speed
// is asserted.
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildArtifacts, buildBlocker, type BenchArtifacts } from '../../../bench/build.js';
import { eventPath, type ConsumerResult, type EventPathPlan } from '../../../bench/event-path.js';

const root = resolve(import.meta.dirname, '../../..');
const cli = join(root, 'dist/runtime/cli/main.js');
const skipReason =
  process.getuid?.() !== 0
    ? 'needs root (loads eBPF programs into the kernel)'
    : !existsSync('/sys/kernel/tracing/events')
      ? 'tracefs is not mounted at /sys/kernel/tracing (the producer attaches to a tracepoint)'
      : buildBlocker();
if (skipReason) console.warn(`skipping the event-path benchmark protocol: ${skipReason}`);
const cliMissing = existsSync(cli) ? '' : 'runtime not built: run `npm run build` (dist/runtime/cli/main.js is missing)';
if (!skipReason && cliMissing) console.warn(`skipping the wbpf side of the event-path benchmark protocol: ${cliMissing}`);

const plan: EventPathPlan = { runs: 1, warmupTriggers: 5, liveTriggers: 20, fillTriggers: 50, fills: 2 };

function expectComplete(r: ConsumerResult, recordsPerTrigger: number): void {
  expect(r.live.records).toBe(plan.liveTriggers * recordsPerTrigger);
  expect(r.drain.records).toBe(plan.fillTriggers * plan.fills * recordsPerTrigger);
  expect(r.drain.batchesPerFill).toBe(1);
  expect(r.drain.cpuNsPerRecord).toBeGreaterThan(0);
  expect(r.live.cpuNsPerRecord).toBeGreaterThan(0);
}

describe.skipIf(skipReason !== '')('event-path benchmark', () => {
  let a: BenchArtifacts;
  beforeAll(() => {
    a = buildArtifacts(root);
  });
  afterAll(() => {
    if (a) rmSync(a.dir, { recursive: true, force: true });
  });

  it('native consumer: every record, each fill drained in one batch', async () => {
    const r = await eventPath(a, undefined, plan);
    expectComplete(r.native, a.recordsPerTrigger);
    expect(r.wbpf).toBeUndefined();
  });

  // This run used to die by SIGSEGV in V8 about one time in six: see runtime/v8-crash-workaround.ts.
  it.skipIf(cliMissing !== '')('wbpf guest consumer: every record, each fill drained in one batch', async () => {
    const r = await eventPath(a, cli, plan);
    expect(r.wbpfError).toBeUndefined();
    expectComplete(r.native, a.recordsPerTrigger);
    expectComplete(r.wbpf!, a.recordsPerTrigger);
  });
});
