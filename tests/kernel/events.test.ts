import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrnoError } from '../../host-bindings/errors.js';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { loadSpec, skip } from './kernel-env.js';
import { closeBogus, decode, discardObject, FD_BASE, MAGIC, perfObject, ringbufObject } from './programs.js';

describe.skipIf(skip)('kernel event readers', () => {
  let obj: KernelObject | undefined;
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });

  function collect(o: KernelObject, map: string, timeoutMs = 100): [number, number, number][] {
    const out: [number, number, number][] = [];
    const reader = o.map(map).reader();
    for (let empty = 0; empty < 2; ) {
      const n = reader.poll(timeoutMs, (r) => {
        out.push(decode(r));
        return 0;
      });
      if (n === 0) empty++;
    }
    return out;
  }

  it('ring buffer delivers every record of a tracepoint program, with its contents', () => {
    obj = loadSpec(ringbufObject(64 * 1024));
    const a = obj.attach('on_close');
    expect(a.description).toBe('tracepoint syscalls/sys_enter_close');
    closeBogus(0, 20);
    const got = collect(obj, 'rb');
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => [i, MAGIC, process.pid]));
    expect(obj.map('rb').reader().lost).toBe(0n);
  });

  it('ring buffer: records that wrap around the ring end arrive intact and in order', () => {
    obj = loadSpec(ringbufObject(4096)); // 32-byte records: the ring wraps every 128
    obj.attach('on_close');
    const reader = obj.map('rb').reader();
    const got: number[] = [];
    for (let round = 0; round < 10; round++) {
      closeBogus(round * 100, round * 100 + 100);
      reader.poll(0, (r) => {
        const [fd, magic, tgid] = decode(r);
        expect([magic, tgid]).toEqual([MAGIC, process.pid]);
        got.push(fd);
        return 0;
      });
    }
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('ring buffer: discarded records are skipped', () => {
    obj = loadSpec(discardObject());
    obj.attach('on_close');
    closeBogus(0, 10);
    expect(collect(obj, 'rb').map((r) => r[0])).toEqual([0, 2, 4, 6, 8]);
  });

  it('a non-zero handler result stops the poll and is returned; the rest comes next time', () => {
    obj = loadSpec(ringbufObject(64 * 1024));
    obj.attach('on_close');
    closeBogus(0, 5);
    const reader = obj.map('rb').reader();
    const seen: number[] = [];
    const stopAt2 = (r: Uint8Array) => {
      seen.push(decode(r)[0]);
      return seen.length === 2 ? 42 : 0;
    };
    expect(reader.poll(100, stopAt2)).toBe(42);
    expect(reader.poll(100, stopAt2)).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('perf buffer delivers records from every CPU ring, with their contents', () => {
    obj = loadSpec(perfObject());
    obj.attach('on_close');
    // The per-CPU events exist once the reader does; before that the program's output has nowhere to go.
    obj.map('events').reader();
    closeBogus(0, 20);
    const got = collect(obj, 'events');
    expect(got.sort((x, y) => x[0] - y[0])).toEqual(Array.from({ length: 20 }, (_, i) => [i, MAGIC, process.pid]));
    expect(obj.map('events').reader().lost).toBe(0n);
  });

  it('perf buffer: records wrapping the ring end are reassembled', () => {
    obj = loadSpec(perfObject());
    obj.attach('on_close');
    const reader = obj.map('events').reader();
    const got: number[] = [];
    // 40-byte records and 256 KiB rings: 20000 records overrun at least one ring, and 40 does
    // not divide the ring size, so some records straddle its end.
    for (let round = 0; round < 20; round++) {
      closeBogus(round * 1000, round * 1000 + 1000);
      reader.poll(0, (r) => {
        expect(r.byteLength).toBe(28); // 24 bytes padded so that 4 + size is 8-aligned
        const [fd, magic, tgid] = decode(r);
        if (magic !== MAGIC || tgid !== process.pid) throw new Error(`bad record ${fd} ${magic} ${tgid}`);
        got.push(fd);
        return 0;
      });
    }
    expect(reader.lost).toBe(0n);
    expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: 20000 }, (_, i) => i));
  });

  it('perf buffer: samples dropped on a full ring are counted in lost', async () => {
    // A child pinned to CPU 0 makes all samples land in one 256 KiB ring (6553 records of 40 bytes).
    const script = `
      const fs = require('node:fs');
      require('node:readline').createInterface({ input: process.stdin }).on('line', (n) => {
        for (let i = 0; i < Number(n); i++) try { fs.closeSync(${FD_BASE} + i); } catch {}
        process.stdout.write('done\\n');
      }).on('close', () => process.exit(0));
      process.stdout.write('ready\\n');`;
    const child: ChildProcessWithoutNullStreams = spawn('taskset', ['-c', '0', process.execPath, '-e', script]);
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => (await lines.next()).value as string;
    try {
      expect(await next()).toBe('ready');
      obj = loadSpec(perfObject(child.pid));
      const reader = obj.map('events').reader();
      obj.attach('on_close');
      let delivered = 0;
      const drain = () => {
        while (reader.poll(0, () => (delivered++, 0)) > 0);
      };
      child.stdin.write('10000\n');
      expect(await next()).toBe('done');
      drain();
      expect(reader.lost).toBe(0n); // the kernel reports the loss with the next sample that fits
      child.stdin.write('10\n');
      expect(await next()).toBe('done');
      drain();
      expect(reader.lost).toBeGreaterThan(0n);
      expect(delivered + Number(reader.lost)).toBe(10010);
    } finally {
      child.stdin.end();
      child.kill();
    }
  });

  it('a poll with a timeout and nothing to read returns 0 after about that long', () => {
    obj = loadSpec(ringbufObject(4096));
    const t0 = Date.now();
    expect(obj.map('rb').reader().poll(120, () => 0)).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(100);
    expect(took).toBeLessThan(1000);
  });

  it('shouldStop makes a blocking poll throw EINTR within about 100 ms', () => {
    let stopAt = Infinity;
    obj = loadSpec(perfObject(), { shouldStop: () => Date.now() >= stopAt });
    for (const map of ['events']) {
      const reader = obj.map(map).reader();
      const t0 = Date.now();
      stopAt = t0 + 100;
      let err: unknown;
      try {
        reader.poll(-1, () => 0);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ErrnoError);
      expect((err as ErrnoError).errno).toBe(ERRNO.EINTR);
      expect(Date.now() - t0).toBeLessThan(300);
    }
    const o2 = loadSpec(ringbufObject(4096), { shouldStop: () => Date.now() >= stopAt });
    try {
      stopAt = Date.now() + 100;
      const t0 = Date.now();
      expect(() => o2.map('rb').reader().poll(-1, () => 0)).toThrow(/ring buffer "rb": poll stopped/);
      expect(Date.now() - t0).toBeLessThan(300);
    } finally {
      o2.close();
    }
  });
});
