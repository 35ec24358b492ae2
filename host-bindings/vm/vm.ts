// The VM: one address space with its maps and programs, the helper runtime, and the ways to run
// a program: test runs (BPF_PROG_TEST_RUN semantics), host triggers (`trigger`), and the event
// sources (sources.ts) that call `runPacket`/`trigger`. Tail calls chain here, up to 33.

import { BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO } from '../uapi.js';
import { ErrnoError, WbpfError } from '../errors.js';
import { DEFAULT_BUDGET, type Runtime } from './engine.js';
import { checkProgram } from './checks.js';
import { readOnlyStrings } from './const-args.js';
import { EventState, type TriggerEvent } from './event.js';
import { ContextArea, packetKind } from './contexts.js';
import { callHelper, helperDenied, type HelperHost, type PacketState } from './helpers.js';
import { decodeProgram } from './isa.js';
import { ArrayMap, HashMap, QueueMap, RefMap, StackTraceMap, type VmMap, type VmMapSpec, describeMapType } from './maps.js';
import { MemoryFault, REGS_ADDR, STACK_FRAME, VmMemory } from './memory.js';
import { ExecutableProgram, type EngineMode } from './program.js';
import { PerfEventArrayMap, RingBufMap } from './ring-buffers.js';

export interface VmOptions {
  /** Addressable bytes of VM memory (power of two; default 32 MiB). */
  memoryBytes?: number;
  /** "auto" (default) interprets first and compiles hot programs; "interp" or "jit" force one. */
  mode?: EngineMode;
  hotThreshold?: number;
  /** Loop entries one run may make before it is stopped (default 2^24). */
  budget?: number;
  /** CPUs per-CPU maps hold a value for (default 1; programs always run on CPU 0). */
  possibleCpus?: number;
  /** trace_printk output and diagnostics. */
  log?: (line: string) => void;
  /** Interpreter trace of every instruction (forces the interpreter). */
  trace?: (line: string) => void;
  /** Checked by ring and perf buffer readers between poll slices. */
  shouldStop?: () => boolean;
}

export interface VmProgramSpec {
  name: string;
  type: number;
  /** BPF_ATTACH_TYPE the program is loaded for (some helpers depend on it); 0 or absent for none. */
  expectedAttachType?: number;
  /** Instructions with map references already resolved (see resolveMapReferences). */
  insns: Uint8Array;
}

export interface VmProgram {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly exec: ExecutableProgram;
}

export interface VmTestRunOptions {
  dataIn?: Uint8Array;
  ctxIn?: Uint8Array;
  repeat?: number;
}

export interface VmTestRunResult {
  retval: number;
  /** Mean wall-clock ns per run. */
  durationNs: number;
  dataOut: Uint8Array;
  ctxOut: Uint8Array;
}

export interface MapReferenceFix {
  insn: number;
  map: VmMap;
  kind: 'fd' | 'value';
  offset: number;
}

const MAX_TAIL_CALLS = 33;
const NO_INPUT = new Uint8Array(0);

export class Vm {
  readonly mem: VmMemory;
  private readonly maps = new Map<number, VmMap>();
  private readonly programs = new Map<number, VmProgram>();
  private nextId = 1;
  private readonly rt: Runtime;
  private readonly area: ContextArea;
  private readonly host: RunState;
  private readonly budget: number;
  private closed = false;
  /** Called while a reader polls with nothing to deliver: event sources run here. */
  pump: (untilMs: number) => void = () => {};

  constructor(private readonly options: VmOptions = {}) {
    this.mem = new VmMemory(options.memoryBytes);
    this.budget = options.budget ?? DEFAULT_BUDGET;
    this.area = new ContextArea(this.mem);
    const stop = new WebAssembly.Global({ value: 'i32', mutable: true }, 0);
    const host = (this.host = new RunState(this, stop));
    this.rt = {
      mem: this.mem,
      budget: new WebAssembly.Global({ value: 'i32', mutable: true }, this.budget),
      stop,
      callHelper: (id, pc) => callHelper(host, id, pc),
      arrayMapLayout: (id) => {
        const m = this.maps.get(id);
        return m instanceof ArrayMap ? { base: m.base, slotSize: m.slotSize, maxEntries: m.spec.maxEntries } : undefined;
      },
      hashMapLookup: (id) => {
        const m = this.maps.get(id);
        if (!(m instanceof HashMap)) return undefined;
        const keySize = m.spec.keySize;
        return { keySize, lookup: keySize === 4 ? (k) => m.lookupU32(k) : (a) => m.lookupAt(a) };
      },
    };
  }

