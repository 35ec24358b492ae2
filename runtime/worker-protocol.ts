// What the runner hands the guest's worker (its first message, then for the kernel backend the
// kernel's BTF as a second one), and what the worker answers once the guest ended.

import type { BtfParts } from '../host-bindings/object/btf.js';
import type { BackendKind } from './backends.js';
import type { CapabilityPolicy } from './capabilities.js';
import type { TrapReport } from './trap.js';

export interface WorkerInput {
  module: WebAssembly.Module;
  /** For messages: the guest file as the user named it. */
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Guest path -> host path. */
  preopens: Record<string, string>;
  stdio: [number, number, number];
  /** Where host diagnostics go (fd). */
  diagnosticsFd: number;
  verbose: boolean;
  /** Null when the guest imports nothing that needs a backend. */
  backend: BackendKind | null;
  /** Set when `backend` is the VM only because the kernel backend is unavailable: why. */
  kernelUnavailable?: string;
  /** What the guest may load and attach (a bundle's declaration); absent = no check. */
  capabilities?: CapabilityPolicy;
  /** `--pcap`: a capture to replay through the guest's packet programs (VM backend). */
  capture?: { input: string; output?: string };
  /** The built-in VM's memory size (VM backend). */
  vmMemoryBytes?: number;
  stopBuffer: SharedArrayBuffer;
  fdBuffer: SharedArrayBuffer;
}

/**
 * The runner's second message when `backend` is 'kernel': the kernel's BTF, which the runner
 * reads and parses while the worker opens the backend; null when it could not (the worker then
 * reads it itself on first use, and reports why it cannot).
 */
export interface WorkerKernelBtf {
  kernelBtf: BtfParts | null;
}

export type WorkerOutcome =
  | { kind: 'exited'; code: number }
  | { kind: 'trapped'; trap: TrapReport }
  | { kind: 'stopped' }
  | { kind: 'failed'; message: string };
