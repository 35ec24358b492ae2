// A perf buffer drops samples when its guest polls too slowly (the kernel's, and the VM's when
// its queue is full). libbpf tells its user through a lost-samples callback; the wasm-bpf ABI has
// none, so the guest cannot know, and the host says so on stderr instead: per map, the count since
// the last report, at most once per interval, and what is left unreported when the guest's objects
// are released.
import type { EventReader } from '../backend.js';

interface Seen {
  readonly mapName: string;
  reported: bigint;
  at: number;
}

export class LostSampleReports {
  private readonly seen = new Map<EventReader, Seen>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** After a poll of `reader` (the event reader of map `mapName`; ring buffers never count any). */
  check(mapName: string, reader: EventReader, now = performance.now()): void {
    const lost = reader.lost;
    let seen = this.seen.get(reader);
    if (!seen) {
      if (lost === 0n) return;
      seen = { mapName, reported: 0n, at: -Infinity };
      this.seen.set(reader, seen);
    }
    if (lost > seen.reported && now - seen.at >= this.intervalMs) this.report(seen, lost, now);
  }

  /** Reports every count not reported yet (the guest is done polling). */
  flush(now = performance.now()): void {
    for (const [reader, seen] of this.seen) {
      const lost = reader.lost;
      if (lost > seen.reported) this.report(seen, lost, now);
    }
  }

  private report(seen: Seen, lost: bigint, now: number): void {
    const n = lost - seen.reported;
    this.log(
      `wbpf: map "${seen.mapName}": ${n} sample${n === 1n ? '' : 's'} lost (${lost} in all): ` +
        'the guest polls too slowly for the event rate, or the per-CPU buffers are too small',
    );
    seen.reported = lost;
    seen.at = now;
  }
}
