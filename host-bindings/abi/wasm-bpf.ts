// The wasm-bpf host ABI (docs: wasm-bpf-abi.md §2, checklist §7): module `wasm_bpf` with six
// functions and `callback-wrapper.wasm_bpf_buffer_poll` for TinyGo guests. Every call validates
// the guest's pointers, turns the call into a Backend call and answers with the ABI's numbers:
// handles are BigInts >= 1n (0n = load failed), errors are negative errnos, never traps.
//
// Deliberate differences from the Rust reference runtime (documented for users):
// - close detaches the object's programs (Rust keeps links until the instance ends);
// - poll delivers every record, passes the copied length, and returns the number of records
//   (or the callback's non-zero value) instead of only the last record's callback result;
// - a kernel ring buffer's records arrive in batches (guest-batch-sink.ts): the pointer passed
//   to the callback lies inside the guest's buffer, not always at its start;
// - GET_NEXT_KEY with key pointer 0 asks for the first key (libbpf's NULL convention) instead
//   of reading a key at linear address 0.

import type { Backend, BpfMap, EventReader, RawRecordHandler, RecordHandler } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { BPF_CMD, BPF_MAP_TYPE, ERRNO } from '../uapi.js';
import { describe, negativeErrno } from './errno.js';
import { GuestBatchSink } from './guest-batch-sink.js';
import { GuestMemory, toAddress } from './guest-memory.js';
import { HandleTable } from './handles.js';
import { LostSampleReports } from './lost-samples.js';
import { ringWalker } from './ring-walker.js';
import { GuestStopped } from './stopped.js';

export const WASM_BPF_MODULE = 'wasm_bpf';
export const CALLBACK_WRAPPER_MODULE = 'callback-wrapper';
export const GO_CALLBACK_EXPORT = 'go-callback';

/** Names and kinds of everything this ABI provides, for checking a guest's imports up front. */
export const WASM_BPF_IMPORTS: Record<string, string[]> = {
  [WASM_BPF_MODULE]: [
    'wasm_load_bpf_object',
    'wasm_attach_bpf_program',
    'wasm_bpf_map_fd_by_name',
    'wasm_bpf_buffer_poll',
    'wasm_bpf_map_operate',
    'wasm_close_bpf_object',
  ],
  [CALLBACK_WRAPPER_MODULE]: ['wasm_bpf_buffer_poll'],
};

export interface WasmBpfHostOptions {
  /** The backend the guest's objects are loaded into; closing it stays with the caller. */
  backend: Backend;
  /** Diagnostics sink (stderr in the CLI). Load failures are always reported here. */
  log: (line: string) => void;
  /** Log every call with its arguments and result, and every backend error message. */
  verbose?: boolean;
  /** True once the runner asked the guest to stop; a poll interrupted then unwinds the guest. */
  stopRequested?: () => boolean;
  /**
   * Said once, after the first attach the backend cannot do at all (EOPNOTSUPP): why this
   * backend runs the guest (the VM, because the kernel backend is unavailable, say).
   */
  unsupportedAttachHint?: string;
}

type Callback = (ctx: number, data: number, size: number) => number;
type HostFunction = (...args: never[]) => number | bigint;

const EFAULT = -ERRNO.EFAULT;
const EINVAL = -ERRNO.EINVAL;

export class WasmBpfHost {
  private readonly handles = new HandleTable();
  private memory: GuestMemory | null = null;
  private table: WebAssembly.Table | null = null;
  private goCallback: Callback | null = null;
  private loads = 0;
  private hinted = false;

  // State of the poll in progress, read by the one record handler (no allocation per record).
  private pollCallback: Callback | null = null;
  private pollCtx = 0;
  private pollData = 0;
  private pollMax = 0;
  private inCallback = false;
  private readonly onRecord: RecordHandler = (record) => {
    const memory = this.memory!;
    const size = record.byteLength <= this.pollMax ? record.byteLength : this.pollMax;
    memory.bytes().set(size === record.byteLength ? record : record.subarray(0, size), this.pollData);
    this.inCallback = true;
    const result = this.pollCallback!(this.pollCtx, this.pollData, size);
    this.inCallback = false;
    return result | 0;
  };
  private readonly onRawRecord: RawRecordHandler = (bytes, offset, length) => {
    const size = length <= this.pollMax ? length : this.pollMax;
    this.memory!.write(this.pollData, bytes, offset, size);
    this.inCallback = true;
    const result = this.pollCallback!(this.pollCtx, this.pollData, size);
    this.inCallback = false;
    return result | 0;
  };
  private readonly batches = new GuestBatchSink(this.onRawRecord);
  private readonly lostSamples = new LostSampleReports((line) => this.options.log(line));

