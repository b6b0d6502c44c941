#!/bin/sh
# The kernel matrix driver: loads every test probe into one beed, drives
# activity, scrapes /metrics and writes what it saw to $OUT in marked
# sections. Runs inside the qemu guests (busybox sh, started by init.sh) and
# on the host (dash, in a private network namespace, started by run.sh).
# POSIX sh only. Judging happens on the host, in run.sh.
#
# Environment:
#   BEED      the beed binary             PROBES  directory of the *.bpf.o
#   TARGET    static uprobe_target        WORK    scratch directory
#   OUT       where results go (/dev/ttyS1 in the guest, a file on the host)
#   CONNECTS  loopback connects to make and count exactly (default 5)
#   PHASES    "main", "btf", "examples" and/or "unit" (default "main btf examples")
#   PORT      metrics port of the main phase (btf: PORT+1, examples: PORT+2)
#   EXAMPLES  directory of the compiled examples/*.bpf.o (default $PROBES/examples)
#   READY_TIMEOUT  seconds to wait for beed's "ready:" line (default 240)
#   UNIT      the unit phase: an installed beed.service, whose ExecStartPre
#             and ExecStart run with the config they name (/etc/bee/beed.toml)
set -u

KINDS="tracepoint raw_tp tp_btf kprobe kretprobe ksyscall fentry fexit lsm uprobe uretprobe perf_event xdp tc iter"
CONNECTS=${CONNECTS:-5}
PHASES=${PHASES:-main btf examples}
EXAMPLES=${EXAMPLES:-$PROBES/examples}
PORT=${PORT:-9091}
READY_TIMEOUT=${READY_TIMEOUT:-240}
# beed listens on every loopback address; the test connects go to 127.0.0.1
# and the scrapes to 127.0.0.2, so scrapes never count as test connects.
SCRAPE_ADDR=127.0.0.2

now() { cut -d' ' -f1 /proc/uptime; }
T0=$(now)
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "[matrix +$(since "$T0")s] $*"; }
emit() { echo "$*" >>"$OUT"; }
section() { # NAME FILE
	{ echo "@@BEGIN $1"; cat "$2" 2>/dev/null; echo "@@END $1"; } >>"$OUT"
}

scrape() { # PORT -> stdout (from SCRAPE_ADDR)
	# (no wget -T: it crashes the static busybox of bookworm)
	timeout 30 busybox wget -q -O - "http://$SCRAPE_ADDR:$1/metrics" 2>/dev/null
}

# value of the first sample of METRIC carrying every LABEL="VALUE" given
sample() { # FILE METRIC label=value...
	f=$1 m=$2
	shift 2
	awk -v m="$m" -v want="$*" '
		BEGIN { n = split(want, w, " ") }
		index($0, m "{") == 1 {
			ok = 1
			for (i = 1; i <= n; i++) {
				split(w[i], kv, "=")
				if (index($0, kv[1] "=\"" kv[2] "\"") == 0) ok = 0
			}
			if (ok) { print $NF; exit }
		}' "$f"
}

BEED_PID=
start_beed() { # CONFIG LOG [EVENTS] -> 0 when ready
	start_cmd "$2" "${3:-/dev/null}" "$BEED" --config "$1"
}
start_cmd() { # LOG EVENTS COMMAND... -> 0 when beed is ready
	log=$1 events=$2
	shift 2
	"$@" >"$events" 2>"$log" &
	BEED_PID=$!
	t=$(now)
	while :; do
		grep -q 'ready:' "$log" && { say "beed ready after $(since "$t")s"; emit "@@TIME ${PHASE}_ready $(since "$t")"; return 0; }
		if ! kill -0 "$BEED_PID" 2>/dev/null; then
			say "beed exited before ready"
			return 1
		fi
		if [ "$(since "$t" | cut -d. -f1)" -ge "$READY_TIMEOUT" ]; then
			say "beed not ready after ${READY_TIMEOUT}s"
			return 1
		fi
		sleep 1
	done
}

stop_beed() { # -> emits @@STATUS PHASE alive=0|1 exit=N
	alive=0
	kill -0 "$BEED_PID" 2>/dev/null && alive=1
	kill -TERM "$BEED_PID" 2>/dev/null
	i=0
	while kill -0 "$BEED_PID" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
	kill -KILL "$BEED_PID" 2>/dev/null
	wait "$BEED_PID"
	rc=$?
	emit "@@STATUS $PHASE alive=$alive exit=$rc"
	say "beed stopped (running until the end: $alive, exit status $rc)"
}

# Runs the target N times, each a loopback connect to PORT (and a uprobe hit).
connects() { # N PORT
	i=0
	while [ $i -lt "$1" ]; do "$TARGET" 1 "$2" || true; i=$((i + 1)); done
}

