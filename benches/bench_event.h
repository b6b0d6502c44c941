/* Event layouts shared by bench_probe.bpf.c and c_consumer.c (print and
 * counter: 40 bytes each; wide: 168 bytes, 20 fields). */
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

/* counter path: every field is a label. Low cardinality by default
 * (cpu_bucket 0..3, kind 1, comm "beebenchgen", pad 0); built with
 * -DBENCH_LABELSETS=N, cpu_bucket is 0 and kind is a per-event sequence
 * modulo N: N distinct label sets, visited round robin */
struct counter_event {
	__u32 cpu_bucket;
	__u32 kind;
	char comm[16];
	__u64 pad0;
	__u64 pad1;
};

/* wide print record: 20 fields of several kinds (strings, IPv6 addresses,
 * a duration, signed and unsigned ints of 8 to 64 bits); 164 bytes of
 * members, 168 with the tail padding */
struct wide_event {
	__u32 pid;
	__u32 tid;
	__u64 seq;
	char comm[16];
	char task[16];
	ipv6_addr saddr;
	ipv6_addr daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 flags;
	__s16 delta;
	__s32 ret;
	__u32 uid;
	duration latency;
	__u64 bytes;
	__s64 offset;
	__u64 ts;
	char path[32];
	__u32 cpu;
};

#endif
