// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* signals: signals generated, counted by signal number, sender and target
 * comm and the outcome (result 0: delivered, 1: ignored, 2: already
 * pending, 3: overflow, 4: lost to a dying process). Who sends SIGKILL or
 * SIGTERM to whom, how often SIGSEGV (11) or SIGPIPE (13) happen.
 *
 * Attach point: tracepoint signal/signal_generate (kill(2), tgkill(2), the
 * kernel's own signals such as SIGSEGV or SIGCHLD on each child exit).
 * Cost: per signal one hash update; signals are rare next to syscalls
 * (SIGCHLD, once per exiting child, is usually the most frequent).
 * Output: counter ebpf_solo_io_counter_signals{sig, sender, target, result}.
 *
 *   [probes.signals]
 *   object = "/usr/lib/bee/examples/signals.bpf.o"
 *   [probes.signals.maps.counter_signals]
 *   drop = ["result"]        # e.g. to count per signal and comms only
 *   [probes.signals.maps.counter_signals.fields]
 *   sig = { decode = "signal" }   # sig="SIGTERM" rather than sig="15"
 *   result = { decode = "static_map", table = { 0 = "delivered", 1 = "ignored", 2 = "pending", 3 = "overflow", 4 = "lost" } }
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "solo_types.h"
#include "bee_examples.h"

struct signal_key {
	u32 sig;
	u32 result;
	char sender[TASK_COMM_LEN];
	char target[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct signal_key);
	__type(value, u64);
} counter_signals SEC(".maps");

SEC("tracepoint/signal/signal_generate")
int on_signal(struct trace_event_raw_signal_generate *ctx)
{
	struct signal_key key;

	__builtin_memset(&key, 0, sizeof(key));
	key.sig = ctx->sig;
	key.result = ctx->result;
	bpf_get_current_comm(key.sender, sizeof(key.sender));
	/* a helper copy: the verifier refuses loads through a moved ctx pointer */
	bpf_probe_read_kernel(key.target, sizeof(key.target), ctx->comm);
	bump(&counter_signals, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
