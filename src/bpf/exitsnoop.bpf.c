// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exitsnoop: one event per process exit (thread-group leaders).
 * Adapted for the bee convention from libbpf-tools/exitsnoop.bpf.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#include "beed_lost.h"

#define TASK_COMM_LEN 16

struct exit_event {
	u32 pid;
	u32 ppid;
	u32 tid;
	int exit_code;
	int sig;
	char comm[TASK_COMM_LEN];
	duration age;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
	__type(value, struct exit_event);
} print_exits SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 pid = pid_tgid >> 32;
	u32 tid = (u32)pid_tgid;
	struct task_struct *task;
	struct exit_event *e;
	int code;

	/* only the exit of the whole process, not of each thread */
	if (pid != tid)
		return 0;

	e = bpf_ringbuf_reserve(&print_exits, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}

	task = (struct task_struct *)bpf_get_current_task();
	code = BPF_CORE_READ(task, exit_code);
	e->pid = pid;
	e->tid = tid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (code >> 8) & 0xff;
	e->sig = code & 0x7f;
	e->age = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
