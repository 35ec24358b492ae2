// "auto" programs tier up through the JIT's own thread: once hot they keep running in the
// interpreter, with the same results, until the module comes back, then run compiled; a program
// the JIT declines stays interpreted. The thread is the compiled dist/ one (the TypeScript
// sources compile in place), so this needs `npm run build`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../../../dist/host-bindings/vm/', import.meta.url));
const built = existsSync(join(dist, 'jit-worker.js'));
const XDP = 6;

async function load() {
  const { Vm } = (await import(join(dist, 'vm.js'))) as typeof import('../../../host-bindings/vm/vm.js');
  const { assemble } = (await import(join(dist, 'assembler.js'))) as typeof import('../../../host-bindings/vm/assembler.js');
  return { Vm, assemble };
}

/** Runs `p` until it runs compiled (or `ms` pass), checking every result against the first. */
async function runUntilCompiled(vm: import('../../../host-bindings/vm/vm.js').Vm, p: import('../../../host-bindings/vm/vm.js').VmProgram, ms: number) {
  const data = new Uint8Array(64).map((_, i) => i);
  const first = vm.testRun(p, { dataIn: data }).retval;
  const engines: string[] = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    expect(vm.testRun(p, { dataIn: data }).retval).toBe(first);
    engines.push(p.exec.engine);
    if (p.exec.engine === 'jit') break;
    await new Promise((r) => setTimeout(r, 2));
  }
  return { first, engines };
}

describe.skipIf(!built)(`background JIT${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('keeps a hot program interpreted until the JIT thread answers, then runs it compiled, with the same results', async () => {
    const { Vm, assemble } = await load();
    const vm = new Vm({ mode: 'auto' });
    try {
      const p = vm.loadProgram({ name: 'sum', type: XDP, insns: assemble('mov %r0, 0\nmov %r1, 100\nadd %r0, %r1\nsub %r1, 1\njne %r1, 0, -3\nexit') });
      const { first, engines } = await runUntilCompiled(vm, p, 20_000);
      expect(first).toBe(5050);
      expect(engines.at(-1)).toBe('jit');
      // The runs right after the hot threshold did not wait for the compilation.
      expect(engines.slice(0, 17).every((e) => e === 'interp')).toBe(true);
    } finally {
      vm.close();
    }
  });

  it('leaves a program the JIT declines in the interpreter, and says why', async () => {
    const { Vm, assemble } = await load();
    const logs: string[] = [];
    const vm = new Vm({ mode: 'auto', log: (line) => logs.push(line) });
    try {
      // A loop with two entries (irreducible control flow): the JIT cannot structure it.
      const p = vm.loadProgram({
        name: 'two_entries', type: XDP,
        insns: assemble('mov %r0, 0\nldxw %r2, [%r1+0]\njeq %r2, 0, +1\nadd %r0, 1\nadd %r0, 2\njlt %r0, 10, -3\nexit'),
      });
      const deadline = Date.now() + 20_000;
      while (!logs.some((l) => l.includes('JIT declined')) && Date.now() < deadline) {
        vm.testRun(p, { dataIn: new Uint8Array(64) });
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(logs.find((l) => l.includes('JIT declined'))).toMatch(/^program "two_entries": JIT declined, interpreting: irreducible control flow: a loop entered at pc 3 has another entry$/);
      expect(p.exec.engine).toBe('interp');
    } finally {
      vm.close();
    }
  });
});
