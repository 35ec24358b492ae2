// The one interface the guest ABI drives. Two implementations: host-bindings/kernel (real
// bpf() syscalls) and host-bindings/vm (the built-in VM). Every method is synchronous because
// the guest's host calls are; a blocking poll waits in short slices and checks `shouldStop`.
// Failures throw ErrnoError (errno as the kernel would report it) with a message that names
// the object, program or map involved.

import type { ObjectSpec } from './object/spec.js';

export interface BackendOptions {
  /** Checked between poll slices; when it returns true, poll returns early with -EINTR. */
  shouldStop?: () => boolean;
  /** Called with diagnostics (warnings, verbose host-call logs); a verifier log travels in the load error. */
  log?: (line: string) => void;
  /**
   * Told of every kernel fd the backend opens and closes, so that whoever runs the guest can
   * close what is left if the guest's thread is killed before it can clean up.
   */
  fds?: FdTracker;
}

export interface FdTracker {
  opened(fd: number): void;
  closed(fd: number): void;
}

/** Whether a backend can be used here, and if not, why (shown to the user verbatim). */
export type Availability = { available: true } | { available: false; reason: string };

export interface Backend {
  readonly kind: 'kernel' | 'vm';
  /** Parse, relocate (CO-RE against the backend's target BTF), create maps and load programs. */
  loadObject(bytes: Uint8Array, options?: LoadOptions): LoadedObject;
  /**
   * The guest is about to wait (a WASI sleep) until `untilMs` (Date.now() scale). A backend with
   * userspace event sources (the VM's timers and packet replay) runs what is due by then; the
   * kernel needs nothing. Called again at least every few milliseconds while the guest waits.
   */
  idle?(untilMs: number): void;
  /** Release everything every object of this backend created. Idempotent. */
  close(): void;
}

export interface LoadOptions {
  /** Used in error messages ("load program "handle_exec" of bootstrap.bpf.o: ..."). */
  objectName?: string;
}

export interface LoadedObject {
  readonly spec: ObjectSpec;
  programNames(): string[];
  mapNames(): string[];
  /** Throws ErrnoError(ENOENT) naming the map when there is none. */
  map(name: string): BpfMap;
  /** Attach a program by its function name. `target` undefined or "" = auto-attach from the section. */
  attach(programName: string, target?: string): Attachment;
  /** Detach links, close programs and maps. Idempotent. */
  close(): void;
}

export interface Attachment {
  readonly program: string;
  readonly description: string; // "tracepoint sched/sched_process_exec", for logs
  detach(): void;
}

export interface BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Bytes a lookup/update value buffer holds: valueSize, or round_up(valueSize, 8) * possible CPUs for per-CPU maps. */
  readonly valueBufferSize: number;
  /** Fills `value` (valueBufferSize bytes). Throws ErrnoError(ENOENT) when the key is absent. */
  lookup(key: Uint8Array, value: Uint8Array, flags?: bigint): void;
  update(key: Uint8Array, value: Uint8Array, flags?: bigint): void;
  delete(key: Uint8Array, flags?: bigint): void;
  /** Writes the key after `key` (null = the first key) into `next`. Throws ErrnoError(ENOENT) at the end. */
  nextKey(key: Uint8Array | null, next: Uint8Array): void;
  /** For RINGBUF and PERF_EVENT_ARRAY maps: the reader, created on first use and cached. */
  reader(): EventReader;
}

/**
 * Called once per record with a view that is valid only during the call. Return 0 to go on;
 * a non-zero value stops consumption and becomes poll's result.
 */
export type RecordHandler = (record: Uint8Array) => number;

/**
 * The allocation-free form of RecordHandler: the record is `bytes[offset, offset + length)`,
 * where `bytes` views one of the reader's few buffers (a ring buffer's whole mapping, a perf
 * buffer's per-CPU ring or its copy of a record that wraps), so the same objects come back on
 * every call; the bytes are valid only during the call. Same result convention as RecordHandler.
 */
export type RawRecordHandler = (bytes: Uint8Array, offset: number, length: number) => number;

/**
 * Receives a BPF ring buffer's entries a batch at a time (EventReader.pollEntries), so that a
 * consumer can hand many records to its callback in one step. An entry is the kernel's layout:
 * an 8-byte header (u32 length with the BUSY/DISCARD bits, u32 page offset), then the record,
 * padded to a multiple of 8 bytes.
 */
export interface RingEntrySink {
  /** The most bytes of whole entries one batch may hold. */
  readonly batchBytes: number;
  /** The reader writes the header word of each batched entry here, in order; its length bounds a batch. */
  readonly headers: Int32Array;
  /**
   * Delivers `count` committed entries (busy bit clear, their header words in `headers`) that
   * lie in `bytes[offset, offset + length)`, valid only during the call. Returns 0 when every
   * entry was handled, or i + 1 when the record of entry i stopped delivery with a non-zero
   * value (then in `stopValue`); entries 0..i are consumed.
   */
  deliver(bytes: Uint8Array, offset: number, length: number, count: number): number;
  /** The non-zero value that stopped the last deliver(). */
  readonly stopValue: number;
  /** Delivers the record of an entry longer than batchBytes on its own; RawRecordHandler's convention. */
  readonly deliverOne: RawRecordHandler;
}

export interface EventReader {
  /**
   * Wait up to timeoutMs (negative = forever, still checking shouldStop) for records and
   * deliver every available one. Returns the number of records delivered, or the handler's
   * non-zero value. Throws ErrnoError(EINTR) when stopped.
   */
  poll(timeoutMs: number, onRecord: RecordHandler): number;
  /**
   * Optional fast path with poll's semantics, delivering records to a RawRecordHandler so that
   * no view is created per record. Callers fall back to poll when a reader lacks it.
   */
  pollRaw?(timeoutMs: number, onRecord: RawRecordHandler): number;
  /**
   * Optional batch path of ring buffers, with poll's semantics and result: committed entries
   * go to the sink in batches of at most sink.batchBytes bytes.
   */
  pollEntries?(timeoutMs: number, sink: RingEntrySink): number;
  /** Records the kernel reported lost (perf buffer) since the reader was created. */
  readonly lost: bigint;
  close(): void;
}
