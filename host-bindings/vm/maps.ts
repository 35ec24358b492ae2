// Maps in the VM's memory. Values live in VM memory (so programs get real pointers from a
// lookup); keys are indexed from JavaScript. One class per family, kernel semantics for flags
// and errors: update flags BPF_ANY/NOEXIST/EXIST, -E2BIG when a hash map is full, -ENOENT for
// absent keys, -EINVAL for deleting array elements. Ring buffer and perf event array are in
// ring-buffers.ts. Errors from the user-side methods are ErrnoErrors naming the map.

import { BPF_F_STACK, BPF_MAP_FLAG, BPF_MAP_TYPE, BPF_STACK_BUILD_ID, BPF_UPDATE, ERRNO, PERF_MAX_STACK_DEPTH, nameOf } from '../uapi.js';
import { ErrnoError } from '../errors.js';
import type { MapSpec } from '../object/spec.js';
import { jhash2 } from './jhash.js';
import { TAG_READ, TAG_RW, type VmMemory } from './memory.js';

/** A map pointer in a program (what lddw with src 1 loads): tag in the high half, id in the low. */
export const MAP_REF_HI = 0xfd;

/** The part of the object layer's MapSpec a VM map is made from. */
export type VmMapSpec = Pick<MapSpec, 'name' | 'type' | 'keySize' | 'valueSize' | 'maxEntries' | 'flags'>;

const PERCPU = new Set<number>([BPF_MAP_TYPE.PERCPU_ARRAY, BPF_MAP_TYPE.PERCPU_HASH, BPF_MAP_TYPE.LRU_PERCPU_HASH]);

export abstract class VmMap {
  /** Bytes of one user-visible value: valueSize, or round_up(valueSize, 8) × CPUs for per-CPU maps. */
  readonly valueBufferSize: number;
  /** Stride between per-CPU copies of one value in VM memory. */
  readonly slotSize: number;

  constructor(
    readonly id: number,
    readonly spec: VmMapSpec,
    protected readonly mem: VmMemory,
    readonly cpus: number,
  ) {
    const round = (spec.valueSize + 7) & ~7;
    this.slotSize = PERCPU.has(spec.type) ? round * cpus : round;
    this.valueBufferSize = PERCPU.has(spec.type) ? round * cpus : spec.valueSize;
  }

  protected err(op: string, errno: number, why: string): ErrnoError {
    return new ErrnoError(`map "${this.spec.name}": ${op}: ${why}`, errno);
  }

  /** Address of the value (CPU 0's copy) for the key at `keyAddr`, or 0. */
  abstract lookupAddr(key: Uint8Array): number;
  /** 0 or a negative errno. `value` holds valueSize bytes (valueBufferSize from userspace). */
  abstract updateElem(key: Uint8Array, value: Uint8Array, flags: number, fromUser: boolean): number;
  abstract deleteElem(key: Uint8Array): number;
  /** Next key after `key` (null = first), or undefined at the end. */
  abstract nextKeyOf(key: Uint8Array | null): Uint8Array | undefined;
  close(): void {}

  /** The map reference a program holds for this map. */
  get ref(): { lo: number; hi: number } {
    return { lo: this.id, hi: MAP_REF_HI };
  }

  protected copyIn(addr: number, value: Uint8Array, fromUser: boolean): void {
    const u8 = this.mem.u8;
    // Userspace writes every CPU's copy of a per-CPU value; a program writes its own CPU's (0).
    if (PERCPU.has(this.spec.type) && fromUser) u8.set(value.subarray(0, this.slotSize), addr);
    else u8.set(value.subarray(0, this.spec.valueSize), addr);
  }
}

export class ArrayMap extends VmMap {
  readonly base: number;

  constructor(id: number, spec: VmMapSpec, mem: VmMemory, cpus: number, readOnlyForProgram = false) {
    super(id, spec, mem, cpus);
    const tag = readOnlyForProgram || spec.flags & BPF_MAP_FLAG.RDONLY_PROG ? TAG_READ : TAG_RW;
    this.base = mem.alloc(this.slotSize * spec.maxEntries, tag, `map "${spec.name}"`);
    if (this.slotSize !== spec.valueSize && !PERCPU.has(spec.type)) {
      for (let i = 0; i < spec.maxEntries; i++) {
        mem.tag(this.base + i * this.slotSize + spec.valueSize, this.slotSize - spec.valueSize, 0);
      }
    }
  }

  private index(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }

  lookupAddr(key: Uint8Array): number {
    const i = this.index(key);
    return i < this.spec.maxEntries ? this.base + i * this.slotSize : 0;
  }

