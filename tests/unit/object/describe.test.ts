import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { describeObject } from '../../../host-bindings/object/describe.js';
import { fixture } from './object-fixtures.js';

describe('describeObject', () => {
  const el = describeObject(fixture('objects-el.bpf.o'), 'objects-el.bpf.o');

  it('lists programs with type names and attach targets', () => {
    expect(el.programs.find((p) => p.name === 'handle_exec')).toEqual({
      name: 'handle_exec', section: 'tp/sched/sched_process_exec', type: 'TRACEPOINT',
      attach: 'tracepoint sched/sched_process_exec',
    });
    expect(el.programs.find((p) => p.name === 'xdp_pass')).toEqual({ name: 'xdp_pass', section: 'xdp', type: 'XDP', attach: null });
    expect(el.programs.find((p) => p.name === 'on_readline')!.attach).toBe('uretprobe /usr/bin/bash:readline');
    expect(el.license).toBe('Dual BSD/GPL');
    expect(el.littleEndian).toBe(true);
  });

  it('lists maps with type names and sizes', () => {
    expect(el.maps.find((m) => m.name === 'events')).toEqual({ name: 'events', type: 'HASH', keySize: 4, valueSize: 32, maxEntries: 1024 });
    expect(el.maps.find((m) => m.name === 'rb')!.type).toBe('RINGBUF');
    expect(el.maps.map((m) => m.name)).toEqual(expect.arrayContaining(['.rodata', '.data', '.bss', '.rodata.str1.1', 'outer', 'jumps']));
  });

  it('describes a big-endian object the same way', () => {
    const eb = describeObject(fixture('objects-eb.bpf.o'), 'objects-eb.bpf.o');
    expect(eb.littleEndian).toBe(false);
    expect({ ...eb, littleEndian: true }).toEqual(el);
    const legacyEl = describeObject(fixture('legacy-el.bpf.o'));
    const legacyEb = describeObject(fixture('legacy-eb.bpf.o'));
    expect(legacyEb.maps).toEqual(legacyEl.maps);
  });

  it('reports an unknown section per program instead of failing', () => {
    const bytes = fixture('objects-el.bpf.o');
    const at = Buffer.from(bytes).indexOf('.relxdp\0') + 4;
    bytes.set(new TextEncoder().encode('xyz'), at);
    const d = describeObject(bytes);
    expect(d.programs.find((p) => p.name === 'xdp_pass')).toMatchObject({ section: 'xyz', type: 'unknown', error: 'unknown section type' });
  });

  it('throws FormatError with the object name for non-BPF input', () => {
    expect(() => describeObject(new Uint8Array(readFileSync('/bin/true')), 'true')).toThrow(
      new FormatError('object "true": not a BPF object: e_machine is 62 (x86-64), expected 247 (BPF)'),
    );
  });
});
