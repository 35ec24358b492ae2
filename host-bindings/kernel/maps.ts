// A created kernel map: element operations with their errors named, and the event reader for
// ring and perf buffers.

import type { BpfMap, EventReader } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_CMD, BPF_MAP_TYPE, ERRNO, nameOf } from '../uapi.js';
import { errnoText } from './errno.js';
import type { FdSet } from './fds.js';
import { PerfBufReader } from './perfbuf.js';
import { RingBufReader } from './ringbuf.js';
import { mapElemOp } from './syscall.js';

const PER_CPU_TYPES = new Set<number>([
  BPF_MAP_TYPE.PERCPU_HASH,
  BPF_MAP_TYPE.PERCPU_ARRAY,
  BPF_MAP_TYPE.LRU_PERCPU_HASH,
  BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE,
]);

/** Bytes user space reads or writes per value: per-CPU maps hold one 8-aligned slot per possible CPU. */
export function valueBufferSize(type: number, valueSize: number, possibleCpus: number): number {
  return PER_CPU_TYPES.has(type) ? Math.ceil(valueSize / 8) * 8 * possibleCpus : valueSize;
}

export interface KernelMapInit {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  possibleCpus: number[];
  fds: FdSet;
  shouldStop?: () => boolean;
}

export class KernelMap implements BpfMap {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly valueBufferSize: number;
  private eventReader: EventReader | undefined;

  constructor(private readonly init: KernelMapInit) {
    this.name = init.name;
    this.fd = init.fd;
    this.type = init.type;
    this.keySize = init.keySize;
    this.valueSize = init.valueSize;
    this.maxEntries = init.maxEntries;
    this.valueBufferSize = valueBufferSize(init.type, init.valueSize, init.possibleCpus.length);
  }

  lookup(key: Uint8Array, value: Uint8Array, flags: bigint = 0n): void {
    this.run('lookup in', BPF_CMD.MAP_LOOKUP_ELEM, this.keyArg(key), this.valueArg(value), flags);
  }

  update(key: Uint8Array, value: Uint8Array, flags: bigint = 0n): void {
    this.run('update', BPF_CMD.MAP_UPDATE_ELEM, this.keyArg(key), this.valueArg(value), flags);
  }

  delete(key: Uint8Array, flags: bigint = 0n): void {
    this.run('delete from', BPF_CMD.MAP_DELETE_ELEM, this.keyArg(key), null, flags);
  }

  /** Pop for QUEUE/STACK maps (key empty), lookup-and-delete for hash maps. */
  lookupAndDelete(key: Uint8Array, value: Uint8Array, flags: bigint = 0n): void {
    this.run('pop from', BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM, this.keyArg(key), this.valueArg(value), flags);
  }

  nextKey(key: Uint8Array | null, next: Uint8Array): void {
    if (next.byteLength < this.keySize) throw this.sizeError('next-key buffer', next.byteLength, this.keySize);
    this.run('get next key of', BPF_CMD.MAP_GET_NEXT_KEY, key === null ? null : this.keyArg(key), next, 0n);
  }

  reader(): EventReader {
    if (this.eventReader) return this.eventReader;
    const { fds, shouldStop } = this.init;
    if (this.type === BPF_MAP_TYPE.RINGBUF)
      this.eventReader = new RingBufReader({ name: this.name, mapFd: this.fd, size: this.maxEntries, fds, shouldStop });
    else if (this.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY)
      this.eventReader = new PerfBufReader({ name: this.name, mapFd: this.fd, cpus: this.init.possibleCpus, fds, shouldStop });
    else
      throw new ErrnoError(
        `map "${this.name}" is a ${nameOf(BPF_MAP_TYPE, this.type)} map: only RINGBUF and PERF_EVENT_ARRAY maps have an event reader`,
        ERRNO.EINVAL,
      );
    return this.eventReader;
  }

  /** Closes the reader (if any); the map fd itself belongs to the object. */
  closeReader(): void {
    this.eventReader?.close();
    this.eventReader = undefined;
  }

  private keyArg(key: Uint8Array): Uint8Array | null {
    if (this.keySize === 0) return null;
    if (key.byteLength < this.keySize) throw this.sizeError('key', key.byteLength, this.keySize);
    return key;
  }

  private valueArg(value: Uint8Array): Uint8Array {
    if (value.byteLength < this.valueBufferSize) throw this.sizeError('value buffer', value.byteLength, this.valueBufferSize);
    return value;
  }

  private sizeError(what: string, got: number, want: number): ErrnoError {
    return new ErrnoError(`map "${this.name}": ${what} is ${got} bytes, needs ${want}`, ERRNO.EINVAL);
  }

  private run(verb: string, cmd: number, key: Uint8Array | null, value: Uint8Array | null, flags: bigint): void {
    const r = mapElemOp(cmd, this.fd, key, value, flags);
    if (r < 0) throw new ErrnoError(`${verb} map "${this.name}": ${errnoText(r)}`, -r);
  }
}
