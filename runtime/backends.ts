// Which backend runs a guest's eBPF, and opening it. The backends are loaded lazily by module
// path so that a guest without eBPF runs where the native addon cannot load, and so that this
// module does not depend on a backend that is not built (the VM may be absent).

import type { Availability, Backend, BackendOptions } from '../host-bindings/backend.js';
import { WbpfError } from '../host-bindings/errors.js';
import type { Btf, BtfParts } from '../host-bindings/object/btf.js';
import type { PendingCapture } from '../host-bindings/vm/sources.js';

/** Options of openBackend: the Backend's own, plus what only the VM uses. */
export interface OpenBackendOptions extends BackendOptions {
  /** A pcap/pcapng capture replayed through the packet programs the guest attaches (VM only). */
  capture?: PendingCapture;
}

export type BackendChoice = 'auto' | 'kernel' | 'vm';
export type BackendKind = 'kernel' | 'vm';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'kernel', 'vm'];

interface KernelModule {
  openKernelBackend(options: BackendOptions): Backend;
  closeFds(fds: number[]): void;
}

interface KernelNativeModule {
  kernelAvailability(): Availability;
}

interface VmlinuxModule {
  readVmlinuxBtf(): Btf;
  useVmlinuxBtf(parts: BtfParts): void;
}

interface VmModule {
  openVmBackend(options: OpenBackendOptions): Backend;
  vmAvailability?(): Availability;
}

// Held in variables so the compiler does not resolve them: either may not exist yet.
const KERNEL_MODULE = '../host-bindings/kernel/index.js';
// Availability needs only the addon's loader, not the whole backend.
const KERNEL_NATIVE_MODULE = '../host-bindings/kernel/native.js';
const VMLINUX_MODULE = '../host-bindings/kernel/vmlinux.js';
const VM_MODULE = '../host-bindings/vm/index.js';

async function load<T>(specifier: string, exported: string): Promise<T | string> {
  try {
    const mod = (await import(specifier)) as Record<string, unknown>;
    if (typeof mod[exported] !== 'function') return `${specifier} does not export ${exported}`;
    return mod as T;
  } catch (error) {
    return (error as Error).message;
  }
}

export async function kernelAvailability(): Promise<Availability> {
  const mod = await load<KernelNativeModule>(KERNEL_NATIVE_MODULE, 'kernelAvailability');
  if (typeof mod === 'string') return { available: false, reason: `host-bindings/kernel cannot be loaded (${mod})` };
  return mod.kernelAvailability();
}

export async function vmAvailability(): Promise<Availability> {
  const mod = await load<VmModule>(VM_MODULE, 'openVmBackend');
  if (typeof mod === 'string') return { available: false, reason: `host-bindings/vm cannot be loaded (${mod})` };
  return mod.vmAvailability?.() ?? { available: true };
}

export interface ChosenBackend {
  kind: BackendKind;
  /** Why this one, for --verbose ("kernel (auto: running as root with the addon loaded)"). */
  note: string;
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
  if (vm.available) return { kind: 'vm', note: `vm (auto: ${kernel.reason})` };
  throw new WbpfError(`no backend is available: kernel: ${kernel.reason}; vm: ${vm.reason}`);
}

/**
 * Opens a backend. `kernelBtf` is the kernel's BTF as another thread parsed it (kernelBtfParts),
 * which spares this thread reading and parsing it when the guest loads its first object.
 */
export async function openBackend(kind: BackendKind, options: OpenBackendOptions, kernelBtf?: BtfParts): Promise<Backend> {
  if (kind === 'kernel') {
    const mod = await load<KernelModule>(KERNEL_MODULE, 'openKernelBackend');
    if (typeof mod === 'string') throw new WbpfError(`the kernel backend cannot be loaded: ${mod}`);
    if (kernelBtf) {
      const vmlinux = await load<VmlinuxModule>(VMLINUX_MODULE, 'useVmlinuxBtf');
      if (typeof vmlinux !== 'string') vmlinux.useVmlinuxBtf(kernelBtf);
    }
    return mod.openKernelBackend(options);
  }
  const mod = await load<VmModule>(VM_MODULE, 'openVmBackend');
  if (typeof mod === 'string') throw new WbpfError(`the VM backend cannot be loaded: ${mod}`);
  return mod.openVmBackend(options);
}

/**
 * The kernel's BTF, read and parsed for the guest's thread (see openBackend): the main thread
 * does it while the guest's thread is still loading its modules. Undefined when it cannot be
 * read; the guest's thread then tries itself, and reports why.
 */
export async function kernelBtfParts(): Promise<BtfParts | undefined> {
  const vmlinux = await load<VmlinuxModule>(VMLINUX_MODULE, 'readVmlinuxBtf');
  if (typeof vmlinux === 'string') return undefined;
  try {
    return vmlinux.readVmlinuxBtf().parts();
  } catch {
    return undefined;
  }
}

/**
 * Loads ahead the modules `auto` most likely opens: the kernel backend's, when it is available.
 * For a thread that would otherwise wait; never throws (a failure here recurs, and is reported,
 * when the backend is opened).
 */
export async function preloadLikelyBackend(): Promise<void> {
  if ((await kernelAvailability()).available) await load<KernelModule>(KERNEL_MODULE, 'openKernelBackend');
}

/** Closes kernel fds a terminated worker left open. */
export async function closeKernelFds(fds: number[]): Promise<void> {
  if (fds.length === 0) return;
  const mod = await load<KernelModule>(KERNEL_MODULE, 'closeFds');
  if (typeof mod !== 'string') mod.closeFds(fds);
}
