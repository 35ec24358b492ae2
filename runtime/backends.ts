// Which backend runs a guest's eBPF, and opening it. The backends are loaded lazily so that a
// guest without eBPF starts fast and runs where the native addon cannot load.

import type { Availability, Backend, BackendOptions } from '../host-bindings/backend.js';
import { WbpfError } from '../host-bindings/errors.js';
import type { BtfParts } from '../host-bindings/object/btf.js';
import type { PendingCapture } from '../host-bindings/vm/sources.js';

/** Options of openBackend: the Backend's own, plus what only the VM uses. */
export interface OpenBackendOptions extends BackendOptions {
  /** A pcap/pcapng capture replayed through the packet programs the guest attaches (VM only). */
  capture?: PendingCapture;
  /** The VM's addressable memory (VM only; default 32 MiB). */
  memoryBytes?: number;
}

export type BackendChoice = 'auto' | 'kernel' | 'vm';
export type BackendKind = 'kernel' | 'vm';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'kernel', 'vm'];

// Each backend is imported on first use, through a loader that turns a failed import into the
// reason: a guest without eBPF must run where a backend cannot load.
type KernelModule = typeof import('../host-bindings/kernel/index.js');
type KernelNativeModule = typeof import('../host-bindings/kernel/native.js');
type VmlinuxModule = typeof import('../host-bindings/kernel/vmlinux.js');
type VmModule = typeof import('../host-bindings/vm/index.js');

const importers = {
  kernel: () => import('../host-bindings/kernel/index.js'),
  // Availability needs only the addon's loader, not the whole backend.
  kernelNative: () => import('../host-bindings/kernel/native.js'),
  vmlinux: () => import('../host-bindings/kernel/vmlinux.js'),
  vm: () => import('../host-bindings/vm/index.js'),
};

async function load<T>(importer: () => Promise<T>): Promise<T | string> {
  try {
    return await importer();
  } catch (error) {
    return (error as Error).message;
  }
}

export async function kernelAvailability(): Promise<Availability> {
  const mod = await load<KernelNativeModule>(importers.kernelNative);
  if (typeof mod === 'string') return { available: false, reason: `host-bindings/kernel cannot be loaded (${mod})` };
  return mod.kernelAvailability();
}

export async function vmAvailability(): Promise<Availability> {
  const mod = await load<VmModule>(importers.vm);
  if (typeof mod === 'string') return { available: false, reason: `host-bindings/vm cannot be loaded (${mod})` };
  return mod.vmAvailability();
}

export interface ChosenBackend {
  kind: BackendKind;
  /** Why this one, for --verbose ("kernel (auto: running as root with the addon loaded)"). */
  note: string;
  /** When auto fell back to the VM: why the kernel backend could not be used. */
  kernelUnavailable?: string;
}

/** Resolves auto; throws WbpfError naming the reason when the requested backend is unavailable. */
export async function chooseBackend(choice: BackendChoice): Promise<ChosenBackend> {
  if (choice === 'kernel' || choice === 'vm') {
    const a = choice === 'kernel' ? await kernelAvailability() : await vmAvailability();
    if (!a.available) throw new WbpfError(`backend ${choice} is not available: ${a.reason}`);
    return { kind: choice, note: `${choice} (requested)` };
  }
  const kernel = await kernelAvailability();
  if (kernel.available) return { kind: 'kernel', note: 'kernel (auto: the kernel backend is available)' };
  const vm = await vmAvailability();
  if (vm.available) return { kind: 'vm', note: `vm (auto: ${kernel.reason})`, kernelUnavailable: kernel.reason };
  throw new WbpfError(`no backend is available: kernel: ${kernel.reason}; vm: ${vm.reason}`);
}

/**
 * Opens a backend. `kernelBtf` is the kernel's BTF as another thread parsed it (kernelBtfParts),
 * which spares this thread reading and parsing it when the guest loads its first object.
 */
export async function openBackend(kind: BackendKind, options: OpenBackendOptions, kernelBtf?: BtfParts): Promise<Backend> {
  if (kind === 'kernel') {
    const mod = await load<KernelModule>(importers.kernel);
    if (typeof mod === 'string') throw new WbpfError(`the kernel backend cannot be loaded: ${mod}`);
    if (kernelBtf) {
      const vmlinux = await load<VmlinuxModule>(importers.vmlinux);
      if (typeof vmlinux !== 'string') vmlinux.useVmlinuxBtf(kernelBtf);
    }
    return mod.openKernelBackend(options);
  }
  const mod = await load<VmModule>(importers.vm);
  if (typeof mod === 'string') throw new WbpfError(`the VM backend cannot be loaded: ${mod}`);
  return mod.openVmBackend(options);
}

/**
 * The kernel's BTF, read and parsed for the guest's thread (see openBackend): the main thread
 * does it while the guest's thread is still loading its modules. Undefined when it cannot be
 * read; the guest's thread then tries itself, and reports why.
 */
export async function kernelBtfParts(): Promise<BtfParts | undefined> {
  const vmlinux = await load<VmlinuxModule>(importers.vmlinux);
  if (typeof vmlinux === 'string') return undefined;
  try {
    return vmlinux.readVmlinuxBtf().parts();
  } catch {
    return undefined;
  }
}

/** Closes kernel fds a terminated worker left open. */
export async function closeKernelFds(fds: number[]): Promise<void> {
  if (fds.length === 0) return;
  const mod = await load<KernelModule>(importers.kernel);
  if (typeof mod !== 'string') mod.closeFds(fds);
}
