// Batch delivery of ring-buffer records into a guest (EventReader.pollEntries): each batch of
// whole entries is copied into the guest's poll buffer with one copy, keeping the kernel's
// layout ([8-byte header][record padded to 8]), and the ring walker calls the guest's callback for
// each record with a pointer inside that buffer (not at its start) and the record's length.
// An entry longer than the buffer goes alone through the per-record handler, truncated at the
// buffer's start as before.

import type { RawRecordHandler, RingEntrySink } from '../backend.js';
import type { GuestMemory } from './guest-memory.js';
import type { RingWalker } from './ring-walker.js';

const NO_HEADERS = new Int32Array(0);

export class GuestBatchSink implements RingEntrySink {
  batchBytes = 0;
  headers: Int32Array = NO_HEADERS;
  stopValue = 0;
  /** True while a batch's callbacks run: a poll from inside one must not reuse this sink. */
  delivering = false;
  private walker: RingWalker | null = null;
  private memory: GuestMemory | null = null;
  private ctx = 0;
  private data = 0;

  constructor(readonly deliverOne: RawRecordHandler) {}

  /** Prepares a poll: records go to `walker`'s callback with `ctx`, through [data, data + maxSize). */
  begin(walker: RingWalker, memory: GuestMemory, ctx: number, data: number, maxSize: number): void {
    this.walker = walker;
    this.headers = walker.headers;
    this.memory = memory;
    this.ctx = ctx;
    this.data = data;
    this.batchBytes = maxSize;
  }

  /** Drops the poll's references, so a finished guest's callback is not kept alive here. */
  end(): void {
    this.walker = this.memory = null;
    this.headers = NO_HEADERS;
    this.delivering = false;
  }

  deliver(bytes: Uint8Array, offset: number, length: number, count: number): number {
    // bytes() re-reads memory.buffer when a callback grew memory since the last batch.
    this.memory!.bytes().set(bytes.subarray(offset, offset + length), this.data);
    this.delivering = true;
    const stoppedAt = this.walker!.walk(this.ctx, this.data, count);
    this.delivering = false;
    if (stoppedAt !== 0) this.stopValue = this.walker!.stop.value as number;
    return stoppedAt;
  }
}
