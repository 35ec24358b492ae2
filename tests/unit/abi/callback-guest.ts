// A hand-assembled guest for poll-callback tests: memory (1 page, up to 8) and a function table
// exported as the C toolchain does, holding callbacks that forward to an imported JS function
// `env.record(ctx, data, size) -> i32`, so a test sees exactly what reached the guest:
//   slot 1: (i32 ctx, i32 data, i32 size) -> i32, returns record(ctx, data, size)
//   slot 2: (i32 ctx, i32 data) -> i32, another type: returns record(ctx, data, -1)
//   slot 3: (i32, i32, i32) -> i32 that traps (unreachable)

export const SLOT = { callback: 1, twoArgs: 2, trap: 3 } as const;

const I32 = 0x7f;
const uleb = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...uleb(n >>> 7)]);
const name = (text: string) => [...uleb(text.length), ...Buffer.from(text)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const body = (code: number[]) => [...uleb(code.length + 1), 0, ...code]; // no locals

function guestBytes(): Uint8Array<ArrayBuffer> {
  const three = [0x60, 3, I32, I32, I32, 1, I32];
  const two = [0x60, 2, I32, I32, 1, I32];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([three, two])),
    ...section(2, vec([[...name('env'), ...name('record'), 0x00, 0]])),
    ...section(3, vec([[0], [1], [0]])), // functions 1, 2, 3
    ...section(4, vec([[0x70, 0x00, 4]])), // funcref table, 4 slots
    ...section(5, vec([[0x01, 1, 8]])),
    ...section(7, vec([[...name('memory'), 0x02, 0], [...name('__indirect_function_table'), 0x01, 0]])),
    ...section(9, vec([[0x00, 0x41, 1, 0x0b, ...vec([[1], [2], [3]])]])),
    ...section(10, vec([
      body([0x20, 0, 0x20, 1, 0x20, 2, 0x10, 0, 0x0b]),
      body([0x20, 0, 0x20, 1, 0x41, 0x7f, 0x10, 0, 0x0b]),
      body([0x00, 0x0b]),
    ])),
  ]);
}

export type Record = (ctx: number, data: number, size: number) => number;

/** A fresh guest instance whose callbacks call `record`. */
export function callbackGuest(record: Record): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(guestBytes()), { env: { record } });
}
