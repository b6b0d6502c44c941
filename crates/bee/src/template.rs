//! The probes `bee init` writes: one per program type, map type and output,
//! each compiling and running unchanged (tests build and run every one).
//! A probe is assembled from its program type's handler (which computes the
//! fields as local variables and a `value` in nanoseconds) and the code that
//! hands them to the chosen map.

use std::fmt::Write as _;

/// What a probe watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgramType {
    /// TCP connections and their connect latency (`sock:inet_sock_set_state`).
    Network,
    /// TCP connects the kprobe way, as bumblebee's template
    /// (`kprobe/tcp_v4_connect` + kretprobe; needs kprobes).
    NetworkKprobe,
    /// Files opened and how long `openat` took (`syscalls:sys_{enter,exit}_openat`).
    FileSystem,
    /// Process exits, their exit code and lifetime (`sched:sched_process_exit`).
    Process,
    /// Latency of every system call (`raw_syscalls:sys_{enter,exit}`).
    SyscallLatency,
}

/// How records leave the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MapKind {
    /// A ring buffer: every record is sent to user space.
    RingBuffer,
    /// A hash map: aggregated in the kernel, read on an interval.
    HashMap,
}

/// What beed and `bee run` make of the map (its name prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputKind {
    /// Events (a ring buffer) or changed entries (a hash map).
    Print,
    /// A Prometheus counter per label set.
    Counter,
    /// A Prometheus gauge per label set (the last latency).
    Gauge,
    /// A Prometheus histogram of the latency.
    Hist,
}

impl OutputKind {
    fn prefix(self) -> &'static str {
        match self {
            OutputKind::Print => "print",
            OutputKind::Counter => "counter",
            OutputKind::Gauge => "gauge",
            OutputKind::Hist => "hist",
        }
    }
}

/// A field of a record: C type, name, array length.
struct Field(&'static str, &'static str, Option<u32>);

/// A program type's parts.
struct Program {
    /// What the probe measures, for its header comment.
    what: &'static str,
    /// The noun of its maps (`print_connects`, `counter_connects`, ...).
    noun: &'static str,
    /// Fields that label metrics (low cardinality).
    labels: &'static [Field],
    /// Fields of a printed event.
    event: &'static [Field],
    /// Defines, helper maps (not watched: no prefix) and entry programs.
    prelude: &'static str,
    /// The program that computes every field as a local variable and
    /// `u64 value` (ns), with `{EMIT}` where the record is handed over.
    handler: &'static str,
}

