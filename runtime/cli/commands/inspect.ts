// wbpf inspect: show a bundle (from the local store, else the registry) or a local file (a Wasm
// guest or a .bpf.o): manifest, layers, and the eBPF programs and maps inside.
import { promises as fs } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BundleView } from '../../../oci/bundle-reader.js';
import type { LayoutStore } from '../../../oci/layout-store.js';
import type { Target } from '../../../oci/target.js';
import type { BundleCapabilities } from '../../bundle-capabilities.js';
import { layerArch } from '../../../oci/arch.js';
import type { Descriptor } from '../../../oci/manifest.js';
import { ANNOTATION_TITLE } from '../../../oci/media-types.js';
import { UsageError, type CliCommand, type CliIo } from '../command.js';
import { helpRequested, humanSize, parsed, REGISTRY_FLAGS, REGISTRY_USAGE, registryOptions, reportErrors, writeJson } from '../oci-cli.js';

function isCapabilities(v: unknown): v is BundleCapabilities {
  return typeof v === 'object' && v !== null && Array.isArray((v as BundleCapabilities).objects);
}

/** `withSources`: say which object each program and map is in (not for one object file). */
function printCapabilities(io: CliIo, caps: BundleCapabilities, withSources = true): void {
  io.stdout.write('Programs:\n');
  const from = (o: BundleCapabilities['objects'][number]) => (!withSources ? '' : `  (${o.arch ? `${o.source}, ${o.arch}` : o.source})`);
  for (const o of caps.objects) for (const p of o.programs) io.stdout.write(`  ${p.name}  ${p.type}  ${p.attach ?? p.section}${from(o)}\n`);
  if (!caps.objects.some((o) => o.programs.length)) io.stdout.write('  none\n');
  io.stdout.write('Maps:\n');
  for (const o of caps.objects) for (const m of o.maps) io.stdout.write(`  ${m.name}  ${m.type}  key ${m.keySize} value ${m.valueSize} max ${m.maxEntries}${from(o)}\n`);
  if (!caps.objects.some((o) => o.maps.length)) io.stdout.write('  none\n');
}

async function inspectFile(file: string, bytes: Buffer, io: CliIo, json: boolean): Promise<number> {
  const isWasm = bytes.subarray(0, 4).equals(Buffer.from([0, 0x61, 0x73, 0x6d]));
  const isElf = bytes.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (!isWasm && !isElf) throw new UsageError(`${file}: neither a Wasm module nor an ELF object (and not a reference)`);
  const { computeCapabilities } = await import('../../bundle-capabilities.js');
  const caps = isWasm ? computeCapabilities(bytes, [], file) : computeCapabilities(undefined, [{ name: file, bytes, path: file }]);
  if (json) writeJson(io, { file, kind: isWasm ? 'wasm' : 'bpf-object', size: bytes.length, capabilities: caps });
  else {
    io.stdout.write(`File: ${file} (${isWasm ? 'Wasm guest' : 'eBPF object'}, ${humanSize(bytes.length)})\n`);
    if (isWasm) io.stdout.write(`Embedded eBPF objects: ${caps.objects.length}\n`);
    printCapabilities(io, caps, isWasm);
  }
  return 0;
}

function printBundle(io: CliIo, name: string, view: BundleView): void {
  const m = view.manifest;
  io.stdout.write(`Reference: ${name}\nDigest: ${view.descriptor.digest}\nMedia type: ${view.descriptor.mediaType}\n`);
  io.stdout.write(`Kind: ${view.kind}${view.os ? ` (${view.os})` : ''}\n`);
  if (m.artifactType) io.stdout.write(`Artifact type: ${m.artifactType}\n`);
  io.stdout.write(`Config: ${m.config.mediaType} ${m.config.digest}\n`);
  for (const [k, v] of Object.entries(m.annotations ?? {})) if (!k.startsWith('io.wbpf.')) io.stdout.write(`Annotation: ${k}=${v}\n`);
  io.stdout.write('Layers:\n');
  m.layers.forEach((l, i) => io.stdout.write(layerLine(i, l)));
  if (view.referrer) {
    io.stdout.write(`eBPF objects (referrer ${view.referrer.digest}):\n`);
    view.objects.forEach((l, i) => io.stdout.write(layerLine(i, l)));
  }
}

function layerLine(i: number, l: Descriptor): string {
  const arch = layerArch(l);
  return `  ${i}  ${l.annotations?.[ANNOTATION_TITLE] ?? '(untitled)'}${arch ? ` [${arch}]` : ''}  ${l.mediaType}  ${humanSize(l.size)}  ${l.digest}\n`;
}

export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: 'Show a bundle, Wasm guest or eBPF object: layers, programs, maps',
  usage: `wbpf inspect [--json] [--remote] REFERENCE|FILE

A reference is looked up in the local store, then in its registry (--remote: registry only).
${REGISTRY_USAGE}`,
  async run(args, io) {
    if (helpRequested(args, io, inspectCommand.usage)) return 0;
    const { values, positionals } = parsed(() => parseArgs({ args, allowPositionals: true, options: { ...REGISTRY_FLAGS, remote: { type: 'boolean' } } }));
    if (positionals.length !== 1) throw new UsageError('inspect takes one reference or file');
    const arg = positionals[0]!;
    return reportErrors('inspect', io, async () => {
      const { readBundle } = await import('../../../oci/bundle-reader.js');
      const { localName, repositoryFor } = await import('../../../oci/client.js');
      const { parseReference, referenceTarget } = await import('../../../oci/reference.js');
      const { RegistryPool } = await import('../../../oci/registry-client.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const bytes = await fs.readFile(arg).catch(() => undefined);
      if (bytes) return inspectFile(arg, bytes, io, !!values.json);
      const ref = parseReference(arg);
      const name = localName(ref);
      let target: Target;
      let desc;
      const store: LayoutStore | undefined = values.remote ? undefined : await openLocalStore();
      const local = store ? await store.resolve(name).catch(() => undefined) : undefined;
      if (store && local) {
        target = store;
        desc = local;
      } else {
        const repo = repositoryFor(new RegistryPool(await registryOptions(values)), ref, ['pull']);
        target = repo;
        desc = await repo.resolve(referenceTarget(ref));
      }
      const view = await readBundle(target, desc);
      const capabilities = isCapabilities(view.capabilities) ? view.capabilities : undefined;
      if (values.json) writeJson(io, { reference: name, source: target.name, descriptor: view.descriptor, kind: view.kind, manifest: view.manifest, referrer: view.referrer ?? null, objects: view.objects, config: view.config ?? null, capabilities: view.capabilities ?? null });
      else {
        printBundle(io, name, view);
        if (capabilities) printCapabilities(io, capabilities);
        else io.stdout.write('Capabilities: not declared by this bundle\n');
      }
      return 0;
    });
  },
};
