// The VM Backend: objects go through the same object layer as the kernel's (parse, relocate
// CO-RE against the object's own BTF, flatten sub-programs), then maps are created in VM memory
// and programs checked and loaded. Attaching connects a program to a userspace event source:
// packet programs (XDP, tc, socket filter) to the packet sources, perf_event programs to a
// timer; other attach kinds have no source here and fail with a message saying so (the
// library's `trigger` still runs them).

import type { Attachment, Backend, BackendOptions, BpfMap, EventReader, LoadOptions, LoadedObject } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { fillKconfig } from '../kconfig.js';
import { buildSpec, parseObject } from '../object/object.js';
import type { MapSpec, ObjectSpec } from '../object/spec.js';
import { BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO, nameOf } from '../uapi.js';
import { packetKind } from './contexts.js';
import { QueueMap, RefMap, type VmMap, type VmMapSpec } from './maps.js';
import { PerfEventArrayMap, RingBufMap } from './ring-buffers.js';
import type { TriggerEvent } from './event.js';
import { EventSources, type PendingCapture } from './sources.js';
import { Vm, type MapReferenceFix, type VmOptions, type VmProgram } from './vm.js';

export interface VmBackendOptions extends BackendOptions, Omit<VmOptions, 'log' | 'shouldStop'> {
  /** A capture replayed through the packet programs once the guest attaches one (at its next poll or sleep). */
  capture?: PendingCapture;
}

export class VmBackend implements Backend {
  readonly kind = 'vm' as const;
  readonly vm: Vm;
  readonly sources: EventSources;
  private readonly objects = new Set<VmObject>();
  private closed = false;

  constructor(options: VmBackendOptions = {}) {
    this.vm = new Vm(options);
    this.sources = new EventSources(this.vm);
    this.vm.pump = (until) => void this.sources.pump(until);
    if (options.capture) this.sources.feedOnAttach(options.capture);
  }

  loadObject(bytes: Uint8Array, options: LoadOptions = {}): VmObject {
    const name = options.objectName ?? 'object';
    const spec = buildSpec(parseObject(bytes, name), { possibleCpus: this.vm.possibleCpus });
    return this.loadSpec(spec, options);
  }

  loadSpec(spec: ObjectSpec, options: LoadOptions = {}): VmObject {
    if (this.closed) throw new ErrnoError('VM backend is closed', ERRNO.EBADF);
    const obj = new VmObject(spec, this.vm, this.sources, options.objectName);
    this.objects.add(obj);
    obj.onClose = () => this.objects.delete(obj);
    return obj;
  }

  idle(untilMs: number): void {
    if (!this.closed) this.sources.pump(untilMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const obj of [...this.objects]) obj.close();
    this.sources.close();
    this.vm.close();
  }
}

export class VmObject implements LoadedObject {
  private readonly maps = new Map<string, VmBpfMap>();
  private readonly programs = new Map<string, VmProgram>();
  private readonly attachments = new Set<Attachment>();
  private closed = false;
  onClose: (() => void) | undefined;

