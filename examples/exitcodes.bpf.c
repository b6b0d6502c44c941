// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exitcodes: process exits counted by comm, exit code and terminating
 * signal: which programs fail, and how (code 0 sig 0 is a clean exit; sig 9
 * an OOM kill or kill -9; code 1 the usual error). The event-per-exit
 * version is the built-in exitsnoop.
 *
 * Attach point: tracepoint sched/sched_process_exit, thread-group leaders
 * only (one count per process, not per thread).
 * Cost: per process exit, one CO-RE read and one hash update; exits are rare.
 * The series count is the number of distinct (comm, code, sig) seen: bounded
 * by max_entries (10240) and metrics.max_series.
 * Output: counter ebpf_solo_io_counter_exits{comm, code, sig}.
 *
 *   [probes.exitcodes]
 *   object = "/usr/lib/bee/examples/exitcodes.bpf.o"
 *   [probes.exitcodes.maps.counter_exits.fields]
 *   sig = { decode = "signal" }   # sig="SIGKILL" rather than sig="9"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#include "bee_examples.h"

struct exit_key {
	char comm[TASK_COMM_LEN];
	u32 code;
	u32 sig;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct exit_key);
	__type(value, u64);
} counter_exits SEC(".maps");

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct exit_key key;
	int status;

	if (pid_tgid >> 32 != (u32)pid_tgid)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	status = BPF_CORE_READ(task, exit_code);
	__builtin_memset(&key, 0, sizeof(key));
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.code = (status >> 8) & 0xff;
	key.sig = status & 0x7f;
	bump(&counter_exits, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
