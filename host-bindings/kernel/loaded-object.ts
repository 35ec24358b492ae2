// Turning an ObjectSpec into kernel objects (bpf-internals.md §1.13, the part after
// relocation): BTF, maps (inner templates first, initial global data, frozen .rodata),
// programs, then the initial slots of map-in-map and prog-array maps.

import type { Attachment, FdTracker, LoadedObject } from '../backend.js';
import { ErrnoError } from '../errors.js';
import { fillKconfig } from '../kconfig.js';
import type { MapSpec, ObjectSpec, ProgramSpec } from '../object/spec.js';
import { BPF_CMD, BPF_MAP_TYPE, ERRNO } from '../uapi.js';
import { attachProgram } from './attach.js';
import { errnoText } from './errno.js';
import { FdSet } from './fds.js';
import { KernelMap } from './maps.js';
import { loadProgram } from './programs.js';
import { btfLoad, mapCreate, mapElemOp, mapFreeze } from './syscall.js';

export interface LoadContext {
  objectName?: string;
  possibleCpus: number[];
  /** Resolves a kernel BTF type name to its id (tp_btf attach targets). */
  kernelBtfId(name: string): number;
  log?: (line: string) => void;
  fds?: FdTracker;
  shouldStop?: () => boolean;
}

interface LoadedProgram {
  spec: ProgramSpec;
  fd: number;
}

export class KernelObject implements LoadedObject {
  private readonly fds: FdSet;
  private readonly maps = new Map<string, KernelMap>();
  private readonly programs = new Map<string, LoadedProgram>();
  private readonly attachments: Attachment[] = [];
  private closed = false;
  onClose: (() => void) | undefined;

