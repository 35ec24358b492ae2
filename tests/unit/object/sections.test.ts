import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../host-bindings/errors.js';
import { classifySection, describeAttach } from '../../../host-bindings/object/sections.js';
import { BPF_ATTACH_TYPE as A, BPF_PROG_FLAG, BPF_PROG_TYPE as P } from '../../../host-bindings/uapi.js';

describe('classifySection', () => {
  it.each([
    ['tp/sched/sched_process_exec', P.TRACEPOINT, 0, { kind: 'tracepoint', category: 'sched', name: 'sched_process_exec' }],
    ['tracepoint/syscalls/sys_enter_openat', P.TRACEPOINT, 0, { kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_openat' }],
    ['raw_tp/sys_enter', P.RAW_TRACEPOINT, 0, { kind: 'raw_tracepoint', name: 'sys_enter' }],
    ['raw_tracepoint/sched_switch', P.RAW_TRACEPOINT, 0, { kind: 'raw_tracepoint', name: 'sched_switch' }],
    ['raw_tp.w/sys_enter', P.RAW_TRACEPOINT_WRITABLE, 0, { kind: 'raw_tracepoint', name: 'sys_enter' }],
    ['tp_btf/sched_switch', P.TRACING, A.TRACE_RAW_TP, { kind: 'tp_btf', name: 'sched_switch' }],
    ['kprobe/do_unlinkat', P.KPROBE, 0, { kind: 'kprobe', retprobe: false, func: 'do_unlinkat', offset: 0 }],
    ['kprobe/do_nanosleep+0x10', P.KPROBE, 0, { kind: 'kprobe', retprobe: false, func: 'do_nanosleep', offset: 16 }],
    ['kretprobe/do_unlinkat', P.KPROBE, 0, { kind: 'kprobe', retprobe: true, func: 'do_unlinkat', offset: 0 }],
    ['uprobe//usr/bin/bash:readline', P.KPROBE, 0, { kind: 'uprobe', retprobe: false, path: '/usr/bin/bash', func: 'readline', offset: 0 }],
    ['uprobe/libc.so.6:malloc+8', P.KPROBE, 0, { kind: 'uprobe', retprobe: false, path: 'libc.so.6', func: 'malloc', offset: 8 }],
    ['uretprobe//lib/x.so:0x1234', P.KPROBE, 0, { kind: 'uprobe', retprobe: true, path: '/lib/x.so', func: '', offset: 0x1234 }],
    ['fentry/do_unlinkat', P.TRACING, A.TRACE_FENTRY, { kind: 'fentry', name: 'do_unlinkat' }],
    ['fexit/do_unlinkat', P.TRACING, A.TRACE_FEXIT, { kind: 'fexit', name: 'do_unlinkat' }],
    ['fmod_ret/security_x', P.TRACING, A.MODIFY_RETURN, { kind: 'fmod_ret', name: 'security_x' }],
    ['lsm/file_open', P.LSM, A.LSM_MAC, { kind: 'lsm', name: 'file_open' }],
    ['iter/task', P.TRACING, A.TRACE_ITER, { kind: 'iter', name: 'task' }],
    ['perf_event', P.PERF_EVENT, 0, { kind: 'perf_event' }],
    ['xdp', P.XDP, A.XDP, undefined],
    ['xdp/devmap', P.XDP, A.XDP_DEVMAP, undefined],
    ['tc', P.SCHED_CLS, 0, undefined],
    ['classifier', P.SCHED_CLS, 0, undefined],
    ['tc/ingress', P.SCHED_CLS, A.TCX_INGRESS, undefined],
    ['tcx/egress', P.SCHED_CLS, A.TCX_EGRESS, undefined],
    ['socket', P.SOCKET_FILTER, 0, undefined],
    ['sockops', P.SOCK_OPS, A.CGROUP_SOCK_OPS, undefined],
    ['cgroup_skb/ingress', P.CGROUP_SKB, A.CGROUP_INET_INGRESS, undefined],
    ['cgroup_skb/egress', P.CGROUP_SKB, A.CGROUP_INET_EGRESS, undefined],
    ['cgroup/connect4', P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, undefined],
    ['cgroup/sock_release', P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, undefined],
    ['cgroup/sock', P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, undefined],
    ['cgroup/dev', P.CGROUP_DEVICE, A.CGROUP_DEVICE, undefined],
    ['sk_skb/stream_verdict', P.SK_SKB, A.SK_SKB_STREAM_VERDICT, undefined],
    ['sk_msg', P.SK_MSG, A.SK_MSG_VERDICT, undefined],
    ['sk_reuseport/migrate', P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, undefined],
    ['syscall', P.SYSCALL, 0, undefined],
    ['kprobe', P.KPROBE, 0, undefined],
    ['tp', P.TRACEPOINT, 0, undefined],
  ])('%s', (name, type, eat, attach) => {
    const kind = classifySection(name)!;
    expect(kind.type).toBe(type);
    expect(kind.expectedAttachType).toBe(eat);
    expect(kind.attach).toEqual(attach);
    expect(kind.autoload).toBe(true);
    expect(kind.section).toBe(name);
  });

  it('sets attach_btf names for BTF-attached programs', () => {
    expect(classifySection('tp_btf/sched_switch')!.attachBtfName).toBe('btf_trace_sched_switch');
    expect(classifySection('fentry/do_unlinkat')!.attachBtfName).toBe('do_unlinkat');
    expect(classifySection('lsm/file_open')!.attachBtfName).toBe('bpf_lsm_file_open');
    expect(classifySection('iter/task')!.attachBtfName).toBe('bpf_iter_task');
    expect(classifySection('tp/sched/x')!.attachBtfName).toBeUndefined();
  });

  it('marks sleepable variants, xdp.frags and the ? prefix', () => {
    expect(classifySection('fentry.s/x')!.sleepable).toBe(true);
    expect(classifySection('uprobe.s//bin/x:f')!.sleepable).toBe(true);
    expect(classifySection('lsm.s/file_open')!.sleepable).toBe(true);
    expect(classifySection('syscall')!.sleepable).toBe(true);
    expect(classifySection('fentry/x')!.sleepable).toBe(false);
    expect(classifySection('xdp.frags')!.progFlags).toBe(BPF_PROG_FLAG.XDP_HAS_FRAGS);
    expect(classifySection('xdp')!.progFlags).toBe(0);
    const lazy = classifySection('?tp/sched/sched_switch')!;
    expect(lazy.autoload).toBe(false);
    expect(lazy.section).toBe('tp/sched/sched_switch');
    expect(lazy.type).toBe(P.TRACEPOINT);
  });

  it('matches whole components only', () => {
    expect(classifySection('xdpfoo')).toBeUndefined();
    expect(classifySection('kprobex/foo')).toBeUndefined();
    expect(classifySection('foo')).toBeUndefined();
    expect(classifySection('.text')).toBeUndefined();
    expect(classifySection('socket/x')).toBeUndefined();
  });

  it('rejects malformed attach targets with the section named', () => {
    const bad = ['tp/only_category', 'kretprobe/f+8', 'uprobe/no_colon', 'kprobe/f+xyz'];
    for (const name of bad) {
      expect(() => classifySection(name)).toThrow(FormatError);
      expect(() => classifySection(name)).toThrow(`section "${name}"`);
    }
  });
});

describe('describeAttach', () => {
  it('spells targets for logs', () => {
    expect(describeAttach(classifySection('tp/sched/sched_process_exec')!.attach!)).toBe('tracepoint sched/sched_process_exec');
    expect(describeAttach(classifySection('kretprobe/do_unlinkat')!.attach!)).toBe('kretprobe do_unlinkat');
    expect(describeAttach(classifySection('uprobe//bin/bash:readline+16')!.attach!)).toBe('uprobe /bin/bash:readline+0x10');
    expect(describeAttach(classifySection('fentry/x')!.attach!)).toBe('fentry x');
  });
});
