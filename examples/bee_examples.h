/* bee_examples.h: small helpers shared by the example probes of this folder
 * (found next to them by `#include "bee_examples.h"`; copy it along with an
 * example you take elsewhere).
 *
 *   bump(map, key, n)  add n to a hash counter, creating the entry
 *   count_comm(map)    add 1 to the hash counter of the current comm
 *   log2l(v)           the libbpf-tools log2 slot of v (beed's `scheme = "log2"`)
 *   usecs_slot(t, n)   the log2 slot of the microseconds since t (ns), at most n - 1
 *   count_lost()       with BEE_COUNT_LOST defined before the include: the
 *                      `beed_lost` per-CPU counter beed exports as
 *                      beed_events_lost_total{probe} (beed_lost.h, shared
 *                      with the built-ins: copy it with `cp -L`); call it
 *                      when bpf_ringbuf_reserve() finds no room
 */
#ifndef __BEE_EXAMPLES_H__
#define __BEE_EXAMPLES_H__

#define TASK_COMM_LEN 16
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

static __always_inline void bump(void *map, const void *key, u64 n)
{
	u64 zero = 0, *v = bpf_map_lookup_elem(map, key);

	if (!v) {
		/* BPF_NOEXIST: a concurrent first event may have created it */
		bpf_map_update_elem(map, key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(map, key);
	}
	if (v)
		__sync_fetch_and_add(v, n);
}

struct comm_key {
	char comm[TASK_COMM_LEN];
};

static __always_inline void count_comm(void *map)
{
	struct comm_key key;

	__builtin_memset(&key, 0, sizeof(key));
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	bump(map, &key, 1);
}

static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
}

static __always_inline u32 usecs_slot(u64 since_ns, u32 slots)
{
	u32 slot = log2l((bpf_ktime_get_ns() - since_ns) / 1000);

	return slot < slots ? slot : slots - 1;
}

#ifdef BEE_COUNT_LOST
#include "beed_lost.h" /* the built-ins' own: a link to src/bpf/beed_lost.h */
#endif

#endif /* __BEE_EXAMPLES_H__ */
