// Consumer of a perf buffer (PERF_EVENT_ARRAY map), bpf-internals.md §7.2: one BPF_OUTPUT
// perf event per possible CPU, each with its own mmapped ring (data_head / data_tail protocol),
// its fd stored in the map slot of its CPU, all watched by one epoll set.

import type { EventReader, RawRecordHandler, RecordHandler } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_CMD, ERRNO, PERF_COUNT_SW, PERF_EVENT_IOC, PERF_RECORD, PERF_SAMPLE_RAW, PERF_TYPE } from '../uapi.js';
import { check, errnoText } from './errno.js';
import type { FdSet } from './fds.js';
import { loadNative, MAP_SHARED, PROT } from './native.js';
import { perfEventOpen } from './perf.js';
import { Poller } from './poller.js';
import { mapElemOp } from './syscall.js';

const TWO32 = 0x1_0000_0000;
/** Data pages per CPU (a power of two), as the wasm-bpf runtimes use. */
const DATA_PAGES = 64;
// perf_event_mmap_page: data_head @1024, data_tail @1032 as u32 word indices.
const HEAD = 1024 / 4;
const TAIL = 1032 / 4;

interface CpuRing {
  cpu: number;
  fd: number;
  map: ArrayBuffer;
  words: Uint32Array;
  bytes: Uint8Array;
  view: DataView;
  dataOffset: number;
  dataSize: number;
}

export interface PerfBufInit {
  name: string;
  mapFd: number;
  cpus: number[];
  fds: FdSet;
  shouldStop?: () => boolean;
}

export class PerfBufReader implements EventReader {
  private readonly what: string;
  private readonly rings: CpuRing[] = [];
  private readonly poller: Poller;
  private readonly fds: FdSet;
  private lostCount = 0;
  private scratch = new Uint8Array(256);
  /** Set by body(): the offset of the body in the array it returned. */
  private bodyOffset = 0;
  private closed = false;
  private stopResult = 0;

  constructor(init: PerfBufInit) {
    this.what = `perf buffer "${init.name}"`;
    this.fds = init.fds;
    this.poller = new Poller(this.what, init.fds, init.shouldStop);
    try {
      for (const cpu of init.cpus) this.openCpu(init.mapFd, cpu);
      if (this.rings.length === 0) throw new ErrnoError(`${this.what}: no online CPU to open a ring on`, ERRNO.ENODEV);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get lost(): bigint {
    return BigInt(this.lostCount);
  }

  private openCpu(mapFd: number, cpu: number): void {
    const native = loadNative();
    let fd: number;
    try {
      fd = perfEventOpen(
        { type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.BPF_OUTPUT, samplePeriod: 1, sampleType: PERF_SAMPLE_RAW, wakeupEvents: 1 },
        -1,
        cpu,
        `${this.what}: open BPF_OUTPUT event on CPU ${cpu}`,
      );
    } catch (e) {
      // A possible but offline CPU cannot run the program either.
      if (e instanceof ErrnoError && e.errno === ERRNO.ENODEV) return;
      throw e;
    }
    this.fds.add(fd);
    const page = native.pageSize();
    const map = native.mmap(fd, (1 + DATA_PAGES) * page, PROT.READ | PROT.WRITE, MAP_SHARED, 0);
    if (typeof map === 'number') {
      this.fds.close(fd);
      check(map, `${this.what}: mmap ring of CPU ${cpu}`);
    }
    const ab = map as ArrayBuffer;
    const view = new DataView(ab);
    const ring: CpuRing = {
      cpu,
      fd,
      map: ab,
      words: new Uint32Array(ab),
      bytes: new Uint8Array(ab),
      view,
      dataOffset: Number(view.getBigUint64(1040, true)),
      dataSize: Number(view.getBigUint64(1048, true)),
    };
    this.rings.push(ring);
    check(native.ioctl(fd, PERF_EVENT_IOC.ENABLE, 0), `${this.what}: enable event of CPU ${cpu}`);
    const key = new Uint8Array(4);
    const value = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, cpu, true);
    new DataView(value.buffer).setUint32(0, fd, true);
    const r = mapElemOp(BPF_CMD.MAP_UPDATE_ELEM, mapFd, key, value, 0);
    if (r < 0) throw new ErrnoError(`${this.what}: store the event of CPU ${cpu} in the map: ${errnoText(r)}`, -r);
    this.poller.watch(fd, this.rings.length - 1);
  }

  poll(timeoutMs: number, onRecord: RecordHandler): number {
    return this.pollRaw(timeoutMs, (bytes, offset, length) =>
      onRecord(new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length)));
  }

