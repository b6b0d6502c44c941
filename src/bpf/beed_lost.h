/* beed_lost: events a built-in probe could not submit because its ring
 * buffer was full. beed exports the sum as beed_events_lost_total{probe}. */
#ifndef __BEED_LOST_H__
#define __BEED_LOST_H__

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} beed_lost SEC(".maps");

static __always_inline void count_lost(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&beed_lost, &zero);
	if (n)
		*n += 1;
}

#endif /* __BEED_LOST_H__ */
