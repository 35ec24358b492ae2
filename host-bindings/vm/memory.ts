// The VM's address space: one WebAssembly memory shared by the interpreter, the JIT-compiled
// modules and the maps. eBPF addresses are offsets into its first `size` bytes; the second half
// is a shadow with one tag byte per data byte saying whether that byte may be read or written.
// Regions (stack, maps' values, context, packet, ring-buffer records) are separated by untagged
// guards of at least 8 bytes, so checking the first and last byte of an access (at most 8 bytes)
// proves it lies inside one region. Addresses below NULL_GUARD are never mapped.

import { ERRNO } from '../uapi.js';
import { ErrnoError, WbpfError } from '../errors.js';

export const TAG_READ = 1;
export const TAG_WRITE = 2;
export const TAG_RW = TAG_READ | TAG_WRITE;

/** Never mapped: a NULL or small-integer pointer faults. Holds the VM's private scratch words. */
export const NULL_GUARD = 0x10000;
/** Register file r0..r10 (8 bytes each): how helpers get their arguments from either engine. */
export const REGS_ADDR = 0x1000;
const GUARD = 16;
export const STACK_FRAME = 512;
export const MAX_FRAMES = 8;

/** Whether every byte of [address, address + size) is tagged readable. */
function readable(shadow: Uint8Array, address: bigint, size: number): boolean {
  if (address < 0n || address + BigInt(size) > BigInt(shadow.length)) return false;
  const a = Number(address);
  for (let i = 0; i < size; i++) if ((shadow[a + i]! & TAG_READ) === 0) return false;
  return true;
}

export class MemoryFault extends WbpfError {
  constructor(
    readonly pc: number,
    readonly address: bigint,
    readonly size: number,
    readonly write: boolean,
    /** A store to memory the program may read but not write (a read-only context field, say). */
    readonly readOnly = false,
  ) {
    super(
      readOnly
        ? `store of ${size} byte(s) to read-only memory at address 0x${address.toString(16)} (pc ${pc})`
        : `out-of-bounds ${write ? 'store' : 'load'} of ${size} byte(s) at address 0x${address.toString(16)} (pc ${pc})`,
    );
  }

  /** The fault of an access that failed its tag check (`shadow`: the memory's tags), telling a store to read-only memory apart. */
  static of(shadow: Uint8Array, pc: number, address: bigint, size: number, write: boolean): MemoryFault {
    return new MemoryFault(pc, address, size, write, write && readable(shadow, address, size));
  }
}

/** The VM's addressable memory unless asked for another size (maps, stacks, packets, rings). */
const DEFAULT_VM_MEMORY = 32 << 20;

/** Why `size` cannot be a VM's memory size, or undefined when it can. */
export function vmMemorySizeError(size: number): string | undefined {
  if (Number.isInteger(Math.log2(size)) && size >= 1 << 20 && size <= 1 << 30) return undefined;
  return `VM memory size ${size} must be a power of two between 1 MiB and 1 GiB`;
}

export class VmMemory {
  readonly size: number;
  readonly wasm: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly view: DataView;
  readonly i32: Int32Array;
  readonly shadow: Uint8Array;
  /** r10 of the entry frame; frame k uses [stackTop - 512 (k+1), stackTop - 512 k). */
  readonly stackTop: number;
  readonly stackBase: number;
  private next = NULL_GUARD;
  private readonly freeBySize = new Map<number, number[]>();

  /** @param size addressable bytes, a power of two between 1 MiB and 1 GiB. */
  constructor(size = DEFAULT_VM_MEMORY) {
    const wrong = vmMemorySizeError(size);
    if (wrong) throw new WbpfError(wrong);
    this.size = size;
    const pages = (2 * size) / 65536;
    this.wasm = new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.u8 = new Uint8Array(this.wasm.buffer, 0, size);
    this.view = new DataView(this.wasm.buffer);
    this.i32 = new Int32Array(this.wasm.buffer);
    this.shadow = new Uint8Array(this.wasm.buffer, size, size);
    this.stackBase = this.alloc(STACK_FRAME * MAX_FRAMES, TAG_RW);
    this.stackTop = this.stackBase + STACK_FRAME * MAX_FRAMES;
  }

  /** Reserve `length` bytes (8-aligned, zeroed) tagged `tag`. Throws ENOMEM naming `what`. */
  alloc(length: number, tag: number, what = 'VM memory'): number {
    const len = Math.max(8, (length + 7) & ~7);
    const reuse = this.freeBySize.get(len)?.pop();
    let addr: number;
    if (reuse !== undefined) {
      addr = reuse;
      this.u8.fill(0, addr, addr + len);
    } else {
      addr = this.next;
      if (addr + len + GUARD > this.size) {
        throw new ErrnoError(
          `${what}: out of VM memory (${length} bytes wanted, ${this.size - addr} left of ${this.size >> 20} MiB; `
            + 'a VM with more: memoryBytes, or --vm-memory on the command line)',
          ERRNO.ENOMEM,
        );
      }
      this.next = addr + len + GUARD;
    }
    this.tag(addr, len, tag);
    if (length < len) this.tag(addr + length, len - length, 0);
    return addr;
  }

  free(addr: number, length: number): void {
    const len = Math.max(8, (length + 7) & ~7);
    this.tag(addr, len, 0);
    let list = this.freeBySize.get(len);
    if (!list) this.freeBySize.set(len, (list = []));
    list.push(addr);
  }

  tag(addr: number, length: number, tag: number): void {
    this.shadow.fill(tag, addr, addr + length);
  }

  /** Whether [addr, addr+length) lies in mapped memory with all of `need` (TAG_READ / TAG_WRITE). */
  accessible(addr: number, length: number, need: number): boolean {
    if (!(addr >= 0 && length >= 0 && addr + length <= this.size)) return false;
    if (length === 0) return true;
    const s = this.shadow;
    // Guards are wider than 8 bytes, so sampling every 8th byte plus the last one cannot skip one.
    for (let a = addr; a < addr + length; a += 8) if ((s[a]! & need) !== need) return false;
    return (s[addr + length - 1]! & need) === need;
  }

  readReg(r: number): bigint {
    const i = (REGS_ADDR >> 2) + 2 * r;
    return (BigInt(this.i32[i + 1]!) << 32n) | BigInt(this.i32[i]! >>> 0);
  }

  regLo(r: number): number {
    return this.i32[(REGS_ADDR >> 2) + 2 * r]!;
  }

  regHi(r: number): number {
    return this.i32[(REGS_ADDR >> 2) + 2 * r + 1]!;
  }

  setReg(r: number, lo: number, hi: number): void {
    const i = (REGS_ADDR >> 2) + 2 * r;
    this.i32[i] = lo;
    this.i32[i + 1] = hi;
  }
}
