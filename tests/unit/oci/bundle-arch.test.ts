// Per-architecture eBPF object layers (oci.md §5.3): built with an arch annotation, selected for
// the host's architecture (else the neutral layer), refused with a clear error otherwise.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostArch, OCI_ARCHITECTURES, selectObjects } from '../../../oci/arch.js';
import { buildBundle } from '../../../oci/bundle.js';
import { extractBundle, objectsFor, readBundle } from '../../../oci/bundle-reader.js';
import { sha256Digest } from '../../../oci/digest.js';
import { LayoutStore } from '../../../oci/layout-store.js';
import { parseObjectArg, readBundleSpec } from '../../../runtime/cli/commands/build.js';
import { writeBundleFiles } from '../../registry/bundles.js';

let dir: string;
let store: LayoutStore;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wbpf-arch-'));
  store = await LayoutStore.open(path.join(dir, 'store'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A guest, p.bpf.o for amd64 and for arm64 (different bytes), and a neutral common.bpf.o. */
async function perArchBundle() {
  const files = await writeBundleFiles(path.join(dir, 'f'), 100, [300, 400, 500]);
  return buildBundle(store, {
    guest: { path: files.guest },
    objects: [
      { path: files.objects[0]!, title: 'p.bpf.o', arch: 'amd64' },
      { path: files.objects[1]!, title: 'p.bpf.o', arch: 'arm64' },
      { path: files.objects[2]!, title: 'common.bpf.o' },
    ],
    created: '2026-01-01T00:00:00Z',
  });
}

const summary = (layers: { size: number; annotations?: Record<string, string> }[]) =>
  layers.map((l) => `${l.annotations?.['org.opencontainers.image.title']}:${l.annotations?.['io.wbpf.bpf.arch'] ?? 'any'}:${l.size}`);

describe('per-arch eBPF objects', () => {
  it('maps Node architectures to OCI names', () => {
    expect(hostArch('x64')).toBe('amd64');
    expect(hostArch('ia32')).toBe('386');
    expect(hostArch('arm64')).toBe('arm64');
    expect(OCI_ARCHITECTURES).toContain(hostArch());
  });

  it('annotates each per-arch layer and selects the host one, else the neutral one', async () => {
    const built = await perArchBundle();
    expect(summary(built.manifest.layers.slice(1))).toEqual(['p.bpf.o:amd64:300', 'p.bpf.o:arm64:400', 'common.bpf.o:any:500']);
    const view = await readBundle(store, built.descriptor);
    expect(view.objects).toHaveLength(3);
    expect(summary(objectsFor(view, 'amd64'))).toEqual(['p.bpf.o:amd64:300', 'common.bpf.o:any:500']);
    expect(summary(objectsFor(view, 'arm64'))).toEqual(['p.bpf.o:arm64:400', 'common.bpf.o:any:500']);
    const files = await extractBundle(store, view, path.join(dir, 'out'), 'arm64');
    expect(files.map((f) => path.basename(f))).toEqual(['tool.wasm', 'p.bpf.o', 'common.bpf.o']);
    expect((await fs.stat(path.join(dir, 'out', 'p.bpf.o'))).size).toBe(400);
  });

  it('fails on a host with objects only for other architectures, naming what the bundle has', async () => {
    const view = await readBundle(store, (await perArchBundle()).descriptor);
    expect(() => objectsFor(view, 'riscv64')).toThrow(
      /no eBPF object "p.bpf.o" for this host's architecture riscv64; the bundle has p.bpf.o \(amd64\), p.bpf.o \(arm64\), common.bpf.o/,
    );
    await expect(extractBundle(store, view, path.join(dir, 'none'), 'riscv64')).rejects.toThrow(/riscv64/);
    await expect(fs.access(path.join(dir, 'none'))).rejects.toThrow();
    const neutral = { mediaType: 'x', digest: sha256Digest(Buffer.from('n')), size: 1, annotations: { 'org.opencontainers.image.title': 'n.bpf.o' } };
    expect(selectObjects([neutral], 's390x', 'b')).toEqual([neutral]);
  });

  it('refuses unknown architecture names and duplicate titles for one architecture at build time', async () => {
    const files = await writeBundleFiles(path.join(dir, 'bad'), 100, [10, 10]);
    await expect(buildBundle(store, { guest: { path: files.guest }, objects: [{ path: files.objects[0]!, arch: 'x86_64' }] })).rejects.toThrow(
      /eBPF object 1 .*prog0.bpf.o: architecture "x86_64" is not an OCI architecture name \(one of amd64, arm64/,
    );
    const twice = [
      { path: files.objects[0]!, title: 'p.bpf.o', arch: 'amd64' },
      { path: files.objects[1]!, title: 'p.bpf.o', arch: 'amd64' },
    ];
    await expect(buildBundle(store, { guest: { path: files.guest }, objects: twice })).rejects.toThrow(/two layers are titled "p.bpf.o" for amd64/);
  });

  it('refuses to read a bundle whose arch annotation is unknown, leaving the store as it was', async () => {
    const built = await perArchBundle();
    const layers = built.manifest.layers.map((l, i) => (i === 1 ? { ...l, annotations: { ...l.annotations, 'io.wbpf.bpf.arch': 'pdp11' } } : l));
    const bytes = Buffer.from(JSON.stringify({ ...built.manifest, layers }));
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(bytes), size: bytes.length };
    await store.push(desc, Readable.from([bytes]));
    const index = await fs.readFile(path.join(store.root, 'index.json'), 'utf8');
    await expect(readBundle(store, desc)).rejects.toThrow(/eBPF object p.bpf.o \(io.wbpf.bpf.arch\): architecture "pdp11" is not an OCI architecture name/);
    expect(await fs.readFile(path.join(store.root, 'index.json'), 'utf8')).toBe(index);
  });

  it('parses PATH@ARCH on the command line and in wbpf.json / wbpf.yaml', async () => {
    expect(parseObjectArg('x86/p.bpf.o@amd64', 'o')).toEqual({ path: 'x86/p.bpf.o', arch: 'amd64' });
    expect(parseObjectArg('p.bpf.o', 'o')).toEqual({ path: 'p.bpf.o' });
    expect(parseObjectArg('v@1.2/p.bpf.o', 'o')).toEqual({ path: 'v@1.2/p.bpf.o' });
    expect(() => parseObjectArg('p.bpf.o@x64', 'object p.bpf.o@x64')).toThrow(/object p.bpf.o@x64: architecture "x64" is not an OCI architecture name/);
    await fs.writeFile(path.join(dir, 'wbpf.yaml'), 'guest: g.wasm\nobjects:\n  - a.bpf.o@arm64\n  - {path: b.bpf.o, arch: riscv64}\n');
    expect((await readBundleSpec(dir)).spec.objects).toEqual(['a.bpf.o@arm64', { path: 'b.bpf.o', arch: 'riscv64' }]);
    await fs.rm(path.join(dir, 'wbpf.yaml'));
    await fs.writeFile(path.join(dir, 'wbpf.json'), '{"guest": "g.wasm", "objects": [{"path": "b.bpf.o", "arch": "sparc"}]}');
    await expect(readBundleSpec(dir)).rejects.toThrow(/wbpf.json: objects\[0\].arch: architecture "sparc" is not an OCI architecture name/);
    await fs.writeFile(path.join(dir, 'wbpf.json'), '{"guest": "g.wasm", "objects": ["b.bpf.o@mips128"]}');
    await expect(readBundleSpec(dir)).rejects.toThrow(/objects\[0\]: architecture "mips128"/);
  });
});
