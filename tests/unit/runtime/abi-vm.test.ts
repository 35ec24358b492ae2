// The probe guest's ABI checks on the built-in VM backend, through the compiled CLI: the same
// answers as on the kernel (tests/kernel/abi.test.ts), without root.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROBE_ERRORS_EXPECTED } from '../abi/probe-expectations.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const vm = join(root, 'dist/host-bindings/vm/index.js');
const skip = !existsSync(cli) ? 'dist/ is missing, run npm run build' : !existsSync(vm) ? 'the VM backend is not built' : null;
const guests = 'tests/fixtures/guests';

describe.skipIf(skip !== null)(`wasm_bpf ABI on the VM backend${skip ? ` - skipped: ${skip}` : ''}`, () => {
  it('answers bad handles, pointers, names and commands with the documented negative values', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'run', '--backend', 'vm', '--dir', `${guests}:/fx`, `${guests}/abi_probe.wasm`, 'errors', '/fx/probe.bpf.o'],
      { cwd: root, encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(PROBE_ERRORS_EXPECTED);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2); // the two explained load failures
    expect(r.status).toBe(0);
  });
});
