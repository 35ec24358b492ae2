// SEC() name → program type, expected attach type and auto-attach target, following libbpf's
// section table: rows are tried in order, the first match wins; a pattern ending in '+' matches
// the bare name or the name followed by "/<extras>".

import { FormatError } from '../errors.js';
import { BPF_ATTACH_TYPE as A, BPF_PROG_FLAG, BPF_PROG_TYPE as P } from '../uapi.js';
import type { AutoAttach } from './spec.js';

export interface SectionKind {
  type: number;
  expectedAttachType: number;
  attach?: AutoAttach;
  attachBtfName?: string;
  sleepable: boolean;
  autoload: boolean;
  /** prog_flags implied by the name besides sleepable (xdp.frags: BPF_F_XDP_HAS_FRAGS). */
  progFlags: number;
  /** The SEC() string with a leading '?' stripped. */
  section: string;
}

type AttachParser = (extras: string, section: string) => { attach?: AutoAttach; attachBtfName?: string };

interface Row {
  pattern: string;
  type: number;
  eat: number;
  sleepable?: boolean;
  frags?: boolean;
  parse?: AttachParser;
}

const tracepoint: AttachParser = (extras, section) => {
  if (!extras) return {};
  const slash = extras.indexOf('/');
  if (slash <= 0 || slash === extras.length - 1) {
    throw new FormatError(`section "${section}": expected tp/<category>/<name>`);
  }
  return { attach: { kind: 'tracepoint', category: extras.slice(0, slash), name: extras.slice(slash + 1) } };
};

const rawTracepoint: AttachParser = (extras) => (extras ? { attach: { kind: 'raw_tracepoint', name: extras } } : {});

const tpBtf: AttachParser = (extras) =>
  extras ? { attach: { kind: 'tp_btf', name: extras }, attachBtfName: `btf_trace_${extras}` } : {};

function probe(retprobe: boolean): AttachParser {
  return (extras, section) => {
    if (!extras) return {};
    const { func, offset } = splitOffset(extras, section);
    if (retprobe && offset !== 0) throw new FormatError(`section "${section}": kretprobes do not take an offset`);
    if (!func) throw new FormatError(`section "${section}": missing function name`);
    return { attach: { kind: 'kprobe', retprobe, func, offset } };
  };
}

function uprobe(retprobe: boolean): AttachParser {
  return (extras, section) => {
    if (!extras) return {};
    const colon = extras.indexOf(':');
    if (colon <= 0) throw new FormatError(`section "${section}": expected uprobe/<path>:<function>[+<offset>]`);
    const path = extras.slice(0, colon);
    const target = extras.slice(colon + 1);
    const address = /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(target);
    const { func, offset } = address ? { func: '', offset: Number(target) } : splitOffset(target, section);
    if (!func && !address) throw new FormatError(`section "${section}": missing function name after "${path}:"`);
    if (retprobe && offset !== 0 && func) {
      throw new FormatError(`section "${section}": uretprobes do not take an offset`);
    }
    return { attach: { kind: 'uprobe', retprobe, path, func, offset } };
  };
}

function btfTarget(kind: 'fentry' | 'fexit' | 'fmod_ret' | 'lsm' | 'iter', prefix: string): AttachParser {
  return (extras) => (extras ? { attach: { kind, name: extras }, attachBtfName: `${prefix}${extras}` } : {});
}

/** "func+0x10" → { func, offset }. */
function splitOffset(text: string, section: string): { func: string; offset: number } {
  const plus = text.lastIndexOf('+');
  if (plus < 0) return { func: text, offset: 0 };
  const off = text.slice(plus + 1);
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(off)) throw new FormatError(`section "${section}": bad offset "${off}"`);
  return { func: text.slice(0, plus), offset: Number(off) };
}

const perfEvent: AttachParser = () => ({ attach: { kind: 'perf_event' } });

