// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark probe for `make bench` (benches/run.sh): one 40-byte ringbuf
 * event per getppid() of the process named "beebenchgen" (benches/gen.c).
 *
 * Built twice from this file:
 *   -DBENCH_PRINT   ringbuf `print_events`   (beed print path)
 *   -DBENCH_COUNTER ringbuf `counter_events` (beed counter path)
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

#if defined(BENCH_PRINT) == defined(BENCH_COUNTER)
#error "define exactly one of BENCH_PRINT or BENCH_COUNTER"
#endif

#ifdef BENCH_PRINT
#define EVENT print_event
#define RING print_events
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

#ifdef BENCH_PRINT
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
#else
	e->cpu_bucket = bpf_get_smp_processor_id() & 3;
	e->kind = 1;
	__builtin_memcpy(e->comm, comm, sizeof(e->comm));
	e->pad0 = 0;
	e->pad1 = 0;
#endif
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
