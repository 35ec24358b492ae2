// The built-in eBPF VM: public entry points.
import type { Availability } from '../backend.js';

export { openVmBackend, VmBackend, VmObject, VmBpfMap, type VmBackendOptions } from './backend.js';
export { Vm, type VmOptions, type VmProgram, type VmTestRunOptions, type VmTestRunResult } from './vm.js';
export { RawMachine, type RawRunOptions } from './raw.js';
export { assemble } from './assembler.js';
export { EventSources, type PacketReport, type PendingCapture, verdictName } from './sources.js';
export { readCapture, writePcap } from './pcap.js';
export type { EngineMode } from './program.js';
export type { TriggerEvent } from './event.js';

/** The VM needs only WebAssembly, which Node always has; checked so a broken runtime says why. */
export function vmAvailability(): Availability {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.Memory !== 'function') {
    return { available: false, reason: 'WebAssembly is not available in this JavaScript runtime' };
  }
  return { available: true };
}