  constructor(private readonly options: WasmBpfHostOptions) {}

  /** Connect to the instantiated guest: its memory, its function table, its Go callback. */
  bind(instance: WebAssembly.Instance): void {
    const exports = instance.exports;
    if (exports.memory instanceof WebAssembly.Memory) this.memory = new GuestMemory(exports.memory);
    const table = exports.__indirect_function_table ?? exports.table;
    if (table instanceof WebAssembly.Table) this.table = table;
    const go = exports[GO_CALLBACK_EXPORT];
    if (typeof go === 'function') this.goCallback = go as Callback;
  }

  /** The import object entries: `wasm_bpf` and `callback-wrapper`. */
  imports(): Record<string, Record<string, HostFunction>> {
    const wasmBpf: Record<string, HostFunction> = {
      wasm_load_bpf_object: (ptr: number, size: number) => this.load(ptr, size),
      wasm_attach_bpf_program: (handle: bigint, name: number, target: number) => this.attach(handle, name, target),
      wasm_bpf_map_fd_by_name: (handle: bigint, name: number) => this.mapFdByName(handle, name),
      wasm_bpf_buffer_poll: (
        handle: bigint, fd: number, sampleFunc: number, ctx: number, data: number, maxSize: number, timeoutMs: number,
      ) => this.bufferPoll(handle, fd, this.tableCallback(sampleFunc), ctx, data, maxSize, timeoutMs),
      wasm_bpf_map_operate: (
        fd: number | bigint, cmd: number | bigint, key: number | bigint, value: number | bigint,
        nextKey: number | bigint, flags: number | bigint,
      ) => this.mapOperate(fd, cmd, key, value, nextKey, flags),
      wasm_close_bpf_object: (handle: bigint) => this.closeObject(handle),
    };
    const wrapper: Record<string, HostFunction> = {
      wasm_bpf_buffer_poll: (handle: bigint, fd: number, ctx: number, data: number, maxSize: number, timeoutMs: number) =>
        this.bufferPoll(handle, fd, this.goCallback ?? `export "${GO_CALLBACK_EXPORT}" is missing`, ctx, data, maxSize, timeoutMs),
    };
    if (!this.options.verbose) return { [WASM_BPF_MODULE]: wasmBpf, [CALLBACK_WRAPPER_MODULE]: wrapper };
    return {
      [WASM_BPF_MODULE]: this.traced(WASM_BPF_MODULE, wasmBpf),
      [CALLBACK_WRAPPER_MODULE]: this.traced(CALLBACK_WRAPPER_MODULE, wrapper),
    };
  }

  /** Close every object the guest left open (close detaches their programs). */
  close(): void {
    this.lostSamples.flush();
    for (const entry of this.handles.entries()) {
      this.handles.remove(entry);
      try {
        entry.object.close();
      } catch (error) {
        this.options.log(`wbpf: close bpf object ${entry.handle}: ${describe(error)}`);
      }
    }
  }

  load(ptr: number, size: number): bigint {
    const n = ++this.loads;
    const address = ptr >>> 0;
    if ((size | 0) <= 0) return this.loadFailed(n, `object size ${size | 0} is not positive`);
    const bytes = this.memory?.copy(address, size | 0);
    if (!bytes) {
      return this.loadFailed(n, `object bytes [${address}, ${address + (size | 0)}) are outside guest memory (${this.memory?.size ?? 0} bytes)`);
    }
    try {
      const object = this.options.backend.loadObject(bytes, { objectName: `guest object #${n}` });
      return this.handles.add(object).handle;
    } catch (error) {
      return this.loadFailed(n, describe(error));
    }
  }

  attach(handle: bigint, namePtr: number, targetPtr: number): number {
    const entry = this.handles.object(handle);
    if (!entry) return this.report('wasm_attach_bpf_program', `unknown object handle ${handle}`, EINVAL);
    const name = this.string(namePtr);
    if (name === null) return this.report('wasm_attach_bpf_program', `program name at ${namePtr >>> 0} is not a NUL-terminated string in guest memory`, EFAULT);
    let target: string | undefined;
    if (targetPtr >>> 0 !== 0) {
      const text = this.string(targetPtr);
      if (text === null) return this.report('wasm_attach_bpf_program', `attach target at ${targetPtr >>> 0} is not a NUL-terminated string in guest memory`, EFAULT);
      target = text === '' ? undefined : text;
    }
    try {
      entry.object.attach(name, target);
      return 0;
    } catch (error) {
      const result = this.report('wasm_attach_bpf_program', `attach "${name}": ${describe(error)}`, negativeErrno(error));
      if (result === -ERRNO.EOPNOTSUPP && this.options.unsupportedAttachHint && !this.hinted) {
        this.hinted = true;
        this.options.log(`wbpf: ${this.options.unsupportedAttachHint}`);
      }
      return result;
    }
  }

