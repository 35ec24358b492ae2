// wbpf build: make a bundle from a guest and eBPF objects (or a directory with wbpf.json /
// wbpf.yaml), describe what the objects do, store it in the local store and tag it. An object
// given as PATH@ARCH is for that architecture only (oci.md §5.3).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FormatError, WbpfError } from '../../../host-bindings/errors.js';
import { validateArch } from '../../../oci/arch.js';
import type { BundleFile, BundleFormat } from '../../../oci/bundle.js';
import type { BundleCapabilities } from '../../bundle-capabilities.js';
import { UsageError, type CliCommand } from '../command.js';
import { helpRequested, parsed, reportErrors, writeJson } from '../oci-cli.js';

const SPEC_FILES = ['wbpf.json', 'wbpf.yaml', 'wbpf.yml'];
const FORMATS: BundleFormat[] = ['wbpf', 'ecli', 'cncf'];
const ANNOTATION_FIELDS: Record<string, string> = {
  version: 'org.opencontainers.image.version',
  description: 'org.opencontainers.image.description',
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  licenses: 'org.opencontainers.image.licenses',
  authors: 'org.opencontainers.image.authors',
  url: 'org.opencontainers.image.url',
};

/** A bundle description file (wbpf.json / wbpf.yaml); paths are relative to its directory. */
export interface BundleSpec {
  name?: string;
  tag?: string;
  guest: string;
  objects?: Array<string | { path: string; title?: string; arch?: string }>;
  os?: 'wasip1' | 'wasip2';
  format?: BundleFormat;
  annotations?: Record<string, string>;
  version?: string;
  description?: string;
  source?: string;
  revision?: string;
  licenses?: string;
  authors?: string;
  url?: string;
}

