// Ring-buffer consumption (ring-consume.ts) on a synthetic ring: libbpf's semantics record by
// record and in batches. The kernel's own ring is used in tests/kernel/ring-batches.test.ts.

import { describe, expect, it } from 'vitest';
import type { RawRecordHandler, RingEntrySink } from '../../../host-bindings/backend.js';
import { consumeBatches, consumeRecords } from '../../../host-bindings/kernel/ring-consume.js';
import { BPF_RINGBUF } from '../../../host-bindings/uapi.js';
import { bytesOf, SyntheticRing } from './synthetic-ring.js';

const LEN_MASK = 0x3fffffff;

/** A sink that records what it is given and answers from `results` (record index → value). */
class RecordingSink implements RingEntrySink {
  readonly headers = new Int32Array(64);
  readonly records: number[][] = [];
  readonly batches: { length: number; count: number }[] = [];
  readonly oversize: number[] = [];
  stopValue = 0;

  constructor(readonly batchBytes: number, private readonly results: Map<number, number> = new Map()) {}

  deliver(bytes: Uint8Array, offset: number, length: number, count: number): number {
    this.batches.push({ length, count });
    let at = offset;
    for (let i = 0; i < count; i++) {
      const header = this.headers[i]!;
      // The header words given must be those of the bytes handed over.
      expect(new Int32Array(bytes.slice(at, at + 4).buffer)[0]).toBe(header);
      const len = header & LEN_MASK;
      if ((header & BPF_RINGBUF.DISCARD_BIT) === 0) {
        const result = this.answer([...bytes.subarray(at + 8, at + 8 + len)]);
        if (result !== 0) {
          this.stopValue = result;
          return i + 1;
        }
      }
      at += (len + 15) & ~7;
    }
    expect(at - offset).toBe(length);
    return 0;
  }

  readonly deliverOne: RawRecordHandler = (bytes, offset, length) => {
    this.oversize.push(length);
    return this.answer([...bytes.subarray(offset, offset + length)]);
  };

  private answer(record: number[]): number {
    this.records.push(record);
    return this.results.get(this.records.length - 1) ?? 0;
  }
}

describe('consumeBatches', () => {
  it('hands over every committed entry in order, in batches that fit, across the ring end and 4 GiB', () => {
    // 1 KiB ring starting 200 bytes before 2^32: the positions' high half changes mid-test.
    const ring = new SyntheticRing(1024, 0x1_0000_0000 - 200);
    const sink = new RecordingSink(100); // 40-byte entries (32-byte records): 2 per batch
    const want: number[][] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20; i++) {
        ring.push(bytesOf(32, round * 20 + i));
        want.push(bytesOf(32, round * 20 + i));
      }
      expect(consumeBatches(ring.view, sink)).toBe(20);
      expect(ring.consumerPos).toBe(ring.producerPos);
    }
    expect(sink.records).toEqual(want);
    expect(ring.consumerPos).toBeGreaterThan(0x1_0000_0000);
    expect(sink.batches.every((b) => b.length <= 100 && b.count === 2)).toBe(true);
    expect(consumeBatches(ring.view, sink)).toBe(0);
  });

  it('skips discarded entries without counting them and stops at a busy one until it commits', () => {
    const ring = new SyntheticRing(4096);
    const sink = new RecordingSink(4096);
    ring.push(bytesOf(8, 0));
    ring.push(bytesOf(8, 1), { discard: true });
    const busy = ring.push(bytesOf(8, 2), { busy: true });
    ring.push(bytesOf(8, 3));
    expect(consumeBatches(ring.view, sink)).toBe(1);
    expect(sink.records).toEqual([bytesOf(8, 0)]);
    expect(consumeBatches(ring.view, sink)).toBe(0);
    expect(ring.consumerPos).toBe(busy);
    ring.commit(busy);
    expect(consumeBatches(ring.view, sink)).toBe(2);
    expect(sink.records).toEqual([bytesOf(8, 0), bytesOf(8, 2), bytesOf(8, 3)]);
    expect(ring.consumerPos).toBe(ring.producerPos);
  });

  it('stops at a non-zero result with that record consumed, and resumes after it', () => {
    const ring = new SyntheticRing(4096);
    const sink = new RecordingSink(4096, new Map([[2, -9]]));
    const positions = Array.from({ length: 6 }, (_, i) => ring.push(bytesOf(16, i), { discard: i === 1 }));
    expect(consumeBatches(ring.view, sink)).toBe(-9);
    expect(ring.consumerPos).toBe(positions[4]); // entries 0-3 consumed: 0, (1 discarded), 2, 3
    expect(consumeBatches(ring.view, sink)).toBe(2);
    expect(sink.records).toEqual([0, 2, 3, 4, 5].map((i) => bytesOf(16, i)));
  });

  it('delivers an entry longer than a batch on its own, whole, for the sink to truncate', () => {
    const ring = new SyntheticRing(4096);
    const sink = new RecordingSink(64);
    ring.push(bytesOf(16, 0));
    ring.push(bytesOf(200, 1));
    ring.push(bytesOf(16, 2));
    ring.push(bytesOf(56, 3)); // 64 bytes with its header: exactly one batch
    expect(consumeBatches(ring.view, sink)).toBe(4);
    expect(sink.oversize).toEqual([200]);
    expect(sink.records).toEqual([bytesOf(16, 0), bytesOf(200, 1), bytesOf(16, 2), bytesOf(56, 3)]);
    expect(ring.consumerPos).toBe(ring.producerPos);
  });

  it('bounds a batch by the sink\'s header array as well as by its bytes', () => {
    const ring = new SyntheticRing(4096);
    const sink = new RecordingSink(4096);
    for (let i = 0; i < 100; i++) ring.push([i]);
    expect(consumeBatches(ring.view, sink)).toBe(100);
    expect(sink.batches.map((b) => b.count)).toEqual([64, 36]);
  });
});

describe('consumeRecords', () => {
  it('delivers record by record with the same semantics: discards skipped, busy stops, non-zero stops after its record', () => {
    const ring = new SyntheticRing(256);
    const got: number[][] = [];
    const handler: RawRecordHandler = (bytes, offset, length) => {
      got.push([...bytes.subarray(offset, offset + length)]);
      return got.length === 2 ? 5 : 0;
    };
    ring.push(bytesOf(24, 0));
    ring.push(bytesOf(24, 1), { discard: true });
    ring.push(bytesOf(24, 2));
    const busy = ring.push(bytesOf(24, 3), { busy: true });
    ring.push(bytesOf(24, 4));
    expect(consumeRecords(ring.view, handler)).toBe(5);
    expect(consumeRecords(ring.view, handler)).toBe(0);
    expect(ring.consumerPos).toBe(busy);
    ring.commit(busy);
    expect(consumeRecords(ring.view, handler)).toBe(2);
    expect(got).toEqual([0, 2, 3, 4].map((i) => bytesOf(24, i)));
    // The ring wraps: 32-byte entries in 256 bytes.
    for (let i = 0; i < 20; i++) {
      ring.push(bytesOf(24, 10 + i));
      expect(consumeRecords(ring.view, handler)).toBe(1);
    }
    expect(got.slice(4)).toEqual(Array.from({ length: 20 }, (_, i) => bytesOf(24, 10 + i)));
  });
});
