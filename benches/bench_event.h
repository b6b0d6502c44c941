/* Event layouts shared by bench_probe.bpf.c and c_consumer.c (40 bytes each). */
#ifndef BENCH_EVENT_H
#define BENCH_EVENT_H

/* print path: one JSON line per event */
struct print_event {
	__u32 pid;
	__u32 tid;
	__u64 seq;
	char comm[16];
	__u64 ts;
};

/* counter path: low cardinality, every field is a label
 * (cpu_bucket 0..3, kind 1, comm "beebenchgen", pad 0) */
struct counter_event {
	__u32 cpu_bucket;
	__u32 kind;
	char comm[16];
	__u64 pad0;
	__u64 pad1;
};

#endif
