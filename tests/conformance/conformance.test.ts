// The bpf_conformance suite (../shared/conformance) through the interpreter and the JIT.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runSuite } from './runner.js';
import { SUITE_DIR } from './suite.js';

const present = existsSync(`${SUITE_DIR}/tests`);

describe.skipIf(!present)(`bpf_conformance suite at ${SUITE_DIR}`, () => {
  for (const mode of ['interp', 'jit'] as const) {
    it(`passes every test in the ${mode === 'jit' ? 'JIT' : 'interpreter'}`, () => {
      const result = runSuite(SUITE_DIR, mode);
      const summary = result.lines[result.lines.length - 1]!;
      const failures = result.lines.filter((l) => l.startsWith('FAIL'));
      console.log([`conformance suite, ${mode === 'jit' ? 'JIT' : 'interpreter'}:`, ...failures, summary].join('\n'));
      expect(failures).toEqual([]);
      expect(summary).toBe('313 passed, 0 failed');
    });
  }
});
