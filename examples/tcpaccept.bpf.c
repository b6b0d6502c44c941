// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpaccept: incoming IPv4 TCP connections, one event each when the
 * three-way handshake completes on a listening port: local address and
 * port, remote address and port. The handshake completes in the kernel's
 * softirq, before any process calls accept(): there is no accepting pid or
 * comm here (libbpf-tools' kretprobe on inet_csk_accept has one; this
 * example keeps to stable tracepoints). A counter by local port comes too.
 *
 * Attach point: tracepoint sock/inet_sock_set_state, SYN_RECV -> ESTABLISHED
 * (the new child socket).
 * Cost: per TCP state change one comparison; per accepted connection one
 * ring buffer record and one hash update.
 * Output: print_accepts {laddr, lport, raddr, rport}; counter
 * ebpf_solo_io_counter_accepts{lport}.
 *
 *   [probes.tcpaccept]
 *   object = "/usr/lib/bee/examples/tcpaccept.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#define BEE_COUNT_LOST
#include "bee_examples.h"

struct accept_event {
	ipv4_addr laddr;
	u16 lport;
	ipv4_addr raddr;
	u16 rport;
};

struct port_key {
	u16 lport;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct accept_event);
} print_accepts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct port_key);
	__type(value, u64);
} counter_accepts SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct port_key key = {};
	struct accept_event *e;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET ||
	    ctx->oldstate != TCP_SYN_RECV || ctx->newstate != TCP_ESTABLISHED)
		return 0;
	key.lport = ctx->sport;
	bump(&counter_accepts, &key, 1);
	e = bpf_ringbuf_reserve(&print_accepts, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memcpy(&e->laddr, ctx->saddr, 4);
	__builtin_memcpy(&e->raddr, ctx->daddr, 4);
	e->lport = ctx->sport;
	e->rport = ctx->dport;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
