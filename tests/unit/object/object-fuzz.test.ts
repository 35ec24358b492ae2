// Random mutations of the fixtures must end in a FormatError-family error or a result, never
// another exception or a hang. Seeded, so a failure reproduces.
import { describe, expect, it } from 'vitest';
import { WbpfError } from '../../../host-bindings/errors.js';
import { describeObject } from '../../../host-bindings/object/describe.js';
import { parseElf } from '../../../host-bindings/object/elf.js';
import { buildSpec, parseObject } from '../../../host-bindings/object/object.js';
import { fixture } from './object-fixtures.js';
import { prng as rng } from '../../support/prng.js';

/** Byte ranges the parser interprets (headers, symbols, relocations, BTF, code), where mutations bite. */
function structuralRanges(bytes: Uint8Array): [number, number][] {
  const elf = parseElf(bytes);
  const shoff = elf.sections.length ? Number(new DataView(bytes.buffer).getBigUint64(0x28, elf.littleEndian)) : 0;
  const ranges: [number, number][] = [[0, 64], [shoff, shoff + elf.sections.length * 64]];
  for (const s of elf.sections) if (s.size && !s.name.startsWith('.debug') && !s.name.startsWith('.rel.debug')) ranges.push([s.offset, s.offset + s.data.length]);
  return ranges;
}

function mutate(base: Uint8Array, ranges: [number, number][], rand: () => number): Uint8Array {
  const out = base.slice();
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const [from, to] = rand() < 0.7 ? ranges[Math.floor(rand() * ranges.length)] : [0, out.length];
    const at = from + Math.floor(rand() * Math.max(1, to - from));
    const style = rand();
    if (style < 0.6) out[at] = Math.floor(rand() * 256);
    else if (style < 0.8) out[at] ^= 1 << Math.floor(rand() * 8);
    else out.fill(rand() < 0.5 ? 0 : 0xff, at, Math.min(out.length, at + 1 + Math.floor(rand() * 8)));
  }
  return rand() < 0.1 ? out.subarray(0, Math.floor(rand() * out.length)) : out;
}

function run(bytes: Uint8Array): void {
  const obj = parseObject(bytes, 'fuzz.o');
  describeObject(bytes, 'fuzz.o');
  // Big-endian objects are only described; buildSpec refuses them by design.
  if (obj.littleEndian) buildSpec(obj, { possibleCpus: 2 });
}

describe('object layer fuzz', () => {
  for (const name of ['objects-el.bpf.o', 'legacy-el.bpf.o', 'core-el.bpf.o', 'objects-eb.bpf.o']) {
    it(`survives 1500 mutations of ${name}`, () => {
      const base = fixture(name);
      const ranges = structuralRanges(base);
      const rand = rng(0x5eed + name.length);
      const unexpected: string[] = [];
      let rejected = 0;
      for (let i = 0; i < 1500; i++) {
        const bytes = mutate(base, ranges, rand);
        try {
          run(bytes);
        } catch (e) {
          rejected++;
          if (!(e instanceof WbpfError)) unexpected.push(`#${i}: ${(e as Error).stack}`);
        }
      }
      expect(unexpected.slice(0, 3)).toEqual([]);
      // Both outcomes must occur, or the mutations are not exercising the parser.
      expect(rejected).toBeGreaterThan(100);
      expect(rejected).toBeLessThan(1500);
    });
  }
});
