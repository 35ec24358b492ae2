// A BPF ring buffer laid out as the kernel maps it (consumer page; producer page followed by the
// data area twice in a row), in ordinary ArrayBuffers, with this test acting as the producer.
// It feeds the real consumption code (ring-consume.ts) without a kernel.

import type { EventReader, RawRecordHandler, RingEntrySink } from '../../../host-bindings/backend.js';
import { consumeBatches, consumeRecords, type RingView } from '../../../host-bindings/kernel/ring-consume.js';
import { BPF_RINGBUF } from '../../../host-bindings/uapi.js';

const PAGE = 4096;
const TWO32 = 0x1_0000_0000;

export class SyntheticRing {
  readonly view: RingView;
  /** producer_pos: where the next entry is reserved. */
  private prod: number;

  /** `start` is the initial consumer and producer position (to test positions past 4 GiB). */
  constructor(readonly size: number, start = 0) {
    const consumer = new ArrayBuffer(PAGE);
    const producer = new ArrayBuffer(PAGE + 2 * size);
    this.view = {
      consumer: new Uint32Array(consumer, 0, 2),
      consumer64: new BigUint64Array(consumer, 0, 1),
      producer: new Uint32Array(producer, 0, 2),
      words: new Int32Array(producer),
      bytes: new Uint8Array(producer),
      dataStart: PAGE,
      mask: size - 1,
    };
    this.prod = start;
    this.setPosition(this.view.consumer, start);
    this.setPosition(this.view.producer, start);
  }

  get consumerPos(): number {
    return this.view.consumer[1]! * TWO32 + this.view.consumer[0]!;
  }

  get producerPos(): number {
    return this.prod;
  }

  /** Reserves an entry holding `record` and returns its position; committed unless `busy`. */
  push(record: number[] | Uint8Array, options: { busy?: boolean; discard?: boolean } = {}): number {
    const at = this.prod;
    const size = (record.length + BPF_RINGBUF.HDR_SZ + 7) & ~7;
    if (at + size - this.consumerPos > this.size) throw new Error('synthetic ring is full');
    this.write(at + BPF_RINGBUF.HDR_SZ, record);
    this.setHeader(at, record.length | (options.discard ? BPF_RINGBUF.DISCARD_BIT : 0) | (options.busy ? BPF_RINGBUF.BUSY_BIT : 0));
    this.prod = at + size;
    this.setPosition(this.view.producer, this.prod);
    return at;
  }

  /** Clears the busy bit of the entry at `at`. */
  commit(at: number): void {
    const header = this.view.words[(this.view.dataStart + (at & this.view.mask)) >>> 2]!;
    this.setHeader(at, header & ~BPF_RINGBUF.BUSY_BIT);
  }

  /** An EventReader over this ring with the kernel reader's two fast paths (timeouts ignored). */
  reader(): EventReader {
    const view = this.view;
    return {
      lost: 0n,
      poll: () => {
        throw new Error('the ABI must use pollEntries or pollRaw with this reader');
      },
      pollRaw: (_timeoutMs: number, onRecord: RawRecordHandler) => consumeRecords(view, onRecord),
      pollEntries: (_timeoutMs: number, sink: RingEntrySink) => consumeBatches(view, sink),
      close() {},
    };
  }

  /** Writes bytes at ring position `at`, in both mappings of the data area. */
  private write(at: number, bytes: ArrayLike<number>): void {
    const { bytes: view, dataStart, mask } = this.view;
    for (let i = 0; i < bytes.length; i++) {
      const offset = (at + i) & mask;
      view[dataStart + offset] = bytes[i]!;
      view[dataStart + this.size + offset] = bytes[i]!;
    }
  }

  private setHeader(at: number, header: number): void {
    const word = new Uint8Array(new Uint32Array([header >>> 0]).buffer);
    this.write(at, [...word, 0, 0, 0, 0]);
  }

  private setPosition(halves: Uint32Array, position: number): void {
    halves[0] = position % TWO32;
    halves[1] = Math.floor(position / TWO32);
  }
}

export const bytesOf = (n: number, from: number): number[] => Array.from({ length: n }, (_, i) => (from + i) & 0xff);