const NETWORK: Program = Program {
    what: "TCP connections (IPv4) and their connect latency: the time from SYN sent to ESTABLISHED",
    noun: "connects",
    labels: &[Field("ipv4_addr", "daddr", None), Field("u16", "dport", None)],
    event: &[
        Field("ipv4_addr", "saddr", None),
        Field("ipv4_addr", "daddr", None),
        Field("u16", "sport", None),
        Field("u16", "dport", None),
        Field("duration", "latency", None),
    ],
    prelude: r#"#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2

/* when each socket started connecting (no bee prefix: not watched) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u64);
	__type(value, u64);
} connect_start SEC(".maps");
"#,
    handler: r#"SEC("tracepoint/sock/inet_sock_set_state")
int on_state_change(struct trace_event_raw_inet_sock_set_state *ctx)
{
	u64 sk = (u64)ctx->skaddr;
	u64 now = bpf_ktime_get_ns(), *start;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return 0;
	if (ctx->newstate == TCP_SYN_SENT) {
		bpf_map_update_elem(&connect_start, &sk, &now, BPF_ANY);
		return 0;
	}
	if (ctx->newstate != TCP_ESTABLISHED || ctx->oldstate != TCP_SYN_SENT)
		return 0;
	start = bpf_map_lookup_elem(&connect_start, &sk);
	if (!start)
		return 0;
	u64 value = now - *start;
	bpf_map_delete_elem(&connect_start, &sk);

	ipv4_addr saddr, daddr;
	__builtin_memcpy(&saddr, ctx->saddr, sizeof(saddr));
	__builtin_memcpy(&daddr, ctx->daddr, sizeof(daddr));
	u16 sport = ctx->sport, dport = ctx->dport;
	duration latency = value;
{EMIT}	return 0;
}
"#,
};

const NETWORK_KPROBE: Program = Program {
    what: "TCP connections (IPv4) seen by a kprobe on tcp_v4_connect and its kretprobe, as bumblebee's \
           template: addresses, port and how long tcp_v4_connect took",
    noun: "connects",
    labels: &[Field("ipv4_addr", "daddr", None), Field("u16", "dport", None)],
    event: &[
        Field("ipv4_addr", "saddr", None),
        Field("ipv4_addr", "daddr", None),
        Field("u16", "dport", None),
        Field("duration", "latency", None),
    ],
    prelude: r#"#include <bpf/bpf_tracing.h>

struct connect_call {
	struct sock *sk;
	u64 ts;
};

/* connects in flight, by thread (no bee prefix: not watched) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct connect_call);
} connect_calls SEC(".maps");

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(tcp_v4_connect, struct sock *sk)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct connect_call call = { .sk = sk, .ts = bpf_ktime_get_ns() };

	bpf_map_update_elem(&connect_calls, &tid, &call, BPF_ANY);
	return 0;
}
"#,
    handler: r#"SEC("kretprobe/tcp_v4_connect")
int BPF_KRETPROBE(tcp_v4_connect_ret, int ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct connect_call *call = bpf_map_lookup_elem(&connect_calls, &tid);

	if (!call)
		return 0;
	struct sock *sk = call->sk;
	u64 value = bpf_ktime_get_ns() - call->ts;
	bpf_map_delete_elem(&connect_calls, &tid);
	/* no SYN sent: the addresses may not be set */
	if (ret)
		return 0;
	ipv4_addr saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	ipv4_addr daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	u16 dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	duration latency = value;
{EMIT}	return 0;
}
"#,
};

const FILE_SYSTEM: Program = Program {
    what: "files opened with openat(2): by whom, which file, the result and how long the call took",
    noun: "opens",
    labels: &[Field("char", "comm", Some(16))],
    event: &[
        Field("u32", "pid", None),
        Field("s32", "ret", None),
        Field("char", "comm", Some(16)),
        Field("char", "filename", Some(64)),
        Field("duration", "latency", None),
    ],
    prelude: r#"struct open_call {
	u64 ts;
	const char *filename;
};

/* openat calls in flight, by thread (no bee prefix: not watched) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct open_call);
} open_calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct open_call call = { .ts = bpf_ktime_get_ns(), .filename = (const char *)ctx->args[1] };

	bpf_map_update_elem(&open_calls, &tid, &call, BPF_ANY);
	return 0;
}
"#,
    handler: r#"SEC("tracepoint/syscalls/sys_exit_openat")
int on_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	struct open_call *call = bpf_map_lookup_elem(&open_calls, &tid);
	char comm[16] = {}, filename[64] = {};

	if (!call)
		return 0;
	u64 value = bpf_ktime_get_ns() - call->ts;
	bpf_probe_read_user_str(filename, sizeof(filename), call->filename);
	bpf_map_delete_elem(&open_calls, &tid);
	bpf_get_current_comm(comm, sizeof(comm));
	u32 pid = pid_tgid >> 32;
	s32 ret = ctx->ret;
	duration latency = value;
{EMIT}	return 0;
}
"#,
};

const PROCESS: Program = Program {
    what: "process exits: pid, parent, exit code, command and how long the process lived",
    noun: "exits",
    labels: &[Field("char", "comm", Some(16))],
    event: &[
        Field("u32", "pid", None),
        Field("u32", "ppid", None),
        Field("s32", "exit_code", None),
        Field("char", "comm", Some(16)),
        Field("duration", "lifetime", None),
    ],
    prelude: "",
    handler: r#"SEC("tracepoint/sched/sched_process_exit")
int on_process_exit(void *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 pid = pid_tgid >> 32;
	char comm[16] = {};

	/* the whole process, not each of its threads */
	if (pid != (u32)pid_tgid)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	s32 exit_code = BPF_CORE_READ(task, exit_code) >> 8;
	u64 value = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);
	bpf_get_current_comm(comm, sizeof(comm));
	duration lifetime = value;
{EMIT}	return 0;
}
"#,
};