  /** Lookup with the key in VM memory at `keyAddr` (the helper's fast path). */
  lookupAt(keyAddr: number): number {
    const i = this.mem.view.getUint32(keyAddr, true);
    return i < this.spec.maxEntries ? this.base + i * this.slotSize : 0;
  }

  updateElem(key: Uint8Array, value: Uint8Array, flags: number, fromUser: boolean): number {
    if ((flags & ~BPF_UPDATE.F_LOCK) > BPF_UPDATE.EXIST) return -ERRNO.EINVAL;
    const i = this.index(key);
    if (i >= this.spec.maxEntries) return -ERRNO.E2BIG;
    if (flags & BPF_UPDATE.NOEXIST) return -ERRNO.EEXIST;
    this.copyIn(this.base + i * this.slotSize, value, fromUser);
    return 0;
  }

  deleteElem(): number {
    return -ERRNO.EINVAL;
  }

  nextKeyOf(key: Uint8Array | null): Uint8Array | undefined {
    const next = key === null || this.index(key) >= this.spec.maxEntries ? 0 : this.index(key) + 1;
    if (next >= this.spec.maxEntries) return undefined;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, next, true);
    return out;
  }

  override close(): void {
    this.mem.free(this.base, this.slotSize * this.spec.maxEntries);
  }
}

/**
 * HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH: preallocated slots, like the kernel's default.
 * get_next_key walks the slots in order, so lookups and updates never change where a walk goes
 * (the kernel walks its buckets); LRU maps keep their use order apart, in a list over the slots.
 */
export class HashMap extends VmMap {
  private readonly base: number;
  private readonly index = new Map<number | string, number>(); // key → slot
  /** Each slot's key, undefined while the slot is free. */
  private readonly slotKey: (number | string | undefined)[];
  private readonly freeSlots: number[] = [];
  private readonly lru: LruOrder | null;

