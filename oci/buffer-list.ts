// A body held as the chunks it arrived in: upload pieces are views into them, so a 4 MiB
// chunk is sent without first being copied into one buffer.

export function byteLength(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** Bytes [start, end) of the concatenation of `parts`, as views (no copy). */
export function sliceBuffers(parts: readonly Buffer[], start: number, end = Infinity): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const p of parts) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, p.length);
    if (from < to) out.push(from === 0 && to === p.length ? p : p.subarray(from, to));
    at += p.length;
    if (at >= end) break;
  }
  return out;
}
