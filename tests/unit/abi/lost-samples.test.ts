// How often the host reports lost samples: once per interval per map, with the count since the
// last report, and the rest when the guest's objects are released.
import { describe, expect, it } from 'vitest';
import type { EventReader } from '../../../host-bindings/backend.js';
import { LostSampleReports } from '../../../host-bindings/abi/lost-samples.js';

/** Only `lost` is read: the rest of an EventReader is never called here. */
function counter(): EventReader & { lost: bigint } {
  return { lost: 0n, poll: () => 0, close: () => undefined };
}

describe('lost sample reports', () => {
  it('reports growth at most once per interval, with the count since the last report', () => {
    const lines: string[] = [];
    const reports = new LostSampleReports((l) => lines.push(l), 1000);
    const events = counter();
    reports.check('events', events, 0);
    expect(lines).toEqual([]);
    events.lost = 1n;
    reports.check('events', events, 10);
    events.lost = 5n;
    reports.check('events', events, 500);
    reports.check('events', events, 1009);
    events.lost = 6n;
    reports.check('events', events, 1010);
    expect(lines).toEqual([
      expect.stringMatching(/^wbpf: map "events": 1 sample lost \(1 in all\): /),
      expect.stringMatching(/^wbpf: map "events": 5 samples lost \(6 in all\): /),
    ]);
    events.lost = 8n;
    reports.check('events', events, 1500);
    expect(lines).toHaveLength(2);
    reports.flush(1501);
    expect(lines[2]).toMatch(/^wbpf: map "events": 2 samples lost \(8 in all\): /);
    reports.flush(1502);
    expect(lines).toHaveLength(3);
  });

  it('keeps maps apart', () => {
    const lines: string[] = [];
    const reports = new LostSampleReports((l) => lines.push(l), 1000);
    const a = counter();
    const b = counter();
    a.lost = 2n;
    b.lost = 7n;
    reports.check('a', a, 0);
    reports.check('b', b, 0);
    expect(lines.map((l) => l.slice(0, 36))).toEqual(['wbpf: map "a": 2 samples lost (2 in ', 'wbpf: map "b": 7 samples lost (7 in ']);
  });
});