# Scrapes until METRIC{labels} reaches WANT or the probe is down, at most
# 60 s, then once more after two walk intervals: the final scrape.
settle() { # PORT PROBE WANT METRIC labels... -> $WORK/$PHASE.metrics
	p=$1 probe=$2 want=$3
	shift 3
	t=$(now)
	while [ "$(since "$t" | cut -d. -f1)" -lt 60 ]; do
		scrape "$p" >"$WORK/scrape" || true
		v=$(sample "$WORK/scrape" "$@")
		up=$(sample "$WORK/scrape" beed_probe_up probe="$probe")
		[ -n "$v" ] && [ "${v%.*}" -ge "$want" ] && break
		[ "$up" = 0 ] && break
		sleep 1
	done
	sleep 2
	scrape "$p" >"$WORK/$PHASE.metrics" || say "scrape failed"
}

# The command of KEY= (ExecStart, ExecStartPre) in the unit file, without
# systemd's prefixes (-, @, +, !, :)
unit_cmd() { # KEY
	sed -n "s/^$1=[-@+!:]*//p" "$UNIT" | head -n 1
}

phase_main() {
	PHASE=main
	cfg=$WORK/main.toml
	cat >"$cfg" <<EOF
[metrics]
listen = "0.0.0.0:$PORT"
[events]
output = "none"
[poll]
interval = "100ms"
[probes.exitsnoop]
[probes.tcpconnect]
[probes.kp_tcpconnect]
object = "$PROBES/kprobe_tcpconnect.bpf.o"
EOF
	for k in $KINDS; do
		printf '[probes.%s]\nobject = "%s/%s.bpf.o"\n' "$k" "$PROBES" "$k" >>"$cfg"
	done
	cat >>"$cfg" <<EOF
[probes.uprobe.attach.prog]
binary = "$TARGET"
func = "bee_target_function"
[probes.uretprobe.attach.prog]
binary = "$TARGET"
func = "bee_target_function"
[probes.xdp.attach.prog]
interface = "lo"
[probes.tc.attach.prog]
interface = "lo"
[probes.perf_event.attach.prog]
frequency = 199
EOF
	say "main: starting beed with $(grep -c '^\[probes\.[a-z_]*\]$' "$cfg") probes"
	if start_beed "$cfg" "$WORK/main.log"; then
		# 5 uprobe hits, getppid x5, an exec; then the counted connects
		"$TARGET" 5 || true
		say "main: $CONNECTS loopback connects to 127.0.0.1:$PORT"
		connects "$CONNECTS" "$PORT"
		settle "$PORT" kp_tcpconnect "$CONNECTS" ebpf_solo_io_counter_connections_kp probe=kp_tcpconnect daddr=127.0.0.1 saddr=127.0.0.1
	fi
	stop_beed
	section main-log "$WORK/main.log"
	section main-metrics "$WORK/main.metrics"
	emit "@@TIME main_total $(since "$PHASE_T")"
}

# Kernel BTF hidden: a probe with btf_path must load and count, the same
# object without it must fail with a clear error.
phase_btf() {
	PHASE=btf
	p=$((PORT + 1))
	if ! cp /sys/kernel/btf/vmlinux "$WORK/vmlinux.btf"; then
		emit "@@STATUS btf setup=no-kernel-btf"
		return
	fi
	mount -t tmpfs tmpfs /sys/kernel/btf || { emit "@@STATUS btf setup=mount-failed"; return; }
	if [ -e /sys/kernel/btf/vmlinux ]; then
		emit "@@STATUS btf setup=still-visible"
		umount /sys/kernel/btf
		return
	fi
	cfg=$WORK/btf.toml
	cat >"$cfg" <<EOF
[metrics]
listen = "0.0.0.0:$p"
[events]
output = "none"
[poll]
interval = "100ms"
[probes.kp_btf_path]
object = "$PROBES/kprobe_tcpconnect.bpf.o"
btf_path = "$WORK/vmlinux.btf"
[probes.kp_no_btf]
object = "$PROBES/kprobe_tcpconnect.bpf.o"
EOF
	say "btf: kernel BTF hidden; starting beed"
	if start_beed "$cfg" "$WORK/btf.log"; then
		say "btf: $CONNECTS loopback connects to 127.0.0.1:$p"
		connects "$CONNECTS" "$p"
		settle "$p" kp_btf_path "$CONNECTS" ebpf_solo_io_counter_connections_kp probe=kp_btf_path daddr=127.0.0.1 saddr=127.0.0.1
	fi
	stop_beed
	umount /sys/kernel/btf
	emit "@@STATUS btf setup=ok"
	section btf-log "$WORK/btf.log"
	section btf-metrics "$WORK/btf.metrics"
}

