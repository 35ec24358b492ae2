// What the kernel tests share: whether they can run here, and loading hand-built specs.

import { readdirSync } from 'node:fs';
import type { BackendOptions } from '../../host-bindings/backend.js';
import { possibleCpus } from '../../host-bindings/kernel/cpus.js';
import { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { kernelAvailability } from '../../host-bindings/kernel/native.js';
import { kernelBtfId } from '../../host-bindings/kernel/vmlinux.js';
import type { ObjectSpec } from '../../host-bindings/object/spec.js';

const availability = kernelAvailability();
export const skipReason =
  process.getuid?.() !== 0 ? 'kernel tests need root' : availability.available ? undefined : availability.reason;
export const skip = skipReason !== undefined;
if (skip) console.warn(`skipping kernel backend tests: ${skipReason}`);

export function loadSpec(spec: ObjectSpec, options: BackendOptions & { objectName?: string } = {}): KernelObject {
  return new KernelObject(spec, { possibleCpus: possibleCpus(), kernelBtfId, ...options });
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
