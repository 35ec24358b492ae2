// Consuming a BPF ring buffer's entries (bpf-internals.md §7.1), with libbpf's semantics: every
// committed record in order, discarded ones skipped, stop at a busy entry, a handler's non-zero
// result stops consumption after its record. Two forms: record by record (consumeRecords, for
// EventReader.pollRaw) and in batches (consumeBatches, for pollEntries), where the committed
// entries that fit a sink's batch are handed over as one byte range of the ring, so that the
// consumer can copy them in one step and call its callback for each without a host round trip
// per record. Both work on a RingView, so a synthetic ring in an ordinary ArrayBuffer can stand
// in for the kernel's.
//
// Memory ordering. A record's data is written before the kernel clears its header's busy bit
// (store-release), so the data may be read only after a header load that saw the bit clear;
// libbpf loads each header with load-acquire and publishes consumer_pos with store-release. On
// x86 (TSO) both are plain moves: loads are not reordered with older loads, stores not with
// older loads or stores. V8 keeps typed-array loads and stores in program order (they sit on its
// effect chain) and never moves them across a call, so plain element accesses give the same
// guarantees there, at about 1 ns instead of 10-17 ns for an Atomics builtin call per record.
// Elsewhere (arm64 reorders both) the Atomics forms stay. producer_pos is read with Atomics
// once per pass, not per record.
// The batch scan loads every header of a batch before the sink copies the batch, and the copy
// comes after all of them in program order. So every byte the copy reads is read after its
// entry's header, whatever order the copy itself uses (memmove may well load the tail first).
// The sink gets the header words the scan read, not the copy's, so nothing it walks can change.

import type { RawRecordHandler, RingEntrySink } from '../backend.js';
import { BPF_RINGBUF } from '../uapi.js';

const LEN_MASK = 0x3fffffff;
const TWO32 = 0x1_0000_0000;
const TSO = process.arch === 'x64' || process.arch === 'ia32';

/** The mapped pages of a ring buffer (bpf-internals.md §7.1). */
export interface RingView {
  /** consumer_pos as 32-bit halves (low, high). */
  readonly consumer: Uint32Array;
  /** The same 8 bytes as one word, for stores that change the high half. */
  readonly consumer64: BigUint64Array;
  /** producer_pos as 32-bit halves (low, high). */
  readonly producer: Uint32Array;
  /** The mapping that holds the data area twice in a row, as words and as bytes. */
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
  /** Byte offset of the data area in `words`/`bytes`. */
  readonly dataStart: number;
  /** Data size - 1 (the size is a power of two). */
  readonly mask: number;
}

function producerPosition(ring: RingView): number {
  const p = ring.producer;
  let hi: number;
  let lo: number;
  do {
    hi = Atomics.load(p, 1);
    lo = Atomics.load(p, 0);
  } while (hi !== Atomics.load(p, 1));
  return hi * TWO32 + lo;
}

/**
 * Publishes consumer_pos = hi * 2^32 + lo (lo < 2^32). The high half changes only every 4 GiB:
 * then one 64-bit store, so the kernel never sees a torn position.
 */
function publishConsumer(ring: RingView, hi: number, lo: number, hiChanged: boolean): void {
  if (hiChanged) Atomics.store(ring.consumer64, 0, BigInt(hi) * 0x1_0000_0000n + BigInt(lo));
  else if (TSO) ring.consumer[0] = lo;
  else Atomics.store(ring.consumer, 0, lo);
}

function entrySize(header: number): number {
  return ((header & LEN_MASK) + BPF_RINGBUF.HDR_SZ + 7) & ~7;
}

/**
 * Delivers every committed record to onRecord as (ring.bytes, offset, length), publishing
 * consumer_pos after each. Returns the number of records delivered, or the non-zero result that
 * stopped delivery.
 */
