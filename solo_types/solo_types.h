/* solo_types.h — BumbleBee type conventions understood by beed.
 *
 * Use these typedefs in the structs of watched maps (print_/counter_/gauge_/hist_)
 * and beed renders the fields accordingly:
 *
 *   ipv4_addr  a u32 IPv4 address in network byte order -> "10.0.0.1"
 *   ipv6_addr  16 bytes IPv6 address in network order  -> "fe80::1"
 *   duration   nanoseconds as u64 -> "1.5ms" in logs, seconds in metrics
 *   ktime      a u64 from bpf_ktime_get_ns() (CLOCK_MONOTONIC)
 *              -> wall-clock time "2026-12-03T06:13:35.123456789Z"
 *   ktime_boot a u64 from bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME, counts
 *              suspend) -> wall-clock time likewise
 *
 * Difference from upstream bumblebee: upstream declares `typedef u32 ipv6_addr`,
 * which cannot hold an IPv6 address (only 4 of its 16 bytes). beed defines it as
 * 16 bytes; beed also accepts `struct in6_addr` fields as IPv6 addresses.
 */
#ifndef __SOLO_TYPES_H__
#define __SOLO_TYPES_H__

typedef __u32 ipv4_addr;
typedef __u8 ipv6_addr[16];
typedef __u64 duration;
typedef __u64 ktime;
typedef __u64 ktime_boot;

#endif /* __SOLO_TYPES_H__ */
