// Typed wrappers over bpf(): each builds its attr at the offsets of bpf-internals.md §5.3 and
// either returns the result or throws ErrnoError naming the command and the object involved.

import { ErrnoError } from '../errors.js';
import { BPF_CMD, BPF_MAP_TYPE, BPF_OBJ_NAME_LEN, ERRNO } from '../uapi.js';
import { Attr, cString } from './attr.js';
import { check, errnoText } from './errno.js';
import { loadNative } from './native.js';

const native = () => loadNative();

export interface MapCreateAttr {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  innerMapFd?: number;
  numaNode?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  mapExtra?: bigint;
}

/** The name the kernel accepts (15 chars of [A-Za-z0-9_.]); the object keeps its full name for lookups. */
export function kernelObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, BPF_OBJ_NAME_LEN - 1);
}

export function mapCreate(a: MapCreateAttr): number {
  const attr = new Attr(72)
    .u32(0, a.type)
    .u32(4, a.keySize)
    .u32(8, a.valueSize)
    .u32(12, a.maxEntries)
    .u32(16, a.flags)
    .u32(20, a.innerMapFd ?? 0)
    .u32(24, a.numaNode ?? 0)
    .str(28, BPF_OBJ_NAME_LEN, kernelObjectName(a.name))
    .u32(48, a.btfFd ?? 0)
    .u32(52, a.btfKeyTypeId ?? 0)
    .u32(56, a.btfValueTypeId ?? 0)
    .u64(64, a.mapExtra ?? 0n);
  const r = native().bpf(BPF_CMD.MAP_CREATE, attr.bytes);
  if (r >= 0) return r;
  // EINVAL alone does not say which attribute the kernel refused: show what was asked for.
  throw new ErrnoError(`create map "${a.name}": ${errnoText(r)} (asked for ${mapAttrText(a)})`, -r);
}

function mapAttrText(a: MapCreateAttr): string {
  const type = Object.entries(BPF_MAP_TYPE).find(([, v]) => v === a.type)?.[0].toLowerCase() ?? 'unknown';
  const btf = a.btfFd ? `, btf key type ${a.btfKeyTypeId ?? 0}, value type ${a.btfValueTypeId ?? 0}` : '';
  return `type ${a.type} (${type}), key_size ${a.keySize}, value_size ${a.valueSize}, max_entries ${a.maxEntries}, flags 0x${a.flags.toString(16)}${btf}`;
}

// Map element operations run once per guest call, so their attr is reused instead of allocated.
const elemAttr = new Attr(32);

/** Raw element operation: returns 0 or -errno (callers choose the message). */
export function mapElemOp(
  cmd: number,
  fd: number,
  key: Uint8Array | null,
  value: Uint8Array | null,
  flags: bigint | number = 0,
): number {
  elemAttr.reset().u32(0, fd).ptr(8, key).ptr(16, value).u64(24, flags);
  return native().bpf(cmd, elemAttr.bytes);
}

export function mapFreeze(fd: number, name: string): void {
  const attr = new Attr(4).u32(0, fd);
  check(native().bpf(BPF_CMD.MAP_FREEZE, attr.bytes), `freeze map "${name}"`);
}

export interface ProgLoadAttr {
  name: string;
  type: number;
  insns: Uint8Array;
  license: string;
  kernelVersion?: number;
  flags?: number;
  expectedAttachType?: number;
  btfFd?: number;
  funcInfo?: { recordSize: number; bytes: Uint8Array; count: number };
  lineInfo?: { recordSize: number; bytes: Uint8Array; count: number };
  attachBtfId?: number;
  attachBtfObjFd?: number;
}

const LOG_LEVEL = 1;
const FIRST_LOG_SIZE = 256 * 1024;
const MAX_LOG_SIZE = 0xffffffff >>> 8;
const LOG_TAIL_LINES = 50;

