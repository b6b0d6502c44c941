// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* opensnoop: one event per openat(2): who opened what, with which flags,
 * and what it returned (a file descriptor, or -errno: -2 is ENOENT).
 *
 * Attach points: tracepoints syscalls/sys_enter_openat (remembers the
 * filename pointer and flags per thread) and syscalls/sys_exit_openat
 * (reads the name, emits the event). open(2), openat2(2) and creat(2) are
 * not covered: glibc and musl route open() through openat.
 * Cost: per openat, two hash operations and a user-memory string copy;
 * openat is one of the hottest syscalls on many hosts (thousands per second
 * during builds or package installs), each becoming one event: filter
 * downstream, or set target_pid / failed_only to keep only what you watch.
 * Output: print_opens.
 *
 *   [probes.opensnoop]
 *   object = "/usr/lib/bee/examples/opensnoop.bpf.o"
 *   [probes.opensnoop.vars]
 *   target_pid = 0        # only this process (0: all)
 *   failed_only = false   # only opens that returned an error
 *   [probes.opensnoop.maps.print_opens.fields]
 *   ret = { decode = "errno" }    # "ret":"ENOENT" rather than -2 (descriptors stay numbers)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

#define NAME_LEN 160

const volatile u32 target_pid = 0;
const volatile bool failed_only = false;

struct args {
	const char *filename;
	int flags;
};

struct open_event {
	u32 pid;
	u32 uid;
	int ret;
	int flags;
	char comm[TASK_COMM_LEN];
	char filename[NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct args);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
	__type(value, struct open_event);
} print_opens SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int on_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct args a = {};

	if (target_pid && target_pid != id >> 32)
		return 0;
	a.filename = (const char *)ctx->args[1];
	a.flags = (int)ctx->args[2];
	bpf_map_update_elem(&start, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int on_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct open_event *e;
	struct args *a;
	int ret = (int)ctx->ret;

	a = bpf_map_lookup_elem(&start, &tid);
	if (!a)
		return 0;
	if (failed_only && ret >= 0)
		goto out;
	e = bpf_ringbuf_reserve(&print_opens, sizeof(*e), 0);
	if (!e) {
		count_lost();
		goto out;
	}
	e->pid = id >> 32;
	e->uid = (u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->flags = a->flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), a->filename);
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
