// Per-architecture eBPF object layers (oci.md §5.3): a layer annotated with an OCI architecture
// name is for that architecture only, one without the annotation is arch-neutral. At run time
// each object name (layer title) resolves to the host's layer, else the neutral one.
import { FormatError } from '../host-bindings/errors.js';
import { endianness } from 'node:os';
import type { Descriptor } from './manifest.js';
import { ANNOTATION_TITLE } from './media-types.js';

export const BPF_ARCH_ANNOTATION = 'io.wbpf.bpf.arch';

/** GOARCH values, as the OCI image spec's platform.architecture uses them. */
export const OCI_ARCHITECTURES: readonly string[] = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 'ppc64', 's390x', 'riscv64', 'loong64', 'mips64le', 'mips64', 'mipsle', 'mips'];

const FROM_NODE: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: endianness() === 'LE' ? 'ppc64le' : 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The host's architecture as an OCI name (process.arch mapped: x64 → amd64, ia32 → 386). */
export function hostArch(nodeArch: string = process.arch): string {
  return FROM_NODE[nodeArch] ?? nodeArch;
}

/** Returns `value` when it is an OCI architecture name, else throws naming `where` and the known names. */
export function validateArch(value: unknown, where: string): string {
  if (typeof value !== 'string' || !OCI_ARCHITECTURES.includes(value)) {
    throw new FormatError(`${where}: architecture ${JSON.stringify(value)} is not an OCI architecture name (one of ${OCI_ARCHITECTURES.join(', ')})`);
  }
  return value;
}

export function layerArch(layer: Descriptor): string | undefined {
  return layer.annotations?.[BPF_ARCH_ANNOTATION];
}

/** An object layer's name: its title, or its digest for an untitled one. */
export function objectTitle(layer: Descriptor): string {
  return layer.annotations?.[ANNOTATION_TITLE] ?? layer.digest;
}

function describeLayer(layer: Descriptor): string {
  const title = objectTitle(layer);
  const arch = layerArch(layer);
  return arch ? `${title} (${arch})` : title;
}

/**
 * The object layers to use on `arch`: for each title the layer for `arch`, else the neutral one.
 * Throws naming what the bundle has when some object exists only for other architectures.
 */
export function selectObjects(layers: readonly Descriptor[], arch: string, what: string): Descriptor[] {
  const byTitle = new Map<string, Descriptor[]>();
  for (const layer of layers) {
    const title = objectTitle(layer);
    byTitle.set(title, [...(byTitle.get(title) ?? []), layer]);
  }
  const chosen: Descriptor[] = [];
  const missing: string[] = [];
  for (const [title, candidates] of byTitle) {
    const pick = candidates.find((l) => layerArch(l) === arch) ?? candidates.find((l) => layerArch(l) === undefined);
    if (pick) chosen.push(pick);
    else missing.push(title);
  }
  if (missing.length > 0) {
    throw new FormatError(
      `${what}: no eBPF object ${missing.map((t) => `"${t}"`).join(', ')} for this host's architecture ${arch}; the bundle has ${layers.map(describeLayer).join(', ')}`,
    );
  }
  return chosen;
}
