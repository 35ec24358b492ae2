// Running a bare program the way the bpf_conformance plugin protocol asks: r1 = a copy of the
// input memory, r2 = its length, helper #5 returns its first argument, r0 is the result. Used by
// `wbpf vm-exec` and the conformance tests; no maps, no program type.

import { ERRNO } from '../uapi.js';
import { ErrnoError } from '../errors.js';
import { DEFAULT_BUDGET, HELPER_CONTINUE, type Runtime } from './engine.js';
import { checkProgram } from './checks.js';
import { decodeProgram } from './isa.js';
import { TAG_RW, VmMemory } from './memory.js';
import { ExecutableProgram, type EngineMode } from './program.js';

const RAW_HELPERS: Record<number, string> = { 5: 'returns its first argument' };

export interface RawRunOptions {
  mode?: EngineMode;
  trace?: (line: string) => void;
  budget?: number;
}

export class RawMachine {
  readonly mem = new VmMemory(1 << 20);
  private readonly rt: Runtime;
  /** Engine that ran the last program (the JIT may decline a program it cannot structure). */
  lastEngine: 'interp' | 'jit' = 'interp';

  constructor() {
    const mem = this.mem;
    this.rt = {
      mem,
      budget: new WebAssembly.Global({ value: 'i32', mutable: true }, DEFAULT_BUDGET),
      stop: new WebAssembly.Global({ value: 'i32', mutable: true }, 0),
      callHelper(id: number, pc: number): number {
        if (id !== 5) throw new ErrnoError(`pc ${pc}: call to unknown helper ${id}`, ERRNO.EINVAL);
        mem.setReg(0, mem.regLo(1), mem.regHi(1));
        return HELPER_CONTINUE;
      },
    };
  }

  /** Checks and runs `code`; returns r0. Throws with the pc and reason on rejection or fault. */
  run(code: Uint8Array, input: Uint8Array, options: RawRunOptions = {}): bigint {
    const checked = checkProgram(decodeProgram(code), {
      checkHelper: (id) => (RAW_HELPERS[id] ? undefined : `unknown helper ${id}`),
      allowCallx: true,
    });
    const engineOptions = { mode: options.mode ?? 'interp', ...(options.trace ? { trace: options.trace } : {}) };
    const program = new ExecutableProgram(checked, this.rt, engineOptions);
    const addr = this.mem.alloc(input.length, TAG_RW, 'input memory');
    try {
      this.mem.u8.set(input, addr);
      this.rt.stop.value = 0;
      program.run(addr, input.length, options.budget ?? DEFAULT_BUDGET);
      this.lastEngine = program.engine;
      return BigInt.asUintN(64, this.mem.readReg(0));
    } finally {
      this.mem.free(addr, input.length);
    }
  }
}
