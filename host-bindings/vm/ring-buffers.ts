// RINGBUF and PERF_EVENT_ARRAY maps of the VM, with their readers. The ring buffer keeps the
// kernel's record format (8-byte header with BUSY/DISCARD bits, 8-byte aligned records) in VM
// memory so that reserved records are real pointers the program writes into; a record that
// wraps is written contiguously past the end (the area is twice the ring size), the way the
// kernel's double mapping presents it. Perf event output is copied into a JS queue per CPU.

import { BPF_RINGBUF, ERRNO } from '../uapi.js';
import { ErrnoError } from '../errors.js';
import type { EventReader, RecordHandler } from '../backend.js';
import { TAG_RW, type VmMemory } from './memory.js';
import { VmMap, type VmMapSpec } from './maps.js';


export interface PollHooks {
  /** Runs due event sources (timers, a pending capture) up to the given time (Date.now() scale). */
  pump: (untilMs: number) => void;
  shouldStop?: () => boolean;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  if (ms > 0) Atomics.wait(sleepCell, 0, 0, ms);
}

/** Shared poll loop: run due sources, deliver what is there; else wait in short slices. */
function pollLoop(timeoutMs: number, hooks: PollHooks, drain: () => number): number {
  const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
  hooks.pump(Date.now());
  for (;;) {
    const n = drain();
    if (n !== 0) return n;
    if (hooks.shouldStop?.()) throw new ErrnoError('poll interrupted: stop requested', ERRNO.EINTR);
    const now = Date.now();
    if (now >= deadline) return 0;
    hooks.pump(Math.min(deadline, now + 10));
    const again = drain();
    if (again !== 0) return again;
    sleep(Math.min(10, deadline - Date.now()));
  }
}

export class RingBufMap extends VmMap {
  readonly data: number;
  private readonly mask: number;
  producer = 0;
  consumer = 0;
  /** Reserved but not yet committed record positions, oldest first. */
  private readonly pending = new Set<number>();
  private cachedReader: EventReader | undefined;

  constructor(id: number, spec: VmMapSpec, mem: VmMemory, cpus: number, private readonly hooks: PollHooks) {
    super(id, spec, mem, cpus);
    const size = spec.maxEntries;
    if (size < 4096 || (size & (size - 1)) !== 0) {
      throw new ErrnoError(`map "${spec.name}": ring buffer size ${size} is not a power of two of at least 4096`, ERRNO.EINVAL);
    }
    this.mask = size - 1;
    this.data = mem.alloc(2 * size, 0, `ring buffer "${spec.name}"`);
  }

  /** Payload address of a new record of `size` bytes, or 0 when it does not fit. */
  reserve(size: number): number {
    if (size <= 0 || size > 0x3fffffff) return 0;
    const total = (size + BPF_RINGBUF.HDR_SZ + 7) & ~7;
    if (this.producer - this.consumer + total > this.spec.maxEntries) return 0;
    const pos = this.producer;
    const at = this.data + (pos & this.mask);
    this.mem.view.setUint32(at, (size | BPF_RINGBUF.BUSY_BIT) >>> 0, true);
    this.mem.view.setUint32(at + 4, 0, true);
    this.mem.tag(at + 8, size, TAG_RW);
    this.producer += total;
    this.pending.add(pos);
    return at + 8;
  }

  /** Commits or discards the record whose payload is at `addr`; false when it is not a live reservation. */
  commit(addr: number, discard: boolean): boolean {
    const pos = this.positionOf(addr);
    if (pos === undefined) return false;
    const at = this.data + (pos & this.mask);
    const len = this.mem.view.getUint32(at, true) & 0x3fffffff;
    this.mem.view.setUint32(at, (len | (discard ? BPF_RINGBUF.DISCARD_BIT : 0)) >>> 0, true);
    this.mem.tag(at + 8, len, 0);
    this.pending.delete(pos);
    return true;
  }

  /** Whether `addr` is a live reservation's payload of this ring. */
  positionOf(addr: number): number | undefined {
    for (const pos of this.pending) if (this.data + (pos & this.mask) + 8 === addr) return pos;
    return undefined;
  }

