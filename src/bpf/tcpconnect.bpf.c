// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpconnect: outgoing IPv4 TCP connections, counted by (saddr, daddr, dport)
 * and printed one event per connect. Uses the stable sock:inet_sock_set_state
 * tracepoint (transition to SYN_SENT) instead of a kprobe on tcp_v4_connect. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "beed_lost.h"

#define TASK_COMM_LEN 16
#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2

struct conn_key {
	ipv4_addr saddr;
	ipv4_addr daddr;
	u16 dport;
};

struct connect_event {
	u32 pid;
	char comm[TASK_COMM_LEN];
	ipv4_addr saddr;
	ipv4_addr daddr;
	u16 dport;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct conn_key);
	__type(value, u64);
} counter_connections SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct connect_event);
} print_connects SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct connect_event *e;
	struct conn_key key;
	u64 zero = 0, *count;

	if (ctx->newstate != TCP_SYN_SENT || ctx->family != AF_INET ||
	    ctx->protocol != IPPROTO_TCP)
		return 0;

	__builtin_memset(&key, 0, sizeof(key));
	__builtin_memcpy(&key.saddr, ctx->saddr, 4);
	__builtin_memcpy(&key.daddr, ctx->daddr, 4);
	key.dport = ctx->dport;

	count = bpf_map_lookup_elem(&counter_connections, &key);
	if (!count) {
		/* BPF_NOEXIST: a concurrent first connect may have created it */
		bpf_map_update_elem(&counter_connections, &key, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&counter_connections, &key);
	}
	if (count)
		__sync_fetch_and_add(count, 1);

	e = bpf_ringbuf_reserve(&print_connects, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->saddr = key.saddr;
	e->daddr = key.daddr;
	e->dport = key.dport;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