function progLoadAttr(p: ProgLoadAttr, license: Uint8Array, log: Uint8Array | null): Attr {
  const attr = new Attr(144)
    .u32(0, p.type)
    .u32(4, p.insns.byteLength / 8)
    .ptr(8, p.insns)
    .ptr(16, license)
    .u32(40, p.kernelVersion ?? 0)
    .u32(44, p.flags ?? 0)
    .str(48, BPF_OBJ_NAME_LEN, kernelObjectName(p.name))
    .u32(68, p.expectedAttachType ?? 0)
    .u32(72, p.btfFd ?? 0)
    .u32(108, p.attachBtfId ?? 0)
    .u32(112, p.attachBtfObjFd ?? 0);
  if (p.btfFd && p.funcInfo && p.funcInfo.count > 0)
    attr.u32(76, p.funcInfo.recordSize).ptr(80, p.funcInfo.bytes).u32(88, p.funcInfo.count);
  if (p.btfFd && p.lineInfo && p.lineInfo.count > 0)
    attr.u32(92, p.lineInfo.recordSize).ptr(96, p.lineInfo.bytes).u32(104, p.lineInfo.count);
  if (log) attr.u32(24, LOG_LEVEL).u32(28, log.byteLength).ptr(32, log);
  return attr;
}

/** The last lines of a NUL-terminated log buffer. */
export function logTail(log: Uint8Array, lines = LOG_TAIL_LINES): string {
  let end = log.indexOf(0);
  if (end < 0) end = log.byteLength;
  const text = Buffer.from(log.buffer, log.byteOffset, end).toString('utf8').trimEnd();
  const all = text.split('\n');
  return (all.length > lines ? ['...', ...all.slice(-lines)] : all).join('\n');
}

/**
 * Loads a program: first without a log (fast, cannot fail with ENOSPC); on failure again with
 * a level-1 log, growing the buffer on ENOSPC, and throws ErrnoError
 * `load program "NAME": verifier: <errno text>\n<log tail>`.
 */
/** As libbpf: a signal arriving while the verifier runs makes it give up with EAGAIN. */
const PROG_LOAD_ATTEMPTS = 5;

function progLoadCall(attr: Uint8Array): number {
  let r = native().bpf(BPF_CMD.PROG_LOAD, attr);
  for (let attempt = 1; r === -ERRNO.EAGAIN && attempt < PROG_LOAD_ATTEMPTS; attempt++) {
    r = native().bpf(BPF_CMD.PROG_LOAD, attr);
  }
  return r;
}

export function progLoad(p: ProgLoadAttr): number {
  const license = cString(p.license);
  const first = progLoadCall(progLoadAttr(p, license, null).bytes);
  if (first >= 0) return first;
  let size = FIRST_LOG_SIZE;
  for (;;) {
    const buf = new Uint8Array(size);
    const attr = progLoadAttr(p, license, buf);
    const r = progLoadCall(attr.bytes);
    if (r >= 0) return r;
    const trueSize = attr.getU32(140);
    if (-r === ERRNO.ENOSPC && size < MAX_LOG_SIZE) {
      size = Math.min(MAX_LOG_SIZE, Math.max(size * 2, trueSize));
      continue;
    }
    // ENOSPC from a load that failed without a log means the log was what did not fit; the
    // first errno is the real verdict.
    const errno = -r === ERRNO.ENOSPC ? -first : -r;
    const tail = logTail(buf);
    const detail = tail ? `\n${tail}` : ' (the verifier log is empty: the kernel refused the program before verifying it)';
    throw new ErrnoError(`load program "${p.name}": verifier: ${errnoText(errno)}${detail}`, errno);
  }
}

/** Loads BTF; on failure retries with a log and puts its tail into the error. */
export function btfLoad(btf: Uint8Array, what: string): number {
  const make = (log: Uint8Array | null) => {
    const attr = new Attr(32).ptr(0, btf).u32(16, btf.byteLength);
    if (log) attr.ptr(8, log).u32(20, log.byteLength).u32(24, LOG_LEVEL);
    return attr;
  };
  const first = native().bpf(BPF_CMD.BTF_LOAD, make(null).bytes);
  if (first >= 0) return first;
  const buf = new Uint8Array(FIRST_LOG_SIZE);
  const r = native().bpf(BPF_CMD.BTF_LOAD, make(buf).bytes);
  if (r >= 0) return r;
  const errno = -r === ERRNO.ENOSPC ? -first : -r;
  const tail = logTail(buf, 20);
  throw new ErrnoError(`load BTF of ${what}: ${errnoText(errno)}${tail ? '\n' + tail : ''}`, errno);
}