  output(bytes: Uint8Array): number {
    const addr = this.reserve(bytes.length);
    if (!addr) return -ERRNO.EAGAIN;
    this.mem.u8.set(bytes, addr);
    this.commit(addr, false);
    return 0;
  }

  /** Delivers committed records in order, stopping at a busy one. */
  drain(onRecord: RecordHandler): number {
    let n = 0;
    while (this.consumer < this.producer) {
      const at = this.data + (this.consumer & this.mask);
      const hdr = this.mem.view.getUint32(at, true);
      if (hdr & BPF_RINGBUF.BUSY_BIT) break;
      const len = hdr & 0x3fffffff;
      this.consumer += (len + BPF_RINGBUF.HDR_SZ + 7) & ~7;
      if (hdr & BPF_RINGBUF.DISCARD_BIT) continue;
      n++;
      const rc = onRecord(this.mem.u8.subarray(at + 8, at + 8 + len));
      if (rc !== 0) return rc;
    }
    return n;
  }

  lookupAddr(): number {
    return 0;
  }

  updateElem(): number {
    return -ERRNO.EINVAL;
  }

  deleteElem(): number {
    return -ERRNO.EINVAL;
  }

  nextKeyOf(): Uint8Array | undefined {
    return undefined;
  }

  reader(): EventReader {
    if (this.cachedReader) return this.cachedReader;
    const ring = this;
    let closed = false;
    this.cachedReader = {
      lost: 0n,
      poll(timeoutMs: number, onRecord: RecordHandler): number {
        if (closed) throw new ErrnoError(`ring buffer "${ring.spec.name}": reader is closed`, ERRNO.EBADF);
        return pollLoop(timeoutMs, ring.hooks, () => ring.drain(onRecord));
      },
      close(): void {
        closed = true;
      },
    };
    return this.cachedReader;
  }

  override close(): void {
    this.mem.free(this.data, 2 * this.spec.maxEntries);
  }
}

export class PerfEventArrayMap extends VmMap {
  private readonly queue: Uint8Array[] = [];
  private lostCount = 0n;
  private cachedReader: EventReader | undefined;
  /** Records kept before further output counts as lost, like a full perf ring. */
  static readonly CAPACITY = 65536;

  constructor(id: number, spec: VmMapSpec, mem: VmMemory, cpus: number, private readonly hooks: PollHooks) {
    super(id, spec, mem, cpus);
  }

  /** bpf_perf_event_output: `index` is the CPU slot (BPF_F_CURRENT_CPU = 0 here). */
  output(index: number, bytes: Uint8Array): number {
    if (index >= this.spec.maxEntries) return -ERRNO.E2BIG;
    if (this.queue.length >= PerfEventArrayMap.CAPACITY) {
      this.lostCount++;
      return -ERRNO.ENOSPC;
    }
    this.queue.push(bytes.slice());
    return 0;
  }

  lookupAddr(): number {
    return 0;
  }

  updateElem(): number {
    return 0; // userspace installs perf event fds; the VM needs none
  }

  deleteElem(): number {
    return 0;
  }

  nextKeyOf(): Uint8Array | undefined {
    return undefined;
  }

  reader(): EventReader {
    if (this.cachedReader) return this.cachedReader;
    const map = this;
    let closed = false;
    const drain = (onRecord: RecordHandler): number => {
      let n = 0;
      while (map.queue.length) {
        n++;
        const rc = onRecord(map.queue.shift()!);
        if (rc !== 0) return rc;
      }
      return n;
    };
    this.cachedReader = {
      get lost(): bigint {
        return map.lostCount;
      },
      poll(timeoutMs: number, onRecord: RecordHandler): number {
        if (closed) throw new ErrnoError(`perf buffer "${map.spec.name}": reader is closed`, ERRNO.EBADF);
        return pollLoop(timeoutMs, map.hooks, () => drain(onRecord));
      },
      close(): void {
        closed = true;
      },
    };
    return this.cachedReader;
  }
}
