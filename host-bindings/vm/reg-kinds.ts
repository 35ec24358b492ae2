// What the load-time check knows about a register or an 8-byte stack slot: a kind plus one
// number (a constant, an offset or a map id; NaN when unknown). Kinds follow the kernel
// verifier's register types so that a valid kernel program is never worse off here. Packet
// pointers come from context loads, which this check leaves unknown (it does not know the
// program type's context layout), so they have no kind of their own.

export const K_UNINIT = 0;
/** A number, never a pointer in the kernel's sense; aux is its value when known. */
export const K_SCALAR = 1;
/** Initialised, but it could be anything (a join of different kinds, a value read from ctx). */
export const K_UNKNOWN = 2;
export const K_CTX = 3;
/** aux: offset from the frame pointer (r10). */
export const K_STACK = 4;
/** aux: the map reference's id. */
export const K_MAP = 5;
/** A map value, or the inner map a map-of-maps lookup returns (the check has no map types). */
export const K_MAP_VALUE = 6;
export const K_RINGBUF_RECORD = 7;
export const K_FUNC = 8;

const NAMES = [
  'uninitialised', 'scalar', 'unknown', 'pointer to ctx', 'pointer to stack', 'map pointer',
  'pointer to map value', 'pointer to ring buffer record', 'function reference',
];

/** Pointer kinds whose value moves with scalar addition (the kernel's pointer arithmetic). */
export function movesWithArithmetic(kind: number): boolean {
  return kind === K_CTX || kind === K_STACK || kind === K_MAP_VALUE || kind === K_RINGBUF_RECORD;
}

export function describeKind(kind: number, aux: number): string {
  const name = NAMES[kind] ?? `kind ${kind}`;
  if (Number.isNaN(aux)) return name;
  if (kind === K_SCALAR) return `scalar ${aux}`;
  if (kind === K_STACK) return `pointer to stack r10${aux < 0 ? '' : '+'}${aux}`;
  if (kind === K_MAP) return `map pointer (map ${aux})`;
  return name;
}

/**
 * A state: `regs` registers followed by `slots` stack slots, kinds in [0, n) and aux values in
 * [n, 2n) of one array, so copying and joining are single loops.
 */
export const REGS = 11;
export const SLOTS = 64;
export const STATE_SIZE = REGS + SLOTS;

export function newState(): Float64Array {
  const s = new Float64Array(STATE_SIZE * 2);
  s.fill(K_UNKNOWN, REGS, STATE_SIZE);
  s.fill(NaN, STATE_SIZE);
  return s;
}

export function set(s: Float64Array, i: number, kind: number, aux: number): void {
  s[i] = kind;
  s[STATE_SIZE + i] = aux;
}

/**
 * Joins `from` into `into`; returns true when `into` changed. Uninitialised is the bottom (a
 * register uninitialised on only some paths is accepted: the kernel's path-sensitive verifier
 * may know those paths never meet), different kinds become unknown, different aux values NaN.
 */
export function joinInto(into: Float64Array, from: Float64Array): boolean {
  let changed = false;
  for (let i = 0; i < STATE_SIZE; i++) {
    const a = into[i]!, b = from[i]!;
    const ax = into[STATE_SIZE + i]!, bx = from[STATE_SIZE + i]!;
    if (b === K_UNINIT || (a === b && (ax === bx || Number.isNaN(ax)))) continue;
    if (a === K_UNINIT) {
      into[i] = b;
      into[STATE_SIZE + i] = bx;
    } else if (a !== b) {
      if (a === K_UNKNOWN) continue;
      into[i] = K_UNKNOWN;
      into[STATE_SIZE + i] = NaN;
    } else {
      into[STATE_SIZE + i] = NaN;
    }
    changed = true;
  }
  return changed;
}
