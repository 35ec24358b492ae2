import { mkdirSync, rmdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrnoError } from '../../host-bindings/errors.js';
import type { KernelObject } from '../../host-bindings/kernel/loaded-object.js';
import { objGetInfo, progTestRun } from '../../host-bindings/kernel/syscall.js';
import { BPF_ATTACH_TYPE, BPF_FUNC, BPF_MAP_TYPE, BPF_PROG_TYPE, ERRNO } from '../../host-bindings/uapi.js';
import { Asm, mapSpec, objectSpec, program } from './bpf-asm.js';
import { loadSpec, openFdCount, skip } from './kernel-env.js';
import { closeBogus, perfObject, ringbufObject } from './programs.js';

const NR_CLOSE = process.arch === 'arm64' ? 57 : 3;

/** A sys_enter program (raw_tp or tp_btf: both get u64 args, args[1] = syscall number) that
 *  reports our close() calls' syscall numbers to ring buffer "rb". */
function sysEnterObject(kind: 'raw_tp' | 'tp_btf') {
  const a = new Asm()
    .movReg(6, 1)
    .call(BPF_FUNC.get_current_pid_tgid)
    .alu64('RSH', 0, 32)
    .jmp('JNE', 0, process.pid, 'out')
    .ldx('dw', 7, 6, 8)
    .jmp('JNE', 7, NR_CLOSE, 'out')
    .stx('dw', 10, -8, 7)
    .ldMap(1, 'rb')
    .movReg(2, 10)
    .alu64('ADD', 2, -8)
    .mov64(3, 8)
    .mov64(4, 0)
    .call(BPF_FUNC.ringbuf_output)
    .label('out')
    .mov64(0, 0)
    .exit();
  const p =
    kind === 'raw_tp'
      ? program('on_sys_enter', BPF_PROG_TYPE.RAW_TRACEPOINT, a, {
          section: 'raw_tp/sys_enter',
          attach: { kind: 'raw_tracepoint', name: 'sys_enter' },
        })
      : program('on_sys_enter', BPF_PROG_TYPE.TRACING, a, {
          section: 'tp_btf/sys_enter',
          expectedAttachType: BPF_ATTACH_TYPE.TRACE_RAW_TP,
          attachBtfName: 'btf_trace_sys_enter',
          attach: { kind: 'tp_btf', name: 'sys_enter' },
        });
  return objectSpec([mapSpec('rb', BPF_MAP_TYPE.RINGBUF, 0, 0, 64 * 1024)], [p]);
}

const trivial = (ret: number) => new Asm().mov64(0, ret).exit();

