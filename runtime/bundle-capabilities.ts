// What a bundle's eBPF objects do (program types, attach points, map types), computed at build
// time from the .bpf.o layers and from BPF ELF images embedded in the guest's data. The result is
// stored in the bundle (oci/ treats it as opaque JSON) for `inspect` and for `run` to check what
// the guest actually loads and attaches against.
import { WbpfError } from '../host-bindings/errors.js';
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

/**
 * Describes the objects given as layers (`name` → bytes) and those embedded in the guest.
 * Fails naming the object that could not be parsed.
 */
export function computeCapabilities(guest: Uint8Array | undefined, layers: { name: string; bytes: Uint8Array; arch?: string }[]): BundleCapabilities {
  const embedded = guest ? embeddedBpfObjects(guest) : [];
  const sources: { source: string; bytes: Uint8Array; arch?: string }[] = [
    ...layers.map((l) => ({ source: `layer:${l.name}`, bytes: l.bytes, ...(l.arch ? { arch: l.arch } : {}) })),
    ...embedded.map((bytes, i) => ({ source: `embedded:${i}`, bytes })),
  ];
  const objects = sources.map((s) => {
    const where = s.arch ? `${s.source} (${s.arch})` : s.source;
    try {
      return { source: s.source, ...(s.arch ? { arch: s.arch } : {}), ...describeObject(s.bytes, where) };
    } catch (e) {
      throw new WbpfError(`describe eBPF object ${where}: ${(e as Error).message}`, { cause: e });
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
