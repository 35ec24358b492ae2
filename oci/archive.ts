// save/load: an OCI image layout as a tar archive (what `skopeo copy oci-archive:` and
// `docker save` of OCI images use), built with copy() between the store and a temp layout.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { WbpfError } from '../host-bindings/errors.js';
import { copyGraph } from './copy.js';
import { OBJECT_REFERRERS } from './referrers.js';
import { LayoutStore } from './layout-store.js';

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-archive-'));
  try {
    return await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Writes the given tagged images to `file` as a tar of an OCI layout, tags preserved. */
export async function saveArchive(store: LayoutStore, references: string[], file: string): Promise<void> {
  if (references.length === 0) throw new WbpfError('name at least one image to save');
  await withTempDir(async (dir) => {
    const layout = await LayoutStore.open(dir);
    for (const ref of references) await copyGraph(store, layout, await store.resolve(ref), { tag: ref, referrers: OBJECT_REFERRERS });
    await tar.c({ cwd: dir, file, portable: true }, ['oci-layout', 'index.json', 'blobs']);
  });
}

/** Loads every tagged image of an OCI-layout tar into the store; returns the references loaded. */
export async function loadArchive(store: LayoutStore, file: string): Promise<string[]> {
  try {
    await fs.access(file);
  } catch {
    throw new WbpfError(`${file}: no such file`);
  }
  return withTempDir(async (dir) => {
    const rejected: string[] = [];
    try {
      await tar.x({
        cwd: dir,
        file,
        strict: true,
        // Only plain files and directories: links and devices have no place in a layout.
        filter: (p, entry) => {
          const type = 'type' in entry ? entry.type : undefined;
          const ok = type === 'File' || type === 'OldFile' || type === 'Directory' || type === undefined;
          if (!ok) rejected.push(p);
          return ok;
        },
      });
    } catch (e) {
      throw new WbpfError(`${file}: not a readable tar archive: ${(e as Error).message}`);
    }
    if (rejected.length) throw new WbpfError(`${file}: refusing non-regular entries: ${rejected.slice(0, 5).join(', ')}`);
    try {
      await fs.access(path.join(dir, 'oci-layout'));
    } catch {
      throw new WbpfError(`${file}: not an OCI layout archive (no oci-layout file)`);
    }
    const layout = await LayoutStore.open(dir);
    const images = await layout.list();
    if (images.length === 0) throw new WbpfError(`${file}: the archive has no tagged images`);
    for (const image of images) await copyGraph(layout, store, image.descriptor, { tag: image.reference, referrers: OBJECT_REFERRERS });
    return images.map((i) => i.reference);
  });
}