  constructor(
    readonly spec: ObjectSpec,
    private readonly vm: Vm,
    private readonly sources: EventSources,
    private readonly objectName: string | undefined,
  ) {
    try {
      this.load();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * The VM's `message` about map or program `name`, with this object named right after that
   * name (`map "events" of x.bpf.o: ...`), as the kernel backend words it.
   */
  private ofObject(message: string, name: string): string {
    const quoted = `"${name}"`;
    const at = message.indexOf(quoted);
    if (at < 0) return `${message}${this.of}`;
    const end = at + quoted.length;
    return `${message.slice(0, end)}${this.of}${message.slice(end)}`;
  }

  private get of(): string {
    return this.objectName ? ` of ${this.objectName}` : '';
  }

  private load(): void {
    fillKconfig(this.spec, { objectName: this.objectName });
    for (const m of this.spec.maps) this.createMap(m);
    for (const p of this.spec.programs) {
      if (!p.autoload) continue;
      const ksym = p.externReferences?.[0];
      if (ksym) {
        throw new ErrnoError(`load program "${p.name}"${this.of}: ksym "${ksym.name}" (${ksym.kind}) needs kernel symbols, which the VM does not have`, ERRNO.ENOTSUP);
      }
      const fixes: MapReferenceFix[] = p.mapReferences.map((r) => {
        const map = this.maps.get(r.map);
        if (!map) throw new ErrnoError(`load program "${p.name}"${this.of}: it references unknown map "${r.map}"`, ERRNO.EINVAL);
        return { insn: r.insn, map: map.vmMap, kind: r.kind, offset: r.offset };
      });
      try {
        this.programs.set(p.name, this.vm.loadProgram({ name: p.name, type: p.type, expectedAttachType: p.expectedAttachType, insns: Vm.resolveMapReferences(p.insns, fixes) }));
      } catch (e) {
        const errno = e instanceof ErrnoError ? e.errno : ERRNO.EINVAL;
        throw new ErrnoError(this.ofObject((e as Error).message, p.name), errno, { cause: e });
      }
    }
    for (const m of this.spec.maps) {
      for (const slot of m.initialSlots ?? []) {
        const key = u32(slot.index), value = new Uint8Array(4);
        const id = slot.program !== undefined ? this.programs.get(slot.program)?.id : this.maps.get(slot.map ?? '')?.vmMap.id;
        if (id === undefined) {
          throw new ErrnoError(`map "${m.name}"${this.of}: initial slot ${slot.index} names "${slot.program ?? slot.map}", which is not loaded`, ERRNO.EINVAL);
        }
        new DataView(value.buffer).setUint32(0, id, true);
        this.maps.get(m.name)!.update(key, value);
      }
    }
  }

  private createMap(m: MapSpec): void {
    const toVm = (s: MapSpec): VmMapSpec & { inner?: VmMapSpec } => ({
      name: s.name, type: s.type, keySize: s.keySize, valueSize: s.valueSize, maxEntries: s.maxEntries, flags: s.flags,
      ...(s.inner ? { inner: toVm(s.inner) } : {}),
    });
    const readOnly = m.globalData?.readOnly ?? false;
    let vmMap: VmMap;
    try {
      vmMap = this.vm.createMap(toVm(m), readOnly);
    } catch (e) {
      const errno = e instanceof ErrnoError ? e.errno : ERRNO.EINVAL;
      throw new ErrnoError(this.ofObject((e as Error).message, m.name), errno, { cause: e });
    }
    const map = new VmBpfMap(vmMap, this.vm, readOnly);
    this.maps.set(m.name, map);
    if (m.globalData) this.vm.mem.u8.set(m.globalData.initial.subarray(0, m.valueSize), vmMap.lookupAddr(u32(0)));
  }

  programNames(): string[] {
    return [...this.programs.keys()];
  }

  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new ErrnoError(`no map "${name}"${this.of}`, ERRNO.ENOENT);
    return m;
  }

  /** The VM program (for `vm.trigger`, `vm.testRun`, and as the value of prog-array slots: its id). */
  program(name: string): VmProgram {
    const p = this.programs.get(name);
    if (!p) throw new ErrnoError(`no program "${name}"${this.of}`, ERRNO.ENOENT);
    return p;
  }

  /**
   * Runs a program from the host (a plug-in hook): packet bytes for packet programs, else the
   * context; `event` carries the stacks and traced-function arguments the helpers read.
   */
  trigger(programName: string, input?: Uint8Array, event?: TriggerEvent): number {
    return this.vm.trigger(this.program(programName), input, event);
  }

  attach(programName: string, target?: string): Attachment {
    const what = `attach program "${programName}"${this.of}`;
    if (this.closed) throw new ErrnoError(`${what}: object is closed`, ERRNO.EBADF);
    const p = this.program(programName);
    const spec = this.spec.programs.find((s) => s.name === programName)!;
    let att: Attachment;
    if (packetKind(p.type) !== 'none') att = this.sources.attachPacket(p, target);
    else if (p.type === BPF_PROG_TYPE.PERF_EVENT) att = this.sources.attachTimer(p, target);
    else {
      const kind = spec.attach?.kind ?? nameOf(BPF_PROG_TYPE, p.type).toLowerCase();
      throw new ErrnoError(
        `${what}: ${kind} (section "${spec.section}") has no event source in the VM; ` +
          'the VM feeds XDP, tc and socket filter programs from pcap files and perf_event programs from timers, ' +
          'and the library can run any program with trigger()',
        ERRNO.EOPNOTSUPP,
      );
    }
    const tracked: Attachment = {
      program: att.program,
      description: att.description,
      detach: () => {
        if (this.attachments.delete(tracked)) att.detach();
      },
    };
    this.attachments.add(tracked);
    return tracked;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of [...this.attachments]) a.detach();
    for (const p of this.programs.values()) this.vm.unloadProgram(p);
    for (const m of this.maps.values()) this.vm.closeMap(m.vmMap);
    this.programs.clear();
    this.maps.clear();
    this.onClose?.();
  }
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

/** BpfMap over a VM map: userspace's view, with kernel errnos. */
export class VmBpfMap implements BpfMap {
  constructor(
    readonly vmMap: VmMap,
    private readonly vm: Vm,
    private readonly frozen: boolean,
  ) {}

