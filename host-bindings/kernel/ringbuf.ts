// Consumer of a BPF ring buffer (map type 27), bpf-internals.md §7.1: the consumer page mapped
// read-write, the producer page plus the data area (mapped twice by the kernel, so a record
// that wraps is contiguous) read-only.
//
// Memory ordering. libbpf reads each record header with load-acquire and publishes
// consumer_pos with store-release after each record. On x86 (TSO) both are plain moves: loads
// are not reordered with older loads, stores not with older loads or stores. V8 keeps typed-array
// loads and stores in program order (they sit on its effect chain) and never moves them across
// the handler call, so plain element accesses give the same guarantees there, at about 1 ns
// instead of 10-17 ns for an Atomics builtin call per record. Elsewhere (arm64 reorders both)
// the Atomics forms stay. producer_pos is read with Atomics once per pass, not per record.

import type { EventReader, RawRecordHandler, RecordHandler } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_RINGBUF, ERRNO } from '../uapi.js';
import { check } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative, MAP_SHARED, PROT } from './native.js';
import { Poller } from './poller.js';

const LEN_MASK = 0x3fffffff;
const TWO32 = 0x1_0000_0000;
const TSO = process.arch === 'x64' || process.arch === 'ia32';

export interface RingBufInit {
  name: string;
  mapFd: number;
  /** max_entries: the data size, a power of two. */
  size: number;
  fds: FdSet;
  shouldStop?: () => boolean;
}

export class RingBufReader implements EventReader {
  readonly lost = 0n;
  private readonly what: string;
  private readonly poller: Poller;
  private consumerMap: ArrayBuffer | undefined;
  private producerMap: ArrayBuffer | undefined;
  private readonly consumer: Uint32Array;
  private readonly consumer64: BigUint64Array;
  private readonly producer: Uint32Array;
  /** The producer mapping as 32-bit words, for reading record headers. */
  private readonly words: Int32Array;
  /** The producer mapping as bytes: what raw handlers receive, one object for the reader's life. */
  private readonly bytes: Uint8Array;
  private readonly dataStart: number;
  private readonly mask: number;

  constructor(init: RingBufInit) {
    this.what = `ring buffer "${init.name}"`;
    const native = loadNative();
    const page = native.pageSize();
    this.mask = init.size - 1;
    const cons = native.mmap(init.mapFd, page, PROT.READ | PROT.WRITE, MAP_SHARED, 0);
    if (typeof cons === 'number') check(cons, `${this.what}: mmap consumer page`);
    this.consumerMap = cons as ArrayBuffer;
    const prod = native.mmap(init.mapFd, page + 2 * init.size, PROT.READ, MAP_SHARED, page);
    if (typeof prod === 'number') {
      native.munmap(this.consumerMap);
      check(prod, `${this.what}: mmap producer pages`);
    }
    this.producerMap = prod as ArrayBuffer;
    this.consumer = new Uint32Array(this.consumerMap, 0, 2);
    this.consumer64 = new BigUint64Array(this.consumerMap, 0, 1);
    this.producer = new Uint32Array(this.producerMap, 0, 2);
    this.dataStart = page;
    this.words = new Int32Array(this.producerMap);
    this.bytes = new Uint8Array(this.producerMap);
    try {
      this.poller = new Poller(this.what, init.fds, init.shouldStop);
      this.poller.watch(init.mapFd, 0);
    } catch (e) {
      this.unmap();
      throw e;
    }
  }

  poll(timeoutMs: number, onRecord: RecordHandler): number {
    return this.pollRaw(timeoutMs, (bytes, offset, length) =>
      onRecord(new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length)));
  }

  pollRaw(timeoutMs: number, onRecord: RawRecordHandler): number {
    if (!this.consumerMap) throw new ErrnoError(`${this.what}: the reader is closed`, ERRNO.EBADF);
    let delivered = this.consume(onRecord);
    if (delivered !== 0 || timeoutMs === 0) return delivered;
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const ready = this.poller.wait(timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now()));
      delivered = this.consume(onRecord);
      // A wake-up can precede a record still marked busy; keep waiting for it within the timeout.
      if (delivered !== 0 || ready.length === 0 || Date.now() >= deadline) return delivered;
    }
  }

  private consume(onRecord: RawRecordHandler): number {
    const { consumer, words, bytes, mask, dataStart } = this;
    // Positions are kept as 32-bit halves: the low half indexes the ring, the high half only
    // changes every 4 GiB. Only this reader writes consumer_pos, so plain loads see its value.
    let consHi = consumer[1]!;
    let consLo = consumer[0]!;
    let count = 0;
    for (;;) {
      const prod = this.producerPos();
      if (consHi * TWO32 + consLo >= prod) return count;
      do {
        const at = dataStart + (consLo & mask);
        const header = TSO ? words[at >>> 2]! : Atomics.load(words, at >>> 2);
        if (header & BPF_RINGBUF.BUSY_BIT) return count;
        const len = header & LEN_MASK;
        consLo += (len + BPF_RINGBUF.HDR_SZ + 7) & ~7;
        let result = 0;
        if ((header & BPF_RINGBUF.DISCARD_BIT) === 0) {
          count++;
          result = onRecord(bytes, at + BPF_RINGBUF.HDR_SZ, len);
        }
        if (consLo >= TWO32) {
          // One 64-bit store when the high half changes, so the kernel never sees a torn position.
          consLo -= TWO32;
          consHi++;
          Atomics.store(this.consumer64, 0, BigInt(consHi) * 0x1_0000_0000n + BigInt(consLo));
        } else if (TSO) consumer[0] = consLo;
        else Atomics.store(consumer, 0, consLo);
        if (result !== 0) return result;
      } while (consHi * TWO32 + consLo < prod);
    }
  }

  private producerPos(): number {
    const p = this.producer;
    let hi: number;
    let lo: number;
    do {
      hi = Atomics.load(p, 1);
      lo = Atomics.load(p, 0);
    } while (hi !== Atomics.load(p, 1));
    return hi * TWO32 + lo;
  }

  private unmap(): void {
    const native = loadNative();
    if (this.consumerMap) native.munmap(this.consumerMap);
    if (this.producerMap) native.munmap(this.producerMap);
    this.consumerMap = this.producerMap = undefined;
  }

  close(): void {
    if (!this.consumerMap) return;
    this.poller.close();
    this.unmap();
  }
}
