import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadNative, MAP_SHARED, PROT } from '../../host-bindings/kernel/native.js';
import { BPF_CMD, BPF_MAP_TYPE, ERRNO } from '../../host-bindings/uapi.js';
import { mapCreate } from '../../host-bindings/kernel/syscall.js';
import { skip } from './kernel-env.js';

describe.skipIf(skip)('syscall addon', () => {
  it('returns -errno instead of throwing on bad arguments and failing calls', () => {
    const n = loadNative();
    expect(n.bpf(BPF_CMD.MAP_CREATE, 'not a buffer' as unknown as Uint8Array)).toBe(-ERRNO.EINVAL);
    const notOpen = new Uint8Array(32);
    new DataView(notOpen.buffer).setUint32(0, 99999, true);
    expect(n.bpf(BPF_CMD.MAP_LOOKUP_ELEM, notOpen)).toBe(-ERRNO.EBADF);
    expect(n.close(-1)).toBe(-ERRNO.EBADF);
    expect(n.ifNameToIndex('nosuchif0')).toBe(-ERRNO.ENODEV);
    expect(n.ifNameToIndex('lo')).toBeGreaterThan(0);
    expect(n.mmap(-1, 4096, PROT.READ, MAP_SHARED, 0)).toBe(-ERRNO.EBADF);
    expect(n.munmap(new ArrayBuffer(8))).toBe(-ERRNO.EINVAL);
    expect(n.strerror(ERRNO.ENOENT)).toBe('No such file or directory');
  });

  it('maps memory as an ArrayBuffer that munmap detaches', () => {
    const n = loadNative();
    const fd = mapCreate({ name: 'mmapped', type: BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 512, flags: 0x400 });
    try {
      const ab = n.mmap(fd, 4096, PROT.READ | PROT.WRITE, MAP_SHARED, 0);
      expect(ab).toBeInstanceOf(ArrayBuffer);
      const view = new Uint32Array(ab as ArrayBuffer);
      view[2] = 0xabcd; // element 1 of the array map
      const value = new Uint8Array(8);
      const attr = new Uint8Array(32);
      const key = new Uint32Array([1]);
      const dv = new DataView(attr.buffer);
      dv.setUint32(0, fd, true);
      dv.setBigUint64(8, BigInt(n.addressOf(key)), true);
      dv.setBigUint64(16, BigInt(n.addressOf(value)), true);
      expect(n.bpf(BPF_CMD.MAP_LOOKUP_ELEM, attr)).toBe(0);
      expect(new DataView(value.buffer).getUint32(0, true)).toBe(0xabcd);
      expect(n.munmap(ab as ArrayBuffer)).toBe(0);
      expect((ab as ArrayBuffer).byteLength).toBe(0);
      expect(n.munmap(ab as ArrayBuffer)).toBe(-ERRNO.EINVAL);
    } finally {
      n.close(fd);
    }
  });

  it('loads in a worker thread (context-aware)', async () => {
    const addon = new URL('../../build/Release/wbpf_native.node', import.meta.url).pathname;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const n = require(${JSON.stringify(addon)});
       parentPort.postMessage([n.pageSize(), n.close(-1)]);`,
      { eval: true },
    );
    const result = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(result).toEqual([expect.any(Number), -ERRNO.EBADF]);
  });
});
