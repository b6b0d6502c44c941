#!/usr/bin/env bash
# benches/run.sh — the benchmark behind `make bench` (run as root).
#
# Ring buffer throughput and cost of beed's counter and print paths, beside a
# minimal C libbpf consumer built and run in the same run, fed by a tight
# getppid() loop (benches/gen.c) through a tracepoint probe
# (benches/bench_probe.bpf.c); plus beed's start-to-READY time and peak RSS
# with the built-in probes. Writes the results into BENCHMARKS.md.
#
# Knobs (environment):
#   BENCH_EVENTS=2000000    getppid() calls (= events) per run
#   BENCH_REPS=5            repetitions of every configuration (median reported)
#   BENCH_LATENCY_MS=5      beed's [poll] latency and the C consumer's batch sleep
#   BENCH_RINGBUF_MB=16     ring buffer size of the bench probe
#   BENCH_PIN=1             pin the generator to the last CPU and the consumer to CPU 0
#                           (0: let the scheduler place them; noisier)
#   BENCH_OUT=BENCHMARKS.md where the results go ("" = only print them)
#   BENCH_SKIP_BUILD=0      1: reuse target/release/beed as is
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

N=${BENCH_EVENTS:-2000000}
REPS=${BENCH_REPS:-5}
LAT_MS=${BENCH_LATENCY_MS:-5}
RB_MB=${BENCH_RINGBUF_MB:-16}
PIN=${BENCH_PIN:-1}
OUT=${BENCH_OUT-$ROOT/BENCHMARKS.md}
BIN=$ROOT/target/bench
BEED=$ROOT/target/release/beed
MARKER='<!-- results: everything below this line is rewritten by benches/run.sh -->'

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ $N =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS must be a positive integer, not '$N'"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer, not '$REPS'"
[[ $LAT_MS =~ ^[1-9][0-9]*$ ]] || die "BENCH_LATENCY_MS must be a positive integer (ms), not '$LAT_MS'"
[[ $RB_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_RINGBUF_MB must be a positive integer, not '$RB_MB'"
(( (RB_MB & (RB_MB - 1)) == 0 )) || die "BENCH_RINGBUF_MB must be a power of two (ring buffer sizes are), not $RB_MB"
[[ $EUID -eq 0 ]] || die "run as root (loads BPF programs): sudo make bench"

# ---------------------------------------------------------------- cleanup ---
WORK=$(mktemp -d /tmp/beed-bench.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	local p
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	if (( rc != 0 )); then
		log "failed (exit $rc); logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----------------------------------------------------------- prerequisites ---
need=()
command -v clang >/dev/null || need+=(clang)
command -v gcc >/dev/null || need+=(gcc)
command -v bpftool >/dev/null || need+=(bpftool)
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
command -v ss >/dev/null || need+=(iproute2)
[[ -f /usr/include/bpf/libbpf.h ]] || need+=(libbpf-dev)
[[ -f /usr/include/libelf.h ]] || need+=(libelf-dev)
[[ -f /usr/include/zlib.h ]] || need+=(zlib1g-dev)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup)"
if [[ ! -d /sys/kernel/tracing/events && ! -d /sys/kernel/debug/tracing/events ]]; then
	mount -t tracefs tracefs /sys/kernel/tracing || die "cannot mount tracefs on /sys/kernel/tracing"
fi

case $(uname -m) in
x86_64) BPF_ARCH=x86 ;;
aarch64) BPF_ARCH=arm64 ;;
*) die "unsupported architecture $(uname -m) (vmlinux/ has x86_64 and aarch64)" ;;
esac

# ------------------------------------------------------------------- build ---
mkdir -p "$BIN"
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
	log "cargo build --release --bin beed"
	cargo build --release --bin beed >"$WORK/cargo.log" 2>&1 || { tail -30 "$WORK/cargo.log" >&2; die "cargo build failed"; }
fi
[[ -x $BEED ]] || die "$BEED missing (cargo build --release --bin beed)"

BPF_CFLAGS=(-g -O2 -target bpf "-D__TARGET_ARCH_$BPF_ARCH" -DRINGBUF_BYTES="($RB_MB << 20)"
	-I vmlinux -I solo_types -I benches -I "/usr/include/$(uname -m)-linux-gnu")
