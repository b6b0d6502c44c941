// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* runqlat: run-queue (scheduler) latency, the time a runnable task waits
 * for a CPU, as a log2 histogram in microseconds (libbpf-tools' runqlat).
 * A tail beyond a few milliseconds means CPU saturation or a noisy
 * neighbour.
 *
 * Attach points: tracepoints sched/sched_wakeup and sched/sched_wakeup_new
 * (a task becomes runnable: timestamp) and sched/sched_switch (a task gets
 * the CPU: latency observed; the task switched out still runnable, i.e.
 * preempted, is timestamped again).
 * Cost: these are the hottest tracepoints of the scheduler, hit on every
 * context switch and wakeup (up to hundreds of thousands per second per
 * busy host); each does a hash update or a lookup, a delete and a
 * histogram increment. Expect a measurable but small overhead (libbpf-tools
 * measures well under 1% of CPU on typical loads); prefer it in bursts on
 * very busy machines.
 * Output: histogram ebpf_solo_io_hist_runqlat_usecs (bucket bounds in
 * microseconds, log2: le = 1, 3, 7, 15, ...).
 *
 *   [probes.runqlat]
 *   object = "/usr/lib/bee/examples/runqlat.bpf.o"
 *
 * In Prometheus' base unit (histogram ebpf_solo_io_runqlat_seconds, le =
 * 0.000001, 0.000003, 0.000007, ...):
 *
 *   [probes.runqlat.maps.hist_runqlat_usecs]
 *   name = "ebpf_solo_io_runqlat"
 *   unit = "seconds"
 *   help = "Time runnable tasks waited for a CPU"
 *   bucket_multiplier = 0.000001
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bee_examples.h"

#define MAX_SLOTS 26

struct slot_key {
	u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SLOTS);
	__type(key, struct slot_key);
	__type(value, u64);
} hist_runqlat_usecs SEC(".maps");

static __always_inline void enqueued(u32 pid)
{
	u64 ts = bpf_ktime_get_ns();

	if (pid)
		bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
}

SEC("tracepoint/sched/sched_wakeup")
int on_wakeup(struct trace_event_raw_sched_wakeup_template *ctx)
{
	enqueued(ctx->pid);
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int on_wakeup_new(struct trace_event_raw_sched_wakeup_template *ctx)
{
	enqueued(ctx->pid);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int on_switch(struct trace_event_raw_sched_switch *ctx)
{
	u32 next = ctx->next_pid;
	struct slot_key key = {};
	u64 *ts;

	/* still runnable (0, or TASK_REPORT_MAX when preempted on 5.18+):
	 * it waits in the run queue again from now on */
	if ((ctx->prev_state & 0xff) == 0)
		enqueued(ctx->prev_pid);
	ts = bpf_map_lookup_elem(&start, &next);
	if (!ts)
		return 0;
	key.slot = usecs_slot(*ts, MAX_SLOTS);
	bpf_map_delete_elem(&start, &next);
	bump(&hist_runqlat_usecs, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