  mapFdByName(handle: bigint, namePtr: number): number {
    const entry = this.handles.object(handle);
    if (!entry) return this.report('wasm_bpf_map_fd_by_name', `unknown object handle ${handle}`, EINVAL);
    const name = this.string(namePtr);
    if (name === null) return this.report('wasm_bpf_map_fd_by_name', `map name at ${namePtr >>> 0} is not a NUL-terminated string in guest memory`, EFAULT);
    try {
      return this.handles.mapFd(entry, entry.object.map(name));
    } catch (error) {
      return this.report('wasm_bpf_map_fd_by_name', `map "${name}": ${describe(error)}`, negativeErrno(error));
    }
  }

  bufferPoll(
    handle: bigint, fd: number, callback: Callback | string, ctx: number, data: number, maxSize: number, timeoutMs: number,
  ): number {
    const entry = this.handles.object(handle);
    if (!entry) return this.fail('wasm_bpf_buffer_poll', `unknown object handle ${handle}`, EINVAL);
    const mapEntry = this.handles.map(fd | 0);
    if (!mapEntry || mapEntry.owner !== entry) {
      return this.fail('wasm_bpf_buffer_poll', `fd ${fd | 0} is not a map of object ${handle}`, -ERRNO.ENOENT);
    }
    const map = mapEntry.map;
    if (map.type !== BPF_MAP_TYPE.RINGBUF && map.type !== BPF_MAP_TYPE.PERF_EVENT_ARRAY) {
      return this.fail('wasm_bpf_buffer_poll', `map "${map.name}" is neither a ring buffer nor a perf event array`, EINVAL);
    }
    if ((maxSize | 0) < 0) return this.fail('wasm_bpf_buffer_poll', `max_size ${maxSize | 0} is negative`, EINVAL);
    const address = data >>> 0;
    if (!this.memory?.contains(address, maxSize | 0)) {
      return this.fail('wasm_bpf_buffer_poll', `buffer [${address}, ${address + (maxSize | 0)}) is outside guest memory`, EFAULT);
    }
    if (typeof callback === 'string') return this.fail('wasm_bpf_buffer_poll', callback, EINVAL);
    // A callback may itself poll (re-entrant host call): keep the outer poll's state to restore.
    const outer = [this.pollCallback, this.pollCtx, this.pollData, this.pollMax, this.inCallback] as const;
    this.pollCallback = callback;
    this.pollCtx = ctx;
    this.pollData = address;
    this.pollMax = maxSize | 0;
    this.inCallback = false;
    let batched = false;
    let reader: EventReader | undefined;
    try {
      reader = map.reader();
      // A poll from inside a batch's callback goes record by record: the sink is busy.
      const walker = reader.pollEntries && !this.batches.delivering ? ringWalker(callback) : null;
      if (walker) {
        batched = true;
        this.batches.begin(walker, this.memory, ctx, address, maxSize | 0);
        return reader.pollEntries!(timeoutMs | 0, this.batches);
      }
      return reader.pollRaw ? reader.pollRaw(timeoutMs | 0, this.onRawRecord) : reader.poll(timeoutMs | 0, this.onRecord);
    } catch (error) {
      // A trap, proc_exit or stop inside the guest's callback.
      if (this.inCallback || (batched && this.batches.delivering)) throw error;
      if (error instanceof ErrnoError && error.errno === ERRNO.EINTR && this.options.stopRequested?.()) {
        throw new GuestStopped();
      }
      return this.fail('wasm_bpf_buffer_poll', `poll map "${map.name}": ${describe(error)}`, negativeErrno(error));
    } finally {
      if (batched) this.batches.end();
      [this.pollCallback, this.pollCtx, this.pollData, this.pollMax, this.inCallback] = outer;
      if (reader) this.lostSamples.check(map.name, reader);
    }
  }

