// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark probe for `make bench` (benches/run.sh): one 40-byte ringbuf
 * event per getppid() of the process named "beebenchgen" (benches/gen.c).
 *
 * Built several times from this file:
 *   -DBENCH_PRINT   ringbuf `print_events`   (beed print path)
 *   -DBENCH_COUNTER ringbuf `counter_events` (beed counter path)
 *   -DBENCH_COUNTER -DBENCH_LABELSETS=N: the same 40-byte counter record
 *                   with N distinct label sets (kind = event sequence % N)
 *   -DBENCH_WIDE    ringbuf `print_wide_events` (a 168-byte, 20-field record)
 * -DRINGBUF_BYTES=N sets the ring size (default 16 MiB).
 *
 * The filter is on comm because beed cannot set `const volatile` globals yet.
 * Failed reservations (ring full) are counted in `beed_lost` (one per-CPU u64,
 * key 0): `bpftool map dump name beed_lost`. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bench_event.h"

#ifndef RINGBUF_BYTES
#define RINGBUF_BYTES (16 << 20)
#endif

#if defined(BENCH_PRINT) + defined(BENCH_COUNTER) + defined(BENCH_WIDE) != 1
#error "define exactly one of BENCH_PRINT, BENCH_COUNTER or BENCH_WIDE"
#endif
#if defined(BENCH_LABELSETS) && !defined(BENCH_COUNTER)
#error "BENCH_LABELSETS needs BENCH_COUNTER"
#endif

#if defined(BENCH_PRINT)
#define EVENT print_event
#define RING print_events
#elif defined(BENCH_WIDE)
#define EVENT wide_event
#define RING print_wide_events
#else
#define EVENT counter_event
#define RING counter_events
#endif

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RINGBUF_BYTES);
	__type(value, struct EVENT);
} RING SEC(".maps");

/* the same drop counter the built-ins use */
#include "../src/bpf/beed_lost.h"

#if defined(BENCH_PRINT) || defined(BENCH_WIDE) || defined(BENCH_LABELSETS)
u64 seq = 0;
#endif

/* comm == "beebenchgen" (bpf_get_current_comm pads with NULs) */
static __always_inline int is_generator(const char *c)
{
	return c[0] == 'b' && c[1] == 'e' && c[2] == 'e' && c[3] == 'b' &&
	       c[4] == 'e' && c[5] == 'n' && c[6] == 'c' && c[7] == 'h' &&
	       c[8] == 'g' && c[9] == 'e' && c[10] == 'n' && c[11] == 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int bench_getppid(void *ctx)
{
	char comm[16];
	struct EVENT *e;

	bpf_get_current_comm(comm, sizeof(comm));
	if (!is_generator(comm))
		return 0;

	e = bpf_ringbuf_reserve(&RING, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
#ifdef BENCH_PRINT
	u64 pid_tgid = bpf_get_current_pid_tgid();
	e->pid = pid_tgid >> 32;
	e->tid = (u32)pid_tgid;
	e->seq = __sync_fetch_and_add(&seq, 1);
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	e->ts = bpf_ktime_get_ns();
#elif defined(BENCH_WIDE)
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u64 n = __sync_fetch_and_add(&seq, 1);
	e->pid = pid_tgid >> 32;
	e->tid = (u32)pid_tgid;
	e->seq = n;
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	__builtin_memcpy(e->task, "kworker/u4:2", 13);
	__builtin_memset(e->task + 13, 0, sizeof(e->task) - 13);
	/* fe80::<n> and 2001:db8::<port> (network order) */
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	e->saddr[0] = 0xfe;
	e->saddr[1] = 0x80;
	e->saddr[12] = n >> 24;
	e->saddr[13] = n >> 16;
	e->saddr[14] = n >> 8;
	e->saddr[15] = n;
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	e->daddr[0] = 0x20;
	e->daddr[1] = 0x01;
	e->daddr[2] = 0x0d;
	e->daddr[3] = 0xb8;
	e->daddr[15] = 1 + (n & 0x3f);
	e->sport = 32768 + (n & 0x7fff);
	e->dport = 443;
	e->proto = 6;
	e->flags = n & 0x1f;
	e->delta = (s16)(n & 0xff) - 128;
	e->ret = (n & 7) == 0 ? -11 : (s32)(n & 0xfff);
	e->uid = 1000;
	e->latency = 1000 + (n & 0xfffff) * 37; /* 1 µs .. ~39 ms */
	e->bytes = n * 1448;
	e->offset = (s64)(n & 0xffff) - 32768;
	e->ts = bpf_ktime_get_ns();
	__builtin_memcpy(e->path, "/var/lib/bench/data/segment.log", 32);
	e->cpu = bpf_get_smp_processor_id();
#elif defined(BENCH_LABELSETS)
	e->cpu_bucket = 0;
	e->kind = __sync_fetch_and_add(&seq, 1) % BENCH_LABELSETS;
#else
	e->cpu_bucket = bpf_get_smp_processor_id() & 3;
	e->kind = 1;
#endif
#ifdef BENCH_COUNTER
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	e->pad0 = 0;
	e->pad1 = 0;
#endif
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
