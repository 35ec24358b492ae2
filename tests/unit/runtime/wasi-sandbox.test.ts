// --dir keeps a guest inside the directories it was given, symlinks included: a link on the way
// that leads out (absolute or by ..) gets "Capabilities insufficient", as wasmtime answers, while
// links that stay inside work; so do directory fds opened by the guest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveBeneath } from '../../../runtime/wasi-sandbox.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'dist/runtime/cli/main.js');
const probe = join(root, 'tests/fixtures/guests/fs_probe.wasm');
const built = existsSync(cli);

const work = realpathSync(mkdtempSync(join(tmpdir(), 'wbpf-sandbox-')));
const given = join(work, 'given');
const outside = join(work, 'outside');
mkdirSync(join(given, 'sub'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(given, 'sub', 'note'), 'inside\n');
writeFileSync(join(outside, 'secret'), 'secret\n');
symlinkSync(outside, join(given, 'abs-out')); // absolute, out
symlinkSync('../outside', join(given, 'rel-out')); // relative, out
symlinkSync('sub', join(given, 'in')); // stays in
symlinkSync(join(outside, 'secret'), join(given, 'leak')); // a file outside
symlinkSync('../../outside', join(given, 'sub', 'up-out')); // out from a subdirectory
afterAll(() => rmSync(work, { recursive: true, force: true }));

function fsProbe(...ops: string[]): string[] {
  const r = spawnSync(process.execPath, [cli, 'run', '--dir', `${given}:/d`, probe, ...ops], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trimEnd().split('\n');
}

describe.skipIf(!built)(`--dir sandbox${built ? '' : ' (skipped: dist/ is not built, run npm run build)'}`, () => {
  it('refuses paths that leave the directory through a symlink, absolute or relative', () => {
    expect(fsProbe('read', '/d/abs-out/secret', 'read', '/d/rel-out/secret', 'read', '/d/leak', 'read', '/d/sub/up-out/secret', 'stat', '/d/leak')).toEqual([
      'read /d/abs-out/secret: Capabilities insufficient',
      'read /d/rel-out/secret: Capabilities insufficient',
      'read /d/leak: Capabilities insufficient',
      'read /d/sub/up-out/secret: Capabilities insufficient',
      'stat /d/leak: Capabilities insufficient',
    ]);
  });

  it('follows symlinks that stay inside, and shows a link itself without following it', () => {
    expect(fsProbe('read', '/d/in/note', 'read', '/d/sub/../in/note', 'lstat', '/d/leak', 'stat', '/d/in')).toEqual([
      'read /d/in/note: ok inside',
      'read /d/sub/../in/note: ok inside',
      'lstat /d/leak: ok link',
      'stat /d/in: ok dir',
    ]);
  });

  it('checks directory fds the guest opened, and writes through links', () => {
    expect(fsProbe('openat', '/d/sub', 'note', 'openat', '/d/in', 'note', 'openat', '/d/sub', 'up-out/secret', 'openat', '/d/sub', '../../outside/secret')).toEqual([
      'openat /d/sub note: ok inside',
      'openat /d/in note: ok inside',
      'openat /d/sub up-out/secret: Capabilities insufficient',
      expect.stringMatching(/^openat \/d\/sub \.\.\/\.\.\/outside\/secret: (Capabilities insufficient|Operation not permitted)$/),
    ]);
    expect(fsProbe('mkdir', '/d/abs-out/made', 'rename', '/d/sub/note', '/d/rel-out/stolen', 'mkdir', '/d/in/made')).toEqual([
      'mkdir /d/abs-out/made: Capabilities insufficient',
      'rename /d/sub/note: Capabilities insufficient',
      'mkdir /d/in/made: ok',
    ]);
    expect(existsSync(join(outside, 'made'))).toBe(false);
    expect(existsSync(join(outside, 'stolen'))).toBe(false);
    expect(existsSync(join(given, 'sub', 'made'))).toBe(true);
  });
});

describe('resolveBeneath', () => {
  it('resolves every link on the way and says null when the result leaves the root', () => {
    expect(resolveBeneath(given, given, 'in/note', true)).toBe(join(given, 'sub', 'note'));
    expect(resolveBeneath(given, given, 'abs-out/secret', true)).toBeNull();
    expect(resolveBeneath(given, given, 'leak', true)).toBeNull();
    expect(resolveBeneath(given, given, 'leak', false)).toBe(join(given, 'leak'));
    expect(resolveBeneath(given, join(given, 'sub'), '..', true)).toBe(given);
    expect(resolveBeneath(given, given, '..', true)).toBeNull();
    expect(resolveBeneath(given, given, 'new/dir/file', true)).toBe(join(given, 'new', 'dir', 'file'));
  });
});
