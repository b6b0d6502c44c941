// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscount_comm: system calls counted per process name (syscount -P,
 * by comm rather than pid so that series survive restarts and stay few).
 *
 * Attach point: tracepoint raw_syscalls/sys_enter.
 * Cost: every system call of every process on the host runs this: a comm
 * copy, one hash lookup and an atomic add, tens of nanoseconds on a hook
 * hit millions of times per second on a busy host. Series: one per
 * distinct comm (max_entries 10240, and metrics.max_series).
 * Output: counter ebpf_solo_io_counter_syscalls_by_comm{comm}.
 *
 *   [probes.syscount_comm]
 *   object = "/usr/lib/bee/examples/syscount_comm.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bee_examples.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct comm_key);
	__type(value, u64);
} counter_syscalls_by_comm SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(void *ctx)
{
	count_comm(&counter_syscalls_by_comm);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
