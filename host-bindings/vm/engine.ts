// What the interpreter and the JIT-compiled code need from the VM around them, and the errors
// that stop a program run.

import { WbpfError } from '../errors.js';
import type { VmMemory } from './memory.js';

export interface Runtime {
  readonly mem: VmMemory;
  /** i32: back-edges (loop entries) this run may still take, the termination guarantee. */
  readonly budget: WebAssembly.Global;
  /** i32: set to 1 by a helper that ends the program now (a taken tail call). */
  readonly stop: WebAssembly.Global;
  /**
   * Run helper `id` with r1..r5 from the register file in memory; it leaves r0 there. Returns
   * HELPER_STOP when the program must end now (a tail call was taken), else HELPER_CONTINUE.
   */
  callHelper(id: number, pc: number): number;
  /** Layout of the array map with this id, so the JIT can inline lookups in it (optional). */
  arrayMapLayout?(id: number): ArrayMapLayout | undefined;
  /** Lookup of the hash map with this id, so the JIT can call it without the generic helper path (optional). */
  hashMapLookup?(id: number): HashMapLookup | undefined;
}

export interface HashMapLookup {
  keySize: number;
  /**
   * Address of the value for a key, or 0. The argument is the key itself (a little-endian u32)
   * when keySize is 4, else the address of a readable key.
   */
  lookup(key: number): number;
}

export interface ArrayMapLayout {
  base: number;
  slotSize: number;
  maxEntries: number;
}

export const HELPER_CONTINUE = 0;
export const HELPER_STOP = 1;

/** Value of an lddw with src 4 (a function reference, for bpf_loop): tag in the high half. */
export const FUNC_REF_HI = 0xfc;

export class BudgetExhausted extends WbpfError {
  constructor(pc: number) {
    super(`pc ${pc}: back-edge budget exhausted (the program did not terminate within its loop budget)`);
  }
}

export const DEFAULT_BUDGET = 1 << 24;
