// The load-time register-kind check (kind-check.ts, arg-kinds.ts): each definitely wrong program
// is rejected naming the instruction and the reason, and valid but tricky programs (spills and
// fills, joins of different kinds, loops, branches on constants, clang-built objects) pass.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assemble, openVmBackend } from '../../../host-bindings/vm/index.js';
import { checkProgram } from '../../../host-bindings/vm/checks.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';
import { helperDenied, helperSignature } from '../../../host-bindings/vm/helpers.js';
import { BPF_FUNC, BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';

// A relocated map reference: lddw with the VM's map-reference tag (0xfd) in the high word.
const MAP = 'lddw %r1, 0xfd00000001';
const check = (src: string, progType: number = BPF_PROG_TYPE.KPROBE) =>
  checkProgram(decodeProgram(assemble(src)), { checkHelper: (id) => helperDenied(id, progType), lddwSources: new Set([0, 4]) });
const lines = (...l: string[]) => l.join('\n');
const KEY_ON_STACK = ['stdw [%r10-8], 0', 'mov %r2, %r10', 'add %r2, -8'];

describe('register kinds at load time: rejections', () => {
  it('rejects reading an uninitialised source register', () => {
    expect(() => check('mov %r0, %r3\nexit')).toThrow(/^pc 0 \(mov %r0, %r3\): reads uninitialised register r3 \(source\)$/);
  });

  it('rejects an uninitialised memory base, stored value and compared register', () => {
    expect(() => check('ldxdw %r0, [%r4+0]\nexit')).toThrow(/pc 0 \(ldxdw %r0, \[%r4\+0\]\): reads uninitialised register r4 \(memory base\)/);
    expect(() => check('stxdw [%r10-8], %r7\nmov %r0, 0\nexit')).toThrow(/pc 0 .*uninitialised register r7 \(source\)/);
    expect(() => check('mov %r0, 0\njeq %r6, 1, +0\nexit')).toThrow(/pc 1 .*uninitialised register r6 \(compared register\)/);
    expect(() => check('add %r5, 1\nmov %r0, 0\nexit')).toThrow(/pc 0 \(add %r5, 1\): reads uninitialised register r5 \(operand\)/);
  });

  it('rejects exit with r0 uninitialised, also after a helper that returns nothing', () => {
    expect(() => check('exit')).toThrow(/pc 0 \(exit\): reads uninitialised register r0 \(return value\)/);
    const submit = lines(MAP, 'mov %r2, 8', 'mov %r3, 0', 'call 131', 'jne %r0, 0, +1', 'exit', 'mov %r1, %r0', 'mov %r2, 0', 'call 132', 'exit');
    expect(() => check(submit)).toThrow(/pc 10 \(exit\): reads uninitialised register r0/);
  });

  it('rejects reading r1-r5 after a helper call clobbered them', () => {
    expect(() => check('mov %r1, 1\ncall 5\nmov %r0, %r1\nexit')).toThrow(/pc 2 \(mov %r0, %r1\): reads uninitialised register r1/);
    expect(() => check('call 5\ncall 1\nexit')).toThrow(
      /pc 1 \(call 1\): argument 1 of map_lookup_elem#1 \(r1, ARG_CONST_MAP_PTR\) is uninitialised/,
    );
  });

  it('rejects a scalar where a map pointer is required', () => {
    expect(() => check(lines('mov %r1, 5', ...KEY_ON_STACK, 'call 1', 'exit'))).toThrow(
      /pc 4 \(call 1\): argument 1 of map_lookup_elem#1 \(r1, ARG_CONST_MAP_PTR\) is scalar 5, not a map pointer/,
    );
    expect(() => check(lines('mov %r1, %r10', 'add %r1, -8', 'mov %r2, 0', 'mov %r3, 0', 'call 130', 'exit'))).toThrow(
      /argument 1 of ringbuf_output#130 .* is pointer to stack r10-8, not a map pointer/,
    );
  });

  it('rejects a non-pointer where a key or value pointer is required', () => {
    expect(() => check(lines(MAP, 'mov %r2, 16', 'call 1', 'exit'))).toThrow(
      /pc 3 \(call 1\): argument 2 of map_lookup_elem#1 \(r2, ARG_PTR_TO_MAP_KEY\) is scalar 16, not a pointer to memory/,
    );
    expect(() => check(lines(MAP, ...KEY_ON_STACK, 'mov %r3, 0', 'mov %r4, 0', 'call 2', 'exit'))).toThrow(
      /argument 3 of map_update_elem#2 \(r3, ARG_PTR_TO_MAP_VALUE\) is scalar 0, not a pointer to memory/,
    );
    // The map pointer itself is not memory either.
    expect(() => check(lines(MAP, 'mov %r2, %r1', 'call 1', 'exit'))).toThrow(/argument 2 .* is map pointer \(map 1\), not a pointer to memory/);
  });

  it('rejects a size argument that is not a scalar', () => {
    const src = lines('mov %r1, %r10', 'add %r1, -16', 'mov %r2, %r10', 'mov %r3, 0', 'call 4', 'exit');
    expect(() => check(src)).toThrow(/pc 4 \(call 4\): argument 2 of probe_read#4 \(r2, ARG_CONST_SIZE_OR_ZERO\) is pointer to stack r10\+0, not a scalar size/);
  });

  it('rejects a wrong context, ring buffer record or callback argument', () => {
    expect(() => check(lines('mov %r1, %r10', 'lddw %r2, 0xfd00000001', 'mov %r3, 0', 'call 12', 'mov %r0, 0', 'exit'))).toThrow(
      /argument 1 of tail_call#12 \(r1, ARG_PTR_TO_CTX\) is pointer to stack r10\+0, not the context pointer/,
    );
    expect(() => check(lines(MAP, ...KEY_ON_STACK, 'call 1', 'jeq %r0, 0, +3', 'mov %r1, %r0', 'mov %r2, 0', 'call 132', 'mov %r0, 0', 'exit'))).toThrow(
      /argument 1 of ringbuf_discard#133|argument 1 of ringbuf_submit#132 \(r1, ARG_PTR_TO_RINGBUF_MEM\) is pointer to map value, not a reserved ring buffer record/,
    );
    expect(() => check(lines('mov %r1, 4', 'mov %r2, 7', 'mov %r3, 0', 'mov %r4, 0', 'call 181', 'exit'))).toThrow(
      /argument 2 of loop#181 \(r2, ARG_PTR_TO_FUNC\) is scalar 7, not a function reference/,
    );
  });

  it('rejects in a bpf-to-bpf function too, naming the pc', () => {
    expect(() => check(lines('call local f', 'exit', 'f:', 'mov %r0, %r6', 'exit'))).toThrow(/pc 2 \(mov %r0, %r6\): reads uninitialised register r6/);
  });
});

describe('register kinds at load time: valid programs are accepted', () => {
  it('has argument kinds for every helper the VM implements', () => {
    const implemented = Object.values(BPF_FUNC).filter((id) => helperDenied(id, BPF_PROG_TYPE.UNSPEC) === undefined);
    expect(implemented.length).toBeGreaterThan(30);
    for (const id of implemented) expect(helperSignature(id)?.args.length, `helper ${id}`).toBeLessThanOrEqual(5);
    expect(helperSignature(BPF_FUNC.map_update_elem)).toEqual({
      args: ['ARG_CONST_MAP_PTR', 'ARG_PTR_TO_MAP_KEY', 'ARG_PTR_TO_MAP_VALUE', 'ARG_ANYTHING'], ret: 'RET_INTEGER',
    });
  });

  it('accepts NULL where a helper takes memory or NULL (csum_diff with empty ranges)', () => {
    expect(() => check(lines('mov %r1, 0', 'mov %r2, 0', 'mov %r3, 0', 'mov %r4, 0', 'mov %r5, 0', 'call 28', 'exit'), BPF_PROG_TYPE.XDP)).not.toThrow();
    expect(() => check(lines('mov %r1, 8', 'mov %r2, 0', 'mov %r3, 0', 'mov %r4, 0', 'mov %r5, 0', 'call 28', 'exit'), BPF_PROG_TYPE.XDP)).toThrow(
      /argument 1 of csum_diff#28 \(r1, ARG_PTR_TO_MEM_OR_NULL\) is scalar 8, not a pointer to memory or NULL/,
    );
  });

  it('spills a map pointer and a key pointer to the stack across a helper call and fills them back', () => {
    expect(() => check(lines(
      MAP, 'stxdw [%r10-16], %r1', ...KEY_ON_STACK, 'stxdw [%r10-24], %r2',
      'call 5', // clobbers r1..r5
      'ldxdw %r1, [%r10-16]', 'ldxdw %r2, [%r10-24]', 'call 1',
      'jeq %r0, 0, +1', 'ldxdw %r0, [%r0+0]', 'exit',
    ))).not.toThrow();
  });

  it('accepts a join of different pointer kinds, and of a pointer and a scalar, where a pointer is required', () => {
    expect(() => check(lines(
      'mov %r6, %r1', MAP, ...KEY_ON_STACK, 'call 1', 'mov %r7, %r0',
      'mov %r2, %r10', 'add %r2, -8',
      'jeq %r6, 0, +1', 'mov %r2, %r7', // stack pointer or map value
      'jne %r6, 1, +1', 'mov %r2, 0', // ... or NULL (the run-time check decides)
      MAP, 'call 1', 'mov %r0, 0', 'exit',
    ))).not.toThrow();
  });

  it('accepts a register initialised on only some paths (the kernel may know the others never meet)', () => {
    expect(() => check(lines('ldxw %r6, [%r1+0]', 'jeq %r6, 0, +1', 'mov %r7, 1', 'jeq %r6, 0, +1', 'mov %r0, %r7', 'mov %r0, 0', 'exit'))).not.toThrow();
  });

  it('follows only the taken side of a branch on constants', () => {
    expect(() => check(lines('mov %r3, 0', 'jeq %r3, 0, +1', 'mov %r0, %r5', 'mov %r0, 0', 'exit'))).not.toThrow();
    expect(() => check(lines('mov32 %r3, -1', 'jgt32 %r3, 5, +1', 'mov %r0, %r5', 'mov %r0, 0', 'exit'))).not.toThrow();
    expect(() => check(lines('mov %r3, -1', 'jslt %r3, 0, +1', 'mov %r0, %r5', 'mov %r0, 0', 'exit'))).not.toThrow();
    // Not taken: the fall-through reads r5 and is rejected.
    expect(() => check(lines('mov %r3, 1', 'jeq %r3, 0, +1', 'mov %r0, %r5', 'mov %r0, 0', 'exit'))).toThrow(/pc 2 .*r5/);
  });

  it('accepts a loop that looks up a map and counts through the stack', () => {
    expect(() => check(lines(
      'mov %r6, 0', 'stdw [%r10-8], 0',
      'loop:', MAP, 'mov %r2, %r10', 'add %r2, -8', 'call 1',
      'jeq %r0, 0, +2', 'ldxdw %r3, [%r0+0]', 'add %r6, %r3',
      'ldxdw %r4, [%r10-8]', 'add %r4, 1', 'stxdw [%r10-8], %r4', 'jlt %r4, 10, loop',
      'mov %r0, %r6', 'exit',
    ))).not.toThrow();
  });

  it('accepts a relocated map value address (a plain lddw constant) as a key, and bpf_loop with a callback', () => {
    expect(() => check(lines(MAP, 'lddw %r2, 0x10000', 'call 1', 'mov %r0, 0', 'exit'))).not.toThrow();
    const insns = assemble(lines('mov %r1, 4', 'lddw %r2, 0', 'mov %r3, %r10', 'add %r3, -8', 'mov %r4, 0', 'call 181', 'exit', 'mov %r0, %r1', 'exit'));
    insns[9] = (insns[9]! & 0x0f) | (4 << 4); // lddw src 4: a function reference ...
    new DataView(insns.buffer).setInt32(12, 6, true); // ... to the callback at slot 8
    expect(() => checkProgram(decodeProgram(insns), { checkHelper: () => undefined, lddwSources: new Set([0, 4]) })).not.toThrow();
  });

  // Best of several runs, so the figure is the check's cost and not the JavaScript engine warming up.
  it('checks a 4K-instruction program in well under 5 ms', () => {
    const body: string[] = ['mov %r6, 0', 'stdw [%r10-8], 0'];
    for (let i = 0; i < 400; i++) {
      body.push(MAP, 'mov %r2, %r10', 'add %r2, -8', 'call 1', `jeq %r0, 0, +2`, 'ldxdw %r3, [%r0+0]', 'add %r6, %r3', 'jgt %r6, 100, +0');
    }
    body.push('mov %r0, %r6', 'exit');
    const p = decodeProgram(assemble(body.join('\n')));
    expect(p.length).toBeGreaterThan(3600);
    const options = { checkHelper: () => undefined };
    let best = Infinity;
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      checkProgram(p, options);
      best = Math.min(best, performance.now() - t0);
    }
    expect(best).toBeLessThan(5);
  });
});

describe('register kinds at load time: clang-built objects', () => {
  const root = new URL('../../../', import.meta.url);
  const objects = [
    ...readdirSync(new URL('examples/', root), { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) =>
      readdirSync(new URL(`examples/${d.name}/`, root)).filter((f) => f.endsWith('.bpf.o')).map((f) => `examples/${d.name}/${f}`),
    ),
    ...['fixtures/vm/packet.bpf.o', 'fixtures/guests/probe.bpf.o', 'fixtures/object/core-el.bpf.o', 'fixtures/object/legacy-el.bpf.o',
      'fixtures/bad-input/rejected.bpf.o'].map((f) => `tests/${f}`),
  ];

  it.each(objects)('loads every program of %s through the VM backend', (file) => {
    const backend = openVmBackend({ mode: 'interp', memoryBytes: 8 << 20 });
    try {
      const obj = backend.loadObject(readFileSync(new URL(file, root)), { objectName: file });
      expect(obj.programNames().length).toBeGreaterThan(0);
    } finally {
      backend.close();
    }
  });
});
