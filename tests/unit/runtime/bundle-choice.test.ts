// preferBundle: the bundle when it is there and not older than tsc's output, else tsc's output.

import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { preferBundle } from '../../../runtime/bundle-choice.js';

const work = mkdtempSync(join(tmpdir(), 'wbpf-bundle-choice-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
/** A file with the given modification time (seconds since the epoch); its URL. */
function file(mtime: number): URL {
  const path = join(work, `f${n++}.js`);
  writeFileSync(path, '');
  utimesSync(path, mtime, mtime);
  return pathToFileURL(path);
}
const missing = () => pathToFileURL(join(work, `missing${n++}.js`));

describe('preferBundle', () => {
  it('takes the bundle when it is newer than, or as new as, the unbundled file', () => {
    const plain = file(1_000);
    const newer = file(2_000);
    expect(preferBundle(newer, plain)).toBe(newer);
    const same = file(1_000);
    expect(preferBundle(same, plain)).toBe(same);
  });

  it('passes over a bundle older than the unbundled file (tsc ran after the bundler)', () => {
    const plain = file(2_000);
    expect(preferBundle(file(1_000), plain)).toBe(plain);
  });

  it('takes the unbundled file when there is no bundle, and the bundle when only it exists', () => {
    const plain = file(1_000);
    expect(preferBundle(missing(), plain)).toBe(plain);
    const bundle = file(1_000);
    expect(preferBundle(bundle, missing())).toBe(bundle);
  });
});
