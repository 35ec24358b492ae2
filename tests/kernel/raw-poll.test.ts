import { afterEach, describe, expect, it } from 'vitest';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { loadSpec, skip } from './kernel-env.js';
import { closeBogus, decode, discardObject, MAGIC, perfObject, ringbufObject } from './programs.js';

// The allocation-free delivery path (EventReader.pollRaw) that the guest ABI uses.
describe.skipIf(skip)('kernel readers: pollRaw', () => {
  let obj: KernelObject | undefined;
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });

  it('delivers every record as (bytes, offset, length) of one view, including records that wrap', () => {
    obj = loadSpec(ringbufObject(4096)); // 32-byte records: the ring wraps every 128
    obj.attach('on_close');
    const reader = obj.map('rb').reader();
    const views = new Set<Uint8Array>();
    const got: number[] = [];
    for (let round = 0; round < 10; round++) {
      closeBogus(round * 100, round * 100 + 100);
      const n = reader.pollRaw!(0, (bytes, offset, length) => {
        views.add(bytes);
        expect(length).toBe(24);
        expect(offset % 8).toBe(0);
        const [fd, magic, tgid] = decode(bytes.subarray(offset, offset + length));
        expect([magic, tgid]).toEqual([MAGIC, process.pid]);
        got.push(fd);
        return 0;
      });
      expect(n).toBe(100);
    }
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(views.size).toBe(1);
  });

  it('skips discarded records and stops at a non-zero result, resuming after that record', () => {
    obj = loadSpec(discardObject());
    obj.attach('on_close');
    closeBogus(0, 10);
    const reader = obj.map('rb').reader();
    const seen: number[] = [];
    const stopAt2 = (bytes: Uint8Array, offset: number, length: number) => {
      seen.push(decode(bytes.subarray(offset, offset + length))[0]);
      return seen.length === 2 ? -7 : 0;
    };
    expect(reader.pollRaw!(100, stopAt2)).toBe(-7);
    expect(reader.pollRaw!(100, stopAt2)).toBe(3);
    expect(seen).toEqual([0, 2, 4, 6, 8]);
    expect(reader.pollRaw!(0, stopAt2)).toBe(0);
  });

  it('poll and pollRaw share one consumer position', () => {
    obj = loadSpec(ringbufObject(64 * 1024));
    obj.attach('on_close');
    closeBogus(0, 6);
    const reader = obj.map('rb').reader();
    const got: number[] = [];
    expect(reader.poll(0, (r) => (got.push(decode(r)[0]), got.length === 3 ? 1 : 0))).toBe(1);
    expect(reader.pollRaw!(0, (b, o, l) => (got.push(decode(b.subarray(o, o + l))[0]), 0))).toBe(3);
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('perf buffer: delivers every record, including those reassembled after wrapping the ring end', () => {
    obj = loadSpec(perfObject());
    obj.attach('on_close');
    const reader = obj.map('events').reader();
    const got: number[] = [];
    // As in events.test.ts: 40-byte records in 256 KiB rings, so some straddle the ring end.
    for (let round = 0; round < 20; round++) {
      closeBogus(round * 1000, round * 1000 + 1000);
      reader.pollRaw!(0, (bytes, offset, length) => {
        expect(length).toBe(28);
        const [fd, magic, tgid] = decode(bytes.subarray(offset, offset + length));
        if (magic !== MAGIC || tgid !== process.pid) throw new Error(`bad record ${fd} ${magic} ${tgid}`);
        got.push(fd);
        return 0;
      });
    }
    expect(reader.lost).toBe(0n);
    expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: 20000 }, (_, i) => i));
  });
});
