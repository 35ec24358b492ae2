// Turning a Wasm trap into what the user sees: the trap message and the guest's Wasm stack,
// innermost first, with function names from the name section when the guest has one (V8 puts
// them in the stack) and function indices otherwise. Host (JS) frames are left out.

export interface WasmFrame {
  /** Function index in the module. */
  index: number;
  /** Name from the name section, when present. */
  name?: string;
  /** Byte offset of the trapping or calling instruction in the module. */
  offset: number;
}

export interface TrapReport {
  message: string;
  frames: WasmFrame[];
}

// "    at crash_here (wasm://wasm/0001c79a:wasm-function[9]:0x281)" or, without a name,
// "    at wasm://wasm/0001b68a:wasm-function[9]:0x281".
const FRAME = /^\s*at (?:(.*) \()?wasm:\/\/wasm\/[^:]*:wasm-function\[(\d+)\]:0x([0-9a-f]+)\)?$/;

/** The trap in `error`, or null when it is not an error thrown by Wasm code. */
export function trapReport(error: unknown): TrapReport | null {
  if (!(error instanceof Error)) return null;
  const frames = wasmFrames(error.stack ?? '');
  if (!(error instanceof WebAssembly.RuntimeError) && frames.length === 0) return null;
  return { message: error.message, frames };
}

export function wasmFrames(stack: string): WasmFrame[] {
  const frames: WasmFrame[] = [];
  for (const line of stack.split('\n')) {
    const m = FRAME.exec(line);
    if (!m) continue;
    const frame: WasmFrame = { index: Number(m[2]), offset: parseInt(m[3]!, 16) };
    if (m[1] !== undefined) frame.name = m[1];
    frames.push(frame);
  }
  return frames;
}

export function formatTrap(report: TrapReport, file: string): string {
  const lines = [`wbpf: ${file}: guest trapped: ${report.message}`, 'wasm stack (innermost first):'];
  report.frames.forEach((f, i) => {
    const what = f.name !== undefined ? `${f.name} (function ${f.index})` : `function ${f.index}`;
    lines.push(`  #${i} ${what} at 0x${f.offset.toString(16)}`);
  });
  if (report.frames.length === 0) lines.push('  (no wasm frames)');
  return lines.join('\n') + '\n';
}
