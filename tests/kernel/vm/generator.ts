// Random but verifier-valid XDP programs for differential testing: scalar ALU (32/64-bit, every
// op incl. signed division, byte swaps and sign extension), forward jumps, packet loads and
// stores inside a bounds-checked 64-byte window, stack spills, and array/hash map traffic.
// At the end every scalar register is stored into the packet, so data_out shows all 64 bits.

export interface Rng {
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
}

export function rng(seed: number): Rng {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)]! };
}

const SCALARS = [0, 1, 2, 3, 4, 5, 9];
const ALU = ['add', 'sub', 'mul', 'div', 'sdiv', 'or', 'and', 'lsh', 'rsh', 'neg', 'mod', 'smod', 'xor', 'mov', 'arsh'];
const JMP = ['jeq', 'jgt', 'jge', 'jset', 'jne', 'jsgt', 'jsge', 'jlt', 'jle', 'jslt', 'jsle'];
const SIZES = [['b', 1], ['h', 2], ['w', 4], ['dw', 8]] as const;

function imm(r: Rng): number {
  return r.pick([0, 1, -1, 0x7fffffff, -0x80000000, 255, r.int(64), r.int(0x100000000) | 0, -r.int(1000)]);
}

/** One program; maps "arr" (ARRAY, 4 × u64) and "h" (HASH, u32 → u64, 16 entries). */
export function generateProgram(r: Rng, length = 60): string {
  const out: string[] = [
    'mov %r6, %r1',
    'ldxw %r7, [%r6+0]',
    'ldxw %r8, [%r6+4]',
    'mov %r1, %r7',
    'add %r1, 64',
    'jgt %r1, %r8, out',
  ];
  for (const reg of SCALARS) out.push(r.int(4) ? `mov %r${reg}, ${imm(r)}` : `lddw %r${reg}, 0x${(BigInt(r.int(0x100000000)) << 32n | BigInt(r.int(0x100000000))).toString(16)}`);
  // Every slot is written first: root may read uninitialized stack in the kernel, which would
  // compare stale bytes.
  const spilled = new Set<number>([8, 16, 24, 32, 40, 48]);
  for (const slot of spilled) out.push(`stdw [%r10-${slot}], ${imm(r)}`);
  let label = 0;
  const pendingLabels: { at: number; name: string }[] = [];
  for (let i = 0; i < length; i++) {
    for (const p of pendingLabels.filter((l) => l.at === i)) out.push(`${p.name}:`);
    const dst = r.pick(SCALARS), src = r.pick(SCALARS);
    const kind = r.int(20);
    if (kind < 9) {
      const op = r.pick(ALU);
      const w = r.int(3) ? '' : '32';
      if (op === 'neg') out.push(`neg${w} %r${dst}`);
      else if (op === 'lsh' || op === 'rsh' || op === 'arsh') out.push(`${op}${w} %r${dst}, ${r.int(w ? 32 : 64)}`);
      else if (op === 'div' || op === 'mod' || op === 'sdiv' || op === 'smod') {
        // The kernel rejects a constant divisor of 0; a register may still hold 0.
        out.push(`${op}${w} %r${dst}, ${r.int(2) ? `%r${src}` : r.pick([1, -1, 3, 7, -13, 0x10000, 0x7fffffff, -0x80000000])}`);
      } else out.push(`${op}${w} %r${dst}, ${r.int(2) ? `%r${src}` : imm(r)}`);
    } else if (kind < 10) {
      out.push(r.pick([`le${r.pick([16, 32, 64])} %r${dst}`, `be${r.pick([16, 32, 64])} %r${dst}`, `bswap${r.pick([16, 32, 64])} %r${dst}`]));
    } else if (kind < 11) {
      out.push(`movsx${r.pick(['832', '1632', '864', '1664', '3264'])} %r${dst}, %r${src}`);
    } else if (kind < 13) {
      const [sfx, size] = r.pick(SIZES);
      const off = r.int(64 - size + 1);
      out.push(r.int(2) ? `ldx${r.int(4) === 0 && size < 8 ? 's' : ''}${sfx} %r${dst}, [%r7+${off}]` : `stx${sfx} [%r7+${off}], %r${src}`);
    } else if (kind < 15) {
      const slot = 8 * (1 + r.int(6));
      if (spilled.has(slot) && r.int(2)) out.push(`ldxdw %r${dst}, [%r10-${slot}]`);
      else {
        out.push(`stxdw [%r10-${slot}], %r${src}`);
        spilled.add(slot);
      }
    } else if (kind < 17) {
      const name = `L${label++}`;
      const op = r.pick(JMP);
      const w = r.int(3) ? '' : '32';
      out.push(`${op}${w} %r${dst}, ${r.int(2) ? `%r${src}` : imm(r)}, ${name}`);
      pendingLabels.push({ at: Math.min(length, i + 1 + r.int(6)), name });
    } else {
      out.push(...mapTraffic(r, dst));
    }
  }
  for (const p of pendingLabels.filter((l) => l.at >= length)) out.push(`${p.name}:`);
  SCALARS.forEach((reg, i) => out.push(`stxdw [%r7+${i * 8}], %r${reg}`));
  out.push('mov %r0, %r9', 'xor %r0, %r1', 'and %r0, 0xff', 'exit', 'out:', 'mov %r0, 1', 'exit');
  return out.join('\n');
}

/** A lookup (read-modify-write through the value pointer) or an update, then scalars restored. */
function mapTraffic(r: Rng, reg: number): string[] {
  const key = r.int(5); // arr has 4 entries: key 4 exercises the out-of-range lookup
  const lines: string[] = [`stw [%r10-52], ${key}`, `stxdw [%r10-64], %r${reg}`];
  const map = r.pick(['arr', 'h']);
  if (r.int(2)) {
    const l = `M${r.int(1e9)}`;
    lines.push(`ldmap %r1, ${map}`, 'mov %r2, %r10', 'add %r2, -52', 'call 1', `jeq %r0, 0, ${l}`,
      'ldxdw %r1, [%r0]', 'add %r1, %r9', 'stxdw [%r0], %r1', `${l}:`);
  } else {
    lines.push(`ldmap %r1, ${map}`, 'mov %r2, %r10', 'add %r2, -52', 'mov %r3, %r10', 'add %r3, -64', `mov %r4, ${r.int(3)}`, 'call 2');
  }
  // r0 holds the result (a pointer or an error); r1-r5 are clobbered by the call.
  lines.push('mov %r0, 0', ...[1, 2, 3, 4, 5].map((x) => `mov %r${x}, ${imm(r)}`));
  return lines;
}
