import { describe, expect, it } from 'vitest';
import { parseCpuList } from '../../../host-bindings/kernel/cpus.js';
import { kernelObjectName, logTail } from '../../../host-bindings/kernel/syscall.js';
import { valueBufferSize } from '../../../host-bindings/kernel/maps.js';
import { BPF_MAP_TYPE } from '../../../host-bindings/uapi.js';

describe('kernel backend pure helpers', () => {
  it('parses sysfs CPU lists', () => {
    expect(parseCpuList('0-1\n')).toEqual([0, 1]);
    expect(parseCpuList('0,2-4,7')).toEqual([0, 2, 3, 4, 7]);
    expect(parseCpuList('5')).toEqual([5]);
    expect(() => parseCpuList('0-x')).toThrow(/bad CPU list "0-x": cannot parse "0-x"/);
  });

  it('shortens names to what the kernel accepts', () => {
    expect(kernelObjectName('.rodata')).toBe('.rodata');
    expect(kernelObjectName('.data.with_a_long_name')).toBe('.data.with_a_lo');
    expect(kernelObjectName('handle-exec!')).toBe('handle_exec_');
  });

  it('keeps the last lines of a NUL-terminated log', () => {
    const log = new Uint8Array(4096);
    log.set(Buffer.from(Array.from({ length: 60 }, (_, i) => `line ${i}`).join('\n') + '\n'));
    const tail = logTail(log, 3).split('\n');
    expect(tail).toEqual(['...', 'line 57', 'line 58', 'line 59']);
    expect(logTail(new Uint8Array(16))).toBe('');
  });

  it('sizes per-CPU value buffers as round_up(value, 8) per possible CPU', () => {
    expect(valueBufferSize(BPF_MAP_TYPE.PERCPU_ARRAY, 12, 2)).toBe(32);
    expect(valueBufferSize(BPF_MAP_TYPE.LRU_PERCPU_HASH, 8, 3)).toBe(24);
    expect(valueBufferSize(BPF_MAP_TYPE.HASH, 12, 2)).toBe(12);
  });
});
