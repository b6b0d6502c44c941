// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* packets: packets and bytes received on one interface, counted by L3
 * protocol (ipv4, ipv6, arp, or the EtherType number) and L4 protocol
 * (tcp, udp, icmp, icmpv6, or the IP protocol number; for IPv6 the first
 * next-header, extension headers are not followed).
 *
 * Attach point: a tc (TCX on Linux 6.6+, else a clsact filter) ingress
 * program on the interface named in the config; it hands every packet on
 * unchanged (TC_ACT_UNSPEC), so it composes with other tc programs. For
 * egress, set direction = "egress" (a second probe counts both).
 * Cost: per packet two map lookups and atomic adds plus one 1-byte packet
 * load: some tens of nanoseconds per packet, noticeable only at millions
 * of packets per second.
 * Output: counters ebpf_solo_io_counter_packets{l3, l4} and
 * ebpf_solo_io_counter_packet_bytes{l3, l4}.
 *
 *   [probes.packets]
 *   object = "/usr/lib/bee/examples/packets.bpf.o"
 *   [probes.packets.attach.count_packet]
 *   interface = "eth0"
 *   direction = "ingress"
 *
 * Under the packaged systemd unit, tc programs need CAP_NET_ADMIN (see
 * SYSTEMD in beed(8)).
 */
/* the aarch64 vmlinux.h has an anonymous enum with a `none` enumerator:
 * renamed there, so l4_proto's `none` (a label value) keeps its name */
#define none vmlinux_enum_none
#include "vmlinux.h"
#undef none
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "solo_types.h"
#include "bee_examples.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define TC_ACT_UNSPEC (-1)

/* label values: the enumerator's name, or the number if none matches */
enum l3_proto { ipv4 = ETH_P_IP, arp = ETH_P_ARP, ipv6 = ETH_P_IPV6 };
enum l4_proto { none = 0, icmp = 1, tcp = 6, udp = 17, gre = 47, esp = 50, icmpv6 = 58, sctp = 132 };

struct proto_key {
	enum l3_proto l3;
	enum l4_proto l4;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct proto_key);
	__type(value, u64);
} counter_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct proto_key);
	__type(value, u64);
} counter_packet_bytes SEC(".maps");

SEC("tc")
int count_packet(struct __sk_buff *skb)
{
	struct proto_key key = { .l3 = bpf_ntohs(skb->protocol), .l4 = none };
	u8 l4 = 0;

	if (key.l3 == ipv4)
		bpf_skb_load_bytes(skb, ETH_HLEN + 9, &l4, 1);
	else if (key.l3 == ipv6)
		bpf_skb_load_bytes(skb, ETH_HLEN + 6, &l4, 1);
	key.l4 = l4;
	bump(&counter_packets, &key, 1);
	bump(&counter_packet_bytes, &key, skb->len);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
