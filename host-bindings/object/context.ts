// Error context for the object layer: every FormatError on its way out gains the names of what
// was being processed ("object "x.bpf.o": program "handle_exec": ..."), keeping its class.

import { FormatError } from '../errors.js';

export function withContext<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const Ctor = e.constructor as new (message: string, options?: { cause?: unknown }) => FormatError;
    throw new Ctor(`${context}: ${e.message}`, { cause: e });
  }
}

/**
 * Btf reports a dangling type id as a RangeError (the id is out of range); reached through an
 * object's own BTF, that is malformed input, so it becomes a FormatError here.
 */
export function btfInput<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof RangeError && /BTF/.test(e.message)) throw new FormatError(`malformed BTF: ${e.message}`, { cause: e });
    throw e;
  }
}
