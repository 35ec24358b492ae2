// Legacy packet loads (ld_abs/ld_ind) in the VM without root: what the load-time check refuses,
// and what runs give in both engines. The expected values are what Linux 6.18 returned for the
// same programs and packet through BPF_PROG_TEST_RUN (tests/kernel/vm/ld-abs-differential.test.ts
// compares the two directly, as root).
import { afterEach, describe, expect, it } from 'vitest';
import { BPF_PROG_TYPE } from '../../../host-bindings/uapi.js';
import { Vm } from '../../../host-bindings/vm/vm.js';
import { MODES } from './build.js';
import { SKF_LL_OFF, SKF_NET_OFF, insn, ldAbs, ldInd, program, testPacket, type Size } from './ld-abs-programs.js';

const { SOCKET_FILTER: SF, SCHED_CLS: CLS, SCHED_ACT: ACT, XDP, KPROBE } = BPF_PROG_TYPE;
const EXIT = 'exit';
const CTX = 'mov %r6, %r1';

let vm: Vm;
afterEach(() => vm?.close());

function loadError(type: number, insns: Uint8Array): string {
  vm = new Vm({ mode: 'interp', memoryBytes: 4 << 20 });
  try {
    vm.loadProgram({ name: 'legacy', type, insns });
  } catch (e) {
    return (e as Error).message;
  }
  return 'loaded';
}

describe('legacy packet loads: load-time check', () => {
  it('allows them in socket filter and tc programs only, naming the pc and the program type', () => {
    for (const type of [SF, CLS, ACT]) expect(loadError(type, program(CTX, ldAbs('b', 0), EXIT))).toBe('loaded');
    expect(loadError(XDP, program(CTX, ldAbs('b', 0), EXIT))).toMatch(
      /load program "legacy": pc 1 \(ldabsb 0\): legacy packet loads \(ld_abs\/ld_ind\) are not allowed in XDP programs/,
    );
    expect(loadError(KPROBE, program(CTX, ldInd('w', 6, 2), EXIT))).toMatch(/pc 1 \(ldindw %r6, 2\): .*not allowed in KPROBE programs/);
  });

  it('refuses non-zero reserved fields and sizes or modes that do not exist', () => {
    const reserved = /reserved fields of a legacy packet load must be 0/;
    expect(loadError(SF, program(CTX, insn(0x30, 1, 0, 0, 0), EXIT))).toMatch(reserved); // dst r1
    expect(loadError(SF, program(CTX, insn(0x30, 0, 0, 1, 0), EXIT))).toMatch(reserved); // offset 1
    expect(loadError(SF, program(CTX, insn(0x30, 0, 2, 0, 0), 'mov %r2, 0', EXIT))).toMatch(reserved); // ld_abs with a source
    expect(loadError(SF, program(CTX, insn(0x38, 0, 0, 0, 0), EXIT))).toMatch(/pc 1 .*unknown load opcode 0x38/); // no DW form
    expect(loadError(SF, program(CTX, insn(0x58, 0, 1, 0, 0), EXIT))).toMatch(/unknown load opcode 0x58/);
    expect(loadError(SF, program(CTX, insn(0x60, 0, 0, 0, 0), EXIT))).toMatch(/unknown load opcode 0x60/);
    expect(loadError(SF, program(CTX, insn(0x50, 0, 11, 0, 0), EXIT))).toMatch(/invalid source register r11/);
  });

  it('needs r6 to be the unmodified context and an ld_ind source to be set, and clobbers r1-r5', () => {
    expect(loadError(SF, program(ldAbs('b', 0), EXIT))).toMatch(/pc 0 \(ldabsb 0\): reads uninitialised register r6/);
    expect(loadError(SF, program('mov %r6, 0', ldAbs('b', 0), EXIT))).toMatch(/r6 must be the context .* not scalar 0/);
    expect(loadError(SF, program(CTX, 'add %r6, 4', ldAbs('b', 0), EXIT))).toMatch(/r6 must be the context .* pointer to ctx \+ 4/);
    expect(loadError(SF, program(CTX, ldInd('b', 7, 0), EXIT))).toMatch(/uninitialised register r7 \(packet offset\)/);
    expect(loadError(SF, program(CTX, ldAbs('b', 0), 'mov %r0, %r1', EXIT))).toMatch(/pc 2 .*uninitialised register r1/);
    expect(loadError(SF, program(CTX, ldAbs('b', 0), 'mov %r0, %r5', EXIT))).toMatch(/uninitialised register r5/);
    expect(loadError(SF, program(CTX, ldAbs('b', 0), 'mov %r0, %r6', 'add %r0, %r7', EXIT))).toMatch(/uninitialised register r7/);
    expect(loadError(SF, program(CTX, 'mov %r7, 3', ldAbs('b', 0), 'add %r0, %r7', 'add %r0, %r6', EXIT))).toBe('loaded');
  });

  it('refuses them in bpf-to-bpf functions, as the kernel does without BTF', () => {
    const src = program(CTX, 'call local sub\nexit\nsub:\nmov %r6, %r1', ldAbs('b', 0), EXIT);
    expect(loadError(SF, src)).toMatch(/pc 4 \(ldabsb 0\): legacy packet loads are not allowed in bpf-to-bpf functions/);
  });
});

