// Where the `wbpf` command and the guest's thread load their code from: the esbuild bundle in
// dist/bundle/ (scripts/bundle.mjs; a few files instead of a hundred, which is most of the
// start-up time), or tsc's files. `npm run build` writes the bundle after tsc; a bundle older
// than tsc's output was left by an earlier build and may hold stale code, so it is passed over.

import { statSync } from 'node:fs';

/** `bundled` when that file exists and is not older than `plain`, else `plain`. */
export function preferBundle(bundled: URL, plain: URL): URL {
  try {
    const b = statSync(bundled, { throwIfNoEntry: false });
    if (!b) return plain;
    const p = statSync(plain, { throwIfNoEntry: false });
    return !p || b.mtimeMs >= p.mtimeMs ? bundled : plain;
  } catch {
    return plain;
  }
}