for kind in print counter; do
	KIND=${kind^^}
	clang "${BPF_CFLAGS[@]}" "-DBENCH_$KIND" -c benches/bench_probe.bpf.c -o "$BIN/bench_$kind.bpf.o"
done
gcc -O2 -Wall -Wextra -Werror -o "$BIN/gen" benches/gen.c
gcc -O2 -Wall -Wextra -Werror -I benches -o "$BIN/c_consumer" benches/c_consumer.c -lbpf -lelf -lz
gcc -O2 -Wall -Wextra -Werror -o "$BIN/ready" benches/ready.c
log "built beed, bench_{print,counter}.bpf.o, gen, c_consumer, ready in target/"

# ----------------------------------------------------------------- helpers ---
if [[ $PIN == 1 ]] && (($(nproc) < 2)); then
	log "one CPU: not pinning"
	PIN=0
fi
if [[ $PIN == 1 ]]; then
	last=$(($(nproc) - 1))
	PIN_GEN=(taskset -c "$last")
	PIN_CONS=(taskset -c 0)
else
	PIN_GEN=()
	PIN_CONS=()
fi

# wait_for FILE REGEX PID SECONDS: until FILE has a line matching REGEX
wait_for() {
	local file=$1 re=$2 pid=$3 secs=$4 i
	for ((i = 0; i < secs * 50; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "process $pid exited before printing /$re/"; }
		sleep 0.02
	done
	cat "$file" >&2
	die "no /$re/ in $file after ${secs}s"
}

# wait_exit PID SECONDS: reap a background child, failing after SECONDS
wait_exit() {
	local pid=$1 secs=$2 i
	for ((i = 0; i < secs * 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid"; return $?; }
		sleep 0.02
	done
	die "process $pid still running after ${secs}s"
}

# field NAME LINE: the value of NAME=VALUE in LINE
field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\\2/p" <<<"$2"; }

# run_gen: one generator run; prints its report line
run_gen() {
	local out
	out=$(timeout 600 "${PIN_GEN[@]}" "$BIN/gen" -n "$N" "$@") || die "generator failed or timed out"
	[[ $out == "gen iters="* ]] || die "unexpected generator output: $out"
	echo "$out"
}

# on-CPU nanoseconds of every thread of PID (or only those named $2), from schedstat
cpu_ns() {
	local pid=$1 name=${2:-} t sum=0 ns _
	for t in /proc/"$pid"/task/*; do
		if [[ -n $name ]] && [[ $(cat "$t/comm" 2>/dev/null) != "$name" ]]; then continue; fi
		read -r ns _ <"$t/schedstat" || continue
		sum=$((sum + ns))
	done
	echo "$sum"
}

# sum of the per-CPU values of the `beed_lost` map held open by PID
lost_of() {
	local pid=$1 f id name
	for f in /proc/"$pid"/fdinfo/*; do
		id=$(sed -n 's/^map_id:[[:space:]]*//p' "$f" 2>/dev/null) || continue
		[[ -n $id ]] || continue
		name=$(bpftool -j map show id "$id" | jq -r .name)
		[[ $name == beed_lost ]] || continue
		bpftool -j map dump id "$id" | jq -e '[.[0].formatted.values[].value] | add' ||
			die "cannot read map $id (beed_lost) of pid $pid with bpftool"
		return 0
	done
	die "no beed_lost map held by pid $pid"
}

# a TCP port nothing listens on
free_port() {
	local p used
	used=$(ss -Htln | awk '{n = split($4, a, ":"); print a[n]}')
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		grep -qx "$p" <<<"$used" || { echo "$p"; return 0; }
	done
	die "no free TCP port found"
}

# metric SCRAPE_FILE NAME: sum of every sample of NAME
metric_sum() { awk -v m="$2" '$1 ~ "^"m"({|$)" {s += $NF} END {printf "%d\n", s}' "$1"; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"
# record CONFIG REP SENT RECEIVED LOST CPU_NS PROC_CPU_NS NS_PER_ITER GEN_EPS POLLS RSS_KB
record() { local IFS=$'\t'; echo "$*" >>"$RESULTS"; }

run_baseline() {
	local rep=$1 g
	g=$(run_gen)
	record baseline "$rep" 0 0 0 0 0 "$(field ns_per_iter "$g")" "$(field events_per_s "$g")" 0 0
}

# the probe attached (C consumer idle) but the generator under another name:
# every call runs the tracepoint program, none writes to the ring buffer
run_filtered() {
	local rep=$1 err=$WORK/probe_filtered.$1.err pid g r
	"${PIN_CONS[@]}" "$BIN/c_consumer" -o "$COUNTER_O" -m count -t 300 >/dev/null 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	wait_for "$err" '^ready:' "$pid" 30
	g=$(run_gen -c beebenchskip)
	kill -TERM "$pid"
	wait_exit "$pid" 30 || die "c_consumer failed (see $err)"
	PIDS=()
	r=$(grep '^c_consumer events=' "$err") || die "c_consumer printed no report (see $err)"
	[[ $(field events "$r") == 0 ]] || die "the probe emitted events for a process not named beebenchgen: $r"
	record probe_filtered "$rep" 0 0 0 0 0 "$(field ns_per_iter "$g")" "$(field events_per_s "$g")" 0 0
}

# run_c NAME REP OBJECT MODE LATENCY_US
run_c() {
	local name=$1 rep=$2 obj=$3 mode=$4 lat=$5 err=$WORK/$1.$2.err pid g r
	"${PIN_CONS[@]}" "$BIN/c_consumer" -o "$obj" -m "$mode" -n "$N" -l "$lat" -i 1000 -t 300 >/dev/null 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	wait_for "$err" '^ready:' "$pid" 30
	g=$(run_gen)
	wait_exit "$pid" 60 || die "c_consumer failed (see $err)"
	PIDS=()
	r=$(grep '^c_consumer events=' "$err") || die "c_consumer printed no report (see $err)"
	record "$name" "$rep" "$N" "$(field events "$r")" "$(field lost "$r")" "$(field cpu_ns "$r")" \
		"$(field cpu_ns "$r")" "$(field ns_per_iter "$g")" "$(field events_per_s "$g")" "$(field polls "$r")" 0
}

# run_beed NAME REP OBJECT OUTPUT MAP [PROGRAM_STATS]
run_beed() {
	local name=$1 rep=$2 obj=$3 output=$4 map=$5 stats=${6:-false} cfg=$WORK/$1.$2.toml err=$WORK/$1.$2.err
	local pid c0 p0 g lost got prev same scrape=$WORK/$1.$2.metrics c1 p1 rss i up port url
	port=$(free_port)
	url=http://127.0.0.1:$port/metrics
	cat >"$cfg" <<-EOF
		[metrics]
		listen = "127.0.0.1:$port"
		program_stats = $stats
		[events]
		output = "$output"
		[poll]
		latency = "${LAT_MS}ms"
		[probes.bench]
		object = "$obj"
	EOF
	"${PIN_CONS[@]}" "$BEED" --config "$cfg" >/dev/null 2>"$err" &
	pid=$!
	PIDS+=("$pid")
	# ready when the metrics say the probe is up (loaded, attached, ring buffer polled)
	for ((i = 0; ; i++)); do
		kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; die "beed exited during start-up"; }
		up=$(curl -fsS --max-time 2 "$url" 2>/dev/null | awk '$1 == "beed_probe_up{probe=\"bench\"}" {print $2}' || true)
		[[ $up == 1 ]] && break
		[[ $up == 0 ]] && { cat "$err" >&2; die "beed could not load the bench probe"; }
		((i < 1500)) || { cat "$err" >&2; die "beed not ready after 30s"; }
		sleep 0.02
	done
	c0=$(cpu_ns "$pid" beed-engine)
	p0=$(cpu_ns "$pid")
	g=$(run_gen)
	lost=$(lost_of "$pid")
	# wait until beed has read everything the probe submitted
	prev=-1 same=0
	for ((i = 0; i < 1500; i++)); do
		curl -fsS --max-time 5 "$url" >"$scrape" || die "scraping $url failed"
		got=$(awk -v m="$map" '$1 ~ /^beed_events_total{/ && index($1, "map=\"" m "\"") {print $NF}' "$scrape")
		got=${got:-0}
		((got + lost >= N)) && break
		if ((got == prev)); then ((++same >= 50)) && break; else same=0; fi
		prev=$got
		sleep 0.02
	done
	c1=$(cpu_ns "$pid" beed-engine)
	p1=$(cpu_ns "$pid")
	rss=$(awk '/^VmHWM:/ {print $2}' /proc/"$pid"/status)
	if [[ $map == counter_* ]]; then
		local counted
		counted=$(metric_sum "$scrape" "ebpf_solo_io_$map")
		((counted == got)) || die "$name: ebpf_solo_io_$map sums to $counted but beed_events_total is $got"
	fi
	kill -TERM "$pid"
	wait_exit "$pid" 30 || die "beed exited with an error on SIGTERM (see $err)"
	PIDS=()
	record "$name" "$rep" "$N" "$got" "$lost" "$((c1 - c0))" "$((p1 - p0))" \
		"$(field ns_per_iter "$g")" "$(field events_per_s "$g")" "-" "$rss"
}

# ------------------------------------------------------------------- runs ---
LAT_US=$((LAT_MS * 1000))
PRINT_O=$BIN/bench_print.bpf.o
COUNTER_O=$BIN/bench_counter.bpf.o
CONFIGS=(baseline probe_filtered c_count c_count_batch beed_counter beed_counter_stats c_json c_json_batch beed_print_stdout beed_print_none)
# share of all CPUs busy over one second, from /proc/stat
busy_pct() {
	local a b
	a=$(head -1 /proc/stat)
	sleep 1
	b=$(head -1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y); t = 0
		for (i = 2; i <= n && i <= 9; i++) t += y[i] - x[i]
		idle = (y[5] - x[5]) + (y[6] - x[6])
		printf "%.0f", (t > 0 ? 100 * (t - idle) / t : 0) }'
}
BUSY0=$(busy_pct)
((BUSY0 <= 10)) || log "warning: ${BUSY0}% of the CPUs were busy before the runs: expect noisy figures"
start=$SECONDS
for ((rep = 1; rep <= REPS; rep++)); do
	log "round $rep/$REPS"
	for c in "${CONFIGS[@]}"; do
		case $c in
		baseline) run_baseline "$rep" ;;
		probe_filtered) run_filtered "$rep" ;;
		c_count) run_c "$c" "$rep" "$COUNTER_O" count 0 ;;
		c_count_batch) run_c "$c" "$rep" "$COUNTER_O" count "$LAT_US" ;;
		c_json) run_c "$c" "$rep" "$PRINT_O" json 0 ;;
		c_json_batch) run_c "$c" "$rep" "$PRINT_O" json "$LAT_US" ;;
		beed_counter) run_beed "$c" "$rep" "$COUNTER_O" none counter_events ;;
		beed_counter_stats) run_beed "$c" "$rep" "$COUNTER_O" none counter_events true ;;
		beed_print_stdout) run_beed "$c" "$rep" "$PRINT_O" stdout print_events ;;
		beed_print_none) run_beed "$c" "$rep" "$PRINT_O" none print_events ;;
		esac
	done
