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
    // Every failed load, attach, map lookup by name and close is explained; nothing else is logged.
    const explained = r.stderr.split('\n').filter(Boolean);
    expect(explained.filter((l) => l.startsWith('wbpf: wasm_load_bpf_object: '))).toHaveLength(2);
    expect(explained.every((l) => /^wbpf: (wasm_load_bpf_object|wasm_attach_bpf_program|wasm_bpf_map_fd_by_name|wasm_close_bpf_object): /.test(l))).toBe(true);
    expect(explained).toContain('wbpf: wasm_attach_bpf_program: attach "no_such_program": no program "no_such_program" of guest object #3 (-2)');
    expect(r.status).toBe(0);
  });
});