describe.each(MODES)('legacy packet loads: runs (%s)', (mode) => {
  const run = (type: number, insns: Uint8Array, data = testPacket(), options: { trace?: (l: string) => void; budget?: number; log?: (l: string) => void } = {}) => {
    vm = new Vm({ mode, memoryBytes: 4 << 20, ...options });
    const p = vm.loadProgram({ name: 'legacy', type, insns });
    if (!options.trace && !options.log) expect(p.exec.engine).toBe(mode);
    return vm.testRun(p, { dataIn: data }).retval;
  };
  const load = (type: number, size: Size, k: number) => run(type, program(CTX, ldAbs(size, k), EXIT));

  it('socket filter: offsets count from the network header, negative ones from either header', () => {
    expect(load(SF, 'w', 0)).toBe(0xf1021324);
    expect(load(SF, 'b', 0)).toBe(0xf1);
    expect(load(SF, 'w', 14)).toBe(0xdff00112);
    expect(load(SF, 'w', 46)).not.toBe(0); // the last whole word of the 50 bytes after the Ethernet header
    expect(load(SF, 'w', 47)).toBe(0);
    expect(load(SF, 'w', 60)).toBe(0);
    expect(load(SF, 'w', SKF_NET_OFF)).toBe(0xf1021324);
    expect(load(SF, 'w', SKF_LL_OFF)).toBe(0xaa142536);
    expect(load(SF, 'h', SKF_LL_OFF + 12)).toBe(0x0800);
    expect(load(SF, 'w', SKF_LL_OFF + 14)).toBe(0xf1021324);
    expect(load(SF, 'w', -1)).toBe(0);
    expect(load(SF, 'b', SKF_LL_OFF - 1)).toBe(0);
  });

  it('tc: offsets count from the mac header', () => {
    expect(load(CLS, 'w', 0)).toBe(0xaa142536);
    expect(load(CLS, 'h', 12)).toBe(0x0800);
    expect(load(CLS, 'w', 14)).toBe(0xf1021324);
    expect(load(CLS, 'w', 60)).toBe(0xff102132);
    expect(load(CLS, 'w', 61)).toBe(0);
    expect(load(CLS, 'b', 61)).toBe(0x10);
    expect(load(ACT, 'b', 63)).toBe((63 * 17 + 3) & 0xff);
    expect(load(CLS, 'b', 64)).toBe(0);
    expect(load(CLS, 'w', SKF_NET_OFF)).toBe(0xf1021324);
    expect(load(CLS, 'w', SKF_LL_OFF)).toBe(0xaa142536);
  });

  it('ld_ind adds the low 32 bits of src + imm as a signed offset', () => {
    expect(run(CLS, program(CTX, 'mov %r7, -1', ldInd('b', 7, 1), EXIT))).toBe(0xaa);
    expect(run(CLS, program(CTX, 'lddw %r7, 0x100000005', ldInd('b', 7, 0), EXIT))).toBe(0x58);
    expect(run(CLS, program(CTX, 'mov %r7, 0x7fffffff', ldInd('b', 7, 0x7fffffff), EXIT))).toBe(0);
    expect(run(CLS, program(CTX, `lddw %r7, ${SKF_LL_OFF}`, ldInd('h', 7, 12), EXIT))).toBe(0x0800);
  });

  it('a word with its top bit set is a value, zero-extended into r0, not a failure', () => {
    const data = testPacket();
    data.fill(0xff, 20, 24);
    expect(run(CLS, program(CTX, ldAbs('w', 20), EXIT), data)).toBe(0xffffffff);
    expect(run(CLS, program(CTX, ldAbs('w', 20), 'rsh %r0, 32', 'add %r0, 7', EXIT), data)).toBe(7);
  });

  it('an out-of-bounds load ends the program with r0 = 0', () => {
    expect(run(CLS, program(CTX, ldAbs('b', 1000), 'mov %r0, 7', EXIT))).toBe(0);
    expect(run(CLS, program(CTX, 'mov %r0, 9', ldAbs('b', 1), 'mov %r0, 7', EXIT))).toBe(7);
  });

  it('cannot move the packet: __sk_buff data, data_end and len are read-only, as in the kernel', () => {
    for (const [type, store] of [[SF, 'stw [%r1+76], 0'], [SF, 'stw [%r1+80], 0x7fffffff'], [CLS, 'stw [%r1+80], -1'], [CLS, 'stw [%r1+0], 1']] as const) {
      expect(() => run(type, program(CTX, store, ldAbs('b', 0), EXIT))).toThrow(/store of 4 byte\(s\) to read-only memory at address 0x[0-9a-f]+ \(pc 1\)/);
    }
    // What each type may write (cb[], and for tc mark, priority, tc_index...) stays writable.
    expect(run(SF, program(CTX, 'stw [%r1+48], 7\nstw [%r1+64], 7', ldAbs('b', 0), EXIT))).toBe(testPacket()[14]);
    expect(run(CLS, program(CTX, 'stw [%r1+8], 7\nstw [%r1+32], 7\nstw [%r1+44], 7\nstw [%r1+72], 7', ldAbs('b', 0), EXIT))).toBe(testPacket()[0]);
  });

  it('run inside a loop, and end the run from inside it when one falls off the packet', () => {
    const sum = (n: number) => program(CTX, 'mov %r7, 0\nmov %r8, 0', ldInd('b', 7, 0), `add %r8, %r0\nadd %r7, 1\njeq %r7, ${n}, +1\nja -5`, 'mov %r0, %r8', EXIT);
    const data = testPacket();
    expect(run(CLS, sum(64))).toBe(data.reduce((a, b) => a + b, 0));
    expect(run(CLS, sum(65))).toBe(0);
  });

  it('traces them by name', () => {
    if (mode === 'jit') return; // a trace forces the interpreter; once is enough
    const lines: string[] = [];
    run(CLS, program(CTX, 'mov %r7, 2', ldInd('b', 7, 1), ldAbs('h', 12), EXIT), testPacket(), { trace: (l) => lines.push(l) });
    expect(lines[2]).toMatch(/^ {4}2: ldindb %r7, 1 {2,}r0=/);
    expect(lines[3]).toMatch(/^ {4}3: ldabsh 12 {2,}r0=0x/);
  });

  it('a loop around one is never a counted loop: it still spends its budget, compiled', () => {
    // r0 = packet[0] + 1 each time round, never 5: the loop only ends when the budget does.
    const logs: string[] = [];
    const loop = program(CTX, 'mov %r0, 0', ldAbs('b', 0), 'add %r0, 1\njeq %r0, 5, +1\nja -4', EXIT);
    expect(() => run(CLS, loop, testPacket(), { budget: 1000, log: (l) => logs.push(l) })).toThrow(/budget exhausted/);
    expect(logs.join('\n')).not.toMatch(/JIT declined/);
  });
});