export async function readBundleSpec(dir: string): Promise<{ spec: BundleSpec; file: string }> {
  for (const name of SPEC_FILES) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      continue;
    }
    let value: unknown;
    try {
      value = name.endsWith('.json') ? JSON.parse(text) : (await import('yaml')).parse(text);
    } catch (e) {
      throw new FormatError(`${file}: ${(e as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FormatError(`${file}: must be an object`);
    const spec = value as Record<string, unknown>;
    if (typeof spec.guest !== 'string') throw new FormatError(`${file}: "guest" (path of the .wasm) is required`);
    if (spec.objects !== undefined && !Array.isArray(spec.objects)) throw new FormatError(`${file}: "objects" must be a list`);
    for (const [i, o] of ((spec.objects as unknown[]) ?? []).entries()) {
      if (typeof o === 'string') {
        parseObjectArg(o, `${file}: objects[${i}]`);
        continue;
      }
      if (typeof o !== 'object' || o === null || typeof (o as { path?: unknown }).path !== 'string') {
        throw new FormatError(`${file}: objects[${i}] must be a path, PATH@ARCH or {path, title?, arch?}`);
      }
      const { title, arch } = o as { title?: unknown; arch?: unknown };
      if (title !== undefined && typeof title !== 'string') throw new FormatError(`${file}: objects[${i}].title must be a string`);
      if (arch !== undefined) validateArch(arch, `${file}: objects[${i}].arch`);
    }
    if (spec.format !== undefined && !FORMATS.includes(spec.format as BundleFormat)) throw new FormatError(`${file}: format must be one of ${FORMATS.join(', ')}`);
    if (spec.os !== undefined && spec.os !== 'wasip1' && spec.os !== 'wasip2') throw new FormatError(`${file}: os must be wasip1 or wasip2`);
    if (spec.annotations !== undefined && (typeof spec.annotations !== 'object' || spec.annotations === null || Object.values(spec.annotations).some((v) => typeof v !== 'string'))) {
      throw new FormatError(`${file}: annotations must map names to strings`);
    }
    return { spec: value as BundleSpec, file };
  }
  throw new UsageError(`${dir} has no ${SPEC_FILES.join(' or ')}`);
}

/** `PATH@ARCH` → a per-arch object; a suffix after the last @ holding . or / is part of the path. */
export function parseObjectArg(arg: string, where: string): BundleFile {
  const at = arg.lastIndexOf('@');
  if (at <= 0 || !/^[A-Za-z0-9_-]+$/.test(arg.slice(at + 1))) return { path: arg };
  return { path: arg.slice(0, at), arch: validateArch(arg.slice(at + 1), where) };
}

function defaultReference(name: string, version?: string): string {
  const clean = name.toLowerCase().replace(/\.wasm$/, '').replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'bundle';
  return `localhost/${clean}:${version && /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(version) ? version : 'latest'}`;
}

export const buildCommand: CliCommand = {
  name: 'build',
  summary: 'Build a bundle (guest + eBPF objects) into the local store',
  usage: `wbpf build [options] DIR
wbpf build [options] GUEST.wasm [OBJECT.bpf.o[@ARCH]...]

An object written OBJECT.bpf.o@ARCH (amd64, arm64, arm, 386, ppc64le, s390x, riscv64, ...) is
for that architecture only; give one per architecture under the same file name (x86/p.bpf.o@amd64
arm/p.bpf.o@arm64) and run picks the host's, else an object without @ARCH.
DIR holds a wbpf.json or wbpf.yaml: {name, version, guest, objects: [path | path@arch |
{path, title, arch}], os, format, annotations, description, source, revision, licenses}.

  -t, --tag REF            reference to tag the bundle with (default localhost/<name>:<version>)
  --format wbpf|ecli|cncf  canonical bundle (default) or a single-layer compat image; cncf puts
                           the .bpf.o files in a referrer manifest (subject = the image)
  --os wasip1|wasip2       Wasm platform recorded in the config (default wasip1)
  --annotation KEY=VALUE   manifest annotation (repeatable)
  --created TIME           RFC 3339 creation time (fix it for reproducible digests)
  --json                   machine-readable output`,
  async run(args, io) {
    if (helpRequested(args, io, buildCommand.usage)) return 0;
    const { values, positionals } = parsed(() =>
      parseArgs({
        args,
        allowPositionals: true,
        options: {
          tag: { type: 'string', short: 't' },
          format: { type: 'string' },
          os: { type: 'string' },
          annotation: { type: 'string', multiple: true },
          created: { type: 'string' },
          json: { type: 'boolean' },
        },
      }),
    );
    if (positionals.length === 0) throw new UsageError('build needs a directory or a guest .wasm');
    if (values.format !== undefined && !FORMATS.includes(values.format as BundleFormat)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
    if (values.os !== undefined && values.os !== 'wasip1' && values.os !== 'wasip2') throw new UsageError('--os must be wasip1 or wasip2');
    if (values.created !== undefined && !Number.isFinite(Date.parse(values.created))) throw new UsageError(`--created "${values.created}" is not a time`);
    const annotations: Record<string, string> = {};
    for (const a of values.annotation ?? []) {
      const eq = a.indexOf('=');
      if (eq <= 0) throw new UsageError(`--annotation "${a}" must be KEY=VALUE`);
      annotations[a.slice(0, eq)] = a.slice(eq + 1);
    }
    return reportErrors('build', io, async () => {
      const { buildBundle } = await import('../../../oci/bundle.js');
      const { localName } = await import('../../../oci/client.js');
      const { parseReference } = await import('../../../oci/reference.js');
      const { openLocalStore } = await import('../../../oci/store-location.js');
      const { computeCapabilities } = await import('../../bundle-capabilities.js');
      let guest: BundleFile;
      let objects: BundleFile[];
      let spec: BundleSpec | undefined;
      const first = positionals[0]!;
      const st = await fs.stat(first).catch(() => undefined);
      if (!st) throw new UsageError(`${first}: no such file or directory`);
      if (st.isDirectory()) {
        if (positionals.length > 1) throw new UsageError('build DIR takes no other files (list them in the spec file)');
        spec = (await readBundleSpec(first)).spec;
        guest = { path: path.resolve(first, spec.guest) };
        objects = (spec.objects ?? []).map((o) => {
          const file = typeof o === 'string' ? parseObjectArg(o, 'objects') : { ...o };
          return { ...file, path: path.resolve(first, file.path) };
        });
      } else {
        guest = { path: first };
        objects = positionals.slice(1).map((p) => parseObjectArg(p, `object ${p}`));
      }
      for (const [field, key] of Object.entries(ANNOTATION_FIELDS)) {
        const v = spec?.[field as keyof BundleSpec];
        if (typeof v === 'string') annotations[key] ??= v;
      }
      const guestBytes = await fs.readFile(guest.path).catch((e: Error) => {
        throw new UsageError(`guest ${guest.path}: ${e.message}`);
      });
      const layers = await Promise.all(
        objects.map(async (o) => ({
          name: o.title ?? path.basename(o.path),
          bytes: await fs.readFile(o.path).catch((e: Error) => {
            throw new WbpfError(`eBPF object ${o.path}: ${e.message}`);
          }),
          ...(o.arch ? { arch: o.arch } : {}),
          path: o.path,
        })),
      );
      const capabilities: BundleCapabilities = computeCapabilities(guestBytes, layers, guest.path);
      const reference = localName(parseReference(values.tag ?? spec?.tag ?? defaultReference(spec?.name ?? path.basename(guest.path), spec?.version)));
      const store = await openLocalStore();
      const built = await buildBundle(store, {
        guest,
        objects,
        format: (values.format ?? spec?.format ?? 'wbpf') as BundleFormat,
        os: (values.os ?? spec?.os ?? 'wasip1') as 'wasip1' | 'wasip2',
        annotations: { ...spec?.annotations, ...annotations },
        capabilities,
        ...(values.created ? { created: values.created } : {}),
      });
      await store.tag(built.descriptor, reference);
      const referrer = built.referrer ? { digest: built.referrer.descriptor.digest, manifest: built.referrer.manifest } : undefined;
      if (values.json) writeJson(io, { reference, digest: built.descriptor.digest, manifest: built.manifest, ...(referrer ? { referrer } : {}), capabilities });
      else {
        io.stdout.write(`${reference}: ${built.descriptor.digest}\n`);
        if (referrer) io.stdout.write(`  eBPF objects in referrer ${referrer.digest}\n`);
        const summary = [`programs: ${capabilities.programTypes.join(', ') || 'none'}`, `attach: ${capabilities.attachPoints.join(', ') || 'none'}`, `maps: ${capabilities.mapTypes.join(', ') || 'none'}`];
        const arches = [...new Set(capabilities.objects.map((o) => o.arch ?? 'any'))];
        if (arches.some((a) => a !== 'any')) summary.push(`arch: ${arches.join(', ')}`);
        io.stdout.write(`  ${summary.join('; ')}\n`);
      }
      return 0;
    });
  },
};