  pollRaw(timeoutMs: number, onRecord: RawRecordHandler): number {
    if (this.closed) throw new ErrnoError(`${this.what}: the reader is closed`, ERRNO.EBADF);
    let delivered = this.consumeAll(onRecord);
    if (delivered !== 0 || timeoutMs === 0) return delivered;
    const deadline = timeoutMs < 0 ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const ready = this.poller.wait(timeoutMs < 0 ? -1 : Math.max(0, deadline - Date.now()));
      delivered = this.consumeAll(onRecord);
      if (delivered !== 0 || ready.length === 0 || Date.now() >= deadline) return delivered;
    }
  }

  private consumeAll(onRecord: RawRecordHandler): number {
    let count = 0;
    for (const ring of this.rings) {
      count += this.consume(ring, onRecord);
      if (this.stopResult !== 0) {
        const result = this.stopResult;
        this.stopResult = 0;
        return result;
      }
    }
    return count;
  }

  /** Delivers the ring's records; a handler's non-zero result is left in stopResult. */
  private consume(ring: CpuRing, onRecord: RawRecordHandler): number {
    const { words, view, dataOffset, dataSize } = ring;
    let hi: number;
    let lo: number;
    do {
      hi = Atomics.load(words, HEAD + 1);
      lo = Atomics.load(words, HEAD);
    } while (hi !== Atomics.load(words, HEAD + 1));
    const head = hi * TWO32 + lo;
    let tail = words[TAIL + 1]! * TWO32 + words[TAIL]!;
    let count = 0;
    while (tail < head) {
      const pos = tail % dataSize;
      // Records are 8-aligned and data_size is a multiple of 8: the header and the u32 after
      // it never straddle the end of the ring, only the body may.
      const type = view.getUint32(dataOffset + pos, true);
      const size = view.getUint16(dataOffset + pos + 6, true);
      let result = 0;
      if (type === PERF_RECORD.SAMPLE) {
        const rawSize = view.getUint32(dataOffset + ((pos + 8) % dataSize), true);
        const length = Math.min(rawSize, size - 12);
        count++;
        result = onRecord(this.body(ring, (pos + 12) % dataSize, length), this.bodyOffset, length);
      } else if (type === PERF_RECORD.LOST) {
        const lost = this.body(ring, (pos + 16) % dataSize, 8);
        this.lostCount += Number(new DataView(lost.buffer, lost.byteOffset + this.bodyOffset, 8).getBigUint64(0, true));
      }
      tail += size;
      const tailHi = Math.floor(tail / TWO32);
      words[TAIL + 1] = tailHi;
      Atomics.store(words, TAIL, tail - tailHi * TWO32);
      if (result !== 0) {
        this.stopResult = result;
        return count;
      }
    }
    return count;
  }

  /**
   * Where the `length` bytes at ring position `pos` are: the ring's own bytes, or the scratch
   * copy when they wrap. Returns the array; the offset in it is left in bodyOffset.
   */
  private body(ring: CpuRing, pos: number, length: number): Uint8Array {
    const start = ring.dataOffset + pos;
    if (pos + length <= ring.dataSize) {
      this.bodyOffset = start;
      return ring.bytes;
    }
    if (this.scratch.byteLength < length) this.scratch = new Uint8Array(Math.max(length, this.scratch.byteLength * 2));
    const first = ring.dataSize - pos;
    this.scratch.set(ring.bytes.subarray(start, start + first), 0);
    this.scratch.set(ring.bytes.subarray(ring.dataOffset, ring.dataOffset + length - first), first);
    this.bodyOffset = 0;
    return this.scratch;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const native = loadNative();
    for (const ring of this.rings) {
      native.ioctl(ring.fd, PERF_EVENT_IOC.DISABLE, 0);
      native.munmap(ring.map);
      this.fds.close(ring.fd);
    }
    this.rings.length = 0;
    this.poller.close();
  }
}
