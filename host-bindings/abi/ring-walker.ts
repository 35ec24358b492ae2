// A tiny Wasm module, assembled here, that calls a guest's poll callback for each ring-buffer
// entry of a batch. It imports the callback as a typed function, so the calls are Wasm-to-Wasm
// (a few ns) instead of a JS-to-Wasm call per record, and a callback of another type fails at
// instantiation (the caller then keeps the per-record path). It reads the entries' header words
// from its own memory, not from the guest's: a callback may write anywhere in its buffer (a
// terminating NUL after a record, say) without changing which records come next.
//
//   walk(ctx, at, count): for each of `count` header words h (headers[0..count)) the entry lies
//   at `at` (guest address); unless h has the DISCARD bit, r = callback(ctx, at + 8, len(h));
//   a non-zero r is stored in the exported global `stop` and walk returns i + 1; at advances by
//   the entry's padded size. Returns 0 when every entry was handled.

import { BPF_RINGBUF } from '../uapi.js';

/** The guest callback's type: (ctx, data, size) -> result. */
export type GuestCallback = (ctx: number, data: number, size: number) => number;

export interface RingWalker {
  walk(ctx: number, at: number, count: number): number;
  /** The walker's own memory, as header words: its length bounds a batch. */
  readonly headers: Int32Array;
  /** The non-zero result that stopped the last walk. */
  readonly stop: WebAssembly.Global;
}

const I32 = 0x7f;
const OP = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f, call: 0x10,
  localGet: 0x20, localSet: 0x21, localTee: 0x22, globalSet: 0x24, i32Load: 0x28, i32Const: 0x41,
  i32Eqz: 0x45, i32GeU: 0x4f, i32Add: 0x6a, i32And: 0x71, i32Shl: 0x74,
} as const;
const EMPTY_BLOCK = 0x40;
const LEN_MASK = 0x3fffffff;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const name = (text: string) => [...uleb(text.length), ...Buffer.from(text, 'latin1')];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const i32 = (n: number) => [OP.i32Const, ...sleb(n | 0)];

/** The walker module's bytes (exported for tests that validate them). */
export function ringWalkerBytes(): Uint8Array<ArrayBuffer> {
  const [CTX, AT, COUNT, I, H, R] = [0, 1, 2, 3, 4, 5];
  const get = (local: number) => [OP.localGet, local];
  const len = [...get(H), ...i32(LEN_MASK), OP.i32And];
  const body = [
    ...vec([[3, I32]]), // locals i, h, r
    OP.block, EMPTY_BLOCK,
    OP.loop, EMPTY_BLOCK,
    ...get(I), ...get(COUNT), OP.i32GeU, OP.brIf, 1,
    ...get(I), ...i32(2), OP.i32Shl, OP.i32Load, 2, 0, OP.localSet, H,
    ...get(H), ...i32(BPF_RINGBUF.DISCARD_BIT), OP.i32And, OP.i32Eqz,
    OP.if, EMPTY_BLOCK,
    ...get(CTX), ...get(AT), ...i32(BPF_RINGBUF.HDR_SZ), OP.i32Add, ...len, OP.call, 0, OP.localTee, R,
    OP.if, EMPTY_BLOCK,
    ...get(R), OP.globalSet, 0, ...get(I), ...i32(1), OP.i32Add, OP.return,
    OP.end,
    OP.end,
    ...get(AT), ...len, ...i32(BPF_RINGBUF.HDR_SZ + 7), OP.i32Add, ...i32(-8), OP.i32And, OP.i32Add, OP.localSet, AT,
    ...get(I), ...i32(1), OP.i32Add, OP.localSet, I,
    OP.br, 0,
    OP.end,
    OP.end,
    ...i32(0),
    OP.end,
  ];
  const callbackType = [0x60, ...vec([[I32], [I32], [I32]]), ...vec([[I32]])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([callbackType])),
    ...section(2, vec([[...name('guest'), ...name('callback'), 0x00, 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, 1]])), // one page, no maximum: 16384 header words
    ...section(6, vec([[I32, 1, ...i32(0), OP.end]])),
    ...section(7, vec([[...name('walk'), 0x00, 1], [...name('headers'), 0x02, 0], [...name('stop'), 0x03, 0]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

let compiled: WebAssembly.Module | undefined;
const walkers = new WeakMap<GuestCallback, RingWalker | null>();

/**
 * The walker bound to `callback`, made once per callback; null when the callback is not a
 * (i32, i32, i32) -> i32 function, so that the caller keeps calling it record by record.
 */
export function ringWalker(callback: GuestCallback): RingWalker | null {
  const known = walkers.get(callback);
  if (known !== undefined) return known;
  compiled ??= new WebAssembly.Module(ringWalkerBytes());
  let walker: RingWalker | null;
  try {
    const { exports } = new WebAssembly.Instance(compiled, { guest: { callback } });
    walker = {
      walk: exports.walk as RingWalker['walk'],
      headers: new Int32Array((exports.headers as WebAssembly.Memory).buffer),
      stop: exports.stop as WebAssembly.Global,
    };
  } catch (error) {
    if (!(error instanceof WebAssembly.LinkError)) throw error;
    walker = null;
  }
  walkers.set(callback, walker);
  return walker;
}
