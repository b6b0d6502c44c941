// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscount: system calls counted by syscall number (x86_64 numbers: 0 read,
 * 1 write, 257 openat, ...; `ausyscall --dump` or the kernel's
 * syscall_64.tbl names them). The per-process view is syscount_comm.
 *
 * Attach point: tracepoint raw_syscalls/sys_enter.
 * Cost: every system call of every process on the host runs this: one
 * hash lookup and an atomic add each, tens of nanoseconds on a hook hit
 * millions of times per second on a busy host. The series count is bounded
 * by the number of syscalls (a few hundred).
 * Output: counter ebpf_solo_io_counter_syscalls{nr}.
 *
 *   [probes.syscount]
 *   object = "/usr/lib/bee/examples/syscount.bpf.o"
 *   [probes.syscount.maps.counter_syscalls.fields]
 *   nr = { decode = "syscall" }   # nr="openat" rather than nr="257"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bee_examples.h"

struct nr_key {
	u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct nr_key);
	__type(value, u64);
} counter_syscalls SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct nr_key key = { .nr = (u32)ctx->id };

	bump(&counter_syscalls, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
