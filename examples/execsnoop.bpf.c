// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* execsnoop: one event per successful exec(), after the new program is in
 * place: pid, ppid, uid, comm (the new one), the file executed and the first
 * ARGS_LEN bytes of its arguments.
 *
 * Attach point: tracepoint sched/sched_process_exec (fires once per
 * successful execve/execveat, failed execs are not seen).
 * Cost: per exec, a few CO-RE reads of the task, one bounded copy of the
 * argument area from user memory and a ring buffer record; execs are rare
 * next to syscalls or scheduling, so this is cheap even on busy build hosts.
 * Output: print_execs (one JSON line / journal entry per exec).
 *
 *   [probes.execsnoop]
 *   object = "/usr/lib/bee/examples/execsnoop.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

#define FILENAME_LEN 128
#define ARGS_LEN 128

struct exec_event {
	u32 pid;
	u32 ppid;
	u32 uid;
	char comm[TASK_COMM_LEN];
	char filename[FILENAME_LEN];
	char args[ARGS_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct exec_event);
} print_execs SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned int off = BPF_CORE_READ(ctx, __data_loc_filename) & 0xffff;
	unsigned long arg_start, arg_end, len;
	struct exec_event *e;

	e = bpf_ringbuf_reserve(&print_execs, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);

	/* the new program's argv: NUL-separated strings in its own memory */
	__builtin_memset(e->args, 0, sizeof(e->args));
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end - arg_start;
	if (len > ARGS_LEN - 1)
		len = ARGS_LEN - 1;
	if (bpf_probe_read_user(e->args, len & (ARGS_LEN - 1), (void *)arg_start) == 0) {
		for (int i = 0; i < ARGS_LEN - 1; i++) {
			if (i + 1 >= len)
				break;
			if (e->args[i] == 0)
				e->args[i] = ' ';
		}
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
