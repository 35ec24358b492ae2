// Looking up kernel symbol addresses in /proc/kallsyms text: whole names only, module symbols,
// duplicates of one address merged, different addresses kept (the caller calls that ambiguous).
import { describe, expect, it } from 'vitest';
import { lookupKallsyms } from '../../../host-bindings/kallsyms.js';

const TEXT = [
  'ffffffff81000000 T schedule_timeout',
  'ffffffff81000100 T schedule',
  'ffffffff81000200 t dup',
  'ffffffff81000200 t dup',
  'ffffffff81000300 t twice',
  'ffffffff81000400 t twice',
  'ffffffffc0001000 t mod_fn\t[some_mod]',
  '0000000000000000 T hidden',
].join('\n') + '\n';

describe('kallsyms lookup', () => {
  it('finds whole names with their address halves', () => {
    const found = lookupKallsyms(['schedule', 'mod_fn', 'hidden', 'absent', 'sched'], TEXT);
    expect(found.get('schedule')).toEqual([{ hi: 0xffffffff, lo: 0x81000100 }]);
    expect(found.get('mod_fn')).toEqual([{ hi: 0xffffffff, lo: 0xc0001000 }]);
    expect(found.get('hidden')).toEqual([{ hi: 0, lo: 0 }]);
    expect(found.has('absent')).toBe(false);
    expect(found.has('sched')).toBe(false);
  });

  it('merges repeats of one address and keeps distinct ones', () => {
    const found = lookupKallsyms(['dup', 'twice'], TEXT);
    expect(found.get('dup')).toHaveLength(1);
    expect(found.get('twice')).toHaveLength(2);
  });
});
