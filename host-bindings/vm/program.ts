// A checked program ready to run, with its engine: the interpreter, the JIT, or both ("auto":
// interpreted until it has run `hotThreshold` times, then compiled in the JIT's own thread while
// its runs stay interpreted, see background-jit.ts). Both engines leave r0 in the register file
// and report a taken tail call the same way, so callers cannot tell them apart.

import { BudgetExhausted, type HashMapLookup, type Runtime } from './engine.js';
import type { CheckedProgram } from './checks.js';
import { interpret } from './interpreter.js';
import { compileInBackground, type JitTicket } from './background-jit.js';
import { compileToWasm } from './jit.js';
import { jitLayout, jitRequest } from './jit-request.js';
import { IrreducibleFlow } from './jit-structure.js';
import { MemoryFault, TAG_WRITE } from './memory.js';

export type EngineMode = 'interp' | 'jit' | 'auto';

export interface EngineOptions {
  mode?: EngineMode;
  /** Runs in the interpreter before "auto" compiles (default 16). */
  hotThreshold?: number;
  /** Interpreter trace: one line per instruction (forces the interpreter). */
  trace?: (line: string) => void;
  /** Told when the JIT declines a program (it then stays interpreted). */
  log?: (line: string) => void;
  /** An XDP program: the JIT may prove packet accesses in bounds (see jit-bounds.ts). */
  xdp?: boolean;
}

interface JitExports {
  run(r1: number, r2: number, budget: number): number;
  callback(fnStart: number, r1: number, r2: number, r10: number): number;
}

/** A compilation sent to the JIT thread, the hash-map lookups its module will import, and the ms sending it took. */
interface PendingCompile {
  ticket: JitTicket;
  hashLookups: HashMapLookup[];
  sendMs: number;
}

export class ExecutableProgram {
  private runs = 0;
  private jit: JitExports | undefined;
  private jitDeclined = false;
  private pending: PendingCompile | undefined;
  /**
   * Milliseconds the last compilation took on the calling thread: code generation, WebAssembly
   * compilation and instantiation in place; for a module the JIT thread made, sending the
   * request and instantiating the module.
   */
  compileMs = 0;

  constructor(
    readonly checked: CheckedProgram,
    private readonly rt: Runtime,
    private readonly options: EngineOptions = {},
  ) {
    if (options.mode === 'jit' && !options.trace) this.compile();
  }

  get engine(): 'interp' | 'jit' {
    return this.jit ? 'jit' : 'interp';
  }

  /**
   * Runs from the entry with r1, r2 (32-bit values) and `budget` loop entries. Returns true when
   * a tail call was taken; the budget left is then in the runtime's budget global.
   */
  run(r1: number, r2: number, budget: number): boolean {
    if (this.jit !== undefined) return this.jit.run(r1, r2, budget) !== 0; // the hot path, before any bookkeeping
    const jit = this.jitFor();
    if (jit) return jit.run(r1, r2, budget) !== 0;
    return interpret(this.checked, this.rt, 0, [r1, r2], this.rt.mem.stackTop, budget, this.traceOption());
  }

  /** Runs the function starting at slot `start` (a bpf_loop callback) in a frame below `frameTop`. */
  runFunction(start: number, r1: number, r2: number, frameTop: number): boolean {
    const jit = this.jitFor();
    if (jit) return jit.callback(start, r1, r2, frameTop) !== 0;
    return interpret(this.checked, this.rt, start, [r1, r2], frameTop, this.rt.budget.value, this.traceOption());
  }

  private traceOption(): { trace?: (line: string) => void } {
    return this.options.trace ? { trace: this.options.trace } : {};
  }

  private jitFor(): JitExports | undefined {
    if (this.jit || this.options.trace || this.jitDeclined) return this.jit;
    const mode = this.options.mode ?? 'auto';
    if (mode === 'interp') return undefined;
    if (mode === 'jit') this.compile();
    else if (this.pending) this.collect(this.pending);
    else if (++this.runs > (this.options.hotThreshold ?? 16)) {
      const t0 = performance.now();
      const { request, hashLookups } = jitRequest(this.checked, this.rt, this.options.xdp === true);
      const ticket = compileInBackground(request);
      if (ticket) this.pending = { ticket, hashLookups, sendMs: performance.now() - t0 };
      else this.compile();
    }
    return this.jit;
  }

  /** Takes the JIT thread's answer if it has come: the module, or staying interpreted. */
  private collect(pending: PendingCompile): void {
    const answer = pending.ticket.poll();
    if (!answer) return;
    this.pending = undefined;
    if ('module' in answer) {
      const t0 = performance.now();
      this.instantiate(answer.module, pending.hashLookups);
      this.compileMs = pending.sendMs + performance.now() - t0;
    } else if ('declined' in answer) {
      this.decline(answer.declined);
    } else {
      this.options.log?.(`JIT thread: ${answer.error}; compiling here`);
      this.compile();
    }
  }

  private decline(why: string): void {
    this.jitDeclined = true;
    this.options.log?.(`JIT declined, interpreting: ${why}`);
  }

  compile(): void {
    const t0 = performance.now();
    const { request, hashLookups } = jitRequest(this.checked, this.rt, this.options.xdp === true);
    let bytes: Uint8Array;
    try {
      bytes = compileToWasm(request.checked, jitLayout(request));
    } catch (e) {
      if (!(e instanceof IrreducibleFlow)) throw e;
      return this.decline(e.message);
    }
    this.instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), hashLookups);
    this.compileMs = performance.now() - t0;
  }

  private instantiate(module: WebAssembly.Module, hashLookups: HashMapLookup[]): void {
    const rt = this.rt;
    const instance = new WebAssembly.Instance(module, {
      env: {
        mem: rt.mem.wasm,
        helper: (id: number, pc: number) => rt.callHelper(id, pc),
        fault: (pc: number, lo: number, hi: number, info: number) => {
          const address = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
          throw MemoryFault.of(rt.mem.shadow, pc, address, info & 0xff, ((info >> 8) & TAG_WRITE) !== 0);
        },
        budgetOut: (pc: number) => {
          throw new BudgetExhausted(pc);
        },
        hashLookup: (slot: number, key: number) => hashLookups[slot]!.lookup(key),
        budget: rt.budget,
        stop: rt.stop,
      },
    });
    this.jit = instance.exports as unknown as JitExports;
  }
}
