// The kernel Backend: objects parsed and relocated by host-bindings/object, loaded through
// real bpf() calls.

import type { Backend, BackendOptions, LoadOptions, LoadedObject } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { buildSpec, parseObject } from '../object/object.js';
import type { ObjectSpec } from '../object/spec.js';
import { ERRNO } from '../uapi.js';
import { possibleCpus } from './cpus.js';
import { KernelObject } from './loaded-object.js';
import { loadNative } from './native.js';
import { kernelBtfId, vmlinuxBtf } from './vmlinux.js';

export class KernelBackend implements Backend {
  readonly kind = 'kernel' as const;
  private readonly objects = new Set<KernelObject>();
  private closed = false;

  constructor(private readonly options: BackendOptions = {}) {
    loadNative();
  }

  loadObject(bytes: Uint8Array, options: LoadOptions = {}): LoadedObject {
    const name = options.objectName ?? 'object';
    const spec = buildSpec(parseObject(bytes, name), { targetBtf: vmlinuxBtf(), possibleCpus: possibleCpus().length });
    return this.loadSpec(spec, options);
  }

  /** Loads an already built spec (hand-made programs, tests). */
  loadSpec(spec: ObjectSpec, options: LoadOptions = {}): KernelObject {
    if (this.closed) throw new ErrnoError('kernel backend is closed', ERRNO.EBADF);
    const obj = new KernelObject(spec, {
      objectName: options.objectName,
      possibleCpus: possibleCpus(),
      kernelBtfId,
      log: this.options.log,
      fds: this.options.fds,
      shouldStop: this.options.shouldStop,
    });
    this.objects.add(obj);
    obj.onClose = () => this.objects.delete(obj);
    return obj;
  }

  close(): void {
    this.closed = true;
    for (const obj of [...this.objects]) obj.close();
  }
}

/** A kernel backend; throws WbpfError "kernel backend unavailable: ..." when the addon cannot load. */
export function openKernelBackend(options: BackendOptions = {}): KernelBackend {
  return new KernelBackend(options);
}