  constructor(id: number, spec: VmMapSpec, mem: VmMemory, cpus: number) {
    super(id, spec, mem, cpus);
    const lru = spec.type === BPF_MAP_TYPE.LRU_HASH || spec.type === BPF_MAP_TYPE.LRU_PERCPU_HASH;
    this.lru = lru ? new LruOrder(spec.maxEntries) : null;
    this.base = mem.alloc(this.slotSize * spec.maxEntries, TAG_RW, `map "${spec.name}"`);
    this.slotKey = new Array<number | string | undefined>(spec.maxEntries).fill(undefined);
    for (let i = spec.maxEntries - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** Index key of `size` bytes at `off`: a number up to 4 bytes (cheap to hash), else a string. */
  private static keyOf(bytes: Uint8Array, off: number, size: number): number | string {
    if (size <= 4) {
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[off + i]!;
      return v;
    }
    let s = '';
    for (let i = 0; i < size; i++) s += String.fromCharCode(bytes[off + i]!);
    return s;
  }

  private static keyString(key: Uint8Array, size: number): number | string {
    return HashMap.keyOf(key, 0, size);
  }

  private keyBytes(k: number | string): Uint8Array {
    const size = this.spec.keySize;
    const out = new Uint8Array(size);
    if (typeof k === 'number') for (let i = 0, v = k; i < size; i++, v = Math.floor(v / 256)) out[i] = v & 0xff;
    else for (let i = 0; i < size; i++) out[i] = k.charCodeAt(i);
    return out;
  }

  lookupAt(keyAddr: number): number {
    return this.lookupKey(HashMap.keyOf(this.mem.u8, keyAddr, this.spec.keySize));
  }

  lookupAddr(key: Uint8Array): number {
    return this.lookupKey(HashMap.keyString(key, this.spec.keySize));
  }

  /** For 4-byte keys: the key as the unsigned little-endian number keyOf makes of it. */
  lookupU32(key: number): number {
    return this.lookupKey(key >>> 0);
  }

  private lookupKey(k: number | string): number {
    const slot = this.index.get(k);
    if (slot === undefined) return 0;
    this.lru?.use(slot);
    return this.base + slot * this.slotSize;
  }

  updateElem(key: Uint8Array, value: Uint8Array, flags: number, fromUser: boolean): number {
    if (flags & ~(BPF_UPDATE.NOEXIST | BPF_UPDATE.EXIST | BPF_UPDATE.F_LOCK) || (flags & 3) === 3) return -ERRNO.EINVAL;
    const k = HashMap.keyString(key, this.spec.keySize);
    let slot = this.index.get(k);
    if (slot !== undefined && (flags & 3) === BPF_UPDATE.NOEXIST) return -ERRNO.EEXIST;
    if (slot === undefined && (flags & 3) === BPF_UPDATE.EXIST) return -ERRNO.ENOENT;
    if (slot === undefined) {
      slot = this.freeSlots.pop();
      if (slot === undefined) {
        if (!this.lru) return -ERRNO.E2BIG;
        slot = this.lru.oldest();
        this.index.delete(this.slotKey[slot]!);
      }
      this.index.set(k, slot);
      this.slotKey[slot] = k;
      // A new element starts zeroed, as the kernel allocates it (other CPUs' copies included).
      this.mem.u8.fill(0, this.base + slot * this.slotSize, this.base + (slot + 1) * this.slotSize);
    }
    this.lru?.use(slot);
    this.copyIn(this.base + slot * this.slotSize, value, fromUser);
    return 0;
  }

  deleteElem(key: Uint8Array): number {
    const k = HashMap.keyString(key, this.spec.keySize);
    const slot = this.index.get(k);
    if (slot === undefined) return -ERRNO.ENOENT;
    this.index.delete(k);
    this.slotKey[slot] = undefined;
    this.lru?.remove(slot);
    this.freeSlots.push(slot);
    return 0;
  }

  nextKeyOf(key: Uint8Array | null): Uint8Array | undefined {
    const slot = key === null ? undefined : this.index.get(HashMap.keyString(key, this.spec.keySize));
    // An unknown key (deleted during the walk, say) restarts from the first, as the kernel does.
    for (let s = slot === undefined ? 0 : slot + 1; s < this.slotKey.length; s++) {
      const k = this.slotKey[s];
      if (k !== undefined) return this.keyBytes(k);
    }
    return undefined;
  }

  override close(): void {
    // Compiled programs may still hold this map's lookup: after close it finds nothing, never freed memory.
    this.index.clear();
    this.slotKey.fill(undefined);
    this.mem.free(this.base, this.slotSize * this.spec.maxEntries);
  }
}

/** Use order of an LRU map's slots: a doubly linked list over slot numbers, least recent first. */
class LruOrder {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;

  constructor(slots: number) {
    this.prev = new Int32Array(slots).fill(-1);
    this.next = new Int32Array(slots).fill(-1);
  }

  /** Makes `slot` the most recently used (adding it when it is not in the list). */
  use(slot: number): void {
    if (this.tail === slot) return;
    this.remove(slot);
    this.prev[slot] = this.tail;
    this.next[slot] = -1;
    if (this.tail >= 0) this.next[this.tail] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  remove(slot: number): void {
    const p = this.prev[slot]!, n = this.next[slot]!;
    if (p < 0 && n < 0 && this.head !== slot) return; // not in the list
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.prev[slot] = this.next[slot] = -1;
  }

  /** The least recently used slot; only called when every slot is in use. */
  oldest(): number {
    return this.head;
  }
}

/** QUEUE (FIFO) and STACK (LIFO): no keys; push/pop/peek from programs, update/lookup_and_delete from userspace. */
export class QueueMap extends VmMap {
  private readonly items: Uint8Array[] = [];

  push(value: Uint8Array, flags: number): number {
    if (flags & ~BPF_UPDATE.EXIST) return -ERRNO.EINVAL;
    if (this.items.length >= this.spec.maxEntries) {
      if (!(flags & BPF_UPDATE.EXIST)) return -ERRNO.E2BIG;
      this.items.shift(); // BPF_EXIST on a full queue or stack drops the oldest element
    }
    this.items.push(value.slice(0, this.spec.valueSize));
    return 0;
  }

  /** The element pop/peek would return, or undefined when empty. */
  take(remove: boolean): Uint8Array | undefined {
    const lifo = this.spec.type === BPF_MAP_TYPE.STACK;
    if (!this.items.length) return undefined;
    if (!remove) return this.items[lifo ? this.items.length - 1 : 0];
    return lifo ? this.items.pop() : this.items.shift();
  }

  lookupAddr(): number {
    return 0;
  }

  updateElem(_key: Uint8Array, value: Uint8Array, flags: number): number {
    return this.push(value, flags);
  }

  deleteElem(): number {
    return -ERRNO.EINVAL;
  }

  nextKeyOf(): Uint8Array | undefined {
    return undefined;
  }
}

/** PROG_ARRAY, ARRAY_OF_MAPS, HASH_OF_MAPS: slots hold ids of programs or maps, not bytes. */
export class RefMap extends VmMap {
  private readonly slots = new Map<string, number>();

  constructor(
    id: number, spec: VmMapSpec, mem: VmMemory, cpus: number,
    /** Whether `id` names an object this map may hold (a program, or a map compatible with the inner spec). */
    private readonly accepts: (id: number) => string | undefined,
  ) {
    super(id, spec, mem, cpus);
  }

  private keyOf(key: Uint8Array): string {
    return Buffer.from(key.subarray(0, this.spec.keySize)).toString('hex');
  }

  private isArray(): boolean {
    return this.spec.type !== BPF_MAP_TYPE.HASH_OF_MAPS;
  }

  /** The id stored for `key`, or undefined. */
  get(key: Uint8Array): number | undefined {
    return this.slots.get(this.keyOf(key));
  }

  lookupAddr(): number {
    return 0;
  }

  updateElem(key: Uint8Array, value: Uint8Array, flags: number, fromUser: boolean): number {
    if (!fromUser) return -ERRNO.EOPNOTSUPP;
    if (this.isArray()) {
      const i = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      if (i >= this.spec.maxEntries) return -ERRNO.E2BIG;
    }
    const k = this.keyOf(key);
    if ((flags & 3) === BPF_UPDATE.NOEXIST && this.slots.has(k)) return -ERRNO.EEXIST;
    if ((flags & 3) === BPF_UPDATE.EXIST && !this.slots.has(k)) return -ERRNO.ENOENT;
    if (!this.isArray() && !this.slots.has(k) && this.slots.size >= this.spec.maxEntries) return -ERRNO.E2BIG;
    const ref = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
    if (this.accepts(ref)) return -ERRNO.EINVAL;
    this.slots.set(k, ref);
    return 0;
  }

  deleteElem(key: Uint8Array): number {
    return this.slots.delete(this.keyOf(key)) ? 0 : -ERRNO.ENOENT;
  }

  nextKeyOf(key: Uint8Array | null): Uint8Array | undefined {
    if (this.isArray()) {
      const next = key === null ? 0 : new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true) + 1;
      if (next >= this.spec.maxEntries) return undefined;
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, next, true);
      return out;
    }
    const keys = [...this.slots.keys()];
    const at = key === null ? -1 : keys.indexOf(this.keyOf(key));
    const k = keys[at + 1];
    return k === undefined ? undefined : Uint8Array.from(Buffer.from(k, 'hex'));
  }
}

/** The flags a stack trace map may be created with (the kernel's STACK_CREATE_FLAG_MASK). */
const STACK_CREATE_FLAGS = BPF_MAP_FLAG.NUMA_NODE | BPF_MAP_FLAG.RDONLY | BPF_MAP_FLAG.WRONLY | BPF_MAP_FLAG.STACK_BUILD_ID;

interface StackBucket {
  hash: number;
  nr: number;
  /** nr elements: u64 ips, or struct bpf_stack_build_id records for build-id maps. */
  data: Uint8Array;
}

/**
 * STACK_TRACE: stacks stored by bpf_get_stackid in bucket id = jhash2(ips) & (n_buckets - 1),
 * with the kernel's collision rules (EEXIST unless BPF_F_REUSE_STACKID, BPF_F_FAST_STACK_CMP
 * trusting the hash) and its limit of max_entries stored stacks (ENOMEM). The stacks are kept
 * in JavaScript: the kernel lets programs pass these maps only to bpf_get_stackid, so no program
 * reads them, and 16K buckets of 127 frames would not fit VM memory. A userspace lookup copies
 * the stack into one scratch value that programs cannot address.
 */
export class StackTraceMap extends VmMap {
  readonly nBuckets: number;
  /** Bytes per frame in a value: a u64 ip, or a struct bpf_stack_build_id. */
  readonly elemSize: number;
  private readonly buckets = new Map<number, StackBucket>();
  private readonly scratch: number;