  get possibleCpus(): number {
    return this.options.possibleCpus ?? 1;
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  map(id: number): VmMap | undefined {
    return this.maps.get(id);
  }

  program(id: number): VmProgram | undefined {
    return this.programs.get(id);
  }

  /** Creates a map. `inner` is the template of a map-in-map's inner maps. */
  createMap(spec: VmMapSpec & { inner?: VmMapSpec }, readOnlyForProgram = false): VmMap {
    const id = this.nextId++;
    const cpus = this.possibleCpus;
    const hooks = { pump: (until: number) => this.pump(until), ...(this.options.shouldStop ? { shouldStop: this.options.shouldStop } : {}) };
    const what = `create map "${spec.name}"`;
    if (spec.keySize < 0 || spec.valueSize < 0 || spec.maxEntries <= 0) {
      throw new ErrnoError(`${what}: invalid sizes (key ${spec.keySize}, value ${spec.valueSize}, max_entries ${spec.maxEntries})`, ERRNO.EINVAL);
    }
    let m: VmMap;
    switch (spec.type) {
      case BPF_MAP_TYPE.ARRAY:
      case BPF_MAP_TYPE.PERCPU_ARRAY:
        if (spec.keySize !== 4) throw new ErrnoError(`${what}: array maps need 4-byte keys`, ERRNO.EINVAL);
        m = new ArrayMap(id, spec, this.mem, cpus, readOnlyForProgram);
        break;
      case BPF_MAP_TYPE.HASH:
      case BPF_MAP_TYPE.PERCPU_HASH:
      case BPF_MAP_TYPE.LRU_HASH:
      case BPF_MAP_TYPE.LRU_PERCPU_HASH:
        if (spec.keySize === 0) throw new ErrnoError(`${what}: hash maps need a key`, ERRNO.EINVAL);
        m = new HashMap(id, spec, this.mem, cpus);
        break;
      case BPF_MAP_TYPE.QUEUE:
      case BPF_MAP_TYPE.STACK:
        if (spec.keySize !== 0) throw new ErrnoError(`${what}: queue and stack maps take no key`, ERRNO.EINVAL);
        m = new QueueMap(id, spec, this.mem, cpus);
        break;
      case BPF_MAP_TYPE.RINGBUF:
        m = new RingBufMap(id, spec, this.mem, cpus, hooks);
        break;
      case BPF_MAP_TYPE.PERF_EVENT_ARRAY:
        m = new PerfEventArrayMap(id, { ...spec, maxEntries: Math.max(spec.maxEntries, 1) }, this.mem, cpus, hooks);
        break;
      case BPF_MAP_TYPE.STACK_TRACE:
        m = new StackTraceMap(id, spec, this.mem, cpus);
        break;
      case BPF_MAP_TYPE.PROG_ARRAY:
        m = new RefMap(id, spec, this.mem, cpus, (ref) => (this.programs.has(ref) ? undefined : `no program ${ref}`));
        break;
      case BPF_MAP_TYPE.ARRAY_OF_MAPS:
      case BPF_MAP_TYPE.HASH_OF_MAPS: {
        const inner = spec.inner;
        m = new RefMap(id, spec, this.mem, cpus, (ref) => {
          const im = this.maps.get(ref);
          if (!im) return `no map ${ref}`;
          if (inner && (im.spec.type !== inner.type || im.spec.keySize !== inner.keySize || im.spec.valueSize !== inner.valueSize)) {
            return `map ${ref} does not match the inner map template`;
          }
          return undefined;
        });
        break;
      }
      default:
        throw new ErrnoError(`${what}: map type ${describeMapType(spec.type)} is not supported by the VM`, ERRNO.EINVAL);
    }
    this.maps.set(id, m);
    return m;
  }

  closeMap(m: VmMap): void {
    if (this.maps.delete(m.id)) m.close();
  }

  /** Rewrites lddw map references (src 1 / 2) into constants: a map reference or a value address. */
  static resolveMapReferences(insns: Uint8Array, fixes: MapReferenceFix[]): Uint8Array {
    const out = insns.slice();
    const view = new DataView(out.buffer);
    for (const f of fixes) {
      const o = f.insn * 8;
      if (out[o] !== 0x18) throw new WbpfError(`map reference at instruction ${f.insn} is not an lddw`);
      let lo: number, hi: number;
      if (f.kind === 'fd') {
        ({ lo, hi } = f.map.ref);
      } else {
        if (!(f.map instanceof ArrayMap)) throw new WbpfError(`map "${f.map.spec.name}" has no directly addressable value`);
        lo = f.map.base + f.offset;
        hi = 0;
      }
      out[o + 1] = out[o + 1]! & 0x0f; // src = 0: a plain constant from now on
      view.setInt32(o + 4, lo, true);
      view.setInt32(o + 12, hi, true);
    }
    return out;
  }

  /** Checks and loads a program. Throws ErrnoError(EINVAL) naming the program and instruction. */
  loadProgram(spec: VmProgramSpec): VmProgram {
    const what = `load program "${spec.name}"`;
    let checked;
    try {
      checked = checkProgram(decodeProgram(spec.insns), {
        checkHelper: (id) => helperDenied(id, spec.type, spec.expectedAttachType),
        progType: spec.type,
        lddwSources: new Set([0, 4]),
        constString: readOnlyStrings(this.mem, () => this.maps.values()),
      });
    } catch (e) {
      const errno = e instanceof ErrnoError ? e.errno : ERRNO.EINVAL;
      throw new ErrnoError(`${what}: ${(e as Error).message}`, errno, { cause: e });
    }
    const exec = new ExecutableProgram(checked, this.rt, {
      mode: this.options.mode ?? 'auto',
      ...(this.options.hotThreshold !== undefined ? { hotThreshold: this.options.hotThreshold } : {}),
      ...(this.options.trace ? { trace: this.options.trace } : {}),
      log: (line) => this.log(`program "${spec.name}": ${line}`),
      xdp: spec.type === BPF_PROG_TYPE.XDP,
    });
    const p: VmProgram = { id: this.nextId++, name: spec.name, type: spec.type, exec };
    this.programs.set(p.id, p);
    return p;
  }

  unloadProgram(p: VmProgram): void {
    this.programs.delete(p.id);
  }

  /** BPF_PROG_TEST_RUN: runs `repeat` times on one context; retval is r0's low 32 bits. */
  testRun(p: VmProgram, o: VmTestRunOptions = {}): VmTestRunResult {
    const short = o.dataIn && packetKind(p.type).startsWith('skb') ? shortOfIpHeader(o.dataIn) : undefined;
    if (short) throw new ErrnoError(`run program "${p.name}": ${short}, which a test run of an skb program refuses, as the kernel's does`, ERRNO.EINVAL);
    return this.runPacket(p, o);
  }

  /**
   * A run on a packet as traffic brings it (pcap replay): test-run semantics, without the
   * test run's own refusal of IP packets shorter than their IP header (a hook sees those).
   */
  runPacket(p: VmProgram, o: VmTestRunOptions = {}): VmTestRunResult {
    const repeat = Math.max(1, o.repeat ?? 1);
    this.prepare(p, o.dataIn, o.ctxIn);
    const a = this.area;
    const t0 = performance.now();
    try {
      this.execute(p, a.r1, a.r2, a.packet, repeat);
    } catch (e) {
      throw withoutContextHint(e, p, o);
    }
    const durationNs = Math.round(((performance.now() - t0) * 1e6) / repeat);
    return { retval: this.mem.regLo(0) >>> 0, durationNs, dataOut: this.area.dataOut(), ctxOut: this.area.ctxOut() };
  }

  /**
   * Runs a program from the host: for XDP, tc and socket filter programs `input` is the packet,
   * for other types it is the context; `event` tells what else the event has (stacks, traced
   * function arguments). Returns r0's low 32 bits; `lastResult` has all 64, `lastOverride` and
   * `lastRetval` what the program set.
   */
  trigger(p: VmProgram, input?: Uint8Array, event?: TriggerEvent): number {
    if (packetKind(p.type) === 'none') this.prepare(p, undefined, input ?? NO_INPUT, event);
    else this.prepare(p, input, undefined, event);
    const a = this.area;
    this.execute(p, a.r1, a.r2, a.packet);
    return this.mem.regLo(0) >>> 0;
  }

  /** r0 of the last run, all 64 bits. */
  get lastResult(): bigint {
    return BigInt.asUintN(64, this.mem.readReg(0));
  }

  /** The return value the last run asked for with bpf_override_return (kprobes), or undefined. */
  get lastOverride(): bigint | undefined {
    return this.host.event.override;
  }

  /** The cgroup hook's return value after the last run (bpf_set_retval; 0 when not set). */
  get lastRetval(): number {
    return this.host.event.retval;
  }

  private prepare(p: VmProgram, dataIn: Uint8Array | undefined, ctxIn: Uint8Array | undefined, event?: TriggerEvent): void {
    this.assertOpen();
    try {
      this.host.event.reset(event, ctxIn?.length ?? 0);
      this.area.prepare(p.type, dataIn, ctxIn);
    } catch (e) {
      if (e instanceof ErrnoError) throw new ErrnoError(`run program "${p.name}": ${e.message}`, e.errno);
      throw e;
    }
  }

  /**
   * Runs `first` (and the tail calls it takes) `repeat` times on the same context. The run state
   * is set up once around all of them, so one more run costs little more than the call itself.
   */
  private execute(first: VmProgram, r1: number, r2: number, packet: PacketState | undefined, repeat = 1): void {
    const host = this.host;
    if (host.running) throw new WbpfError(`run program "${first.name}": the VM is already running a program`);
    host.running = true;
    host.packet = packet;
    const exec = first.exec, budget = this.budget;
    try {
      for (let i = 0; i < repeat; i++) {
        host.current = first;
        host.tailCalls = 0;
        if (exec.run(r1, r2, budget)) this.followTailCalls(r1, r2);
      }
    } catch (e) {
      host.pendingTail = undefined;
      this.rt.stop.value = 0;
      throw new WbpfError(`run program "${host.current!.name}": ${(e as Error).message}`, { cause: e });
    } finally {
      host.running = false;
      host.packet = undefined;
    }
  }

  /** Follows the tail calls a run took, each with the budget its predecessor left. */
  private followTailCalls(r1: number, r2: number): void {
    const host = this.host;
    for (;;) {
      const p = host.pendingTail!;
      host.pendingTail = undefined;
      this.rt.stop.value = 0;
      host.current = p;
      if (!p.exec.run(r1, r2, this.rt.budget.value)) return;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ErrnoError('the VM is closed', ERRNO.EBADF);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
    this.programs.clear();
  }
}

/** The helper host: state of the run in progress. */
class RunState implements HelperHost {
  running = false;
  current: VmProgram | undefined;
  pendingTail: VmProgram | undefined;
  tailCalls = 0;
  packet: PacketState | undefined;
  readonly event = new EventState();

  constructor(
    private readonly vm: Vm,
    private readonly stop: WebAssembly.Global,
  ) {}

  get mem(): VmMemory {
    return this.vm.mem;
  }

  get progType(): number {
    return this.current?.type ?? 0;
  }

  map(id: number): VmMap | undefined {
    return this.vm.map(id);
  }

  tailCall(programId: number): boolean {
    const target = this.vm.program(programId);
    if (!target || target.type !== this.current?.type || this.tailCalls >= MAX_TAIL_CALLS) return false;
    this.tailCalls++;
    this.pendingTail = target;
    this.stop.value = 1;
    return true;
  }

  callback(start: number, r1: number, r2: number): number {
    const mem = this.vm.mem;
    const regs = mem.i32.slice(REGS_ADDR >> 2, (REGS_ADDR >> 2) + 22);
    const frameTop = regs[20]! - STACK_FRAME;
    if (frameTop - STACK_FRAME < mem.stackBase) throw new WbpfError('bpf_loop callback: call depth exceeds 8 frames');
    const stopped = this.current!.exec.runFunction(start, r1, r2, frameTop);
    if (stopped) throw new WbpfError('bpf_loop callback: tail calls from a callback are not supported');
    const r0 = mem.regLo(0);
    mem.i32.set(regs, REGS_ADDR >> 2);
    return r0;
  }

  log(line: string): void {
    this.vm.log(line);
  }
}

/** Why an Ethernet frame is shorter than the IPv4 or IPv6 header its EtherType announces, else undefined. */
function shortOfIpHeader(frame: Uint8Array): string | undefined {
  if (frame.length < 14) return undefined;
  const type = (frame[12]! << 8) | frame[13]!;
  const need = type === 0x0800 ? 14 + 20 : type === 0x86dd ? 14 + 40 : 0;
  return frame.length < need ? `packet of ${frame.length} bytes is shorter than its Ethernet and ${type === 0x0800 ? 'IPv4' : 'IPv6'} headers (${need} bytes)` : undefined;
}

/**
 * A test run of a program without a packet (tracing, say) and without a context follows the
 * bpf_conformance convention: r1 points at the data, r2 is its length. A program that then reads
 * its context faults just past that data, which says nothing about the missing context; the
 * fault then says so.
 */
function withoutContextHint(e: unknown, p: VmProgram, o: VmTestRunOptions): unknown {
  if (o.ctxIn || packetKind(p.type) !== 'none' || !(e instanceof WbpfError) || !(e.cause instanceof MemoryFault)) return e;
  const bytes = o.dataIn?.length ?? 0;
  return new WbpfError(
    `${e.message}; no context was given, so r1 pointed at the ${bytes}-byte data_in instead (the bpf_conformance convention): give the program its context (ctx_in, or --ctx FILE in wbpf test-run)`,
    { cause: e.cause },
  );
}
