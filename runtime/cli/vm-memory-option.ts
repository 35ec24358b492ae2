// --vm-memory, shared by `wbpf run` and `wbpf test-run`.
import { vmMemorySizeError } from '../../host-bindings/vm/memory.js';
import { parseByteSize } from '../byte-size.js';
import { UsageError } from './command.js';

/** The option's value in bytes: a size the VM can have, else a usage error saying why. */
export function vmMemoryOption(text: string): number {
  const bytes = parseByteSize(text);
  if (bytes === null) throw new UsageError(`--vm-memory ${text}: not a size (e.g. 64m, 1g)`);
  if (vmMemorySizeError(bytes)) throw new UsageError(`--vm-memory ${text}: the VM's memory is a power of two from 1m to 1g`);
  return bytes;
}
