// Library API of wbpf. Each layer is importable on its own; this module gathers the entry points.
export * from './host-bindings/uapi.js';
export * from './host-bindings/errors.js';
export type * from './host-bindings/backend.js';
export type * from './host-bindings/object/spec.js';