  constructor(id: number, spec: VmMapSpec, mem: VmMemory, cpus: number) {
    super(id, spec, mem, cpus);
    const fail = (why: string): never => {
      throw new ErrnoError(`create map "${spec.name}": ${why}`, ERRNO.EINVAL);
    };
    if (spec.flags & ~STACK_CREATE_FLAGS) fail(`flags 0x${spec.flags.toString(16)} are not valid for a stack trace map`);
    if (spec.keySize !== 4) fail(`stack trace maps need 4-byte keys (stack ids), not ${spec.keySize}`);
    this.elemSize = spec.flags & BPF_MAP_FLAG.STACK_BUILD_ID ? BPF_STACK_BUILD_ID.SIZE : 8;
    if (spec.valueSize < 8 || spec.valueSize % this.elemSize) {
      fail(`value size ${spec.valueSize} is not a positive multiple of ${this.elemSize} (one ${this.elemSize === 8 ? 'u64 ip' : 'struct bpf_stack_build_id'} per frame)`);
    }
    if (spec.valueSize / this.elemSize > PERF_MAX_STACK_DEPTH) fail(`value size ${spec.valueSize} holds more than ${PERF_MAX_STACK_DEPTH} frames`);
    if (spec.maxEntries > 2 ** 31) throw new ErrnoError(`create map "${spec.name}": max_entries ${spec.maxEntries} exceeds 2^31`, ERRNO.E2BIG);
    this.nBuckets = 2 ** Math.ceil(Math.log2(spec.maxEntries));
    this.scratch = mem.alloc(spec.valueSize, 0, `map "${spec.name}"`);
  }

