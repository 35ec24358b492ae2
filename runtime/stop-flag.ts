// The stop request shared between the runner (main thread) and the guest's worker. The worker
// sleeps on it with Atomics.wait, so a request wakes a sleeping guest at once instead of after
// its timeout; host calls check it and unwind the guest with GuestStopped.

const INDEX = 0;

export class StopFlag {
  readonly buffer: SharedArrayBuffer;
  private readonly cell: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer;
    this.cell = new Int32Array(buffer, 0, 1);
  }

  request(): void {
    Atomics.store(this.cell, INDEX, 1);
    Atomics.notify(this.cell, INDEX);
  }

  get requested(): boolean {
    return Atomics.load(this.cell, INDEX) !== 0;
  }

  /** Sleep up to ms (worker threads only). Returns true when woken by a stop request. */
  sleep(ms: number): boolean {
    if (this.requested) return true;
    if (ms > 0) Atomics.wait(this.cell, INDEX, 0, ms);
    return this.requested;
  }
}
