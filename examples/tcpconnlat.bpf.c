// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpconnlat: outgoing IPv4 TCP connections with their connect latency,
 * the time from the SYN to the handshake's completion (one round trip plus
 * the peer's accept-queue work), and the process that called connect().
 *
 * Attach point: tracepoint sock/inet_sock_set_state: CLOSE -> SYN_SENT
 * (connect() called, in the caller's context: pid and comm are recorded)
 * and SYN_SENT -> ESTABLISHED (the SYN-ACK arrived: event) or -> CLOSE
 * (refused or timed out: forgotten, no event).
 * Cost: per TCP state change one comparison; per connect one hash insert and
 * delete and one ring buffer record. State changes are a few per connection:
 * cheap unless the host opens tens of thousands of connections per second.
 * Output: print_connects {pid, comm, saddr, daddr, dport, latency}.
 *
 *   [probes.tcpconnlat]
 *   object = "/usr/lib/bee/examples/tcpconnlat.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

struct pending {
	u64 ts;
	u32 pid;
	char comm[TASK_COMM_LEN];
};

struct connect_event {
	u32 pid;
	char comm[TASK_COMM_LEN];
	ipv4_addr saddr;
	ipv4_addr daddr;
	u16 sport;
	u16 dport;
	duration latency;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const void *);
	__type(value, struct pending);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct connect_event);
} print_connects SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	struct connect_event *e;
	struct pending *p;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return 0;
	if (ctx->newstate == TCP_SYN_SENT) {
		struct pending n = { .ts = bpf_ktime_get_ns() };

		n.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(n.comm, sizeof(n.comm));
		bpf_map_update_elem(&start, &sk, &n, BPF_ANY);
		return 0;
	}
	if (ctx->oldstate != TCP_SYN_SENT)
		return 0;
	p = bpf_map_lookup_elem(&start, &sk);
	if (!p)
		return 0;
	if (ctx->newstate == TCP_ESTABLISHED) {
		e = bpf_ringbuf_reserve(&print_connects, sizeof(*e), 0);
		if (e) {
			e->pid = p->pid;
			__builtin_memcpy(e->comm, p->comm, sizeof(e->comm));
			__builtin_memcpy(&e->saddr, ctx->saddr, 4);
			__builtin_memcpy(&e->daddr, ctx->daddr, 4);
			e->sport = ctx->sport;
			e->dport = ctx->dport;
			e->latency = bpf_ktime_get_ns() - p->ts;
			bpf_ringbuf_submit(e, 0);
		} else {
			count_lost();
		}
	}
	bpf_map_delete_elem(&start, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
