// Runs every test of the conformance suite through one engine and reports like the upstream
// runner, ending with "N passed, N failed".
import { readdirSync, readFileSync } from 'node:fs';
import { assemble } from '../../host-bindings/vm/assembler.js';
import { RawMachine } from '../../host-bindings/vm/raw.js';
import type { EngineMode } from '../../host-bindings/vm/program.js';
import { parseDataFile, rawToBytes } from './data-file.js';

export interface SuiteResult {
  passed: number;
  failed: number;
  lines: string[];
}

export function runSuite(dir: string, mode: EngineMode): SuiteResult {
  const machine = new RawMachine();
  const lines: string[] = [];
  let passed = 0, failed = 0;
  for (const file of readdirSync(`${dir}/tests`).filter((f) => f.endsWith('.data')).sort()) {
    const t = parseDataFile(file, readFileSync(`${dir}/tests/${file}`, 'utf8'));
    if (t.skip) {
      lines.push(`SKIP: ${file}: ${t.skip}`);
      continue;
    }
    let outcome: string;
    try {
      const code = t.raw ? rawToBytes(t.raw) : assemble(t.asm ?? '');
      const r0 = machine.run(code, t.mem, { mode });
      if (machine.lastEngine !== (mode === 'jit' ? 'jit' : 'interp')) throw new Error(`ran in ${machine.lastEngine}`);
      outcome = t.error !== undefined ? `expected error "${t.error}", got r0 0x${r0.toString(16)}`
        : r0 === t.result ? '' : `r0 0x${r0.toString(16)}, expected 0x${t.result?.toString(16)}`;
    } catch (e) {
      const message = (e as Error).message;
      outcome = t.error !== undefined && message.trim() === t.error ? '' : `error: ${message}`;
    }
    if (outcome) {
      failed++;
      lines.push(`FAIL: ${file}: ${outcome}`);
    } else {
      passed++;
      lines.push(`PASS: ${file}`);
    }
  }
  lines.push(`${passed} passed, ${failed} failed`);
  return { passed, failed, lines };
}
