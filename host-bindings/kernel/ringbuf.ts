// Consumer of a BPF ring buffer (map type 27), bpf-internals.md §7.1: the consumer page mapped
// read-write, the producer page plus the data area (mapped twice by the kernel, so a record
// that wraps is contiguous) read-only.
//
// Consumption itself, and its memory ordering, is in ring-consume.ts.

import type { EventReader, RawRecordHandler, RecordHandler, RingEntrySink } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { ERRNO } from '../uapi.js';
import { check } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative, MAP_SHARED, PROT } from './native.js';
import { Poller } from './poller.js';
import { consumeBatches, consumeRecords, type RingView } from './ring-consume.js';

type Consume<H> = (handler: H) => number;

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
  /** The producer mapping's bytes are what raw handlers receive: one object for the reader's life. */
  private readonly ring: RingView;
  private consuming = false;
  private readonly consumeRaw: Consume<RawRecordHandler> = (onRecord) => consumeRecords(this.ring, onRecord);
  private readonly consumeEntries: Consume<RingEntrySink> = (sink) => consumeBatches(this.ring, sink);

  constructor(init: RingBufInit) {
    this.what = `ring buffer "${init.name}"`;
    const native = loadNative();
    const page = native.pageSize();
    const cons = native.mmap(init.mapFd, page, PROT.READ | PROT.WRITE, MAP_SHARED, 0);
    if (typeof cons === 'number') check(cons, `${this.what}: mmap consumer page`);
    this.consumerMap = cons as ArrayBuffer;
    const prod = native.mmap(init.mapFd, page + 2 * init.size, PROT.READ, MAP_SHARED, page);
    if (typeof prod === 'number') {
      native.munmap(this.consumerMap);
      check(prod, `${this.what}: mmap producer pages`);
    }
    this.producerMap = prod as ArrayBuffer;
    this.ring = {
      consumer: new Uint32Array(this.consumerMap, 0, 2),
      consumer64: new BigUint64Array(this.consumerMap, 0, 1),
      producer: new Uint32Array(this.producerMap, 0, 2),
      words: new Int32Array(this.producerMap),
      bytes: new Uint8Array(this.producerMap),
      dataStart: page,
      mask: init.size - 1,
    };
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
    return this.waitFor(timeoutMs, this.consumeRaw, onRecord);
  }

  pollEntries(timeoutMs: number, sink: RingEntrySink): number {
    return this.waitFor(timeoutMs, this.consumeEntries, sink);
  }

  private waitFor<H>(timeoutMs: number, consume: Consume<H>, handler: H): number {
    if (!this.consumerMap) throw new ErrnoError(`${this.what}: the reader is closed`, ERRNO.EBADF);
    // consumer_pos is published after a record's (or a batch's) handler returns, so a poll from
    // inside a handler would deliver the same records again and then move the position back.
    if (this.consuming) throw new ErrnoError(`${this.what}: polled from inside its own record handler`, ERRNO.EBUSY);
    this.consuming = true;
    try {
      return this.waitWhileConsuming(timeoutMs, consume, handler);
    } finally {
      this.consuming = false;
    }
  }

  private waitWhileConsuming<H>(timeoutMs: number, consume: Consume<H>, handler: H): number {
    let delivered = consume(handler);
    if (delivered !== 0 || timeoutMs === 0) return delivered;
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const ready = this.poller.wait(timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now()));
      delivered = consume(handler);
      // A wake-up can precede a record still marked busy; keep waiting for it within the timeout.
      if (delivered !== 0 || ready.length === 0 || Date.now() >= deadline) return delivered;
    }
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
