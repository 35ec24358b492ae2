// TEST DOUBLE — an in-memory Backend used ONLY to test the ABI's pointer, handle and argument
// validation without a kernel. It is not a BPF implementation: it ignores the object bytes and
// always "loads" the same three maps and one program of tests/fixtures/guests/probe.bpf.c.
// The real behaviour is tested against the kernel backend in tests/kernel/abi.test.ts.

import type {
  Attachment, Backend, BpfMap, EventReader, LoadedObject, RecordHandler,
} from '../../../host-bindings/backend.js';
import { ErrnoError } from '../../../host-bindings/errors.js';
import type { ObjectSpec } from '../../../host-bindings/object/spec.js';
import { BPF_MAP_TYPE, ERRNO } from '../../../host-bindings/uapi.js';

const CPUS = 2;

class TestDoubleMap implements BpfMap {
  readonly entries = new Map<string, Uint8Array>();
  readonly records: Uint8Array[] = [];
  /** What the reader reports as lost after each poll, in turn (then the last one). */
  lostAfterPolls: bigint[] = [];
  readonly valueBufferSize: number;

  constructor(
    readonly name: string,
    readonly type: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
  ) {
    this.valueBufferSize = type === BPF_MAP_TYPE.PERCPU_ARRAY ? Math.ceil(valueSize / 8) * 8 * CPUS : valueSize;
  }

  private id(key: Uint8Array): string {
    return Buffer.from(key).toString('hex');
  }

  lookup(key: Uint8Array, value: Uint8Array): void {
    if (this.type === BPF_MAP_TYPE.PERCPU_ARRAY) {
      value.fill(0, 0, this.valueBufferSize);
      return;
    }
    const found = this.entries.get(this.id(key));
    if (!found) throw new ErrnoError(`map "${this.name}": no such key`, ERRNO.ENOENT);
    value.set(found);
  }

  update(key: Uint8Array, value: Uint8Array): void {
    this.entries.set(this.id(key), value.slice(0, this.valueSize));
  }

  delete(key: Uint8Array): void {
    if (!this.entries.delete(this.id(key))) throw new ErrnoError(`map "${this.name}": no such key`, ERRNO.ENOENT);
  }

  nextKey(key: Uint8Array | null, next: Uint8Array): void {
    const keys = [...this.entries.keys()];
    const at = key === null ? 0 : keys.indexOf(this.id(key)) + 1;
    const found = keys[at];
    if (found === undefined) throw new ErrnoError(`map "${this.name}": no next key`, ERRNO.ENOENT);
    next.set(Buffer.from(found, 'hex'));
  }

  reader(): EventReader {
    const records = this.records;
    const lostAfterPolls = this.lostAfterPolls;
    let polls = 0;
    return {
      get lost() {
        return lostAfterPolls[Math.min(polls, lostAfterPolls.length) - 1] ?? 0n;
      },
      close() {},
      poll(_timeoutMs: number, onRecord: RecordHandler): number {
        polls++;
        let delivered = 0;
        while (records.length > 0) {
          const result = onRecord(records.shift()!);
          delivered++;
          if (result !== 0) return result;
        }
        return delivered;
      },
    };
  }
}

export class TestDoubleObject implements LoadedObject {
  readonly spec: ObjectSpec = { littleEndian: true, license: 'GPL', kernelVersion: 0, maps: [], programs: [] };
  readonly maps = new Map<string, TestDoubleMap>([
    ['probe_rb', new TestDoubleMap('probe_rb', BPF_MAP_TYPE.RINGBUF, 0, 0, 65536)],
    ['probe_counts', new TestDoubleMap('probe_counts', BPF_MAP_TYPE.HASH, 4, 8, 16)],
    ['probe_pcpu', new TestDoubleMap('probe_pcpu', BPF_MAP_TYPE.PERCPU_ARRAY, 4, 4, 1)],
  ]);
  readonly attached: { program: string; target: string | undefined }[] = [];
  closed = false;

  programNames(): string[] {
    return ['abi_probe_exec'];
  }

  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  map(name: string): BpfMap {
    const map = this.maps.get(name);
    if (!map) throw new ErrnoError(`no map named "${name}"`, ERRNO.ENOENT);
    return map;
  }

  attach(programName: string, target?: string): Attachment {
    if (programName !== 'abi_probe_exec') throw new ErrnoError(`no program named "${programName}"`, ERRNO.ENOENT);
    this.attached.push({ program: programName, target });
    return { program: programName, description: 'test double', detach() {} };
  }

  close(): void {
    this.closed = true;
  }
}

export class TestDoubleBackend implements Backend {
  readonly kind = 'vm' as const;
  readonly objects: TestDoubleObject[] = [];
  loadedBytes: Uint8Array[] = [];
  /** Records every object's ring buffer will hold when it is created. */
  pendingRecords: Uint8Array[] = [];
  /** Lost counts every object's ring buffer reader reports, poll after poll. */
  lostAfterPolls: bigint[] = [];
  closed = false;

  loadObject(bytes: Uint8Array): LoadedObject {
    this.loadedBytes.push(bytes);
    const object = new TestDoubleObject();
    object.maps.get('probe_rb')!.records.push(...this.pendingRecords);
    object.maps.get('probe_rb')!.lostAfterPolls = this.lostAfterPolls;
    this.objects.push(object);
    return object;
  }

  close(): void {
    this.closed = true;
  }
}
