// What a bundle's eBPF objects do (program types, attach points, map types), computed at build
// time from the .bpf.o layers and from BPF ELF images embedded in the guest's data. The result is
// stored in the bundle (oci/ treats it as opaque JSON) for `inspect` and for `run` to check what
// the guest actually loads and attaches against.
import { WbpfError } from '../host-bindings/errors.js';
import { withContext } from '../host-bindings/object/context.js';
import { describeObject, type ObjectDescription } from '../host-bindings/object/describe.js';
import { embeddedBpfObjects } from './wasm-data.js';

export interface BundleCapabilities {
  version: 1;
  /** `arch` is set for an object built for one architecture (OCI name); absent = arch-neutral. */
  objects: Array<{ source: string; arch?: string } & ObjectDescription>;
  programTypes: string[];
  attachPoints: string[];
  mapTypes: string[];
}

/** An object given as a layer; `path`, when it came from a file, names it in errors. */
export interface CapabilityLayer {
  name: string;
  bytes: Uint8Array;
  arch?: string;
  path?: string;
}

/**
 * Describes the objects given as layers and those embedded in the guest. Fails naming the
 * object (the object layer's errors carry that name) or the guest (`guestName`) that could not
 * be parsed.
 */
export function computeCapabilities(guest: Uint8Array | undefined, layers: CapabilityLayer[], guestName = 'guest'): BundleCapabilities {
  const embedded = guest ? withContext(guestName, () => embeddedBpfObjects(guest)) : [];
  const sources: { source: string; bytes: Uint8Array; arch?: string; where: string }[] = [
    ...layers.map((l) => ({
      source: `layer:${l.name}`, bytes: l.bytes, ...(l.arch ? { arch: l.arch } : {}),
      where: `${l.path ?? `layer:${l.name}`}${l.arch ? ` (${l.arch})` : ''}`,
    })),
    ...embedded.map((bytes, i) => ({ source: `embedded:${i}`, bytes, where: `embedded in the guest (#${i + 1})` })),
  ];
  const objects = sources.map((s) => {
    try {
      return { source: s.source, ...(s.arch ? { arch: s.arch } : {}), ...describeObject(s.bytes, s.where) };
    } catch (e) {
      if (e instanceof WbpfError) throw e;
      throw new WbpfError(`object "${s.where}": ${(e as Error).message}`, { cause: e });
    }
  });
  const uniq = (xs: (string | null)[]): string[] => [...new Set(xs.filter((x): x is string => !!x))].sort();
  return {
    version: 1,
    objects,
    programTypes: uniq(objects.flatMap((o) => o.programs.map((p) => p.type))),
    attachPoints: uniq(objects.flatMap((o) => o.programs.map((p) => p.attach))),
    mapTypes: uniq(objects.flatMap((o) => o.maps.map((m) => m.type))),
  };
}
