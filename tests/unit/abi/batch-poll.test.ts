// wasm_bpf_buffer_poll over a ring reader with pollEntries: records are copied into the guest's
// buffer in batches and a generated walker calls the guest's Wasm callback for each. The ring
// is a synthetic one in an ArrayBuffer (the real consumption code, no kernel); the guest is
// hand-assembled, its callbacks forwarding to a JS function that stands in for the guest's code.

import { describe, expect, it } from 'vitest';
import type { Backend, BpfMap, EventReader, LoadedObject } from '../../../host-bindings/backend.js';
import { WASM_BPF_MODULE, WasmBpfHost } from '../../../host-bindings/abi/wasm-bpf.js';
import { BPF_MAP_TYPE } from '../../../host-bindings/uapi.js';
import { bytesOf, SyntheticRing } from '../kernel/synthetic-ring.js';
import { callbackGuest, type Record, SLOT } from './callback-guest.js';

const BUFFER = 4096;

/** A host bound to a callback guest, with map fds for the given rings (named rb0, rb1, ...). */
function setup(rings: SyntheticRing[], record: Record) {
  const readers = rings.map((r) => r.reader());
  const maps = readers.map((reader, i) => ({
    name: `rb${i}`, type: BPF_MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: rings[i]!.size, valueBufferSize: 0,
    reader: (): EventReader => reader,
  }) as unknown as BpfMap);
  const object = {
    spec: {}, programNames: () => [], mapNames: () => maps.map((m) => m.name),
    map: (name: string) => maps.find((m) => m.name === name)!, close() {},
  } as unknown as LoadedObject;
  const backend: Backend = { kind: 'kernel', loadObject: () => object, close() {} };
  const host = new WasmBpfHost({ backend, log: () => {} });
  const guest = callbackGuest(record);
  const memory = guest.exports.memory as WebAssembly.Memory;
  host.bind(guest);
  const bytes = () => new Uint8Array(memory.buffer);
  bytes().set([1, 2, 3, 4], 0); // the "object"
  const handle = host.load(0, 4);
  const fds = maps.map((m) => {
    bytes().set([...Buffer.from(m.name), 0], 16);
    return host.mapFdByName(handle, 16);
  });
  // The import the guest calls, with sample_func a table slot.
  const bufferPoll = host.imports()[WASM_BPF_MODULE]!.wasm_bpf_buffer_poll as unknown as (
    handle: bigint, fd: number, sampleFunc: number, ctx: number, data: number, maxSize: number, timeoutMs: number) => number;
  const poll = (fd: number, slot: number, maxSize = 256, ctx = 0) => bufferPoll(handle, fd, slot, ctx, BUFFER, maxSize, 0);
  return { memory, fds, poll, read: (data: number, size: number) => [...new Uint8Array(memory.buffer, data, size)] };
}

