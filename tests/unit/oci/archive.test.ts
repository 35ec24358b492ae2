import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadArchive, saveArchive } from '../../../oci/archive.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { makeBundle } from '../../registry/bundles.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-archive-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('save and load', () => {
  it('round-trips tagged images through a tar of an OCI layout', async () => {
    const src = await LayoutStore.open(path.join(dir, 'src'));
    const a = await makeBundle(src, path.join(dir, 'a'));
    await src.tag(a.descriptor, 'localhost/a:1');
    const file = path.join(dir, 'out.tar');
    await saveArchive(src, ['localhost/a:1'], file);
    const dst = await LayoutStore.open(path.join(dir, 'dst'));
    expect(await loadArchive(dst, file)).toEqual(['localhost/a:1']);
    expect((await dst.resolve('localhost/a:1')).digest).toBe(a.descriptor.digest);
    await expect(saveArchive(src, ['localhost/missing:1'], path.join(dir, 'x.tar'))).rejects.toThrow(/no image tagged "localhost\/missing:1"/);
  });

  it.skipIf(!existsSync('/usr/bin/skopeo'))('writes archives skopeo reads as oci-archive', async () => {
    const src = await LayoutStore.open(path.join(dir, 'src'));
    const a = await makeBundle(src, path.join(dir, 'a'));
    await src.tag(a.descriptor, 'tool');
    const file = path.join(dir, 'out.tar');
    await saveArchive(src, ['tool'], file);
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${file}:tool`]);
    expect('sha256:' + createHash('sha256').update(raw).digest('hex')).toBe(a.descriptor.digest);
  });

  it('refuses archives with links, missing layout files, or garbage', async () => {
    const layout = path.join(dir, 'layout');
    await LayoutStore.open(layout);
    await fs.symlink('/etc/passwd', path.join(layout, 'blobs', 'sha256', 'link'));
    const withLink = path.join(dir, 'link.tar');
    await tar.c({ cwd: layout, file: withLink }, ['oci-layout', 'index.json', 'blobs']);
    const store = await LayoutStore.open(path.join(dir, 'store'));
    await expect(loadArchive(store, withLink)).rejects.toThrow(/refusing non-regular entries/);
    const noLayout = path.join(dir, 'nolayout.tar');
    await tar.c({ cwd: layout, file: noLayout }, ['index.json']);
    await expect(loadArchive(store, noLayout)).rejects.toThrow(/no oci-layout file/);
    const garbage = path.join(dir, 'garbage.tar');
    await fs.writeFile(garbage, 'x'.repeat(2000));
    await expect(loadArchive(store, garbage)).rejects.toThrow(/garbage.tar/);
    await expect(loadArchive(store, path.join(dir, 'none.tar'))).rejects.toThrow(/no such file/);
    expect(await store.list()).toEqual([]);
  });

  it('does not write outside its temp dir for ../ entries', async () => {
    const entry = (name: string, body: string): Buffer => {
      const h = Buffer.alloc(512);
      h.write(name, 0);
      h.write('0000644\0', 100);
      h.write('0000000\0', 108);
      h.write('0000000\0', 116);
      h.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
      h.write('00000000000\0', 136);
      h.write('0', 156);
      h.write('ustar\x0000', 257);
      h.fill(' ', 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
      const data = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      data.write(body);
      return Buffer.concat([h, data]);
    };
    const escaped = `wbpf-escaped-${process.pid}`;
    const evil = path.join(dir, 'evil.tar');
    await fs.writeFile(evil, Buffer.concat([entry('oci-layout', '{"imageLayoutVersion":"1.0.0"}'), entry(`../../${escaped}`, 'pwned'), Buffer.alloc(1024)]));
    const store = await LayoutStore.open(path.join(dir, 'store'));
    await expect(loadArchive(store, evil)).rejects.toThrow(/evil.tar/);
    expect(existsSync(path.join(os.tmpdir(), escaped))).toBe(false);
    expect(existsSync(path.join(path.dirname(os.tmpdir()), escaped))).toBe(false);
  });
});
