// A tiny eBPF assembler for hand-built test programs, and ObjectSpec builders around it.

import type { MapReference, MapSpec, ObjectSpec, ProgramSpec } from '../../host-bindings/object/spec.js';
import { BPF_ALU_OP, BPF_CLASS, BPF_JMP_OP, BPF_MODE, BPF_SIZE, BPF_SRC } from '../../host-bindings/uapi.js';

type Size = 'b' | 'h' | 'w' | 'dw';
const SIZE: Record<Size, number> = { b: BPF_SIZE.B, h: BPF_SIZE.H, w: BPF_SIZE.W, dw: BPF_SIZE.DW };

export class Asm {
  private readonly slots: number[][] = [];
  readonly mapReferences: MapReference[] = [];
  private readonly labels = new Map<string, number>();
  private readonly fixups: { at: number; label: string }[] = [];

  private emit(code: number, dst: number, src: number, off: number, imm: number): this {
    this.slots.push([code, dst, src, off, imm]);
    return this;
  }

  mov64(dst: number, imm: number): this {
    return this.emit(BPF_CLASS.ALU64 | BPF_ALU_OP.MOV | BPF_SRC.K, dst, 0, 0, imm);
  }
  mov32(dst: number, imm: number): this {
    return this.emit(BPF_CLASS.ALU | BPF_ALU_OP.MOV | BPF_SRC.K, dst, 0, 0, imm);
  }
  movReg(dst: number, src: number): this {
    return this.emit(BPF_CLASS.ALU64 | BPF_ALU_OP.MOV | BPF_SRC.X, dst, src, 0, 0);
  }
  alu64(op: keyof typeof BPF_ALU_OP, dst: number, imm: number): this {
    return this.emit(BPF_CLASS.ALU64 | BPF_ALU_OP[op] | BPF_SRC.K, dst, 0, 0, imm);
  }
  /** ld_imm64 of a map fd (patched by the backend). */
  ldMap(dst: number, map: string): this {
    this.mapReferences.push({ insn: this.slots.length, map, kind: 'fd', offset: 0 });
    this.emit(BPF_CLASS.LD | BPF_SIZE.DW | BPF_MODE.IMM, dst, 0, 0, 0);
    return this.emit(0, 0, 0, 0, 0);
  }
  /** ld_imm64 of the address of a global-data map's value + offset. */
  ldMapValue(dst: number, map: string, offset: number): this {
    this.mapReferences.push({ insn: this.slots.length, map, kind: 'value', offset });
    this.emit(BPF_CLASS.LD | BPF_SIZE.DW | BPF_MODE.IMM, dst, 0, 0, 0);
    return this.emit(0, 0, 0, 0, 0);
  }
  st(size: Size, dst: number, off: number, imm: number): this {
    return this.emit(BPF_CLASS.ST | BPF_MODE.MEM | SIZE[size], dst, 0, off, imm);
  }
  stx(size: Size, dst: number, off: number, src: number): this {
    return this.emit(BPF_CLASS.STX | BPF_MODE.MEM | SIZE[size], dst, src, off, 0);
  }
  ldx(size: Size, dst: number, src: number, off: number): this {
    return this.emit(BPF_CLASS.LDX | BPF_MODE.MEM | SIZE[size], dst, src, off, 0);
  }
  call(helper: number): this {
    return this.emit(BPF_CLASS.JMP | BPF_JMP_OP.CALL, 0, 0, 0, helper);
  }
  /** Conditional jump on dst <op> imm to a label. */
  jmp(op: keyof typeof BPF_JMP_OP, dst: number, imm: number, label: string): this {
    this.fixups.push({ at: this.slots.length, label });
    return this.emit(BPF_CLASS.JMP | BPF_JMP_OP[op] | BPF_SRC.K, dst, 0, 0, imm);
  }
  /** Conditional jump on dst <op> src to a label. */
  jmpReg(op: keyof typeof BPF_JMP_OP, dst: number, src: number, label: string): this {
    this.fixups.push({ at: this.slots.length, label });
    return this.emit(BPF_CLASS.JMP | BPF_JMP_OP[op] | BPF_SRC.X, dst, src, 0, 0);
  }
  label(name: string): this {
    this.labels.set(name, this.slots.length);
    return this;
  }
  exit(): this {
    return this.emit(BPF_CLASS.JMP | BPF_JMP_OP.EXIT, 0, 0, 0, 0);
  }

  bytes(): Uint8Array {
    for (const f of this.fixups) {
      const target = this.labels.get(f.label);
      if (target === undefined) throw new Error(`undefined label ${f.label}`);
      this.slots[f.at]![3] = target - f.at - 1;
    }
    const out = new Uint8Array(this.slots.length * 8);
    const v = new DataView(out.buffer);
    this.slots.forEach(([code, dst, src, off, imm], i) => {
      v.setUint8(i * 8, code!);
      v.setUint8(i * 8 + 1, (dst! & 0xf) | ((src! & 0xf) << 4));
      v.setInt16(i * 8 + 2, off!, true);
      v.setInt32(i * 8 + 4, imm!, true);
    });
    return out;
  }
}

export function program(name: string, type: number, asm: Asm, extra: Partial<ProgramSpec> = {}): ProgramSpec {
  return {
    name,
    section: extra.section ?? name,
    type,
    expectedAttachType: 0,
    sleepable: false,
    autoload: true,
    insns: asm.bytes(),
    mapReferences: asm.mapReferences,
    license: 'GPL',
    kernelVersion: 0,
    ...extra,
  };
}

export function mapSpec(name: string, type: number, keySize: number, valueSize: number, maxEntries: number, extra: Partial<MapSpec> = {}): MapSpec {
  return { name, type, keySize, valueSize, maxEntries, flags: 0, btfKeyTypeId: 0, btfValueTypeId: 0, ...extra };
}

export function objectSpec(maps: MapSpec[], programs: ProgramSpec[] = []): ObjectSpec {
  return { littleEndian: true, license: 'GPL', kernelVersion: 0, maps, programs };
}

/** Little-endian bytes of u32 values. */
export function u32s(...values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return b;
}

/** Little-endian bytes of u64 values. */
export function u64s(...values: (number | bigint)[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setBigUint64(i * 8, BigInt(x), true));
  return b;
}
