// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* capable_kprobe: capable.bpf.c on kprobe/cap_capable, for kernels without
 * the capability/cap_capable tracepoint (6.12 and older). Needs
 * CONFIG_KPROBES; the kprobe costs a few times the tracepoint per check.
 * See capable.bpf.c for what it measures.
 * Output: counter ebpf_solo_io_counter_capable{cap, comm}.
 *
 *   [probes.capable]
 *   object = "/usr/lib/bee/examples/capable_kprobe.bpf.o"
 */
#define CAPABLE_KPROBE
#include "capable.bpf.c"
