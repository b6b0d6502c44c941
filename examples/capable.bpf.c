// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* capable: capability checks counted by capability and comm, and (from the
 * tracepoint) whether they were denied: which privileges a workload really
 * uses (to trim a container's or unit's capability set), and who gets
 * refused (`denied = true`).
 *
 * Attach point: tracepoint capability/cap_capable, which recent kernels
 * have (6.18 does; 6.12 and older do not: check for
 * /sys/kernel/tracing/events/capability/cap_capable). For older kernels
 * use capable_kprobe.bpf.o, the same probe on kprobe/cap_capable (no
 * denied label: the result is not known at function entry).
 * Cost: per check a comm copy, one hash lookup and an atomic add. Checks
 * are frequent on busy hosts (root's file accesses that bypass DAC, every
 * setuid, bpf(), mount, network configuration: hundreds to thousands per
 * second); the tracepoint costs tens of nanoseconds each, the kprobe
 * variant a few times that.
 * Output: counter ebpf_solo_io_counter_capable{cap, comm, denied}
 * (capable_kprobe: {cap, comm}); cap is the capability's name
 * (CAP_SYS_ADMIN), or its number for ones newer than CAP_CHECKPOINT_RESTORE.
 *
 *   [probes.capable]
 *   object = "/usr/lib/bee/examples/capable.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "solo_types.h"
#include "bee_examples.h"

/* rendered by name in the labels (linux/capability.h numbers) */
enum capability {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
	CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_LINUX_IMMUTABLE,
	CAP_NET_BIND_SERVICE, CAP_NET_BROADCAST, CAP_NET_ADMIN, CAP_NET_RAW,
	CAP_IPC_LOCK, CAP_IPC_OWNER, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_CHROOT,
	CAP_SYS_PTRACE, CAP_SYS_PACCT, CAP_SYS_ADMIN, CAP_SYS_BOOT, CAP_SYS_NICE,
	CAP_SYS_RESOURCE, CAP_SYS_TIME, CAP_SYS_TTY_CONFIG, CAP_MKNOD, CAP_LEASE,
	CAP_AUDIT_WRITE, CAP_AUDIT_CONTROL, CAP_SETFCAP, CAP_MAC_OVERRIDE,
	CAP_MAC_ADMIN, CAP_SYSLOG, CAP_WAKE_ALARM, CAP_BLOCK_SUSPEND,
	CAP_AUDIT_READ, CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE,
};

struct cap_key {
	enum capability cap;
	char comm[TASK_COMM_LEN];
#ifndef CAPABLE_KPROBE
	bool denied;
#endif
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct cap_key);
	__type(value, u64);
} counter_capable SEC(".maps");

static __always_inline struct cap_key checked(int cap)
{
	struct cap_key key;

	__builtin_memset(&key, 0, sizeof(key));
	key.cap = cap;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	return key;
}

#ifdef CAPABLE_KPROBE
SEC("kprobe/cap_capable")
int BPF_KPROBE(on_cap_capable, const struct cred *cred, struct user_namespace *ns, int cap)
{
	struct cap_key key = checked(cap);

	bump(&counter_capable, &key, 1);
	return 0;
}
#else
/* The tracepoint's record, only the fields read, relocated by CO-RE
 * against the kernel's trace_event_raw_cap_capable (the ___bee flavor is
 * dropped when matching): a vmlinux.h from an older kernel, such as the
 * arm64 one, lacks the type. */
struct trace_event_raw_cap_capable___bee {
	int cap;
	int ret;
} __attribute__((preserve_access_index));

SEC("tracepoint/capability/cap_capable")
int on_cap_capable(struct trace_event_raw_cap_capable___bee *ctx)
{
	struct cap_key key = checked(ctx->cap);

	key.denied = ctx->ret != 0;
	bump(&counter_capable, &key, 1);
	return 0;
}
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";
