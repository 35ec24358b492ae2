// --vm-memory, shared by `wbpf run` and `wbpf test-run`. They import it only when the option is
// given: a `wbpf run` that does not use the VM loads none of the VM's modules.
import { vmMemorySizeError } from '../../host-bindings/vm/memory.js';
import { parseByteSize } from '../byte-size.js';
import { UsageError } from './command.js';

/** The option's value in bytes; a usage error when it is not a size the VM can have. */
export function vmMemoryOption(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes === null) throw new UsageError(`--vm-memory ${text}: not a size (e.g. 64m, 1g)`);
  if (vmMemorySizeError(bytes)) throw new UsageError(`--vm-memory ${text}: the VM's memory is a power of two from 1m to 1g`);
  return bytes;
}
