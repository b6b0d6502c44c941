// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpretrans: TCP retransmissions counted by remote address and port and
 * by the socket's state (SYN_SENT: a connect whose SYN got no answer;
 * ESTABLISHED: lost data). Retransmits point at packet loss, a peer that
 * went away, or a firewall dropping packets.
 *
 * Attach point: tracepoint tcp/tcp_retransmit_skb (its record layout is
 * read with CO-RE: 6.12 and older use another record type). IPv6 sockets count under
 * the IPv4 address the tracepoint stores for them (the mapped address, or a
 * placeholder): add its daddr_v6 field to the key in your copy if you need
 * IPv6 peers. state is the kernel's TCP state number (1 ESTABLISHED,
 * 2 SYN_SENT, 4 FIN_WAIT1, 8 CLOSE_WAIT, ...).
 * Cost: per retransmitted segment one hash update; retransmits are rare on
 * a healthy network, so this is close to free.
 * Output: counter ebpf_solo_io_counter_retransmits{raddr, rport, state}.
 *
 *   [probes.tcpretrans]
 *   object = "/usr/lib/bee/examples/tcpretrans.bpf.o"
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "solo_types.h"
#include "bee_examples.h"

struct retrans_key {
	ipv4_addr raddr;
	u16 rport;
	u16 state;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct retrans_key);
	__type(value, u64);
} counter_retransmits SEC(".maps");

/* Linux 6.12 and older: the event shares the tcp_event_sk_skb class (newer
 * kernels gave it a record type of its own, with an err field); CO-RE
 * matches this ___old flavor to the kernel's type by field names. */
struct trace_event_raw_tcp_event_sk_skb___old {
	int state;
	__u16 dport;
	__u8 daddr[4];
} __attribute__((preserve_access_index));

/* Linux 6.13 and newer: the event's own record (a flavor too, so that a
 * vmlinux.h from an older kernel, such as the arm64 one, compiles it). */
struct trace_event_raw_tcp_retransmit_skb___new {
	int state;
	__u16 dport;
	__u8 daddr[4];
} __attribute__((preserve_access_index));

/* a helper copy for daddr: the verifier refuses loads through a moved ctx pointer */
#define KEY_FROM(tp, key)                                                         \
	do {                                                                      \
		bpf_probe_read_kernel(&(key).raddr, sizeof((key).raddr), (tp)->daddr); \
		(key).rport = BPF_CORE_READ(tp, dport);                           \
		(key).state = BPF_CORE_READ(tp, state);                           \
	} while (0)

SEC("tracepoint/tcp/tcp_retransmit_skb")
int on_retransmit(void *ctx)
{
	struct retrans_key key;

	__builtin_memset(&key, 0, sizeof(key));
	if (bpf_core_type_exists(struct trace_event_raw_tcp_retransmit_skb___new))
		KEY_FROM((struct trace_event_raw_tcp_retransmit_skb___new *)ctx, key);
	else
		KEY_FROM((struct trace_event_raw_tcp_event_sk_skb___old *)ctx, key);
	bump(&counter_retransmits, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