  /** Frames one value holds. */
  get maxDepth(): number {
    return this.spec.valueSize / this.elemSize;
  }

  /**
   * __bpf_get_stackid: stores `ips` (u64 each, the frames after the skipped ones) and returns its
   * id, or a negative errno.
   */
  store(ips: Uint8Array, flags: number): number {
    const nr = ips.length / 8;
    const view = new DataView(ips.buffer, ips.byteOffset, ips.byteLength);
    const hash = jhash2(view, 0, nr * 2);
    const id = hash & (this.nBuckets - 1);
    const bucket = this.buckets.get(id);
    const hashMatches = bucket !== undefined && bucket.hash === hash;
    if (hashMatches && flags & BPF_F_STACK.FAST_STACK_CMP) return id;
    const data = this.elemSize === 8 ? ips.slice() : buildIdRecords(view, nr);
    if (hashMatches && bucket.nr === nr && Buffer.compare(bucket.data, data) === 0) return id;
    if (bucket && !(flags & BPF_F_STACK.REUSE_STACKID)) return -ERRNO.EEXIST;
    // The kernel takes the new bucket from a free list of max_entries before returning the old one.
    if (this.buckets.size >= this.spec.maxEntries) return -ERRNO.ENOMEM;
    this.buckets.set(id, { hash, nr, data });
    return id;
  }

  private stackId(key: Uint8Array): number {
    return (key[0]! | (key[1]! << 8) | (key[2]! << 16) | (key[3]! << 24)) >>> 0;
  }

  lookupAddr(key: Uint8Array): number {
    const b = this.buckets.get(this.stackId(key));
    if (!b) return 0;
    const u8 = this.mem.u8;
    u8.set(b.data, this.scratch);
    u8.fill(0, this.scratch + b.data.length, this.scratch + this.spec.valueSize);
    return this.scratch;
  }

  updateElem(): number {
    return -ERRNO.EINVAL;
  }

  deleteElem(key: Uint8Array): number {
    const id = this.stackId(key);
    if (id >= this.nBuckets) return -ERRNO.E2BIG;
    return this.buckets.delete(id) ? 0 : -ERRNO.ENOENT;
  }

  nextKeyOf(key: Uint8Array | null): Uint8Array | undefined {
    let id = 0;
    if (key !== null) {
      const k = this.stackId(key);
      id = k < this.nBuckets && this.buckets.has(k) ? k + 1 : 0;
    }
    let next = -1;
    for (const i of this.buckets.keys()) if (i >= id && (next < 0 || i < next)) next = i;
    if (next < 0) return undefined;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, next, true);
    return out;
  }

  override close(): void {
    this.buckets.clear();
    this.mem.free(this.scratch, this.spec.valueSize);
  }
}

/**
 * struct bpf_stack_build_id records for `nr` ips. The VM has no executables to read build ids
 * from, so every frame is BPF_STACK_BUILD_ID_IP with its raw ip, the kernel's own fallback.
 */
export function buildIdRecords(ips: DataView, nr: number): Uint8Array {
  const out = new Uint8Array(nr * BPF_STACK_BUILD_ID.SIZE);
  const v = new DataView(out.buffer);
  for (let i = 0; i < nr; i++) {
    const at = i * BPF_STACK_BUILD_ID.SIZE;
    v.setInt32(at, BPF_STACK_BUILD_ID.IP, true);
    v.setBigUint64(at + BPF_STACK_BUILD_ID.IP_OFFSET, ips.getBigUint64(i * 8, true), true);
  }
  return out;
}

export function describeMapType(type: number): string {
  return `${type} (${nameOf(BPF_MAP_TYPE, type)})`;
}