export function consumeRecords(ring: RingView, onRecord: RawRecordHandler): number {
  const { consumer, words, bytes, mask, dataStart } = ring;
  // Positions are kept as 32-bit halves: the low half indexes the ring, the high half only
  // changes every 4 GiB. Only this consumer writes consumer_pos, so plain loads see its value.
  let consHi = consumer[1]!;
  let consLo = consumer[0]!;
  let count = 0;
  for (;;) {
    const prod = producerPosition(ring);
    if (consHi * TWO32 + consLo >= prod) return count;
    do {
      const at = dataStart + (consLo & mask);
      const header = TSO ? words[at >>> 2]! : Atomics.load(words, at >>> 2);
      if (header & BPF_RINGBUF.BUSY_BIT) return count;
      consLo += entrySize(header);
      let result = 0;
      if ((header & BPF_RINGBUF.DISCARD_BIT) === 0) {
        count++;
        result = onRecord(bytes, at + BPF_RINGBUF.HDR_SZ, header & LEN_MASK);
      }
      const wrapped = consLo >= TWO32;
      if (wrapped) {
        consLo -= TWO32;
        consHi++;
      }
      publishConsumer(ring, consHi, consLo, wrapped);
      if (result !== 0) return result;
    } while (consHi * TWO32 + consLo < prod);
  }
}

/**
 * Delivers every committed entry to the sink, in batches, stopping at a busy entry. Returns the
 * number of records delivered (discarded entries are skipped, not counted), or the non-zero
 * value that stopped delivery; consumer_pos then points after the record that returned it.
 */
export function consumeBatches(ring: RingView, sink: RingEntrySink): number {
  const { consumer, words, bytes, mask, dataStart } = ring;
  // Only this consumer writes consumer_pos, so plain loads see its value.
  let consHi = consumer[1]!;
  let consLo = consumer[0]!;
  let count = 0;
  for (;;) {
    const prod = producerPosition(ring);
    let pending = prod - (consHi * TWO32 + consLo);
    if (pending <= 0) return count;
    do {
      // The data area is mapped twice, so the entries from here on are contiguous for a whole ring.
      // Indexes are in 32-bit words: entries are 8-byte aligned.
      const start = dataStart + (consLo & mask);
      const first = start >>> 2;
      const pendingEnd = first + (pending >>> 2);
      const roomEnd = first + (sink.batchBytes >>> 2);
      const headers = sink.headers;
      const capacity = headers.length;
      let at = first;
      let n = 0;
      let discarded = 0;
      let header = 0;
      while (at < pendingEnd) {
        header = TSO ? words[at]! : Atomics.load(words, at);
        if (header < 0) break; // BUSY_BIT is the sign bit
        const next = at + (entrySize(header) >>> 2);
        if (next > roomEnd || n === capacity) break;
        headers[n++] = header;
        if (header & BPF_RINGBUF.DISCARD_BIT) discarded++;
        at = next;
      }
      let used = (at - first) * 4;
      let records = n - discarded;
      let result = 0;
      if (n > 0) {
        const stoppedAt = sink.deliver(bytes, start, used, n);
        if (stoppedAt !== 0) {
          used = 0;
          records = 0;
          for (let i = 0; i < stoppedAt; i++) {
            used += entrySize(headers[i]!);
            if ((headers[i]! & BPF_RINGBUF.DISCARD_BIT) === 0) records++;
          }
          result = sink.stopValue;
        }
      } else if (header < 0) {
        return count;
      } else {
        // One entry longer than a batch: its record goes alone, truncated by the sink.
        used = entrySize(header);
        if ((header & BPF_RINGBUF.DISCARD_BIT) === 0) {
          records = 1;
          result = sink.deliverOne(bytes, start + BPF_RINGBUF.HDR_SZ, header & LEN_MASK);
        }
      }
      count += records;
      pending -= used;
      consLo += used;
      const wrapped = consLo >= TWO32;
      if (wrapped) {
        consLo -= TWO32;
        consHi++;
      }
      publishConsumer(ring, consHi, consLo, wrapped);
      if (result !== 0) return result;
      // A busy entry (or a batch cut short by one) ends the pass, as in libbpf.
      if (header < 0) return count;
    } while (pending > 0);
  }
}