  get name(): string { return this.vmMap.spec.name; }
  get type(): number { return this.vmMap.spec.type; }
  get keySize(): number { return this.vmMap.spec.keySize; }
  get valueSize(): number { return this.vmMap.spec.valueSize; }
  get maxEntries(): number { return this.vmMap.spec.maxEntries; }
  get valueBufferSize(): number { return this.vmMap.valueBufferSize; }

  private fail(op: string, errno: number, why?: string): never {
    throw new ErrnoError(`map "${this.name}": ${op}: ${why ?? nameOf(ERRNO, errno)}`, errno);
  }

  private checkSizes(op: string, key: Uint8Array | null, value?: Uint8Array): void {
    if (key && key.length < this.keySize) this.fail(op, ERRNO.EINVAL, `key is ${key.length} bytes, the map's are ${this.keySize}`);
    if (value && value.length < this.valueBufferSize) {
      this.fail(op, ERRNO.EINVAL, `value buffer is ${value.length} bytes, the map needs ${this.valueBufferSize}`);
    }
  }

  lookup(key: Uint8Array, value: Uint8Array): void {
    this.checkSizes('lookup', key, value);
    const m = this.vmMap;
    if (m instanceof QueueMap) {
      const v = m.take(false);
      if (!v) this.fail('lookup', ERRNO.ENOENT, 'empty');
      value.set(v);
      return;
    }
    if (m instanceof RefMap) {
      const id = m.get(key);
      if (id === undefined) this.fail('lookup', ERRNO.ENOENT, 'no such key');
      new DataView(value.buffer, value.byteOffset, 4).setUint32(0, id, true);
      return;
    }
    if (m instanceof RingBufMap || m instanceof PerfEventArrayMap) this.fail('lookup', ERRNO.EINVAL, 'not supported on this map type');
    const addr = m.lookupAddr(key);
    if (!addr) this.fail('lookup', ERRNO.ENOENT, 'no such key');
    value.set(this.vm.mem.u8.subarray(addr, addr + this.valueBufferSize));
  }

  update(key: Uint8Array, value: Uint8Array, flags: bigint = 0n): void {
    this.checkSizes('update', this.vmMap instanceof QueueMap ? null : key, value);
    if (this.frozen) this.fail('update', ERRNO.EPERM, 'read-only global data is frozen after load');
    const rc = this.vmMap.updateElem(key, value, Number(flags), true);
    if (rc < 0) this.fail('update', -rc);
  }

  delete(key: Uint8Array): void {
    this.checkSizes('delete', key);
    const rc = this.vmMap.deleteElem(key);
    if (rc < 0) this.fail('delete', -rc);
  }

  nextKey(key: Uint8Array | null, next: Uint8Array): void {
    if (key) this.checkSizes('next key', key);
    const k = this.vmMap.nextKeyOf(key);
    if (!k) this.fail('next key', ERRNO.ENOENT, 'no more keys');
    next.set(k.subarray(0, this.keySize));
  }

  reader(): EventReader {
    const m = this.vmMap;
    if (m instanceof RingBufMap || m instanceof PerfEventArrayMap) return m.reader();
    return this.fail('reader', ERRNO.EINVAL, `map type ${nameOf(BPF_MAP_TYPE, this.type)} has no event reader`);
  }
}

/** A VM backend. The VM needs nothing from the host beyond WebAssembly. */
export function openVmBackend(options: VmBackendOptions = {}): VmBackend {
  return new VmBackend(options);
}