const ROWS: Row[] = [
  { pattern: 'socket', type: P.SOCKET_FILTER, eat: 0 },
  { pattern: 'sk_reuseport/migrate', type: P.SK_REUSEPORT, eat: A.SK_REUSEPORT_SELECT_OR_MIGRATE },
  { pattern: 'sk_reuseport', type: P.SK_REUSEPORT, eat: A.SK_REUSEPORT_SELECT },
  { pattern: 'kprobe+', type: P.KPROBE, eat: 0, parse: probe(false) },
  { pattern: 'uprobe+', type: P.KPROBE, eat: 0, parse: uprobe(false) },
  { pattern: 'uprobe.s+', type: P.KPROBE, eat: 0, sleepable: true, parse: uprobe(false) },
  { pattern: 'kretprobe+', type: P.KPROBE, eat: 0, parse: probe(true) },
  { pattern: 'uretprobe+', type: P.KPROBE, eat: 0, parse: uprobe(true) },
  { pattern: 'uretprobe.s+', type: P.KPROBE, eat: 0, sleepable: true, parse: uprobe(true) },
  { pattern: 'kprobe.multi+', type: P.KPROBE, eat: A.TRACE_KPROBE_MULTI },
  { pattern: 'kretprobe.multi+', type: P.KPROBE, eat: A.TRACE_KPROBE_MULTI },
  { pattern: 'kprobe.session+', type: P.KPROBE, eat: A.TRACE_KPROBE_SESSION },
  { pattern: 'uprobe.multi+', type: P.KPROBE, eat: A.TRACE_UPROBE_MULTI },
  { pattern: 'uretprobe.multi+', type: P.KPROBE, eat: A.TRACE_UPROBE_MULTI },
  { pattern: 'uprobe.multi.s+', type: P.KPROBE, eat: A.TRACE_UPROBE_MULTI, sleepable: true },
  { pattern: 'uretprobe.multi.s+', type: P.KPROBE, eat: A.TRACE_UPROBE_MULTI, sleepable: true },
  { pattern: 'uprobe.session+', type: P.KPROBE, eat: A.TRACE_UPROBE_SESSION },
  { pattern: 'uprobe.session.s+', type: P.KPROBE, eat: A.TRACE_UPROBE_SESSION, sleepable: true },
  { pattern: 'ksyscall+', type: P.KPROBE, eat: 0 },
  { pattern: 'kretsyscall+', type: P.KPROBE, eat: 0 },
  { pattern: 'usdt+', type: P.KPROBE, eat: 0 },
  { pattern: 'usdt.s+', type: P.KPROBE, eat: 0, sleepable: true },
  { pattern: 'tc/ingress', type: P.SCHED_CLS, eat: A.TCX_INGRESS },
  { pattern: 'tc/egress', type: P.SCHED_CLS, eat: A.TCX_EGRESS },
  { pattern: 'tcx/ingress', type: P.SCHED_CLS, eat: A.TCX_INGRESS },
  { pattern: 'tcx/egress', type: P.SCHED_CLS, eat: A.TCX_EGRESS },
  { pattern: 'tc', type: P.SCHED_CLS, eat: 0 },
  { pattern: 'classifier', type: P.SCHED_CLS, eat: 0 },
  { pattern: 'action', type: P.SCHED_ACT, eat: 0 },
  { pattern: 'netkit/primary', type: P.SCHED_CLS, eat: A.NETKIT_PRIMARY },
  { pattern: 'netkit/peer', type: P.SCHED_CLS, eat: A.NETKIT_PEER },
  { pattern: 'tracepoint+', type: P.TRACEPOINT, eat: 0, parse: tracepoint },
  { pattern: 'tp+', type: P.TRACEPOINT, eat: 0, parse: tracepoint },
  { pattern: 'tracepoint.s+', type: P.TRACEPOINT, eat: 0, sleepable: true, parse: tracepoint },
  { pattern: 'tp.s+', type: P.TRACEPOINT, eat: 0, sleepable: true, parse: tracepoint },
  { pattern: 'raw_tracepoint+', type: P.RAW_TRACEPOINT, eat: 0, parse: rawTracepoint },
  { pattern: 'raw_tp+', type: P.RAW_TRACEPOINT, eat: 0, parse: rawTracepoint },
  { pattern: 'raw_tracepoint.w+', type: P.RAW_TRACEPOINT_WRITABLE, eat: 0, parse: rawTracepoint },
  { pattern: 'raw_tp.w+', type: P.RAW_TRACEPOINT_WRITABLE, eat: 0, parse: rawTracepoint },
  { pattern: 'raw_tracepoint.s+', type: P.RAW_TRACEPOINT, eat: 0, sleepable: true, parse: rawTracepoint },
  { pattern: 'raw_tp.s+', type: P.RAW_TRACEPOINT, eat: 0, sleepable: true, parse: rawTracepoint },
  { pattern: 'tp_btf+', type: P.TRACING, eat: A.TRACE_RAW_TP, parse: tpBtf },
  { pattern: 'tp_btf.s+', type: P.TRACING, eat: A.TRACE_RAW_TP, sleepable: true, parse: tpBtf },
  { pattern: 'fentry+', type: P.TRACING, eat: A.TRACE_FENTRY, parse: btfTarget('fentry', '') },
  { pattern: 'fmod_ret+', type: P.TRACING, eat: A.MODIFY_RETURN, parse: btfTarget('fmod_ret', '') },
  { pattern: 'fexit+', type: P.TRACING, eat: A.TRACE_FEXIT, parse: btfTarget('fexit', '') },
  { pattern: 'fentry.s+', type: P.TRACING, eat: A.TRACE_FENTRY, sleepable: true, parse: btfTarget('fentry', '') },
  { pattern: 'fmod_ret.s+', type: P.TRACING, eat: A.MODIFY_RETURN, sleepable: true, parse: btfTarget('fmod_ret', '') },
  { pattern: 'fexit.s+', type: P.TRACING, eat: A.TRACE_FEXIT, sleepable: true, parse: btfTarget('fexit', '') },
  { pattern: 'freplace+', type: P.EXT, eat: 0 },
  { pattern: 'lsm+', type: P.LSM, eat: A.LSM_MAC, parse: btfTarget('lsm', 'bpf_lsm_') },
  { pattern: 'lsm.s+', type: P.LSM, eat: A.LSM_MAC, sleepable: true, parse: btfTarget('lsm', 'bpf_lsm_') },
  { pattern: 'lsm_cgroup+', type: P.LSM, eat: A.LSM_CGROUP },
  { pattern: 'iter+', type: P.TRACING, eat: A.TRACE_ITER, parse: btfTarget('iter', 'bpf_iter_') },
  { pattern: 'iter.s+', type: P.TRACING, eat: A.TRACE_ITER, sleepable: true, parse: btfTarget('iter', 'bpf_iter_') },
  { pattern: 'syscall', type: P.SYSCALL, eat: 0, sleepable: true },
  { pattern: 'xdp.frags/devmap', type: P.XDP, eat: A.XDP_DEVMAP, frags: true },
  { pattern: 'xdp/devmap', type: P.XDP, eat: A.XDP_DEVMAP },
  { pattern: 'xdp.frags/cpumap', type: P.XDP, eat: A.XDP_CPUMAP, frags: true },
  { pattern: 'xdp/cpumap', type: P.XDP, eat: A.XDP_CPUMAP },
  { pattern: 'xdp.frags', type: P.XDP, eat: A.XDP, frags: true },
  { pattern: 'xdp', type: P.XDP, eat: A.XDP },
  { pattern: 'perf_event', type: P.PERF_EVENT, eat: 0, parse: perfEvent },
  { pattern: 'lwt_in', type: P.LWT_IN, eat: 0 },
  { pattern: 'lwt_out', type: P.LWT_OUT, eat: 0 },
  { pattern: 'lwt_xmit', type: P.LWT_XMIT, eat: 0 },
  { pattern: 'lwt_seg6local', type: P.LWT_SEG6LOCAL, eat: 0 },
  { pattern: 'sockops', type: P.SOCK_OPS, eat: A.CGROUP_SOCK_OPS },
  { pattern: 'sk_skb/stream_parser', type: P.SK_SKB, eat: A.SK_SKB_STREAM_PARSER },
  { pattern: 'sk_skb/stream_verdict', type: P.SK_SKB, eat: A.SK_SKB_STREAM_VERDICT },
  { pattern: 'sk_skb/verdict', type: P.SK_SKB, eat: A.SK_SKB_VERDICT },
  { pattern: 'sk_skb', type: P.SK_SKB, eat: 0 },
  { pattern: 'sk_msg', type: P.SK_MSG, eat: A.SK_MSG_VERDICT },
  { pattern: 'lirc_mode2', type: P.LIRC_MODE2, eat: A.LIRC_MODE2 },
  { pattern: 'flow_dissector', type: P.FLOW_DISSECTOR, eat: A.FLOW_DISSECTOR },
  { pattern: 'cgroup_skb/ingress', type: P.CGROUP_SKB, eat: A.CGROUP_INET_INGRESS },
  { pattern: 'cgroup_skb/egress', type: P.CGROUP_SKB, eat: A.CGROUP_INET_EGRESS },
  { pattern: 'cgroup/skb', type: P.CGROUP_SKB, eat: 0 },
  { pattern: 'cgroup/sock_create', type: P.CGROUP_SOCK, eat: A.CGROUP_INET_SOCK_CREATE },
  { pattern: 'cgroup/sock_release', type: P.CGROUP_SOCK, eat: A.CGROUP_INET_SOCK_RELEASE },
  { pattern: 'cgroup/sock', type: P.CGROUP_SOCK, eat: A.CGROUP_INET_SOCK_CREATE },
  { pattern: 'cgroup/post_bind4', type: P.CGROUP_SOCK, eat: A.CGROUP_INET4_POST_BIND },
  { pattern: 'cgroup/post_bind6', type: P.CGROUP_SOCK, eat: A.CGROUP_INET6_POST_BIND },
  { pattern: 'cgroup/bind4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET4_BIND },
  { pattern: 'cgroup/bind6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET6_BIND },
  { pattern: 'cgroup/connect4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET4_CONNECT },
  { pattern: 'cgroup/connect6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET6_CONNECT },
  { pattern: 'cgroup/connect_unix', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UNIX_CONNECT },
  { pattern: 'cgroup/sendmsg4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UDP4_SENDMSG },
  { pattern: 'cgroup/sendmsg6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UDP6_SENDMSG },
  { pattern: 'cgroup/sendmsg_unix', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UNIX_SENDMSG },
  { pattern: 'cgroup/recvmsg4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UDP4_RECVMSG },
  { pattern: 'cgroup/recvmsg6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UDP6_RECVMSG },
  { pattern: 'cgroup/recvmsg_unix', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UNIX_RECVMSG },
  { pattern: 'cgroup/getpeername4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET4_GETPEERNAME },
  { pattern: 'cgroup/getpeername6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET6_GETPEERNAME },
  { pattern: 'cgroup/getpeername_unix', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UNIX_GETPEERNAME },
  { pattern: 'cgroup/getsockname4', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET4_GETSOCKNAME },
  { pattern: 'cgroup/getsockname6', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_INET6_GETSOCKNAME },
  { pattern: 'cgroup/getsockname_unix', type: P.CGROUP_SOCK_ADDR, eat: A.CGROUP_UNIX_GETSOCKNAME },
  { pattern: 'cgroup/sysctl', type: P.CGROUP_SYSCTL, eat: A.CGROUP_SYSCTL },
  { pattern: 'cgroup/getsockopt', type: P.CGROUP_SOCKOPT, eat: A.CGROUP_GETSOCKOPT },
  { pattern: 'cgroup/setsockopt', type: P.CGROUP_SOCKOPT, eat: A.CGROUP_SETSOCKOPT },
  { pattern: 'cgroup/dev', type: P.CGROUP_DEVICE, eat: A.CGROUP_DEVICE },
  { pattern: 'struct_ops+', type: P.STRUCT_OPS, eat: 0 },
  { pattern: 'struct_ops.s+', type: P.STRUCT_OPS, eat: 0, sleepable: true },
  { pattern: 'sk_lookup', type: P.SK_LOOKUP, eat: A.SK_LOOKUP },
  { pattern: 'netfilter', type: P.NETFILTER, eat: A.NETFILTER },
];

/** Classifies a SEC() name; undefined when no row matches (libbpf: "missing BPF prog type"). */
export function classifySection(secName: string): SectionKind | undefined {
  const autoload = !secName.startsWith('?');
  const section = autoload ? secName : secName.slice(1);
  for (const row of ROWS) {
    const extras = matchPattern(row.pattern, section);
    if (extras === undefined) continue;
    const parsed = row.parse ? row.parse(extras, section) : {};
    return {
      type: row.type,
      expectedAttachType: row.eat,
      ...parsed,
      sleepable: row.sleepable ?? false,
      autoload,
      progFlags: row.frags ? BPF_PROG_FLAG.XDP_HAS_FRAGS : 0,
      section,
    };
  }
  return undefined;
}

/** The part after "<prefix>/" ('' for an exact match), or undefined when the row does not match. */
function matchPattern(pattern: string, section: string): string | undefined {
  if (!pattern.endsWith('+')) return section === pattern ? '' : undefined;
  const prefix = pattern.slice(0, -1);
  if (section === prefix) return '';
  return section.startsWith(`${prefix}/`) ? section.slice(prefix.length + 1) : undefined;
}

/** One-line description of an auto-attach target ("tracepoint sched/sched_process_exec"). */
export function describeAttach(attach: AutoAttach): string {
  switch (attach.kind) {
    case 'tracepoint':
      return `tracepoint ${attach.category}/${attach.name}`;
    case 'raw_tracepoint':
      return `raw_tracepoint ${attach.name}`;
    case 'tp_btf':
      return `tp_btf ${attach.name}`;
    case 'kprobe':
      return `${attach.retprobe ? 'kretprobe' : 'kprobe'} ${attach.func}${attach.offset ? `+${attach.offset}` : ''}`;
    case 'uprobe':
      return `${attach.retprobe ? 'uretprobe' : 'uprobe'} ${attach.path}:${attach.func}${attach.offset ? `+0x${attach.offset.toString(16)}` : ''}`;
    case 'perf_event':
      return 'perf_event';
    default:
      return `${attach.kind} ${attach.name}`;
  }
}
