// Helper argument and return kinds, named after the kernel's bpf_func_proto types, and which
// register kinds each argument accepts at load time. Only a definitely wrong kind is refused:
// an unknown register passes here and the helper's run-time checks still apply.

import {
  K_CTX, K_FUNC, K_MAP, K_MAP_VALUE, K_RINGBUF_RECORD, K_SCALAR, K_STACK, K_UNINIT, K_UNKNOWN,
  describeKind,
} from './reg-kinds.js';

export type ArgKind =
  | 'ARG_ANYTHING'
  | 'ARG_CONST_MAP_PTR'
  | 'ARG_PTR_TO_CTX'
  | 'ARG_PTR_TO_MAP_KEY'
  | 'ARG_PTR_TO_MAP_VALUE'
  | 'ARG_PTR_TO_UNINIT_MAP_VALUE'
  | 'ARG_PTR_TO_MEM'
  | 'ARG_PTR_TO_MEM_OR_NULL'
  | 'ARG_PTR_TO_UNINIT_MEM'
  | 'ARG_CONST_SIZE'
  | 'ARG_CONST_SIZE_OR_ZERO'
  | 'ARG_CONST_ALLOC_SIZE_OR_ZERO'
  | 'ARG_PTR_TO_RINGBUF_MEM'
  | 'ARG_PTR_TO_FUNC'
  | 'ARG_PTR_TO_STACK_OR_NULL'
  | 'ARG_PTR_TO_CONST_STR';

export type RetKind = 'RET_INTEGER' | 'RET_VOID' | 'RET_PTR_TO_MAP_VALUE_OR_NULL' | 'RET_PTR_TO_RINGBUF_MEM_OR_NULL';

/** What a helper reads from r1.. (in order) and leaves in r0. */
export interface HelperSignature {
  args: readonly ArgKind[];
  ret: RetKind;
}

/** Argument kinds through which the helper writes memory (so spilled stack slots there are lost). */
export function writesMemory(kind: ArgKind): boolean {
  return kind === 'ARG_PTR_TO_UNINIT_MEM' || kind === 'ARG_PTR_TO_UNINIT_MAP_VALUE' || kind === 'ARG_PTR_TO_STACK_OR_NULL';
}

/** Kinds that are memory a helper may read or write through (the kernel's PTR_TO_MEM family). */
const MEMORY = new Set([K_STACK, K_MAP_VALUE, K_RINGBUF_RECORD]);

/** Why a register of `kind` (aux) cannot be argument `arg`, or undefined when it may be. */
export function argProblem(arg: ArgKind, kind: number, aux: number): string | undefined {
  if (kind === K_UNINIT) return 'is uninitialised';
  if (kind === K_UNKNOWN || arg === 'ARG_ANYTHING') return undefined;
  const is = `is ${describeKind(kind, aux)}`;
  switch (arg) {
    case 'ARG_CONST_MAP_PTR':
      return kind === K_MAP || kind === K_MAP_VALUE ? undefined : `${is}, not a map pointer`;
    case 'ARG_PTR_TO_CTX':
      return kind === K_CTX ? undefined : `${is}, not the context pointer`;
    case 'ARG_PTR_TO_MAP_KEY':
    case 'ARG_PTR_TO_MAP_VALUE':
    case 'ARG_PTR_TO_UNINIT_MAP_VALUE':
    case 'ARG_PTR_TO_MEM':
    case 'ARG_PTR_TO_UNINIT_MEM':
      return MEMORY.has(kind) ? undefined : `${is}, not a pointer to memory`;
    case 'ARG_PTR_TO_MEM_OR_NULL':
      return MEMORY.has(kind) || (kind === K_SCALAR && (aux === 0 || Number.isNaN(aux)))
        ? undefined
        : `${is}, not a pointer to memory or NULL`;
    case 'ARG_CONST_SIZE':
      if (kind === K_SCALAR && aux === 0) return 'is 0: a zero-sized access (the kernel allows 0 only for ARG_CONST_SIZE_OR_ZERO)';
      return kind === K_SCALAR ? undefined : `${is}, not a scalar size`;
    case 'ARG_CONST_SIZE_OR_ZERO':
    case 'ARG_CONST_ALLOC_SIZE_OR_ZERO':
      return kind === K_SCALAR ? undefined : `${is}, not a scalar size`;
    case 'ARG_PTR_TO_RINGBUF_MEM':
      return kind === K_RINGBUF_RECORD ? undefined : `${is}, not a reserved ring buffer record`;
    case 'ARG_PTR_TO_FUNC':
      return kind === K_FUNC ? undefined : `${is}, not a function reference`;
    case 'ARG_PTR_TO_CONST_STR':
      // Whether a map value is in a read-only map, and NUL-terminated, needs its address
      // (const-args.ts checks the relocated ones); other kinds never are.
      return kind === K_MAP_VALUE ? undefined : `${is}, not a constant string in a read-only map`;
    case 'ARG_PTR_TO_STACK_OR_NULL':
      return kind === K_STACK || (kind === K_SCALAR && (aux === 0 || Number.isNaN(aux)))
        ? undefined
        : `${is}, not a pointer to stack or NULL`;
  }
  return undefined;
}