  constructor(
    readonly spec: ObjectSpec,
    private readonly ctx: LoadContext,
  ) {
    this.fds = new FdSet(ctx.fds);
    try {
      this.load();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private get what(): string {
    return this.ctx.objectName ? ` of ${this.ctx.objectName}` : '';
  }

  private load(): void {
    const { spec, ctx } = this;
    let btfFd: number | undefined;
    if (spec.btf) {
      try {
        btfFd = this.fds.add(btfLoad(spec.btf, ctx.objectName ?? 'the object'));
      } catch (e) {
        // Like libbpf: programs and maps load without BTF, only func/line info and map types are lost.
        // The kernel's BTF log follows the first line; the verdict belongs on that line.
        const [verdict, ...kernelLog] = (e as Error).message.split('\n');
        ctx.log?.([`warning: ${verdict}; loading without BTF`, ...kernelLog].join('\n'));
      }
    }
    fillKconfig(spec, { objectName: ctx.objectName });
    for (const m of spec.maps) this.createMap(m, btfFd);
    for (const p of spec.programs) {
      if (!p.autoload) continue;
      const fd = this.fds.add(
        loadProgram(p, {
          btfFd,
          mapFd: (name) => this.maps.get(name)?.fd,
          kernelBtfId: ctx.kernelBtfId,
          objectName: ctx.objectName,
        }),
      );
      this.programs.set(p.name, { spec: p, fd });
    }
    for (const m of spec.maps) if (m.initialSlots?.length) this.fillSlots(m);
  }

  private createMap(m: MapSpec, btfFd: number | undefined): void {
    let inner: number | undefined;
    if (m.inner) inner = this.createKernelMap({ ...m.inner, name: `${m.name}.inner` }, btfFd, undefined);
    try {
      const fd = this.createKernelMap(m, btfFd, inner);
      const map = new KernelMap({
        name: m.name,
        fd,
        type: m.type,
        keySize: m.keySize,
        valueSize: m.valueSize,
        maxEntries: this.maxEntries(m),
        possibleCpus: this.ctx.possibleCpus,
        fds: this.fds,
        shouldStop: this.ctx.shouldStop,
      });
      this.maps.set(m.name, map);
      if (m.globalData) {
        const key = new Uint8Array(4);
        const value = new Uint8Array(map.valueBufferSize);
        value.set(m.globalData.initial.subarray(0, value.byteLength));
        map.update(key, value);
        if (m.globalData.readOnly) mapFreeze(fd, m.name);
      }
    } finally {
      // The outer map keeps what it needs of the template.
      if (inner !== undefined) this.fds.close(inner);
    }
  }

  private maxEntries(m: MapSpec): number {
    if (m.type === BPF_MAP_TYPE.PERF_EVENT_ARRAY && m.maxEntries === 0) return this.ctx.possibleCpus.length;
    return m.maxEntries;
  }

  private createKernelMap(m: MapSpec, btfFd: number | undefined, innerMapFd: number | undefined): number {
    const base = {
      name: m.name,
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: this.maxEntries(m),
      flags: m.flags,
      innerMapFd,
      numaNode: m.numaNode,
      mapExtra: m.mapExtra,
    };
    const what = `create map "${m.name}"${this.what}`;
    if (btfFd !== undefined && (m.btfKeyTypeId || m.btfValueTypeId)) {
      try {
        return this.fds.add(
          mapCreate({ ...base, btfFd, btfKeyTypeId: m.btfKeyTypeId, btfValueTypeId: m.btfValueTypeId }),
        );
      } catch (e) {
        // Some map types refuse BTF type ids; libbpf retries without them too.
        const message = (e as Error).message.replace(`create map "${m.name}"`, what);
        this.ctx.log?.(`warning: ${message}; retrying without BTF type ids`);
      }
    }
    try {
      return this.fds.add(mapCreate(base));
    } catch (e) {
      if (e instanceof ErrnoError) throw new ErrnoError(e.message.replace(`create map "${m.name}"`, what), e.errno);
      throw e;
    }
  }

  private fillSlots(m: MapSpec): void {
    const map = this.map(m.name);
    const key = new Uint8Array(map.keySize);
    const value = new Uint8Array(4);
    const kv = new DataView(key.buffer);
    const vv = new DataView(value.buffer);
    for (const slot of m.initialSlots ?? []) {
      const target = slot.map !== undefined ? this.maps.get(slot.map)?.fd : this.programs.get(slot.program ?? '')?.fd;
      if (target === undefined) {
        const name = slot.map ?? slot.program;
        throw new ErrnoError(
          `initialise slot ${slot.index} of map "${m.name}"${this.what}: no loaded ${slot.map !== undefined ? 'map' : 'program'} "${name}"`,
          ERRNO.ENOENT,
        );
      }
      kv.setUint32(0, slot.index, true);
      vv.setUint32(0, target, true);
      const r = mapElemOp(BPF_CMD.MAP_UPDATE_ELEM, map.fd, key, value, 0);
      if (r < 0) throw new ErrnoError(`initialise slot ${slot.index} of map "${m.name}"${this.what}: ${errnoText(r)}`, -r);
    }
  }

  programNames(): string[] {
    return this.spec.programs.map((p) => p.name);
  }

  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  map(name: string): KernelMap {
    const m = this.maps.get(name);
    if (!m) throw new ErrnoError(`no map "${name}"${this.what}`, ERRNO.ENOENT);
    return m;
  }

  /** The fd of a loaded program (for PROG_TEST_RUN and prog-array updates). */
  programFd(name: string): number {
    const p = this.programs.get(name);
    if (!p) throw this.noProgram(name);
    return p.fd;
  }

  attach(programName: string, target?: string): Attachment {
    if (this.closed) throw new ErrnoError(`attach program "${programName}": object${this.what} is closed`, ERRNO.EBADF);
    const p = this.programs.get(programName);
    if (!p) throw this.noProgram(programName);
    const a = attachProgram(p, target, this.fds);
    this.attachments.push(a);
    return a;
  }

  private noProgram(name: string): ErrnoError {
    if (this.spec.programs.some((p) => p.name === name))
      return new ErrnoError(`program "${name}"${this.what} was not loaded (autoload is off for it)`, ERRNO.ENOENT);
    return new ErrnoError(`no program "${name}"${this.what}`, ERRNO.ENOENT);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.attachments.splice(0).reverse()) a.detach();
    for (const m of this.maps.values()) m.closeReader();
    this.fds.closeAll();
    this.onClose?.();
  }
}
