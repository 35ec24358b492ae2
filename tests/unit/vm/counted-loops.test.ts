// Counted loops (host-bindings/vm/jit-loops.ts): the JIT charges such a loop's whole trip count
// to the back-edge budget at its entry and runs it without per-iteration checks. Which loops
// qualify, that the charge is exact, and that no loop escapes the budget through it.
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../host-bindings/vm/assembler.js';
import { checkProgram } from '../../../host-bindings/vm/checks.js';
import { decodeProgram } from '../../../host-bindings/vm/isa.js';
import { buildCfg } from '../../../host-bindings/vm/jit-structure.js';
import { countedLoops } from '../../../host-bindings/vm/jit-loops.js';
import { RawMachine } from '../../../host-bindings/vm/raw.js';
import { prng } from '../../support/prng.js';
import { MODES } from './build.js';

const run = (mode: (typeof MODES)[number], src: string, budget: number) =>
  new RawMachine().run(assemble(src), new Uint8Array(0), { mode, budget });

/** The counted loops the analysis finds in a one-function program, as [reg, step, limit, narrow]. */
function counted(src: string): [number, number, number, boolean][] {
  const checked = checkProgram(decodeProgram(assemble(src)), { checkHelper: () => undefined });
  const f = checked.functions[0]!;
  const loops = countedLoops(checked.program, buildCfg(checked.program, f));
  return loops.filter((l) => l !== undefined).map((l) => [l!.reg, l!.step, l!.limit, l!.narrow]);
}

// Sum 0..n-1 the way clang rotates a `for` loop: step, test, jump back.
const upTo = (n: number) => `mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, %r2\nadd %r2, 1\njeq %r2, ${n}, out\nja l\nout:\nexit`;
// fib's loop in bench/vm-programs.bpf.c: a 32-bit countdown tested against 0, `!=` back in.
const downFrom = (n: number) => `mov %r0, 0\nmov32 %r2, ${n}\nl:\nadd %r0, 3\nadd32 %r2, -1\njne32 %r2, 0, l\nexit`;

describe('counted loops: which loops qualify', () => {
  it('finds count-up, countdown, 32-bit and `!=` forms', () => {
    expect(counted(upTo(10))).toEqual([[2, 1, 10, false]]);
    expect(counted(downFrom(10))).toEqual([[2, -1, 0, true]]);
    expect(counted('mov %r0, 0\nmov %r3, 5\nl:\nsub %r3, 1\njne %r3, -2, l\nexit')).toEqual([[3, -1, -2, false]]);
    // A 64-bit step tested in 32 bits counts in 32 bits.
    expect(counted('mov %r0, 0\nmov %r3, 5\nl:\nadd %r3, 1\njeq32 %r3, 9, out\nja l\nout:\nexit')).toEqual([[3, 1, 9, true]]);
  });

  it('refuses loops whose trip count it cannot know', () => {
    const refused = {
      'two writes to the counter': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 1\njeq %r2, 10, out\nadd %r2, 1\nja l\nout:\nexit',
      'a step of 2': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 2\njeq %r2, 10, out\nja l\nout:\nexit',
      'a test against a register': 'mov %r0, 0\nmov %r2, 0\nmov %r3, 10\nl:\nadd %r2, 1\njeq %r2, %r3, out\nja l\nout:\nexit',
      'an `==` that jumps back in': 'mov %r0, 0\nmov %r2, 9\nl:\nadd %r2, 1\njeq %r2, 10, l\nexit',
      'a `!=` that jumps out': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 1\njne %r2, 10, out\nja l\nout:\nexit',
      'a `<` test': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 1\njlt %r2, 10, l\nexit',
      'the step after the test': 'mov %r0, 0\nmov %r2, 0\nl:\njeq %r2, 10, out\nadd %r2, 1\nja l\nout:\nexit',
      'a path back that skips the test': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, 1\njeq %r0, 7, l\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      'a second exit': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, 1\njeq %r0, 7, out\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      'an exit inside': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, 1\njne %r0, 7, s\nexit\ns:\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      'a helper call': 'mov %r0, 0\nmov %r6, 0\nl:\nmov %r1, 1\ncall 5\nadd %r6, 1\njeq %r6, 10, out\nja l\nout:\nexit',
      'a load into the counter': 'mov %r0, 0\nstdw [%r10-8], 0\nmov %r2, 0\nl:\nldxdw %r2, [%r10-8]\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      'an atomic fetch into the counter': 'mov %r0, 0\nstdw [%r10-8], 0\nmov %r2, 0\nl:\nlock fetch add [%r10-8], %r2\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      'a 32-bit step tested in 64 bits against a negative number': 'mov %r0, 0\nmov %r2, 0\nl:\nadd32 %r2, -1\njeq %r2, -1, out\nja l\nout:\nexit',
    };
    for (const [what, src] of Object.entries(refused)) expect(counted(src), what).toEqual([]);
  });

  it('counts only the inner loop of a nest', () => {
    const nest = 'mov %r0, 0\nmov %r6, 0\no:\nmov %r2, 0\ni:\nadd %r0, 1\nadd %r2, 1\njeq %r2, 5, e\nja i\ne:\nadd %r6, 1\njlt %r6, 3, o\nexit';
    expect(counted(nest)).toEqual([[2, 1, 5, false]]);
  });
});

