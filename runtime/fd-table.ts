// The kernel fds a guest's backend holds, in memory both threads can read. If the worker has to
// be terminated (a guest spinning in Wasm never reaches a host call), its JS cleanup never runs;
// the main thread then reads this table and closes what is left, so nothing the guest created
// (programs, maps, links, perf events) stays in the kernel.

import type { FdTracker } from '../host-bindings/backend.js';

const SLOTS = 4096;

export class SharedFdTable implements FdTracker {
  readonly buffer: SharedArrayBuffer;
  private readonly slots: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * 4)) {
    this.buffer = buffer;
    this.slots = new Int32Array(buffer);
  }

  // Slots hold fd + 1 so that 0 means empty (fd 0 is a valid number, if unlikely here).
  opened(fd: number): void {
    for (let i = 0; i < this.slots.length; i++) {
      if (Atomics.compareExchange(this.slots, i, 0, fd + 1) === 0) return;
    }
  }

  closed(fd: number): void {
    for (let i = 0; i < this.slots.length; i++) {
      if (Atomics.compareExchange(this.slots, i, fd + 1, 0) === fd + 1) return;
    }
  }

  /** The fds still open, in no particular order. */
  list(): number[] {
    const fds: number[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const v = Atomics.load(this.slots, i);
      if (v !== 0) fds.push(v - 1);
    }
    return fds;
  }
}