  mapOperate(
    fd: number | bigint, cmd: number | bigint, key: number | bigint, value: number | bigint,
    nextKey: number | bigint, flags: number | bigint,
  ): number {
    const command = Number(cmd) | 0;
    if (command < BPF_CMD.MAP_LOOKUP_ELEM || command > BPF_CMD.MAP_GET_NEXT_KEY) {
      return this.fail('wasm_bpf_map_operate', `cmd ${command} is not one of 1-4 (lookup, update, delete, get_next_key)`, EINVAL);
    }
    const entry = this.handles.map(Number(fd) | 0);
    if (!entry) return this.fail('wasm_bpf_map_operate', `fd ${fd} is not a map fd of this guest`, -ERRNO.EBADF);
    const map = entry.map;
    const keyAddress = toAddress(key);
    const wantsFirstKey = command === BPF_CMD.MAP_GET_NEXT_KEY && keyAddress === 0;
    const keyView = wantsFirstKey ? null : this.region(keyAddress, map.keySize);
    if (!wantsFirstKey && !keyView) return this.badPointer(map, 'key', key, map.keySize);
    const flagBits = typeof flags === 'bigint' ? BigInt.asUintN(64, flags) : BigInt(flags >>> 0);
    try {
      switch (command) {
        case BPF_CMD.MAP_LOOKUP_ELEM: {
          const out = this.region(toAddress(value), map.valueBufferSize);
          if (!out) return this.badPointer(map, 'value', value, map.valueBufferSize);
          map.lookup(keyView!, out, flagBits);
          return 0;
        }
        case BPF_CMD.MAP_UPDATE_ELEM: {
          const input = this.region(toAddress(value), map.valueBufferSize);
          if (!input) return this.badPointer(map, 'value', value, map.valueBufferSize);
          map.update(keyView!, input, flagBits);
          return 0;
        }
        case BPF_CMD.MAP_DELETE_ELEM:
          map.delete(keyView!, flagBits);
          return 0;
        default: {
          const next = this.region(toAddress(nextKey), map.keySize);
          if (!next) return this.badPointer(map, 'next_key', nextKey, map.keySize);
          map.nextKey(keyView, next);
          return 0;
        }
      }
    } catch (error) {
      const errno = negativeErrno(error);
      // ENOENT is the normal end of an iteration or a missing key: not worth a log line.
      if (errno === -ERRNO.ENOENT) return errno;
      return this.fail('wasm_bpf_map_operate', `map "${map.name}" cmd ${command}: ${describe(error)}`, errno);
    }
  }

  closeObject(handle: bigint): number {
    const entry = this.handles.object(handle);
    if (!entry) return this.report('wasm_close_bpf_object', `unknown object handle ${handle}`, EINVAL);
    this.handles.remove(entry);
    try {
      entry.object.close();
      return 0;
    } catch (error) {
      return this.report('wasm_close_bpf_object', `close object ${handle}: ${describe(error)}`, negativeErrno(error));
    }
  }

  private tableCallback(index: number): Callback | string {
    const table = this.table;
    if (!table) return 'the guest exports no function table (__indirect_function_table or table)';
    const slot = index >>> 0;
    if (slot >= table.length) return `sample_func ${slot} is outside the function table (${table.length} entries)`;
    const fn = table.get(slot) as Callback | null;
    return typeof fn === 'function' ? fn : `sample_func ${slot} is an empty table slot`;
  }

  private string(ptr: number): string | null {
    return this.memory?.cString(ptr >>> 0) ?? null;
  }

  private region(address: number | null, length: number): Uint8Array | null {
    return address === null ? null : this.memory?.range(address, length) ?? null;
  }

  private badPointer(map: BpfMap, what: string, ptr: number | bigint, length: number): number {
    return this.fail('wasm_bpf_map_operate', `map "${map.name}": ${what} pointer ${ptr} + ${length} bytes is outside guest memory`, EFAULT);
  }

  private loadFailed(n: number, message: string): bigint {
    // Backend errors usually name the object already ("load program "x" of guest object #2").
    const name = `guest object #${n}`;
    const text = new RegExp(`${name}(?!\\d)`).test(message) ? message : `load ${name}: ${message}`;
    this.options.log(`wbpf: wasm_load_bpf_object: ${text}`);
    return 0n;
  }

  /** A failure the guest may meet in its normal flow (a missing key, the end of a map): logged when verbose. */
  private fail(call: string, message: string, result: number): number {
    if (this.options.verbose) this.options.log(`wbpf: ${call}: ${message} (${result})`);
    return result;
  }

  /**
   * A failure of a one-off call (attach, a map by name, close): always logged, because the guest
   * only sees an errno and the host knows why (a refused declaration, no event source in the VM).
   */
  private report(call: string, message: string, result: number): number {
    this.options.log(`wbpf: ${call}: ${message} (${result})`);
    return result;
  }

  private traced(module: string, functions: Record<string, HostFunction>): Record<string, HostFunction> {
    const log = this.options.log;
    const out: Record<string, HostFunction> = {};
    for (const [name, fn] of Object.entries(functions)) {
      out[name] = (...args: never[]) => {
        const result = fn(...args);
        log(`wbpf: ${module}.${name}(${args.map(String).join(', ')}) = ${String(result)}`);
        return result;
      };
    }
    return out;
  }
}
