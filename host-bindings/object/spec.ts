// What the pure object layer hands to a backend: everything needed to create maps and load
// programs, with every relocation that does not need a kernel resource already applied.
// A backend only fills in map fds (or its own map handles) and loads.

/** One map to create. Names are the object's names ("rb", ".rodata", ".rodata.str1.1"). */
export interface MapSpec {
  name: string;
  type: number; // BPF_MAP_TYPE.*
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number; // BPF_MAP_FLAG.*
  numaNode?: number;
  mapExtra?: bigint;
  /** PIN_BY_NAME etc. from BTF-defined maps; informational, we never pin implicitly. */
  pinning?: number;
  /** BTF type ids in the object's BTF (0 when not known). */
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** For ARRAY_OF_MAPS / HASH_OF_MAPS: the inner map's template. */
  inner?: MapSpec;
  /** Static `.values = { ... }` initialisers of map-in-map and prog-array maps. */
  initialSlots?: { index: number; map?: string; program?: string }[];
  /** Global data maps: which ELF section, initial bytes (valueSize long; zeros for .bss). */
  globalData?: { section: string; initial: Uint8Array; readOnly: boolean };
}

/** A reference from an ld_imm64 (two slots at `insn`) to a map. */
export interface MapReference {
  insn: number; // slot index in ProgramSpec.insns
  map: string; // MapSpec.name
  kind: 'fd' | 'value'; // BPF_PSEUDO_MAP_FD / BPF_PSEUDO_MAP_VALUE
  offset: number; // byte offset into the value (kind 'value')
}

export interface ProgramSpec {
  /** Function name (what wasm_bpf_attach_bpf_program looks up). */
  name: string;
  /** ELF section (SEC() string, a leading '?' stripped). */
  section: string;
  type: number; // BPF_PROG_TYPE.*
  expectedAttachType: number; // BPF_ATTACH_TYPE.* (0 when the type needs none)
  /** How this program attaches by default; undefined when it cannot auto-attach. */
  attach?: AutoAttach;
  /** Name of the kernel BTF type to resolve as attach_btf_id (tp_btf: "btf_trace_<tp>"). */
  attachBtfName?: string;
  sleepable: boolean;
  /** Extra PROG_LOAD prog_flags the section implies besides sleepable (xdp.frags: BPF_F_XDP_HAS_FRAGS). */
  progFlags?: number;
  /** Whether libbpf would load it by default ('?' prefix means no). */
  autoload: boolean;
  /** Flattened program: entry function plus appended sub-programs, little-endian, 8 bytes/slot. */
  insns: Uint8Array;
  mapReferences: MapReference[];
  license: string;
  kernelVersion: number;
  /** func_info / line_info ready for PROG_LOAD (instruction indices, kernel record layout). */
  funcInfo?: { recordSize: number; bytes: Uint8Array; count: number };
  lineInfo?: { recordSize: number; bytes: Uint8Array; count: number };
  /**
   * ld_imm64s and calls that name kernel symbols (`.ksyms` variables, kfuncs), sorted by insn;
   * absent when there are none. The backend resolves them before loading: the object layer set
   * a kfunc call's src to BPF_PSEUDO_KFUNC_CALL and zeroed the immediates, nothing else.
   */
  externReferences?: ExternReference[];
}

/**
 * How an instruction uses a `.ksyms` extern: an ld_imm64 of a typed variable (BPF_PSEUDO_BTF_ID,
 * the kernel's VAR id), of a typeless one (its /proc/kallsyms address), of a kfunc's address
 * (BPF_PSEUDO_BTF_ID, the kernel's FUNC id; bpf_ksym_exists), or a kfunc call.
 */
export type ExternKind = 'typed-var' | 'typeless-var' | 'kfunc-address' | 'kfunc-call';

export interface ExternReference {
  insn: number; // slot index in ProgramSpec.insns
  /** The extern's name in the object. */
  name: string;
  /** The name to look up in the kernel: `name` without a `___flavor` suffix. */
  kernelName: string;
  kind: ExternKind;
  /** __weak: an unresolved one becomes 0 (or a poisoned call) instead of an error. */
  weak: boolean;
  /** The extern's index in the object, for libbpf's poisoned call (`call 2002000000 + index`). */
  index: number;
}

/** What a `.kconfig` extern holds; decides how a config value is encoded into its bytes. */
export type KconfigKind = 'bool' | 'tristate' | 'char' | 'int' | 'char-array';

/** One `.kconfig` extern: its bytes are `[offset, offset + size)` of the `.kconfig` map's value. */
export interface KconfigExtern {
  name: string;
  offset: number;
  size: number;
  kind: KconfigKind;
  /** For 'int': whether the declared integer type is signed. */
  signed: boolean;
  weak: boolean;
}

/** Auto-attach targets derived from the section name, as libbpf's conventions do. */
export type AutoAttach =
  | { kind: 'tracepoint'; category: string; name: string }
  | { kind: 'raw_tracepoint'; name: string }
  | { kind: 'tp_btf'; name: string }
  | { kind: 'kprobe'; retprobe: boolean; func: string; offset: number }
  | { kind: 'uprobe'; retprobe: boolean; path: string; func: string; offset: number }
  | { kind: 'fentry' | 'fexit' | 'fmod_ret' | 'lsm' | 'iter'; name: string }
  | { kind: 'perf_event' };

export interface ObjectSpec {
  littleEndian: boolean;
  license: string;
  kernelVersion: number;
  /** Program BTF ready for BPF_BTF_LOAD (DATASEC fix-ups applied); undefined if the object has none. */
  btf?: Uint8Array;
  maps: MapSpec[];
  programs: ProgramSpec[];
  /**
   * The `.kconfig` externs the programs read, when there are any. They live in the synthetic
   * global-data map `.kconfig` (its initial bytes zero), which a backend fills from the running
   * kernel's config (host-bindings/kconfig.ts fillKconfig) before creating maps.
   */
  kconfig?: KconfigExtern[];
}
