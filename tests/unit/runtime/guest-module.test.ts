import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WASM_BPF_IMPORTS } from '../../../host-bindings/abi/wasm-bpf.js';
import { compileGuest, readGuest } from '../../../runtime/guest-module.js';
import { checkImports, missingImports } from '../../../runtime/imports.js';
import { WASI_MODULE, wasiFunctionNames } from '../../../runtime/wasi.js';

const guest = (name: string) => fileURLToPath(new URL(`../../fixtures/guests/${name}`, import.meta.url));

describe('guest modules', () => {
  it('rejects what is not a runnable core module, naming the file', async () => {
    await expect(readGuest('/no/such.wasm')).rejects.toThrow('cannot read guest /no/such.wasm: no such file');
    await expect(compileGuest(new Uint8Array([1, 2, 3]), 'x.wasm')).rejects.toThrow('x.wasm: not a WebAssembly module: bad magic');
    const component = new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]);
    await expect(compileGuest(component, 'c.wasm')).rejects.toThrow('c.wasm: is a WebAssembly component');
    await expect(compileGuest(readFileSync(guest('truncated.wasm')), 't.wasm')).rejects.toThrow(/t\.wasm: invalid WebAssembly: /);
    // A module with no exports at all: (module)
    await expect(compileGuest(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), 'empty.wasm')).rejects.toThrow(
      'empty.wasm: the guest exports no _start function',
    );
  });

  it('lists every import the runtime does not provide, with its kind', async () => {
    const module = await compileGuest(readFileSync(guest('missing_import.wasm')), 'm.wasm');
    const provided = { [WASI_MODULE]: await wasiFunctionNames(), ...WASM_BPF_IMPORTS };
    expect(missingImports(module, provided)).toEqual([
      { module: 'env', name: 'does_not_exist', kind: 'function' },
      { module: 'wasm_bpf', name: 'wasm_no_such_call', kind: 'function' },
    ]);
    expect(() => checkImports(module, provided, 'm.wasm')).toThrow(/env\.does_not_exist \(function\)\n  wasm_bpf\.wasm_no_such_call/);
    const probe = await compileGuest(readFileSync(guest('abi_probe.wasm')), 'p.wasm');
    expect(missingImports(probe, provided)).toEqual([]);
  });
});