# Every example of examples/ through the verifier (--check-config --load),
# then execsnoop, opensnoop, syscount, syscount_comm and runqlat attached and
# fed: an exec of the target (getppid x EXAMPLE_CALLS) and a file read.
EXAMPLE_CALLS=7
phase_examples() {
	PHASE=examples
	p=$((PORT + 2))
	# the capable variant this kernel has: the tracepoint, else the kprobe
	cap=capable_kprobe
	[ -e /sys/kernel/tracing/events/capability/cap_capable ] && cap=capable
	cfg=$WORK/examples-check.toml
	printf '[metrics]\nlisten = "0.0.0.0:%s"\n[events]\noutput = "none"\n' "$p" >"$cfg"
	n=0
	for o in "$EXAMPLES"/*.bpf.o; do
		name=$(basename "$o" .bpf.o)
		case $name in capable | capable_kprobe) [ "$name" = "$cap" ] || continue ;; esac
		printf '[probes.%s]\nobject = "%s"\n' "$name" "$o" >>"$cfg"
		n=$((n + 1))
	done
	printf '[probes.packets.attach.count_packet]\ninterface = "lo"\n' >>"$cfg"
	say "examples: --check-config --load of $n examples"
	"$BEED" --check-config "$cfg" --load >"$WORK/examples-check.log" 2>&1
	emit "@@STATUS examples check=$? expected=$n"
	section examples-check "$WORK/examples-check.log"

	cfg=$WORK/examples.toml
	printf '[metrics]\nlisten = "0.0.0.0:%s"\n[events]\noutput = "stdout"\n[poll]\ninterval = "100ms"\n' "$p" >"$cfg"
	for name in execsnoop opensnoop syscount syscount_comm runqlat; do
		printf '[probes.%s]\nobject = "%s/%s.bpf.o"\n' "$name" "$EXAMPLES" "$name" >>"$cfg"
	done
	if start_beed "$cfg" "$WORK/examples.log" "$WORK/examples.events"; then
		echo beedex >"$WORK/beedex-open"
		cat "$WORK/beedex-open" >/dev/null
		"$TARGET" "$EXAMPLE_CALLS" || true
		settle "$p" syscount_comm "$EXAMPLE_CALLS" ebpf_solo_io_counter_syscalls_by_comm comm=uprobe_target
	fi
	stop_beed
	section examples-log "$WORK/examples.log"
	section examples-metrics "$WORK/examples.metrics"
	grep -E '"comm":"uprobe_target"|beedex-open' "$WORK/examples.events" >"$WORK/examples.events.mine"
	section examples-events "$WORK/examples.events.mine"
	emit "@@TIME examples_total $(since "$PHASE_T")"
}

# The installed package as its unit runs it, without systemd (no sandbox,
# as root): ExecStartPre (the config check) must pass, ExecStart must get
# ready with the packaged /etc/bee/beed.toml, its built-ins must report an
# exec and the loopback connects to the configured metrics address.
phase_unit() {
	PHASE=unit
	pre=$(unit_cmd ExecStartPre)
	start=$(unit_cmd ExecStart)
	emit "@@UNIT ExecStartPre $pre"
	emit "@@UNIT ExecStart $start"
	listen=$(sed -n 's/^listen *= *"\(.*\)"/\1/p' /etc/bee/beed.toml | head -n 1)
	if [ -z "$start" ] || [ -z "$listen" ]; then
		emit "@@STATUS unit setup=no ExecStart in $UNIT or no listen address in /etc/bee/beed.toml"
		return
	fi
	emit "@@STATUS unit setup=ok"
	emit "@@UNIT listen $listen"
	# shellcheck disable=SC2086 # the unit's command line, split into words as systemd does
	$pre >"$WORK/unit-pre.log" 2>&1
	emit "@@STATUS unit pre=$?"
	section unit-pre "$WORK/unit-pre.log"
	addr=${listen%:*} p=${listen##*:}
	# shellcheck disable=SC2086
	if start_cmd "$WORK/unit.log" "$WORK/unit.events" $start; then
		"$TARGET" 1 || true
		say "unit: $CONNECTS loopback connects to $listen"
		connects "$CONNECTS" "$p" # to 127.0.0.1 (the target's address)
		scrape_addr=$SCRAPE_ADDR SCRAPE_ADDR=$addr
		settle "$p" tcpconnect "$CONNECTS" ebpf_solo_io_counter_connections probe=tcpconnect daddr=127.0.0.1 dport="$p"
		SCRAPE_ADDR=$scrape_addr
	fi
	stop_beed
	section unit-log "$WORK/unit.log"
	section unit-metrics "$WORK/unit.metrics"
	grep '"comm":"uprobe_target"' "$WORK/unit.events" >"$WORK/unit.events.mine"
	section unit-events "$WORK/unit.events.mine"
}

emit "@@KERNEL $(uname -r)"
emit "@@LSM $(cat /sys/kernel/security/lsm 2>/dev/null)"
for ph in $PHASES; do
	PHASE_T=$(now)
	say "phase $ph"
	"phase_$ph"
done
emit "@@TIME matrix $(since "$T0")"
emit "@@DONE"
say "done"