const SYSCALL_LATENCY: Program = Program {
    what: "system call latency: how long each system call took, by syscall number (printed \
           outputs show only calls slower than min_ns)",
    noun: "syscalls",
    labels: &[Field("u32", "syscall", None)],
    event: &[
        Field("u32", "pid", None),
        Field("u32", "syscall", None),
        Field("char", "comm", Some(16)),
        Field("duration", "latency", None),
    ],
    prelude: r#"/* printed outputs show only calls at least this slow (ns); set it with
 * `bee run --var min_ns=N` or `[probes.NAME.vars] min_ns = N` in beed */
const volatile u64 min_ns = 1000000;

/* when each thread entered its current syscall (no bee prefix: not watched) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} syscall_start SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(void *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&syscall_start, &tid, &ts, BPF_ANY);
	return 0;
}
"#,
    handler: r#"SEC("tracepoint/raw_syscalls/sys_exit")
int on_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	u64 *start = bpf_map_lookup_elem(&syscall_start, &tid);
	char comm[16] = {};

	if (!start)
		return 0;
	u64 value = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&syscall_start, &tid);
	bpf_get_current_comm(comm, sizeof(comm));
	u32 pid = pid_tgid >> 32;
	u32 syscall = ctx->id;
	duration latency = value;
{EMIT}	return 0;
}
"#,
};

fn program(t: ProgramType) -> &'static Program {
    match t {
        ProgramType::Network => &NETWORK,
        ProgramType::NetworkKprobe => &NETWORK_KPROBE,
        ProgramType::FileSystem => &FILE_SYSTEM,
        ProgramType::Process => &PROCESS,
        ProgramType::SyscallLatency => &SYSCALL_LATENCY,
    }
}

/// The name of the watched map a probe gets (`hist_connects`, ...).
pub fn map_name(t: ProgramType, output: OutputKind) -> String {
    format!("{}_{}", output.prefix(), program(t).noun)
}

fn struct_def(out: &mut String, name: &str, fields: &[&Field]) {
    let _ = writeln!(out, "struct {name} {{");
    for Field(ty, n, len) in fields {
        match len {
            Some(l) => {
                let _ = writeln!(out, "\t{ty} {n}[{l}];");
            }
            None => {
                let _ = writeln!(out, "\t{ty} {n};");
            }
        }
    }
    out.push_str("};\n\n");
}

/// Code that copies the handler's local variables into `dst`'s fields.
fn fill(out: &mut String, dst: &str, fields: &[&Field]) {
    for Field(_, n, len) in fields {
        if len.is_some() {
            let _ = writeln!(out, "\t__builtin_memcpy({dst}.{n}, {n}, sizeof({dst}.{n}));");
        } else {
            let _ = writeln!(out, "\t{dst}.{n} = {n};");
        }
    }
}

fn zeroed(out: &mut String, ty: &str, var: &str) {
    // padding bytes too: they are part of a hash key
    let _ = writeln!(out, "\tstruct {ty} {var};\n\t__builtin_memset(&{var}, 0, sizeof({var}));");
}

fn map_def(out: &mut String, kind: &str, name: &str, key: Option<&str>, value: &str, entries: &str) {
    let _ = write!(out, "struct {{\n\t__uint(type, BPF_MAP_TYPE_{kind});\n\t__uint(max_entries, {entries});\n");
    if let Some(k) = key {
        let _ = writeln!(out, "\t__type(key, {k});");
    }
    let _ = write!(out, "\t__type(value, {value});\n}} {name} SEC(\".maps\");\n\n");
}

const LOG2: &str = r#"/* floor(log2(v)): the histogram slot of v (as libbpf-tools' log2l) */
static __always_inline u32 log2_32(u32 v)
{
	u32 shift, r;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline u32 log2l(u64 v)
{
	u32 hi = v >> 32;

	return hi ? log2_32(hi) + 32 : log2_32(v);
}

"#;

/// The C source of a probe.
pub fn generate(t: ProgramType, map: MapKind, output: OutputKind, file: &str) -> String {
    let p = program(t);
    let name = map_name(t, output);
    let labels: Vec<&Field> = p.labels.iter().collect();
    let event: Vec<&Field> = p.event.iter().collect();
    let value = Field("duration", "value", None);
    let slot = Field("u32", "slot", None);
    let mut sample = labels.clone();
    sample.push(&value);
    let mut hist_key = labels.clone();
    hist_key.push(&slot);

    let mut s = String::new();
    let _ = writeln!(
        s,
        "// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)\n/* {file}: {}.\n *\n * Written by `bee init` \
         ({} program, {} map, {} output). Build it with `bee build {file}`,\n * run it with `sudo bee run {}`, or \
         load it in beed from /etc/bee/probes.d. */",
        p.what,
        match t {
            ProgramType::Network => "network",
            ProgramType::NetworkKprobe => "network-kprobe",
            ProgramType::FileSystem => "file-system",
            ProgramType::Process => "process",
            ProgramType::SyscallLatency => "syscall-latency",
        },
        match map {
            MapKind::RingBuffer => "ring buffer",
            MapKind::HashMap => "hash",
        },
        output.prefix(),
        file.strip_suffix(".c").unwrap_or(file).to_string() + ".o",
    );
    s.push_str(
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n#include \
         \"solo_types.h\"\n\nchar LICENSE[] SEC(\"license\") = \"Dual BSD/GPL\";\n\n",
    );
    s.push_str(p.prelude);
    if !p.prelude.is_empty() {
        s.push('\n');
    }

    // type names of their own: vmlinux.h already has `struct sample`, ...
    let (ty_event, ty_labels, ty_sample, ty_hist_key, ty_totals) = (
        format!("{}_event", p.noun),
        format!("{}_labels", p.noun),
        format!("{}_sample", p.noun),
        format!("{}_hist_key", p.noun),
        format!("{}_totals", p.noun),
    );
    let mut emit = String::new();
    let printed = output == OutputKind::Print;
    if printed && t == ProgramType::SyscallLatency {
        emit.push_str("\tif (value < min_ns)\n\t\treturn 0;\n");
    }
    match (map, output) {
        (MapKind::RingBuffer, OutputKind::Print) => {
            s.push_str("/* one event per record */\n");
            struct_def(&mut s, &ty_event, &event);
            map_def(&mut s, "RINGBUF", &name, None, &format!("struct {ty_event}"), "1 << 20");
            zeroed(&mut emit, &ty_event, "e");
            fill(&mut emit, "e", &event);
            let _ = writeln!(emit, "\tbpf_ringbuf_output(&{name}, &e, sizeof(e), 0);");
        }
        (MapKind::RingBuffer, OutputKind::Counter) => {
            s.push_str("/* every record counts one for its label set */\n");
            struct_def(&mut s, &ty_labels, &labels);
            map_def(&mut s, "RINGBUF", &name, None, &format!("struct {ty_labels}"), "1 << 20");
            zeroed(&mut emit, &ty_labels, "l");
            fill(&mut emit, "l", &labels);
            let _ = writeln!(emit, "\tbpf_ringbuf_output(&{name}, &l, sizeof(l), 0);");
        }
        (MapKind::RingBuffer, _) => {
            s.push_str(if output == OutputKind::Gauge {
                "/* the gauge of each label set takes the last record's value */\n"
            } else {
                "/* every record's value is observed into its label set's histogram */\n"
            });
            struct_def(&mut s, &ty_sample, &sample);
            map_def(&mut s, "RINGBUF", &name, None, &format!("struct {ty_sample}"), "1 << 20");
            zeroed(&mut emit, &ty_sample, "smp");
            fill(&mut emit, "smp", &sample);
            let _ = writeln!(emit, "\tbpf_ringbuf_output(&{name}, &smp, sizeof(smp), 0);");
        }
        (MapKind::HashMap, OutputKind::Print) => {
            s.push_str("/* totals per label set; bee and beed print the entries that changed */\n");
            struct_def(&mut s, &ty_labels, &labels);
            let _ = write!(s, "struct {ty_totals} {{\n\tu64 count;\n\tduration total;\n\tduration last;\n}};\n\n");
            map_def(
                &mut s,
                "HASH",
                &name,
                Some(&format!("struct {ty_labels}")),
                &format!("struct {ty_totals}"),
                "10240",
            );
            zeroed(&mut emit, &ty_labels, "l");
            fill(&mut emit, "l", &labels);
            let _ = write!(
                emit,
                "\tstruct {ty_totals} zero = {{}}, *t = bpf_map_lookup_elem(&{name}, &l);\n\n\tif (!t) {{\n\t\t\
                 bpf_map_update_elem(&{name}, &l, &zero, BPF_NOEXIST);\n\t\tt = bpf_map_lookup_elem(&{name}, \
                 &l);\n\t\tif (!t)\n\t\t\treturn 0;\n\t}}\n\t__sync_fetch_and_add(&t->count, 1);\n\t\
                 __sync_fetch_and_add(&t->total, value);\n\tt->last = value;\n"
            );
        }
        (MapKind::HashMap, OutputKind::Counter | OutputKind::Hist) => {
            let key = if output == OutputKind::Hist {
                s.push_str(LOG2);
                s.push_str("/* a log2 histogram per label set: slot i counts values in [2^i, 2^(i+1)) ns */\n");
                struct_def(&mut s, &ty_hist_key, &hist_key);
                ty_hist_key.as_str()
            } else {
                s.push_str("/* a count per label set */\n");
                struct_def(&mut s, &ty_labels, &labels);
                ty_labels.as_str()
            };
            map_def(&mut s, "HASH", &name, Some(&format!("struct {key}")), "u64", "10240");
            zeroed(&mut emit, key, "k");
            fill(&mut emit, "k", &labels);
            if output == OutputKind::Hist {
                emit.push_str("\tk.slot = log2l(value);\n");
            }
            let _ = write!(
                emit,
                "\tu64 zero = 0, *count = bpf_map_lookup_elem(&{name}, &k);\n\n\tif (!count) {{\n\t\t\
                 bpf_map_update_elem(&{name}, &k, &zero, BPF_NOEXIST);\n\t\tcount = bpf_map_lookup_elem(&{name}, \
                 &k);\n\t\tif (!count)\n\t\t\treturn 0;\n\t}}\n\t__sync_fetch_and_add(count, 1);\n"
            );
        }
        (MapKind::HashMap, OutputKind::Gauge) => {
            s.push_str("/* the last value per label set */\n");
            struct_def(&mut s, &ty_labels, &labels);
            map_def(&mut s, "HASH", &name, Some(&format!("struct {ty_labels}")), "duration", "10240");
            zeroed(&mut emit, &ty_labels, "l");
            fill(&mut emit, "l", &labels);
            let _ = writeln!(emit, "\tbpf_map_update_elem(&{name}, &l, &value, BPF_ANY);");
        }
    }
    s.push_str(&p.handler.replace("{EMIT}", &emit));
    s
}