for (const mode of MODES) {
  // The JIT spends one unit per loop-header execution, the interpreter one per backward jump:
  // a loop that runs its header T times needs T from the JIT and T - 1 from the interpreter.
  const need = (headerRuns: number) => (mode === 'jit' ? headerRuns : headerRuns - 1);

  describe(`counted loops: budget (${mode})`, () => {
    it('charges the exact trip count', () => {
      expect(run(mode, upTo(1000), need(1000))).toBe(499500n);
      expect(() => run(mode, upTo(1000), need(1000) - 1)).toThrow(/back-edge budget exhausted/);
      expect(run(mode, downFrom(4096), need(4096))).toBe(3n * 4096n);
      expect(() => run(mode, downFrom(4096), need(4096) - 1)).toThrow(/back-edge budget exhausted/);
    });

    it('charges a counted inner loop at each entry of its checked outer loop', () => {
      const nest = 'mov %r0, 0\nmov %r6, 0\no:\nmov %r2, 0\ni:\nadd %r0, 1\nadd %r2, 1\njeq %r2, 5, e\nja i\ne:\nadd %r6, 1\njlt %r6, 3, o\nexit';
      // The JIT runs the outer header 3 times and the inner one 3 x 5; the interpreter jumps back 2 + 3 x 4 times.
      const total = mode === 'jit' ? 3 + 15 : 2 + 12;
      expect(run(mode, nest, total)).toBe(15n);
      expect(() => run(mode, nest, total - 1)).toThrow(/back-edge budget exhausted/);
    });

    it('cannot be used to escape the budget', () => {
      const escapes = {
        '2^32 rounds of a 32-bit countdown from 0': 'mov %r0, 0\nmov32 %r2, 0\nl:\nadd32 %r2, -1\njne32 %r2, 0, l\nexit',
        '2^64 - 1 rounds of a 64-bit count from 1': 'mov %r0, 0\nmov %r2, 1\nl:\nadd %r2, 1\njeq %r2, 0, out\nja l\nout:\nexit',
        'a count that steps over its limit': 'mov %r0, 0\nmov %r2, 0\nl:\nadd %r2, 1\njeq %r2, 10, out\nadd %r2, 1\nja l\nout:\nexit',
        'a zero-extended count tested against -1': 'mov %r0, 0\nmov %r2, 0\nl:\nadd32 %r2, -1\njeq %r2, -1, out\nja l\nout:\nexit',
        'a path back that skips the step': 'mov %r0, 0\nmov %r2, 0\nl:\njeq %r0, 0, l\nadd %r2, 1\njeq %r2, 10, out\nja l\nout:\nexit',
      };
      for (const [what, src] of Object.entries(escapes)) {
        expect(() => run(mode, src, 100_000), what).toThrow(/back-edge budget exhausted/);
      }
      // A negative budget covers nothing, counted loop or not.
      expect(() => run(mode, upTo(2), -5)).toThrow(/back-edge budget exhausted/);
    });

    it('agrees with a reference model on random counted loops and budgets', () => {
      const next = prng(0x5eed4);
      const int32 = () => (next() * 2 ** 32) | 0;
      for (let i = 0; i < 150; i++) {
        const loop = randomLoop(next, int32);
        const any = Math.floor(next() * 600) - 2;
        const budget = Number.isFinite(loop.headerRuns) ? [loop.headerRuns, loop.headerRuns - 1, any][i % 3]! : any;
        const what = `${loop.src.replace(/\n/g, '; ')} with budget ${budget}`;
        if (Number.isFinite(loop.headerRuns) && need(loop.headerRuns) <= budget) expect(run(mode, loop.src, budget), what).toBe(loop.r0);
        else expect(() => run(mode, loop.src, budget), what).toThrow(/back-edge budget exhausted/);
      }
    });
  });
}

/**
 * A loop `r0 += r2; step r2; test r2 against K` in one of its counted forms, with how many
 * times its header runs (Infinity when the test never holds within 1000 rounds) and r0 then.
 */
function randomLoop(next: () => number, int32: () => number): { src: string; headerRuns: number; r0: bigint } {
  const narrowStep = next() < 0.5, narrowTest = next() < 0.5, up = next() < 0.5, jumpBack = next() < 0.5;
  const v0 = next() < 0.3 ? BigInt.asUintN(64, (BigInt(int32()) << 32n) | BigInt(int32() >>> 0)) : BigInt.asUintN(64, BigInt(int32()));
  const c = up ? 1n : -1n;
  const limit = next() < 0.2 ? int32() : Number(BigInt.asIntN(32, v0 + c * BigInt(1 + Math.floor(next() * 400))));
  const mask = (1n << 64n) - 1n;
  let r2 = v0, r0 = 0n, headerRuns = Infinity;
  for (let k = 1; k <= 1000; k++) {
    r0 = (r0 + r2) & mask;
    r2 = narrowStep ? BigInt.asUintN(32, r2 + c) : (r2 + c) & mask;
    const hit = narrowTest ? BigInt.asUintN(32, r2) === BigInt.asUintN(32, BigInt(limit)) : r2 === BigInt.asUintN(64, BigInt(limit));
    if (hit) {
      headerRuns = k;
      break;
    }
  }
  const step = `${up === (next() < 0.5) ? 'add' : 'sub'}${narrowStep ? '32' : ''}`;
  const by = (step.startsWith('add') ? 1 : -1) * (up ? 1 : -1);
  const head = `lddw %r2, 0x${v0.toString(16)}\nmov %r0, 0\nl:\nadd %r0, %r2\n${step} %r2, ${by}`;
  const t = narrowTest ? '32' : '';
  const src = jumpBack ? `${head}\njne${t} %r2, ${limit}, l\nexit` : `${head}\njeq${t} %r2, ${limit}, out\nja l\nout:\nexit`;
  return { src, headerRuns, r0 };
}
