// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpopen: a gauge of the IPv4 TCP connections open right now, by
 * direction ("in": accepted on local port `port`; "out": connected to
 * remote port `port`). A connection counts from ESTABLISHED until CLOSE.
 * Only connections established after the probe loaded are counted: the
 * gauge starts at zero, it does not walk the sockets that already exist.
 *
 * Attach point: tracepoint sock/inet_sock_set_state.
 * Cost: per TCP state change one comparison; per connection one insert and
 * one delete in a private hash map of open sockets (65536 entries: more
 * concurrent connections than that are not counted; raise it with
 * [probes.tcpopen.maps.open] max_entries) and two gauge updates.
 * Output: gauge ebpf_solo_io_gauge_tcp_open{dir, port}.
 *
 *   [probes.tcpopen]
 *   object = "/usr/lib/bee/examples/tcpopen.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bee_examples.h"

struct open_key {
	char dir[4];
	u16 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, const void *);
	__type(value, struct open_key);
} open SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct open_key);
	__type(value, s64);
} gauge_tcp_open SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	u16 sport = ctx->sport, dport = ctx->dport;
	struct open_key key, *k;

	if (ctx->protocol != IPPROTO_TCP || ctx->family != AF_INET)
		return 0;
	if (ctx->newstate == TCP_ESTABLISHED) {
		__builtin_memset(&key, 0, sizeof(key));
		if (ctx->oldstate == TCP_SYN_SENT) {
			__builtin_memcpy(key.dir, "out", 4);
			key.port = dport;
		} else {
			__builtin_memcpy(key.dir, "in", 3);
			key.port = sport;
		}
		if (bpf_map_update_elem(&open, &sk, &key, BPF_NOEXIST) == 0)
			bump(&gauge_tcp_open, &key, 1);
		return 0;
	}
	if (ctx->newstate != TCP_CLOSE)
		return 0;
	k = bpf_map_lookup_elem(&open, &sk);
	if (!k)
		return 0;
	key = *k;
	bpf_map_delete_elem(&open, &sk);
	bump(&gauge_tcp_open, &key, -1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
