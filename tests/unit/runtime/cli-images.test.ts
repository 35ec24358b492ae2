// `wbpf images` as a user sees it: one row per reference with digest, age and size.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const built = existsSync(cli);
const home = mkdtempSync(join(tmpdir(), 'wbpf-images-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

function wbpf(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, WBPF_HOME: home } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built)(`wbpf images${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('lists REFERENCE DIGEST CREATED SIZE, the size being every blob of the image', () => {
    const guest = join(root, 'examples/bootstrap/bootstrap.wasm');
    const object = join(root, 'examples/bootstrap/bootstrap.bpf.o');
    expect(wbpf('build', guest, object, '-t', 'localhost:5000/tools/bootstrap:1').code).toBe(0);
    const r = wbpf('images');
    expect(r.stderr).toBe('');
    const [header, row, ...rest] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^REFERENCE +DIGEST +CREATED +SIZE$/);
    expect(rest).toEqual([]);
    const m = /^localhost:5000\/tools\/bootstrap:1 +([0-9a-f]{12}) +(just now|\d+ seconds ago) +([\d.]+) KiB$/.exec(row!);
    expect(m, row).not.toBeNull();
    // The image holds the guest, the object, a config and the manifest: a little more than the two files.
    const files = statSync(guest).size + statSync(object).size;
    const kib = Number(m![3]) * 1024;
    expect(kib).toBeGreaterThan(files);
    expect(kib).toBeLessThan(files + 8192);
  });
});