/** OBJ_GET_INFO_BY_FD into `info` (sized for the struct wanted); returns the bytes written. */
export function objGetInfo(fd: number, info: Uint8Array, what: string): number {
  const attr = new Attr(16).u32(0, fd).u32(4, info.byteLength).ptr(8, info);
  check(native().bpf(BPF_CMD.OBJ_GET_INFO_BY_FD, attr.bytes), `get info of ${what}`);
  return attr.getU32(4);
}

export interface LinkCreateAttr {
  progFd: number;
  targetFd: number; // or target ifindex
  attachType: number;
  flags?: number;
  /** Bytes of the per-type union at offset 16 (e.g. target_btf_id, bpf_cookie). */
  extra?: (attr: Attr) => void;
}

export function linkCreate(a: LinkCreateAttr, what: string): number {
  const attr = new Attr(64).u32(0, a.progFd).u32(4, a.targetFd).u32(8, a.attachType).u32(12, a.flags ?? 0);
  a.extra?.(attr);
  return check(native().bpf(BPF_CMD.LINK_CREATE, attr.bytes), what);
}

/** RAW_TRACEPOINT_OPEN; `name` null for tp_btf (the target is the program's attach_btf_id). */
export function rawTracepointOpen(progFd: number, name: string | null, what: string): number {
  const n = name === null ? null : cString(name);
  const attr = new Attr(16).ptr(0, n).u32(8, progFd);
  return check(native().bpf(BPF_CMD.RAW_TRACEPOINT_OPEN, attr.bytes), what);
}

export interface TestRunOptions {
  ctxIn?: Uint8Array;
  dataIn?: Uint8Array;
  /** Room for the output packet (default: dataIn's length + 256, for programs that grow it). */
  dataSizeOut?: number;
  /** Room for the output context (default: ctxIn's length). */
  ctxSizeOut?: number;
  repeat?: number;
  flags?: number;
  cpu?: number;
}

export interface TestRunResult {
  retval: number;
  /** Kernel-measured average ns per run. */
  durationNs: number;
  dataOut: Uint8Array;
  ctxOut: Uint8Array;
}

/** BPF_PROG_TEST_RUN (bpf-internals.md §5.3). Keep repeat 1 for XDP in functional tests. */
export function progTestRun(progFd: number, o: TestRunOptions = {}): TestRunResult {
  const dataOut = new Uint8Array(o.dataSizeOut ?? (o.dataIn ? o.dataIn.byteLength + 256 : 0));
  const ctxOut = new Uint8Array(o.ctxSizeOut ?? o.ctxIn?.byteLength ?? 0);
  const attr = new Attr(76)
    .u32(0, progFd)
    .u32(8, o.dataIn?.byteLength ?? 0)
    .u32(12, dataOut.byteLength)
    .ptr(16, o.dataIn && o.dataIn.byteLength ? o.dataIn : null)
    .ptr(24, dataOut.byteLength ? dataOut : null)
    .u32(32, o.repeat ?? 1)
    .u32(40, o.ctxIn?.byteLength ?? 0)
    .u32(44, ctxOut.byteLength)
    .ptr(48, o.ctxIn && o.ctxIn.byteLength ? o.ctxIn : null)
    .ptr(56, ctxOut.byteLength ? ctxOut : null)
    .u32(64, o.flags ?? 0)
    .u32(68, o.cpu ?? 0);
  check(native().bpf(BPF_CMD.PROG_TEST_RUN, attr.bytes), `test run of program fd ${progFd}`);
  return {
    retval: attr.getU32(4),
    durationNs: attr.getU32(36),
    dataOut: dataOut.subarray(0, Math.min(dataOut.byteLength, attr.getU32(12))),
    ctxOut: ctxOut.subarray(0, Math.min(ctxOut.byteLength, attr.getU32(44))),
  };
}
