// Hand-assembled test programs on the sys_enter_close tracepoint: the test process closes
// bogus fds (900000 + i) and the programs report {fd, MAGIC, pid_tgid} records for our tgid only.

import { closeSync } from 'node:fs';
import { BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE } from '../../host-bindings/uapi.js';
import { Asm, mapSpec, objectSpec, program } from './bpf-asm.js';
import type { ObjectSpec } from '../../host-bindings/object/spec.js';

export const MAGIC = 0x5eed;
export const FD_BASE = 900000;
/** Offset of args[0] in a syscalls/sys_enter_* tracepoint context. */
const ARG0 = 16;

/** Closes fds FD_BASE + from .. FD_BASE + to - 1 (each fails with EBADF, which is the point). */
export function closeBogus(from: number, to: number): void {
  for (let i = from; i < to; i++) {
    try {
      closeSync(FD_BASE + i);
    } catch {
      // EBADF expected
    }
  }
}

/** r7 = fd argument, r8 = pid_tgid; jumps to "out" for processes other than `tgid` and real fds. */
function prologue(a: Asm, tgid = process.pid): Asm {
  return a
    .movReg(6, 1)
    .call(BPF_FUNC.get_current_pid_tgid)
    .movReg(8, 0)
    .alu64('RSH', 0, 32)
    .jmp('JNE', 0, tgid, 'out')
    .ldx('dw', 7, 6, ARG0)
    .jmp('JLT', 7, FD_BASE, 'out'); // only our bogus fds, not the runtime's own closes
}

/** The 24-byte record {fd, MAGIC, pid_tgid} at r10-24. */
function storeRecord(a: Asm): Asm {
  return a.stx('dw', 10, -24, 7).st('dw', 10, -16, MAGIC).stx('dw', 10, -8, 8);
}

const epilogue = (a: Asm) => a.label('out').mov64(0, 0).exit();
const tp = { section: 'tracepoint/syscalls/sys_enter_close', attach: { kind: 'tracepoint' as const, category: 'syscalls', name: 'sys_enter_close' } };

export function ringbufObject(size: number): ObjectSpec {
  const a = storeRecord(prologue(new Asm()))
    .ldMap(1, 'rb')
    .movReg(2, 10)
    .alu64('ADD', 2, -24)
    .mov64(3, 24)
    .mov64(4, 0)
    .call(BPF_FUNC.ringbuf_output);
  return objectSpec(
    [mapSpec('rb', BPF_MAP_TYPE.RINGBUF, 0, 0, size)],
    [program('on_close', BPF_PROG_TYPE.TRACEPOINT, epilogue(a), tp)],
  );
}

/** Reserves a record for every close and discards those of odd fds. */
export function discardObject(): ObjectSpec {
  const a = prologue(new Asm())
    .ldMap(1, 'rb')
    .mov64(2, 24)
    .mov64(3, 0)
    .call(BPF_FUNC.ringbuf_reserve)
    .jmp('JEQ', 0, 0, 'out')
    .stx('dw', 0, 0, 7)
    .st('dw', 0, 8, MAGIC)
    .stx('dw', 0, 16, 8)
    .movReg(1, 0)
    .mov64(2, 0)
    .alu64('AND', 7, 1)
    .jmp('JNE', 7, 0, 'discard')
    .call(BPF_FUNC.ringbuf_submit)
    .jmp('JA', 0, 0, 'out')
    .label('discard')
    .call(BPF_FUNC.ringbuf_discard);
  return objectSpec(
    [mapSpec('rb', BPF_MAP_TYPE.RINGBUF, 0, 0, 4096)],
    [program('on_close', BPF_PROG_TYPE.TRACEPOINT, epilogue(a), tp)],
  );
}

/** Reports the closes of process `tgid` (default: this one) through perf event array "events". */
export function perfObject(tgid = process.pid): ObjectSpec {
  const a = storeRecord(prologue(new Asm(), tgid))
    .movReg(1, 6)
    .ldMap(2, 'events')
    .mov32(3, -1) // BPF_F_CURRENT_CPU; a 64-bit -1 would set the CTXLEN bits
    .movReg(4, 10)
    .alu64('ADD', 4, -24)
    .mov64(5, 24)
    .call(BPF_FUNC.perf_event_output);
  return objectSpec(
    [mapSpec('events', BPF_MAP_TYPE.PERF_EVENT_ARRAY, 4, 4, 0)],
    [program('on_close', BPF_PROG_TYPE.TRACEPOINT, epilogue(a), tp)],
  );
}

/** Decodes a record into [fd - FD_BASE, magic, tgid]. */
export function decode(record: Uint8Array): [number, number, number] {
  const v = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return [Number(v.getBigUint64(0, true)) - FD_BASE, Number(v.getBigUint64(8, true)), Number(v.getBigUint64(16, true) >> 32n)];
}
