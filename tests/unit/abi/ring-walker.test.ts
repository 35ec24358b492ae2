// The generated Wasm module that calls a guest's poll callback for each entry of a batch.

import { describe, expect, it } from 'vitest';
import { ringWalker, ringWalkerBytes, type GuestCallback } from '../../../host-bindings/abi/ring-walker.js';
import { BPF_RINGBUF } from '../../../host-bindings/uapi.js';
import { callbackGuest, SLOT } from './callback-guest.js';

function slot(instance: WebAssembly.Instance, index: number): GuestCallback {
  return (instance.exports.__indirect_function_table as WebAssembly.Table).get(index) as GuestCallback;
}

describe('ring walker', () => {
  it('is a valid module', () => {
    expect(WebAssembly.validate(ringWalkerBytes())).toBe(true);
  });

  it('calls a Wasm callback for each entry but discarded ones, with the record address and length', () => {
    const calls: number[][] = [];
    const guest = callbackGuest((ctx, data, size) => (calls.push([ctx, data, size]), 0));
    const walker = ringWalker(slot(guest, SLOT.callback))!;
    expect(walker).not.toBeNull();
    // Entries of 13, 0 (discarded), 0 and 64 bytes: 24, 8, 8 and 72 bytes with their headers.
    walker.headers.set([13, 0 | BPF_RINGBUF.DISCARD_BIT, 0, 64]);
    expect(walker.walk(7, 1000, 4)).toBe(0);
    expect(calls).toEqual([[7, 1008, 13], [7, 1040, 0], [7, 1048, 64]]);
    calls.length = 0;
    expect(walker.walk(7, 1000, 0)).toBe(0);
    expect(calls).toEqual([]);
  });

  it('stops at the first non-zero result and reports which entry returned it', () => {
    const results = [0, 0, -4, 0];
    let n = 0;
    const walker = ringWalker(slot(callbackGuest(() => results[n++]!), SLOT.callback))!;
    walker.headers.set([8, 8, 8, 8]);
    expect(walker.walk(0, 0, 4)).toBe(3);
    expect(walker.stop.value).toBe(-4);
    expect(n).toBe(3);
  });

  it('is made once per callback, also for a JS function, which can take any type', () => {
    const guest = callbackGuest(() => 0);
    expect(ringWalker(slot(guest, SLOT.callback))).toBe(ringWalker(slot(guest, SLOT.callback)));
    const js = (_ctx: number, _data: number, size: number) => size;
    const walker = ringWalker(js)!;
    walker.headers.set([5]);
    expect(walker.walk(0, 0, 1)).toBe(1);
    expect(walker.stop.value).toBe(5);
  });

  it('refuses a callback of another type, so the caller can keep the per-record path', () => {
    expect(ringWalker(slot(callbackGuest(() => 0), SLOT.twoArgs))).toBeNull();
  });

  it('lets a trap in the callback propagate', () => {
    const walker = ringWalker(slot(callbackGuest(() => 0), SLOT.trap))!;
    walker.headers.set([8]);
    expect(() => walker.walk(0, 0, 1)).toThrow(WebAssembly.RuntimeError);
  });
});
