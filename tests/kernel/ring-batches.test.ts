// The kernel ring buffer's batch path (EventReader.pollEntries) on real rings, directly and
// through the guest ABI with a Wasm callback.

import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, RawRecordHandler, RingEntrySink } from '../../host-bindings/backend.js';
import { WASM_BPF_MODULE, WasmBpfHost } from '../../host-bindings/abi/wasm-bpf.js';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { ERRNO } from '../../host-bindings/uapi.js';
import { callbackGuest, SLOT } from '../unit/abi/callback-guest.js';
import { loadSpec, skip } from './kernel-env.js';
import { closeBogus, decode, discardObject, MAGIC, ringbufObject } from './programs.js';

/** Decodes each record of a batch (as the ABI's walker would) and answers 0 or `stopAt`'s value. */
class DecodingSink implements RingEntrySink {
  readonly headers = new Int32Array(1024);
  readonly fds: number[] = [];
  stopValue = 0;
  batches = 0;

  constructor(readonly batchBytes: number, private readonly stopAt?: [index: number, value: number]) {}

  deliver(bytes: Uint8Array, offset: number, length: number, count: number): number {
    this.batches++;
    expect(length).toBeLessThanOrEqual(this.batchBytes);
    let at = offset;
    for (let i = 0; i < count; i++) {
      const len = this.headers[i]! & 0x3fffffff;
      if ((this.headers[i]! & 0x40000000) === 0) {
        const result = this.deliverOne(bytes, at + 8, len);
        if (result !== 0) {
          this.stopValue = result;
          return i + 1;
        }
      }
      at += (len + 15) & ~7;
    }
    return 0;
  }

  readonly deliverOne: RawRecordHandler = (bytes, offset, length) => {
    expect(length).toBe(24);
    const [fd, magic, tgid] = decode(bytes.subarray(offset, offset + length));
    expect([magic, tgid]).toEqual([MAGIC, process.pid]);
    this.fds.push(fd);
    return this.stopAt && this.fds.length === this.stopAt[0] + 1 ? this.stopAt[1] : 0;
  };
}

describe.skipIf(skip)('kernel ring buffer: pollEntries', () => {
  let obj: KernelObject | undefined;
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });

  it('hands over every record in batches, including entries that wrap the ring end', () => {
    obj = loadSpec(ringbufObject(4096)); // 32-byte entries: the ring wraps every 128
    obj.attach('on_close');
    const reader = obj.map('rb').reader();
    const sink = new DecodingSink(100); // 3 entries a batch
    for (let round = 0; round < 10; round++) {
      closeBogus(round * 100, round * 100 + 100);
      expect(reader.pollEntries!(0, sink)).toBe(100);
    }
    expect(sink.fds).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(sink.batches).toBe(10 * 34);
  });

  it('skips discarded records, stops at a non-zero result and shares the consumer position with pollRaw', () => {
    obj = loadSpec(discardObject());
    obj.attach('on_close');
    closeBogus(0, 10);
    const reader = obj.map('rb').reader();
    const sink = new DecodingSink(4096, [1, -7]);
    expect(reader.pollEntries!(100, sink)).toBe(-7);
    const rest: number[] = [];
    expect(reader.pollRaw!(0, (b, o, l) => (rest.push(decode(b.subarray(o, o + l))[0]), 0))).toBe(3);
    expect([...sink.fds, ...rest]).toEqual([0, 2, 4, 6, 8]);
  });

  it('delivers to a Wasm guest callback through wasm_bpf_buffer_poll; polling the same ring inside it is EBUSY', () => {
    obj = loadSpec(ringbufObject(64 * 1024));
    obj.attach('on_close');
    const loaded = obj;
    const backend: Backend = { kind: 'kernel', loadObject: () => loaded, close() {} };
    const host = new WasmBpfHost({ backend, log: () => {} });
    const got: number[] = [];
    let nested: number | undefined;
    const guest = callbackGuest((_ctx, data, size) => {
      got.push(decode(new Uint8Array(memory.buffer, data, size))[0]);
      if (got.length === 1) nested = poll(handle, fd, SLOT.callback, 0, 8192, 512, 0);
      return 0;
    });
    const memory = guest.exports.memory as WebAssembly.Memory;
    host.bind(guest);
    new Uint8Array(memory.buffer).set([1, 2, 3, 4, ...Buffer.from('rb'), 0], 0);
    const handle = host.load(0, 4);
    const fd = host.mapFdByName(handle, 4);
    const poll = host.imports()[WASM_BPF_MODULE]!.wasm_bpf_buffer_poll as unknown as (
      handle: bigint, fd: number, sampleFunc: number, ctx: number, data: number, maxSize: number, timeoutMs: number) => number;
    closeBogus(0, 500);
    let total = 0;
    while (total < 500) {
      const n = poll(handle, fd, SLOT.callback, 0, 1024, 512, 1000);
      expect(n).toBeGreaterThan(0);
      total += n;
    }
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(nested).toBe(-ERRNO.EBUSY);
    host.close();
  });
});
