// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* biolatency: block I/O latency, from the request's issue to the device
 * until its completion, as a log2 histogram in microseconds per disk
 * (major, minor: 7/N is /dev/loopN, 8/N sd*, 253-254/N virtio or dm,
 * 259/N nvme; see /proc/partitions). libbpf-tools' biolatency -D.
 *
 * Attach points: tracepoints block/block_rq_issue (timestamp, keyed by
 * device and sector) and block/block_rq_complete (latency observed).
 * Cost: per block request one hash insert, lookup and delete and a
 * histogram increment: cheap next to the I/O itself, even at a few hundred
 * thousand IOPS.
 * Output: histogram ebpf_solo_io_hist_biolatency_usecs{major, minor}
 * (bucket bounds in microseconds, log2).
 *
 *   [probes.biolatency]
 *   object = "/usr/lib/bee/examples/biolatency.bpf.o"
 *
 * In seconds (histogram ebpf_solo_io_biolatency_seconds{major, minor}):
 *
 *   [probes.biolatency.maps.hist_biolatency_usecs]
 *   name = "ebpf_solo_io_biolatency"
 *   unit = "seconds"
 *   help = "Block I/O latency, issue to completion"
 *   bucket_multiplier = 0.000001
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#include "bee_examples.h"

#define MAX_SLOTS 27
#define MINORBITS 20

struct rq_key {
	u32 dev;
	u32 pad;
	u64 sector;
};

struct disk_slot {
	u32 major;
	u32 minor;
	u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct rq_key);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct disk_slot);
	__type(value, u64);
} hist_biolatency_usecs SEC(".maps");

SEC("tracepoint/block/block_rq_issue")
int on_issue(struct trace_event_raw_block_rq *ctx)
{
	struct rq_key key = { .dev = ctx->dev, .sector = ctx->sector };
	u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&start, &key, &ts, BPF_ANY);
	return 0;
}

/* Older kernels (5.10 among them) name the record of block_rq_complete
 * trace_event_raw_block_rq_complete: matched by CO-RE (the ___old suffix is
 * dropped) where the kernel lacks trace_event_raw_block_rq_completion.
 * Read with BPF_CORE_READ: the compiler merges the two branches' direct
 * reads into one load at a computed context offset, which the verifier
 * refuses ("dereference of modified ctx ptr"). */
struct trace_event_raw_block_rq_complete___old {
	dev_t dev;
	sector_t sector;
} __attribute__((preserve_access_index));

SEC("tracepoint/block/block_rq_complete")
int on_complete(void *ctx)
{
	struct rq_key key = {};
	struct disk_slot hk = {};
	u64 *ts;

	if (bpf_core_type_exists(struct trace_event_raw_block_rq_completion)) {
		struct trace_event_raw_block_rq_completion *c = ctx;

		key.dev = BPF_CORE_READ(c, dev);
		key.sector = BPF_CORE_READ(c, sector);
	} else {
		struct trace_event_raw_block_rq_complete___old *c = ctx;

		key.dev = BPF_CORE_READ(c, dev);
		key.sector = BPF_CORE_READ(c, sector);
	}

	ts = bpf_map_lookup_elem(&start, &key);
	if (!ts)
		return 0;
	hk.slot = usecs_slot(*ts, MAX_SLOTS);
	bpf_map_delete_elem(&start, &key);
	hk.major = key.dev >> MINORBITS;
	hk.minor = key.dev & ((1U << MINORBITS) - 1);
	bump(&hist_biolatency_usecs, &hk, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