describe('wasm_bpf_buffer_poll over a ring reader with pollEntries', () => {
  it('delivers every record in order, inside the buffer, in batches that fit max_size', () => {
    const ring = new SyntheticRing(4096);
    const got: number[][] = [];
    const pointers: number[] = [];
    const { fds, poll, read } = setup([ring], (ctx, data, size) => {
      expect(ctx).toBe(42);
      pointers.push(data);
      got.push(read(data, size));
      return 0;
    });
    const want = Array.from({ length: 30 }, (_, i) => bytesOf(1 + (i * 7) % 40, i));
    for (const record of want) ring.push(record);
    expect(poll(fds[0]!, SLOT.callback, 256, 42)).toBe(30);
    expect(got).toEqual(want);
    expect(pointers[0]).toBe(BUFFER + 8);
    expect(pointers.every((p) => p > BUFFER && p < BUFFER + 256)).toBe(true);
    expect(ring.consumerPos).toBe(ring.producerPos);
  });

  it('truncates a record longer than max_size at the buffer start, passing the copied length', () => {
    const ring = new SyntheticRing(4096);
    const got: [number, number[]][] = [];
    const { fds, poll, read } = setup([ring], (_ctx, data, size) => (got.push([data, read(data, size)]), 0));
    ring.push(bytesOf(10, 0));
    ring.push(bytesOf(100, 1));
    ring.push(bytesOf(10, 2));
    expect(poll(fds[0]!, SLOT.callback, 64)).toBe(3);
    expect(got).toEqual([[BUFFER + 8, bytesOf(10, 0)], [BUFFER, bytesOf(64, 1)], [BUFFER + 8, bytesOf(10, 2)]]);
  });

  it('skips discarded records, stops at a busy one, and stops at a non-zero result', () => {
    const ring = new SyntheticRing(4096);
    const got: number[][] = [];
    const { fds, poll, read } = setup([ring], (_ctx, data, size) => {
      got.push(read(data, size));
      return got.length === 2 ? 77 : 0;
    });
    ring.push(bytesOf(8, 0));
    ring.push(bytesOf(8, 1), { discard: true });
    ring.push(bytesOf(8, 2));
    ring.push(bytesOf(8, 3));
    const busy = ring.push(bytesOf(8, 4), { busy: true });
    ring.push(bytesOf(8, 5));
    expect(poll(fds[0]!, SLOT.callback)).toBe(77);
    expect(poll(fds[0]!, SLOT.callback)).toBe(1);
    expect(ring.consumerPos).toBe(busy);
    ring.commit(busy);
    expect(poll(fds[0]!, SLOT.callback)).toBe(2);
    expect(got).toEqual([0, 2, 3, 4, 5].map((i) => bytesOf(8, i)));
  });

  it('lets a callback grow memory and poll another ring (record by record) from inside a batch', () => {
    const [outer, inner] = [new SyntheticRing(4096), new SyntheticRing(4096)];
    const got: number[][] = [];
    let nested: number | undefined;
    const { memory, fds, poll, read } = setup([outer, inner], (ctx, data, size) => {
      got.push([ctx, ...read(data, size)]);
      if (ctx === 0 && got.length === 1) memory.grow(1);
      if (ctx === 0 && got.length === 2) nested = poll(fds[1]!, SLOT.callback, 256, 1);
      return 0;
    });
    for (let i = 0; i < 4; i++) outer.push(bytesOf(16, i));
    inner.push(bytesOf(4, 100));
    inner.push(bytesOf(4, 101));
    expect(poll(fds[0]!, SLOT.callback)).toBe(4);
    expect(nested).toBe(2);
    expect(got).toEqual([
      [0, ...bytesOf(16, 0)], [0, ...bytesOf(16, 1)], [1, ...bytesOf(4, 100)], [1, ...bytesOf(4, 101)],
      [0, ...bytesOf(16, 2)], [0, ...bytesOf(16, 3)],
    ]);
    expect(memory.buffer.byteLength).toBe(2 * 65536);
  });

  it('falls back to the per-record path for a callback of another type', () => {
    const ring = new SyntheticRing(4096);
    const got: number[][] = [];
    const { fds, poll } = setup([ring], (ctx, data, size) => (got.push([ctx, data, size]), 0));
    ring.push(bytesOf(8, 0));
    ring.push(bytesOf(8, 1));
    expect(poll(fds[0]!, SLOT.twoArgs, 256, 3)).toBe(2);
    // Called from JS with (ctx, data, size): the two-argument function sees the record at the buffer start.
    expect(got).toEqual([[3, BUFFER, -1], [3, BUFFER, -1]]);
  });

  it('propagates a trap in the callback, and the next poll works', () => {
    const ring = new SyntheticRing(4096);
    const got: number[] = [];
    const { fds, poll } = setup([ring], (_ctx, _data, size) => (got.push(size), 0));
    ring.push(bytesOf(8, 0));
    ring.push(bytesOf(8, 1));
    expect(() => poll(fds[0]!, SLOT.trap)).toThrow(WebAssembly.RuntimeError);
    expect(poll(fds[0]!, SLOT.callback)).toBe(2);
    expect(got).toEqual([8, 8]);
  });
});