describe.skipIf(skip)('kernel programs and links', () => {
  let obj: KernelObject | undefined;
  afterEach(() => {
    obj?.close();
    obj = undefined;
  });

  for (const kind of ['raw_tp', 'tp_btf'] as const) {
    it(`${kind} program attached to sys_enter sees our close() calls`, () => {
      obj = loadSpec(sysEnterObject(kind));
      const a = obj.attach('on_sys_enter');
      expect(a.description).toBe(`${kind} sys_enter`);
      closeBogus(0, 3);
      let n = 0;
      obj.map('rb').reader().poll(200, (r) => {
        expect(new DataView(r.buffer, r.byteOffset).getUint32(0, true)).toBe(NR_CLOSE);
        n++;
        return 0;
      });
      expect(n).toBeGreaterThanOrEqual(3);
      a.detach();
      a.detach();
      obj.map('rb').reader().poll(0, () => 0); // whatever our process closed before the detach
      closeBogus(0, 3);
      expect(obj.map('rb').reader().poll(0, () => 0)).toBe(0);
    });
  }

  it('tp_btf with an unknown tracepoint fails at load naming the BTF type', () => {
    const spec = sysEnterObject('tp_btf');
    spec.programs[0]!.attachBtfName = 'btf_trace_no_such_tracepoint';
    expect(() => loadSpec(spec)).toThrow(/kernel BTF has no TYPEDEF "btf_trace_no_such_tracepoint"/);
  });

  it('a verifier rejection names the program and carries the log', () => {
    const lines: string[] = [];
    const bad = program('bad_prog', BPF_PROG_TYPE.TRACEPOINT, new Asm().movReg(0, 5).exit());
    let err: unknown;
    try {
      loadSpec(objectSpec([], [bad]), { objectName: 'test.bpf.o', log: (l) => lines.push(l) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ErrnoError);
    expect((err as ErrnoError).errno).toBe(ERRNO.EACCES);
    expect((err as Error).message).toMatch(/^load program "bad_prog" of test\.bpf\.o: verifier: EACCES \(Permission denied\)\n/);
    expect((err as Error).message).toMatch(/R5 !read_ok/);
    // The log travels in the error only: written to the log sink too, the CLI showed it twice.
    expect(lines).toEqual([]);
  });

  it('a verifier log bigger than the first buffer is fetched whole (ENOSPC retry)', () => {
    const a = new Asm();
    for (let i = 0; i < 30000; i++) a.mov64(1, i);
    const big = program('big_bad', BPF_PROG_TYPE.XDP, a.movReg(0, 5).exit());
    expect(() => loadSpec(objectSpec([], [big]))).toThrow(/load program "big_bad": verifier: EACCES[\s\S]*R5 !read_ok/);
  });

  it('prog-array initial slots are filled with program fds (tail call)', () => {
    const entry = new Asm().ldMap(2, 'jumps').mov64(3, 0).call(BPF_FUNC.tail_call).mov64(0, 2).exit();
    obj = loadSpec(
      objectSpec(
        [mapSpec('jumps', BPF_MAP_TYPE.PROG_ARRAY, 4, 4, 2, { initialSlots: [{ index: 0, program: 'drop' }] })],
        [program('entry', BPF_PROG_TYPE.XDP, entry, { section: 'xdp' }), program('drop', BPF_PROG_TYPE.XDP, trivial(1), { section: 'xdp' })],
      ),
    );
    expect(progTestRun(obj.programFd('entry'), { dataIn: new Uint8Array(64) }).retval).toBe(1);
    obj.map('jumps').delete(new Uint8Array(4));
    expect(progTestRun(obj.programFd('entry'), { dataIn: new Uint8Array(64) }).retval).toBe(2);
  });

  it('names programs and maps in the kernel with at most 15 characters', () => {
    obj = loadSpec(
      objectSpec(
        [mapSpec('.data.with_a_long_name', BPF_MAP_TYPE.ARRAY, 4, 4, 1)],
        [program('a_rather_long_program_name', BPF_PROG_TYPE.XDP, trivial(2), { section: 'xdp' })],
      ),
    );
    const info = new Uint8Array(232);
    objGetInfo(obj.programFd('a_rather_long_program_name'), info, 'program');
    expect(Buffer.from(info.subarray(64, 80)).toString().replace(/\0+$/, '')).toBe('a_rather_long_p');
    const mapInfo = new Uint8Array(104);
    objGetInfo(obj.map('.data.with_a_long_name').fd, mapInfo, 'map');
    expect(Buffer.from(mapInfo.subarray(24, 40)).toString().replace(/\0+$/, '')).toBe('.data.with_a_lo');
  });

  it('XDP: section "xdp" + interface name attaches a link; test-run returns the verdict', () => {
    obj = loadSpec(objectSpec([], [program('xdp_pass', BPF_PROG_TYPE.XDP, trivial(2), { section: 'xdp' })]));
    const r = progTestRun(obj.programFd('xdp_pass'), { dataIn: new Uint8Array(64), repeat: 1 });
    expect(r.retval).toBe(2);
    expect(r.dataOut.byteLength).toBe(64);
    expect(() => obj!.attach('xdp_pass', 'nosuchif0')).toThrow(/XDP of interface "nosuchif0": no such interface \(ENODEV/);
    expect(() => obj!.attach('xdp_pass')).toThrow(/give an interface name/);
    const a = obj.attach('xdp_pass', 'lo');
    expect(a.description).toBe('xdp lo');
    // An interface holds one XDP program: the second attach says so, and how to see the first.
    expect(() => obj!.attach('xdp_pass', 'lo')).toThrow(/EBUSY .*: interface "lo" already has an XDP program \(`bpftool net show dev lo` shows it\)$/);
    a.detach();
  });

  it('sockops: section "sockops" + cgroup directory attaches a cgroup link', () => {
    obj = loadSpec(objectSpec([], [program('sockops_prog', BPF_PROG_TYPE.SOCK_OPS, trivial(1), { section: 'sockops' })]));
    const dir = `/sys/fs/cgroup/unified/wbpf-sockops-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    try {
      const a = obj.attach('sockops_prog', dir);
      expect(a.description).toBe(`cgroup ${dir}`);
      a.detach();
      expect(() => obj!.attach('sockops_prog', `${dir}-missing`)).toThrow(/cannot open the directory: ENOENT/);
    } finally {
      rmdirSync(dir);
    }
  });

  it('unsupported attach kinds, unknown and not-loaded programs give named errors', () => {
    obj = loadSpec(
      objectSpec(
        [],
        [
          program('pe', BPF_PROG_TYPE.PERF_EVENT, trivial(0), { section: 'perf_event', attach: { kind: 'perf_event' } }),
          program('off', BPF_PROG_TYPE.KPROBE, trivial(0), { autoload: false }),
        ],
      ),
    );
    expect(() => obj!.attach('pe')).toThrow(/attach program "pe" \(section "perf_event"\): attach kind perf_event not supported yet/);
    expect(() => obj!.attach('nope')).toThrow(/no program "nope"/);
    expect(() => obj!.attach('off')).toThrow(/program "off" was not loaded/);
    expect(obj.programNames()).toEqual(['pe', 'off']);
  });

  it('close() releases every fd and mapping, and reports them to the tracker', () => {
    const before = openFdCount();
    const open = new Set<number>();
    const tracker = { opened: (fd: number) => open.add(fd), closed: (fd: number) => open.delete(fd) };
    const a = loadSpec(ringbufObject(4096), { fds: tracker });
    const b = loadSpec(perfObject(), { fds: tracker });
    a.attach('on_close');
    b.attach('on_close');
    a.map('rb').reader();
    b.map('events').reader();
    expect(openFdCount()).toBeGreaterThan(before);
    expect(open.size).toBe(openFdCount() - before);
    a.close();
    b.close();
    b.close();
    expect(open.size).toBe(0);
    expect(openFdCount()).toBe(before);
    closeBogus(0, 2); // nothing attached any more: must not crash
  });

  it('a failed load releases what it created before the failure', () => {
    const before = openFdCount();
    const bad = program('bad_prog', BPF_PROG_TYPE.TRACEPOINT, new Asm().movReg(0, 5).exit());
    expect(() => loadSpec(objectSpec([mapSpec('m', BPF_MAP_TYPE.ARRAY, 4, 4, 1)], [bad]))).toThrow(/bad_prog/);
    expect(openFdCount()).toBe(before);
  });
});
