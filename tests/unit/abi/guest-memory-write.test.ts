import { describe, expect, it } from 'vitest';
import { GuestMemory } from '../../../host-bindings/abi/guest-memory.js';

function pattern(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 37 + seed * 11) & 0xff;
  return bytes;
}

describe('GuestMemory.write', () => {
  it('copies exactly [offset, offset + length) for every alignment of source and destination', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const guest = new GuestMemory(memory);
    const source = pattern(256);
    for (const sourceOffset of [0, 1, 2, 3, 8]) {
      for (const address of [1024, 1025, 1026, 1027]) {
        for (let length = 0; length <= 70; length++) {
          const before = new Uint8Array(memory.buffer).slice(address - 4, address + length + 4);
          guest.write(address, source, sourceOffset, length);
          const after = new Uint8Array(memory.buffer);
          expect(after.slice(address, address + length)).toEqual(source.slice(sourceOffset, sourceOffset + length));
          expect(after.slice(address - 4, address)).toEqual(before.slice(0, 4));
          expect(after.slice(address + length, address + length + 4)).toEqual(before.slice(length + 4));
          new Uint8Array(memory.buffer).fill(0xaa, address - 4, address + length + 4);
        }
      }
    }
  });

  it('handles a source that is a view at an unaligned offset of its buffer, then a different source', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const guest = new GuestMemory(memory);
    const backing = pattern(300, 3);
    const shifted = new Uint8Array(backing.buffer, 1, 200);
    guest.write(64, shifted, 4, 64);
    expect(new Uint8Array(memory.buffer, 64, 64)).toEqual(backing.subarray(5, 69));
    const aligned = new Uint8Array(backing.buffer, 8, 200);
    guest.write(128, aligned, 8, 64);
    expect(new Uint8Array(memory.buffer, 128, 64)).toEqual(backing.subarray(16, 80));
  });

  it('copies NaN bit patterns unchanged', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const guest = new GuestMemory(memory);
    const source = new Uint8Array(16);
    new DataView(source.buffer).setUint32(0, 0x7ff00001, true); // signalling-NaN halves
    new DataView(source.buffer).setUint32(4, 0xfff80000, true);
    new DataView(source.buffer).setUint32(8, 0x7fa00000, true);
    guest.write(0, source, 0, 16);
    expect(new Uint8Array(memory.buffer, 0, 16)).toEqual(source);
  });

  it('writes into the new buffer after memory.grow detached the old one', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const guest = new GuestMemory(memory);
    const source = pattern(64, 5);
    guest.write(0, source, 0, 64);
    memory.grow(1);
    guest.write(65536 + 16, source, 0, 64);
    guest.write(8, source, 0, 3);
    const now = new Uint8Array(memory.buffer);
    expect(now.subarray(65536 + 16, 65536 + 80)).toEqual(source);
    expect(now.subarray(8, 11)).toEqual(source.subarray(0, 3));
  });
});
