import { describe, expect, it } from 'vitest';
import { formatTrap, trapReport, wasmFrames } from '../../../runtime/trap.js';

const named = `RuntimeError: divide by zero
    at divide_by (wasm://wasm/0001c79a:wasm-function[10]:0x2a0)
    at crash_here (wasm://wasm/0001c79a:wasm-function[9]:0x268)
    at WASI.start (node:wasi:136:7)
    at run (file:///x/dist/runtime/worker.js:60:26)`;

describe('trap reports', () => {
  it('keeps only wasm frames, with names when V8 has them', () => {
    expect(wasmFrames(named)).toEqual([
      { index: 10, name: 'divide_by', offset: 0x2a0 },
      { index: 9, name: 'crash_here', offset: 0x268 },
    ]);
    expect(wasmFrames('    at wasm://wasm/0001b68a:wasm-function[9]:0x281')).toEqual([{ index: 9, offset: 0x281 }]);
  });

  it('recognises Wasm runtime errors and errors raised under wasm frames, not host errors', () => {
    const trap = new WebAssembly.RuntimeError('unreachable');
    expect(trapReport(trap)?.message).toBe('unreachable');
    const overflow = new RangeError('Maximum call stack size exceeded');
    overflow.stack = `RangeError: Maximum call stack size exceeded\n    at f (wasm://wasm/1:wasm-function[3]:0x10)`;
    expect(trapReport(overflow)?.frames).toHaveLength(1);
    expect(trapReport(new TypeError('host bug'))).toBeNull();
    expect(trapReport('not an error')).toBeNull();
  });

  it('formats the message and numbered frames', () => {
    const text = formatTrap({ message: 'unreachable', frames: wasmFrames(named) }, 'g.wasm');
    expect(text).toBe(
      'wbpf: g.wasm: guest trapped: unreachable\nwasm stack (innermost first):\n' +
        '  #0 divide_by (function 10) at 0x2a0\n  #1 crash_here (function 9) at 0x268\n',
    );
  });
});
