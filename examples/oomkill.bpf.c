// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* oomkill: one event per OOM kill (system-wide or a cgroup's memory
 * limit): the victim's pid, comm and memory (kB), plus the process whose
 * allocation triggered the kill.
 *
 * Attach point: tracepoint oom/mark_victim. Linux 6.8 added the victim's
 * comm, memory counters and uid to it; on older kernels these stay zero
 * (read with CO-RE existence checks) except comm, taken from the
 * triggering process when it is the victim itself, as is usual in a cgroup
 * OOM.
 * Cost: none to speak of: OOM kills are rare.
 * Output: print_oomkills {pid, comm, total_vm_kb, anon_rss_kb, file_rss_kb,
 * shmem_rss_kb, uid, oom_score_adj, trigger_pid, trigger_comm}.
 *
 *   [probes.oomkill]
 *   object = "/usr/lib/bee/examples/oomkill.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

struct oom_event {
	u32 pid;
	char comm[TASK_COMM_LEN];
	u64 total_vm_kb;
	u64 anon_rss_kb;
	u64 file_rss_kb;
	u64 shmem_rss_kb;
	u32 uid;
	s32 oom_score_adj;
	u32 trigger_pid;
	char trigger_comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
	__type(value, struct oom_event);
} print_oomkills SEC(".maps");

SEC("tracepoint/oom/mark_victim")
int on_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	struct oom_event *e;

	e = bpf_ringbuf_reserve(&print_oomkills, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->pid = BPF_CORE_READ(ctx, pid);
	e->trigger_pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->trigger_comm, sizeof(e->trigger_comm));
	if (bpf_core_field_exists(ctx->__data_loc_comm)) {
		unsigned int off = BPF_CORE_READ(ctx, __data_loc_comm) & 0xffff;

		bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), (void *)ctx + off);
		e->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		e->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		e->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
	} else if (e->pid == e->trigger_pid) {
		__builtin_memcpy(e->comm, e->trigger_comm, sizeof(e->comm));
	}
	if (bpf_core_field_exists(ctx->uid))
		e->uid = BPF_CORE_READ(ctx, uid);
	if (bpf_core_field_exists(ctx->oom_score_adj))
		e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
