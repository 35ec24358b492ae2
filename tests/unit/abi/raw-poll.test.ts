// The ABI's allocation-free delivery path (EventReader.pollRaw), driven in process: a TEST
// DOUBLE reader hands out records as (bytes, offset, length) of one buffer, and JS stands in
// for the guest's callback so that it can grow memory and poll again from inside a callback.
// The kernel ring buffer's pollRaw itself is tested in tests/kernel/ringbuf-raw.test.ts.

import { describe, expect, it } from 'vitest';
import type { Backend, BpfMap, EventReader, LoadedObject, RawRecordHandler } from '../../../host-bindings/backend.js';
import { WasmBpfHost } from '../../../host-bindings/abi/wasm-bpf.js';
import { BPF_MAP_TYPE } from '../../../host-bindings/uapi.js';

/** Records laid out in one buffer at unaligned and aligned offsets, delivered in order. */
class RawReader implements EventReader {
  readonly lost = 0n;
  readonly bytes = new Uint8Array(4096);
  readonly records: [offset: number, length: number][] = [];
  private next = 0;

  add(offset: number, fill: number[]): void {
    this.bytes.set(fill, offset);
    this.records.push([offset, fill.length]);
  }

  rewind(): void {
    this.next = 0;
  }

  poll(): number {
    throw new Error('the ABI must use pollRaw when a reader has it');
  }

  pollRaw(_timeoutMs: number, onRecord: RawRecordHandler): number {
    let count = 0;
    while (this.next < this.records.length) {
      const [offset, length] = this.records[this.next++]!;
      count++;
      const result = onRecord(this.bytes, offset, length);
      if (result !== 0) return result;
    }
    return count;
  }

  close(): void {}
}

function hostWith(reader: RawReader) {
  const map = { name: 'rb', type: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, valueBufferSize: 0,
    reader: () => reader } as unknown as BpfMap;
  const object = { spec: {}, programNames: () => [], mapNames: () => ['rb'], map: () => map, close() {} } as unknown as LoadedObject;
  const backend: Backend = { kind: 'vm', loadObject: () => object, close() {} };
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const host = new WasmBpfHost({ backend, log: () => {} });
  host.bind({ exports: { memory } } as unknown as WebAssembly.Instance);
  new Uint8Array(memory.buffer).set([1, 2, 3, 4], 0); // the "object"
  new Uint8Array(memory.buffer).set([...Buffer.from('rb'), 0], 16);
  const handle = host.load(0, 4);
  const fd = host.mapFdByName(handle, 16);
  return { host, memory, handle, fd };
}

const seq = (n: number, from: number) => Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe('wasm_bpf_buffer_poll over a reader with pollRaw', () => {
  it('copies each record whole or truncated to max_size, at any alignment, and returns the count', () => {
    const reader = new RawReader();
    reader.add(8, seq(64, 1));
    reader.add(77, seq(13, 100));
    reader.add(200, seq(3, 50));
    reader.add(300, seq(40, 7)); // longer than max_size: truncated
    const { host, memory, handle, fd } = hostWith(reader);
    const got: number[][] = [];
    const callback = (ctx: number, data: number, size: number) => {
      expect(ctx).toBe(99);
      got.push([...new Uint8Array(memory.buffer, data, size)]);
      return 0;
    };
    for (const data of [1024, 1027]) {
      reader.rewind();
      got.length = 0;
      expect(host.bufferPoll(handle, fd, callback, 99, data, 32, 0)).toBe(4);
      expect(got).toEqual([seq(32, 1), seq(13, 100), seq(3, 50), seq(32, 7)]);
    }
  });

  it('stops at a non-zero result; a callback may grow memory and poll again', () => {
    const reader = new RawReader();
    for (let i = 0; i < 5; i++) reader.add(i * 72, seq(64, i));
    const { host, memory, handle, fd } = hostWith(reader);
    const got: number[][] = [];
    let nested = -1;
    const callback = (_ctx: number, data: number, size: number): number => {
      got.push([...new Uint8Array(memory.buffer, data, size)]);
      if (got.length === 1) memory.grow(1); // detaches the host's cached views
      if (got.length === 2) nested = host.bufferPoll(handle, fd, (_c, d, s) => {
        got.push([...new Uint8Array(memory.buffer, d, s)]);
        return got.length === 3 ? 5 : 0;
      }, 0, 65536 + 256, 64, 0);
      return got.length === 4 ? -3 : 0;
    };
    expect(host.bufferPoll(handle, fd, callback, 0, 2048, 64, 0)).toBe(-3);
    expect(nested).toBe(5);
    expect(got).toEqual([seq(64, 0), seq(64, 1), seq(64, 2), seq(64, 3)]);
    expect(host.bufferPoll(handle, fd, callback, 0, 2048, 64, 0)).toBe(1);
    expect(got[4]).toEqual(seq(64, 4));
  });
});
