// Checks a guest's imports against what the runtime provides, before anything runs: a guest
// that needs a function we do not have fails with the complete list instead of a link error
// naming only the first one.

import { WbpfError } from '../host-bindings/errors.js';

/** Provided imports: module name -> function names. Everything provided is a function. */
export type ProvidedImports = Record<string, readonly string[]>;

export interface MissingImport {
  module: string;
  name: string;
  kind: string;
}

export function missingImports(module: WebAssembly.Module, provided: ProvidedImports): MissingImport[] {
  const missing: MissingImport[] = [];
  for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind === 'function' && provided[from]?.includes(name)) continue;
    missing.push({ module: from, name, kind });
  }
  return missing;
}

/** Throws a WbpfError listing every import the runtime does not provide. */
export function checkImports(module: WebAssembly.Module, provided: ProvidedImports, file: string): void {
  const missing = missingImports(module, provided);
  if (missing.length === 0) return;
  const list = missing.map((m) => `  ${m.module}.${m.name} (${m.kind})`).join('\n');
  throw new WbpfError(`${file}: the guest imports ${missing.length} thing(s) this runtime does not provide:\n${list}`);
}

/** Whether the guest imports anything from one of these modules. */
export function importsFrom(module: WebAssembly.Module, modules: readonly string[]): boolean {
  return WebAssembly.Module.imports(module).some((i) => modules.includes(i.module));
}
