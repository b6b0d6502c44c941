// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcplife: one event per closed IPv4 TCP connection with its lifetime and
 * the bytes it carried, in both directions (libbpf-tools' tcplife).
 *
 * Attach point: tracepoint sock/inet_sock_set_state. A socket is tracked
 * from its first state change (SYN_SENT for connect(), SYN_RECV for an
 * accepted one) until it reaches CLOSE; the bytes come from struct tcp_sock
 * (bytes_received, bytes_acked: read with CO-RE, so kernels that move the
 * fields still work). pid and comm are the process that connected (taken at
 * SYN_SENT) or, for accepted connections, the one that closed it first
 * (FIN_WAIT1 / LAST_ACK run in the closing process); both stay empty for a
 * connection the peer tears down without our process closing it.
 * Cost: per TCP state change one hash lookup; per connection one insert,
 * one delete and one ring buffer record.
 * Output: print_lifes {pid, comm, laddr, lport, raddr, rport, rx_bytes,
 * tx_bytes, span}. tx_bytes counts acknowledged sequence space, so the
 * SYN and FIN add one each.
 *
 *   [probes.tcplife]
 *   object = "/usr/lib/bee/examples/tcplife.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

struct birth {
	u64 ts;
	u32 pid;
	char comm[TASK_COMM_LEN];
};

struct life_event {
	u32 pid;
	char comm[TASK_COMM_LEN];
	ipv4_addr laddr;
	u16 lport;
	ipv4_addr raddr;
	u16 rport;
	u64 rx_bytes;
	u64 tx_bytes;
	duration span;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, const void *);
	__type(value, struct birth);
} births SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct life_event);
} print_lifes SEC(".maps");

static __always_inline void take_process(struct birth *b)
{
	b->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(b->comm, sizeof(b->comm));
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct life_event *e;
	struct birth *b;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return 0;
	b = bpf_map_lookup_elem(&births, &sk);
	if (ctx->newstate != TCP_CLOSE) {
		if (!b && (ctx->newstate == TCP_SYN_SENT || ctx->newstate == TCP_SYN_RECV)) {
			struct birth n = { .ts = bpf_ktime_get_ns() };

			if (ctx->newstate == TCP_SYN_SENT)
				take_process(&n);
			bpf_map_update_elem(&births, &sk, &n, BPF_ANY);
		} else if (b && !b->pid &&
			   (ctx->newstate == TCP_FIN_WAIT1 || ctx->newstate == TCP_LAST_ACK)) {
			take_process(b);
		}
		return 0;
	}
	if (!b)
		return 0;
	e = bpf_ringbuf_reserve(&print_lifes, sizeof(*e), 0);
	if (e) {
		e->pid = b->pid;
		__builtin_memcpy(e->comm, b->comm, sizeof(e->comm));
		__builtin_memcpy(&e->laddr, ctx->saddr, 4);
		__builtin_memcpy(&e->raddr, ctx->daddr, 4);
		e->lport = ctx->sport;
		e->rport = ctx->dport;
		e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
		e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
		e->span = bpf_ktime_get_ns() - b->ts;
		bpf_ringbuf_submit(e, 0);
	} else {
		count_lost();
	}
	bpf_map_delete_elem(&births, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
