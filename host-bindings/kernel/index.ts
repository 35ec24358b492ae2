// The kernel backend's public surface.

export { KernelBackend, openKernelBackend } from './backend.js';
export { closeFds } from './fds.js';
export { KernelObject } from './loaded-object.js';
export { KernelMap } from './maps.js';
export { kernelAvailability, loadNative } from './native.js';
export type { Native } from './native.js';
export { progTestRun } from './syscall.js';
export type { TestRunOptions, TestRunResult } from './syscall.js';