done
log "throughput runs took $((SECONDS - start))s"
BUSY1=$(busy_pct)

# start to READY and peak RSS with the built-in probes
RSS_CFG=$WORK/builtins.toml
cat >"$RSS_CFG" <<EOF
[metrics]
listen = "127.0.0.1:0"
[events]
output = "none"
[probes.exitsnoop]
[probes.tcpconnect]
EOF
STARTUP=$WORK/startup.txt
: >"$STARTUP"
for ((rep = 1; rep <= REPS; rep++)); do
	"$BIN/ready" -s 1000 -t 60 -- "$BEED" --config "$RSS_CFG" >>"$STARTUP" 2>"$WORK/startup.$rep.err" ||
		{ cat "$WORK/startup.$rep.err" >&2; die "beed with the built-ins did not reach READY or stop cleanly"; }
	tail -1 "$STARTUP" | grep -q 'notify_status=2 probes up, 0 failed' ||
		{ cat "$WORK/startup.$rep.err" >&2; die "a built-in probe failed to load"; }
done

# ----------------------------------------------------------------- report ---
# median of column COL (1-based, results.tsv) for CONFIG
median() {
	awk -F'\t' -v c="$1" -v k="$2" '$1 == c {print $k}' "$RESULTS" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# max of column for CONFIG
maxcol() { awk -F'\t' -v c="$1" -v k="$2" '$1 == c && $k > m {m = $k} END {print m + 0}' "$RESULTS"; }
# per-run CPU ns/event (column 6 or 7 over received), median
median_per_event() {
	awk -F'\t' -v c="$1" -v k="$2" '$1 == c && $4 > 0 {print $k / $4}' "$RESULTS" | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
median_startup() {
	sed -nE "s/.* $1=([^ ]*).*/\\1/p" "$STARTUP" | sort -g |
		awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

declare -A LABEL=(
	[c_count]="C libbpf, counting callback, poll again at once"
	[c_count_batch]="C libbpf, counting callback, ${LAT_MS} ms sleep after each drain"
	[beed_counter]="**beed counter path** (\`counter_events\`, poll.latency ${LAT_MS}ms)"
	[beed_counter_stats]="beed counter path with metrics.program_stats = true (BPF run-time statistics on)"
	[c_json]="C libbpf, snprintf JSON → /dev/null, poll again at once"
	[c_json_batch]="C libbpf, snprintf JSON → /dev/null, ${LAT_MS} ms sleep after each drain"
	[beed_print_stdout]="**beed print path** (\`print_events\`, output stdout → /dev/null)"
	[beed_print_none]="beed print path, output none (decode skipped, counted only)"
)

BASE=$(median baseline 8)
declare -A CPU PROC ADDED
TABLE=$WORK/table.md
{
	echo "| consumer | events sent | events received (min) | drops (max) | consumer CPU ns/event | whole process CPU ns/event | events/s one core could take (millions) | generator events/s | traced ns/iteration | traced-side added ns/event |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '| no probe attached (baseline) | – | – | – | – | – | – | %.0f | %.1f | 0 |\n' "$(median baseline 9)" "$BASE"
	iter=$(median probe_filtered 8)
	printf '| probe attached, every call filtered out (no event written) | – | – | – | – | – | – | %.0f | %.1f | %.1f |\n' \
		"$(median probe_filtered 9)" "$iter" "$(awk -v a="$iter" -v b="$BASE" 'BEGIN {printf "%.1f", a - b}')"
	for c in "${CONFIGS[@]:2}"; do
		CPU[$c]=$(median_per_event "$c" 6)
		PROC[$c]=$(median_per_event "$c" 7)
		iter=$(median "$c" 8)
		ADDED[$c]=$(awk -v a="$iter" -v b="$BASE" 'BEGIN {printf "%.1f", a - b}')
		minrecv=$(awk -F'\t' -v c="$c" '$1 == c {if (m == "" || $4 < m) m = $4} END {print m}' "$RESULTS")
		printf '| %s | %d | %d | %d | %.1f | %.1f | %.2f | %.0f | %.1f | %s |\n' "${LABEL[$c]}" "$N" "$minrecv" \
			"$(maxcol "$c" 5)" "${CPU[$c]}" "${PROC[$c]}" "$(awk -v x="${CPU[$c]}" 'BEGIN {print (x > 0 ? 1e3 / x : 0)}')" \
			"$(median "$c" 9)" "$iter" "${ADDED[$c]}"
	done
} >"$TABLE"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
verdict() { awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN {print ((a <= k * b) ? "**met**" : "**missed**")}'; }
total_drops=$(awk -F'\t' '$1 != "baseline" {d += $5; m += ($3 - $4 - $5 > 0 ? $3 - $4 - $5 : 0)} END {print d + m}' "$RESULTS")
beed_drops=$(awk -F'\t' '$1 ~ /^beed_/ {d += $5 + ($3 - $4 - $5 > 0 ? $3 - $4 - $5 : 0)} END {print d + 0}' "$RESULTS")
RESULT_TEXT=$WORK/results.md
{
	echo "## Results"
	echo
	echo "- run: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)')"
	echo "- machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r); CPUs ${BUSY0}% busy in the second before the runs and ${BUSY1}% in the second after (anything but ~0% means something else was running)"
	echo "- $N events per run, median of $REPS runs per row (rows interleaved round by round), 40-byte events, ${RB_MB} MiB ring buffer, beed poll.latency ${LAT_MS}ms$([[ $PIN == 1 ]] && echo ', generator pinned to the last CPU and consumer to CPU 0 (taskset)')"
	echo "- command: \`make bench\` (= \`benches/run.sh\`; BENCH_EVENTS=$N BENCH_REPS=$REPS BENCH_LATENCY_MS=$LAT_MS BENCH_RINGBUF_MB=$RB_MB BENCH_PIN=$PIN)"
	echo
	cat "$TABLE"
	echo
	echo "Targets:"
	echo
	echo "- beed counter path CPU/event ≤ 3× the C counting consumer's: $(verdict "${CPU[beed_counter]}" "${CPU[c_count]}" 3) against the poll-at-once C consumer ($(ratio "${CPU[beed_counter]}" "${CPU[c_count]}")×); against the C consumer that batches like beed: $(ratio "${CPU[beed_counter]}" "${CPU[c_count_batch]}")× ($(verdict "${CPU[beed_counter]}" "${CPU[c_count_batch]}" 3) at 3×)"
	echo "- beed print path (stdout) CPU/event ≤ the C JSON consumer's: $(verdict "${CPU[beed_print_stdout]}" "${CPU[c_json]}" 1) against the poll-at-once C consumer ($(ratio "${CPU[beed_print_stdout]}" "${CPU[c_json]}")×); against the batching one: $(ratio "${CPU[beed_print_stdout]}" "${CPU[c_json_batch]}")× ($(verdict "${CPU[beed_print_stdout]}" "${CPU[c_json_batch]}" 1))"
	echo "- zero drops at the generator's rate: beed $([[ $beed_drops == 0 ]] && echo '**met**' || echo "**missed** ($beed_drops events lost over all beed runs)"); all consumers together lost $total_drops"
	echo "- metrics.program_stats (the kernel's BPF run-time statistics on): the traced side pays $(awk -v a="${ADDED[beed_counter_stats]}" -v b="${ADDED[beed_counter]}" 'BEGIN {printf "%.1f", a - b}') ns more per event than the same counter path with statistics off (${ADDED[beed_counter_stats]} vs. ${ADDED[beed_counter]} ns)"
	echo "- traced-side added cost per event: beed counter ${ADDED[beed_counter]} ns, beed print ${ADDED[beed_print_stdout]} ns, vs. ${ADDED[c_count]} / ${ADDED[c_json]} ns for the C consumers polling at once and ${ADDED[c_count_batch]} / ${ADDED[c_json_batch]} ns batching"
	echo
	echo "### beed with the built-in probes (exitsnoop, tcpconnect), output none"
	echo
	echo "| exec → READY=1 (sd_notify) ms | peak RSS (VmHWM) 1 s after READY, MiB | SIGTERM → exit ms |"
	echo "|---:|---:|---:|"
	printf '| %.1f | %.1f | %.1f |\n' "$(median_startup ready_ms)" "$(awk -v k="$(median_startup vmhwm_kb)" 'BEGIN {print k / 1024}')" "$(median_startup stop_ms)"
	echo
	echo "Peak RSS of beed during the throughput runs (max over runs): counter $(awk -v k="$(maxcol beed_counter 11)" 'BEGIN {printf "%.1f", k / 1024}') MiB, print to stdout $(awk -v k="$(maxcol beed_print_stdout 11)" 'BEGIN {printf "%.1f", k / 1024}') MiB."
	echo
	echo "<details><summary>every run (ns, events)</summary>"
	echo
	echo "| config | round | sent | received | drops | consumer CPU ns | process CPU ns | traced ns/iter | generator events/s | C polls returning events | beed VmHWM kB |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	sort -t$'\t' -k1,1 -k2,2n "$RESULTS" | awk -F'\t' -v OFS=' | ' '{$1 = $1; print "| " $0 " |"}'
	echo
	echo "</details>"
} >"$RESULT_TEXT"

log "hash map walk and /metrics render: cargo bench --bench walk"
{
	echo
	echo "## Hash map walk and /metrics render"
	echo
	echo "Command: \`cargo bench --bench walk\` (part of \`make bench\`; source \`benches/walk.rs\`). A real"
	echo "BPF_MAP_TYPE_HASH with 12-byte keys {saddr, daddr, dport} and u64 counts, filled"
	echo "from user space. *raw batch lookup* is beed's walker alone (BPF_MAP_LOOKUP_BATCH"
	echo "into reused buffers, nothing done per entry): the baseline of the same run."
	echo "*beed walk → counter* adds what a counter map costs per entry (label-set lookup,"
	echo "value decode, stale-series sweep); the first walk also builds every label set."
	echo "*libbpf-rs lookup_batch* is the crate's iterator (two Vecs per entry); it stops"
	echo "early on large hash maps (\"saw N\"), one reason beed has its own walker."
	echo "*/metrics render* is a full scrape body with that many series."
	echo
	(cd "$ROOT" && cargo bench --bench walk 2>/dev/null) | grep '^|'
} >>"$RESULT_TEXT"

default_header() {
	cat <<'EOF'
# beed benchmarks

Run with `make bench` as root. It builds `target/release/beed`, the bench
probe, the generator and the C consumers, runs everything and rewrites the
results below (about 2–3 minutes, a clean cargo build included). Knobs:
`BENCH_EVENTS`, `BENCH_REPS`, `BENCH_LATENCY_MS`, `BENCH_RINGBUF_MB`,
`BENCH_PIN` (see `benches/run.sh`). Run it on an otherwise idle machine.

## What is measured

A generator (`benches/gen.c`) names itself `beebenchgen` and calls
`getppid()` in a tight loop. The probe (`benches/bench_probe.bpf.c`, on
`tracepoint/syscalls/sys_enter_getppid`) submits one 40-byte event per call
of that process into a ring buffer (16 MiB by default), and counts failed reservations in
a per-CPU `beed_lost` map. It is compiled twice: the ring buffer is named
`print_events` (beed's print path: pid, tid, seq, comm, ts) or
`counter_events` (beed's counter path: cpu_bucket, kind, comm, two pads; at
most 4 label sets). Each consumer runs alone with the generator, pinned to
CPU 0 while the generator is pinned to the last CPU (`BENCH_PIN=0` lets the
scheduler place them). Every configuration runs `BENCH_REPS` times, round by
round, and the table shows medians:

- **C libbpf** (`benches/c_consumer.c`, Debian's libbpf): `ring_buffer__poll`
  with a callback that counts, or that formats the event as the same JSON line
  beed writes, with `snprintf`, and `fwrite`s it to stdout (→ /dev/null).
  "poll again at once" goes straight back to `epoll_wait` after draining, the
  classic libbpf loop; "sleep after each drain" sleeps the same latency as
  beed's `[poll] latency` after every poll that returned events.
- **beed** (`target/release/beed`) with a generated config loading the same
  object as `[probes.bench]`, metrics on 127.0.0.1, events to stdout
  (→ /dev/null) or `none`; the counter path once more with
  `metrics.program_stats = true`, which turns the kernel's BPF run-time
  statistics on: the difference in traced-side cost is what statistics cost
  every BPF program on the host.

Columns:

- **events received / drops**: records the consumer read (lowest of the runs)
  and failed reservations counted by the probe (highest of the runs).
- **consumer CPU ns/event**: on-CPU time of the consuming thread while the
  generator ran and until everything was read, over events received. C:
  `getrusage` user+sys of the (single-threaded) consumer. beed: the
  `beed-engine` thread's `/proc/PID/task/TID/schedstat`. **whole process**
  adds beed's other threads (main, HTTP, which also answers the scrapes the
  harness uses to see that beed is done).
- **events/s one core could take**: 1e9 / consumer CPU ns per event (in millions):
  the rate at which the consumer would saturate one CPU.
- **generator events/s**: the offered rate (= events delivered, when there are
  no drops).
- **traced ns/iteration**: the generator's loop time per `getppid()` with that
  consumer attached; **traced-side added ns/event** subtracts the baseline
  measured in the same run with no probe attached. This is what every traced
  process pays per event: the probe, the ring buffer and the wakeups the
  consumer's polling style causes. The "filtered out" row runs the generator
  under another name, so the probe runs on every call but writes nothing: the
  price of the attached syscall tracepoint alone.
- beed's start-up: exec until beed sends `READY=1` on `NOTIFY_SOCKET`
  (`benches/ready.c`), peak RSS (`VmHWM`) one second later, and the time from
  SIGTERM to exit.

Targets (from the issue): counter path within 3× the C counting consumer's CPU
per event, print path at or below the C JSON consumer's, zero drops at the
generator's rate.

EOF
	echo "$MARKER"
}

if [[ -n $OUT ]]; then
	if [[ -f $OUT ]] && grep -qF "$MARKER" "$OUT"; then
		sed "/^$(printf '%s' "$MARKER" | sed 's/[][\/.*^$]/\\&/g')\$/q" "$OUT" >"$WORK/head.md"
	else
		default_header >"$WORK/head.md"
	fi
	{ cat "$WORK/head.md"; echo; cat "$RESULT_TEXT"; } >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
	log "wrote $OUT"
fi
cat "$RESULT_TEXT"
