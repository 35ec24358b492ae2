// Library API of wbpf: run guests, open eBPF objects on the kernel or the built-in VM, and move
// bundles between OCI stores. Each layer is also importable on its own.

export { runGuest, type RunOptions, type RunResult, type StopReason } from './runtime/runner.js';

export type * from './host-bindings/backend.js';
export type * from './host-bindings/object/spec.js';
export { WbpfError, ErrnoError, FormatError } from './host-bindings/errors.js';
export * from './host-bindings/uapi.js';

export { parseObject, buildSpec, type ParsedObject, type BuildOptions } from './host-bindings/object/object.js';
export { describeObject, type ObjectDescription } from './host-bindings/object/describe.js';
export { Btf, type BtfType } from './host-bindings/object/btf.js';
export { parseBtfExt, type BtfExt } from './host-bindings/object/btf-ext.js';
export { applyCoreRelocations, CoreError, type CoreResolution } from './host-bindings/object/core.js';

export { openKernelBackend, kernelAvailability, progTestRun, closeFds } from './host-bindings/kernel/index.js';
export { openVmBackend, vmAvailability, Vm } from './host-bindings/vm/index.js';

export * as oci from './oci/index.js';
