// The JIT's slow paths (host-bindings/vm/jit.ts) get what went wrong as the value of the branch
// that leaves for them, packed into one i32: the pc, the access size and the access kind must
// come back intact at any pc, in the same words as the interpreter's.
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { RawMachine } from '../../../host-bindings/vm/raw.js';
import { MODES } from './build.js';

const run = (mode: (typeof MODES)[number], src: string, budget?: number) =>
  new RawMachine().run(assemble(src), new Uint8Array(16), { mode, ...(budget !== undefined ? { budget } : {}) });

// 70,000 instructions before the access: its pc needs more than 16 bits.
const FAR = 70_000;
const padding = Array.from({ length: FAR - 1 }, (_, i) => `mov %r${i % 5 === 0 ? 3 : 4}, ${i}`).join('\n');

for (const mode of MODES) {
  describe(`slow-path exits (${mode})`, () => {
    it('reports each size and kind of faulting access with its pc', () => {
      const cases: [string, RegExp][] = [
        ['ldxb %r0, [%r1+16]', /out-of-bounds load of 1 byte\(s\) at address 0x[0-9a-f]+ \(pc 1\)/],
        ['ldxh %r0, [%r1+15]', /out-of-bounds load of 2 byte\(s\) .*\(pc 1\)/],
        ['ldxw %r0, [%r1+13]', /out-of-bounds load of 4 byte\(s\) .*\(pc 1\)/],
        ['stxdw [%r1+9], %r1', /out-of-bounds store of 8 byte\(s\) .*\(pc 1\)/],
        ['lock add [%r1+16], %r1', /out-of-bounds store of 8 byte\(s\) .*\(pc 1\)/],
      ];
      for (const [insn, message] of cases) expect(() => run(mode, `mov %r0, 0\n${insn}\nexit`), insn).toThrow(message);
    });

    it('keeps a pc beyond 16 bits', () => {
      expect(() => run(mode, `mov %r0, 0\n${padding}\nldxw %r0, [%r1+16]\nexit`)).toThrow(
        new RegExp(`out-of-bounds load of 4 byte\\(s\\) at address 0x[0-9a-f]+ \\(pc ${FAR}\\)`),
      );
      expect(() => run(mode, `mov %r0, 0\n${padding}\nl:\nadd %r0, 1\njne %r0, 0, l\nexit`, 10)).toThrow(
        new RegExp(`pc ${FAR}: back-edge budget exhausted`),
      );
    });
  });
}
