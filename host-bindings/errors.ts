// Errors the host layers throw. Every one names what was wrong; errno-carrying errors let the
// guest ABI turn them into the negative errno the wasm-bpf ABI returns.

export class WbpfError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A failure with an errno (from the kernel, or chosen to match what the kernel would say). */
export class ErrnoError extends WbpfError {
  constructor(
    message: string,
    readonly errno: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Malformed input: ELF, BTF, .BTF.ext, Wasm, manifests. */
export class FormatError extends WbpfError {}
