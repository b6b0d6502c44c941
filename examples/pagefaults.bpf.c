// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pagefaults: user-space page faults counted per process name (minor and
 * major together: first touches of fresh memory, copy-on-write after fork,
 * file pages mapped in, swap-ins). A process that keeps faulting is
 * allocating and freeing memory, or thrashing.
 *
 * Attach point: tracepoint exceptions/page_fault_user (x86 only; on other
 * architectures use a SEC("perf_event") program on the software event
 * PERF_COUNT_SW_PAGE_FAULTS instead).
 * Cost: per page fault a comm copy, one hash lookup and an atomic add;
 * faults are frequent (thousands per second at process start-up) but each
 * fault already costs the kernel far more than this.
 * Output: counter ebpf_solo_io_counter_page_faults{comm}.
 *
 *   [probes.pagefaults]
 *   object = "/usr/lib/bee/examples/pagefaults.bpf.o"
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
} counter_page_faults SEC(".maps");

SEC("tracepoint/exceptions/page_fault_user")
int on_fault(void *ctx)
{
	count_comm(&counter_page_faults);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
