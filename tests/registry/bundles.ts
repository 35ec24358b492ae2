// Test bundles: a Wasm-looking guest and ELF-looking objects of chosen sizes, built with the
// real bundle builder into a layout store.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { buildBundle, type BuiltBundle, type BundleFormat } from '../../oci/bundle.js';
import type { Target } from '../../oci/target.js';

export async function writeBundleFiles(dir: string, guestSize: number, objectSizes: number[]): Promise<{ guest: string; objects: string[] }> {
  await fs.mkdir(dir, { recursive: true });
  const guest = path.join(dir, 'tool.wasm');
  await fs.writeFile(guest, Buffer.concat([Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), randomBytes(Math.max(0, guestSize - 8))]));
  const objects: string[] = [];
  for (const [i, size] of objectSizes.entries()) {
    const file = path.join(dir, `prog${i}.bpf.o`);
    await fs.writeFile(file, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), randomBytes(Math.max(0, size - 4))]));
    objects.push(file);
  }
  return { guest, objects };
}

export async function makeBundle(target: Target, dir: string, guestSize = 4096, objectSizes = [2048], format: BundleFormat = 'wbpf'): Promise<BuiltBundle> {
  const files = await writeBundleFiles(dir, guestSize, objectSizes);
  return buildBundle(target, {
    guest: { path: files.guest },
    objects: files.objects.map((p) => ({ path: p })),
    format,
    capabilities: { version: 1, objects: [], programTypes: ['tracepoint'], attachPoints: ['tp/sched/sched_process_exec'], mapTypes: ['ringbuf'] },
    annotations: { 'org.opencontainers.image.version': '1.0.0' },
  });
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...leb(body.length), ...body];
}

/** A valid core Wasm module with one memory and the given active data segments. */
export function moduleWithData(segments: Uint8Array[]): Uint8Array {
  const pages = Math.max(1, Math.ceil(segments.reduce((a, s) => a + s.length, 0) / 65536) + 1);
  const data: number[] = [...leb(segments.length)];
  let offset = 0;
  for (const s of segments) {
    data.push(0, 0x41, ...leb(offset), 0x0b, ...leb(s.length), ...s);
    offset += s.length;
  }
  return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...section(5, [1, 0, ...leb(pages)]), ...section(11, data)]);
}

/** A real eBPF object (tracepoint program + ring buffer map), compiled with clang. */
export const BPF_SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/sched/sched_process_exec")
int handle_exec(void *ctx) { int *e = bpf_ringbuf_reserve(&events, sizeof(int), 0); if (e) { *e = 1; bpf_ringbuf_submit(e, 0); } return 0; }
char LICENSE[] SEC("license") = "GPL";
`;
