# shellcheck shell=bash
# Judges the matrix results and prints the table; sourced by run.sh and
# arm64.sh (bash, after lib.sh), which set RES, KERNELS, KVER, KDIR, KINDS,
# KEY, WALL, CONNECTS, WORK, START, QEMU, and:
#   ARCH          the guests' architecture, x86_64 or aarch64 (syscall numbers)
#   HOST_PORT     the host run's metrics port (x86_64: $RES/host)
#   COMMAND       what produced the run, for the header (markdown)
#   TITLE         the report's title (default "Kernel matrix results")
#   NOTES         lines for the header after "Whole run" (optional)
#   RESULTS       the report file (default $WORK/RESULTS.md)
#   KERNEL_EXPECTED_FAILURES  per series, " kind kind ": kinds that must fail
#                 cleanly there (optional associative array)
# Exits 0 only if everything that should work worked and every failure was
# clean.

# section NAME of results file F
sect() { awk -v n="$2" '$0 == "@@BEGIN " n { on = 1; next } $0 == "@@END " n { on = 0 } on' "$1"; }
# the value after "@@TAG [name] " in F
tag() { awk -v t="@@$2" -v n="${3:-}" '$1 == t && (n == "" || $2 == n) { print (n == "" ? $2 : $3); exit }' "$1"; }
# value of the first sample of METRIC carrying every label=value given
sample() { # FILE METRIC label=value...
	local f=$1 m=$2
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
# the failure message of PROBE in LOG, continuation lines joined with " | "
errmsg() { # LOG PROBE
	awk -v p="probe $2 failed: " '
		found && /^  / { printf " | %s", substr($0, 3); next }
		found { exit }
		index($0, p) { found = 1; printf "%s", substr($0, index($0, p) + length(p)) }
		END { if (found) print "" }' "$1"
}
num() { awk -v v="${1:-0}" 'BEGIN { printf "%d", v + 0 }'; }

HOST_EXPECTED_FAILURES=" kprobe kretprobe ksyscall fentry fexit lsm kp_tcpconnect "
declare -p KERNEL_EXPECTED_FAILURES >/dev/null 2>&1 || declare -A KERNEL_EXPECTED_FAILURES=()
# getppid's syscall number, what the syscount example counts
case ${ARCH:-x86_64} in
x86_64) GETPPID_NR=110 ;;
aarch64) GETPPID_NR=173 ;;
*) die "report.sh: ARCH=$ARCH: x86_64 or aarch64" ;;
esac
RESULTS=${RESULTS:-$WORK/RESULTS.md}
ROWS=("${KINDS[@]}" kp_tcpconnect exitsnoop tcpconnect)
declare -A LABEL=([kp_tcpconnect]="kprobe+kretprobe tcpconnect" [exitsnoop]="built-in exitsnoop" [tcpconnect]="built-in tcpconnect")
COLS=()
[[ -f $RES/host ]] && COLS+=(host)
for s in $KERNELS; do COLS+=("$s"); done

PROBLEMS=()
problem() { PROBLEMS+=("$*"); }
declare -A CELL HEAD BROKEN PORTOF
for c in "${COLS[@]}"; do
	f=$RES/$c
	sect "$f" main-log >"$RES/$c.main.log"
	sect "$f" main-metrics >"$RES/$c.main.metrics"
	sect "$f" btf-log >"$RES/$c.btf.log"
	sect "$f" btf-metrics >"$RES/$c.btf.metrics"
	kv=$(tag "$f" KERNEL)
	HEAD[$c]=$([[ $c == host ]] && echo "host ${kv:-?}" || echo "${kv:-$c}")
	PORTOF[$c]=$([[ $c == host ]] && echo "$HOST_PORT" || echo 9091)
	why=
	if ! grep -q '^@@DONE' "$f"; then
		why="the run did not finish"
		[[ -f $RES/$c.console ]] && grep -qE 'Kernel panic|BUG:|Oops' "$RES/$c.console" && why="$why (kernel panic/oops: see $RES/$c.console)"
		grep -q '^@@GUARD' "$f" && why="$why (guest timeout)"
		[[ $c != host && $(cut -d' ' -f2 "$RES/$c.wall" 2>/dev/null) == 124 ]] && why="$why (qemu killed after QEMU_TIMEOUT=${QEMU_TIMEOUT}s)"
	fi
	st=$(grep -m1 '^@@STATUS main ' "$f" || true)
	[[ $st == *alive=1* ]] || why="${why:+$why; }beed was not running at the end of the main phase (${st:-no status})"
	for bs in $(grep -E '^@@STATUS (main|btf) alive=1 exit=' "$f" | sed 's/^@@STATUS \([a-z]*\) .*exit=/\1:/' || true); do
		[[ ${bs#*:} == 0 ]] || problem "${HEAD[$c]:-$c}: beed (${bs%%:*} phase) exited with status ${bs#*:} on SIGTERM (panic, or had to be killed)"
	done
	grep -q 'panicked' "$RES/$c.main.log" && why="${why:+$why; }beed panicked (see $RES/$c.main.log)"
	[[ -s $RES/$c.main.metrics ]] || why="${why:+$why; }no metrics scraped"
	if [[ $c != host ]]; then
		sect "$f" dmesg >"$RES/$c.dmesg"
		splat=$(grep -m3 -E 'BUG:|WARNING:|Oops|Call Trace|general protection|Kernel panic' "$RES/$c.dmesg" "$RES/$c.console" 2>/dev/null || true)
		[[ -z $splat ]] || problem "${HEAD[$c]}: the kernel logged: $(echo "$splat" | tr '\n' ' ')"
	fi
	if [[ -n $why ]]; then BROKEN[$c]=$why; problem "${HEAD[$c]}: $why"; fi
	for r in "${ROWS[@]}"; do
		m=$RES/$c.main.metrics
		up=$(sample "$m" beed_probe_up probe="$r")
		case $r in
		kp_tcpconnect) hits=$(sample "$m" ebpf_solo_io_counter_connections_kp probe="$r" daddr=127.0.0.1 saddr=127.0.0.1) ;;
		exitsnoop) hits=$(sample "$m" beed_events_total probe="$r") ;;
		tcpconnect) hits=$(sample "$m" ebpf_solo_io_counter_connections probe="$r" daddr=127.0.0.1 dport="${PORTOF[$c]}") ;;
		*) hits=$(sample "$m" ebpf_solo_io_counter_hits probe="$r" kind="${KEY[$r]}") ;;
		esac
		hits=$(num "$hits")
		err=$(errmsg "$RES/$c.main.log" "$r")
		if [[ $up == 1 ]]; then
			if [[ $hits -gt 0 ]]; then
				cell="attached ($hits hits)"
			elif [[ $r == iter ]]; then
				cell="attached"
			else
				cell="FAILED (attached, 0 hits)"
			fi
		elif [[ -n $err && ($err == *.bpf.o* || $err == *'SEC("'* || $err == *built-in*) ]]; then
			cell="clean failure"
		else
			cell="FAILED"
		fi
		[[ -n ${BROKEN[$c]:-} ]] && cell="FAILED"
		CELL[$c,$r]=$cell
		expected_ok=1
		[[ $c == host && $HOST_EXPECTED_FAILURES == *" $r "* ]] && expected_ok=0
		[[ ${KERNEL_EXPECTED_FAILURES[$c]:-} == *" $r "* ]] && expected_ok=0
		case $cell in
		attached*) ;;
		"clean failure")
			if [[ $expected_ok == 1 ]]; then
				problem "${HEAD[$c]}: $r should attach but failed: $err"
			fi
			;;
		*) [[ -z ${BROKEN[$c]:-} ]] && problem "${HEAD[$c]}: $r: $cell${err:+: $err}${up:+ (beed_probe_up $up)}" ;;
		esac
	done
done

# exact counts and btf_path, guests only
declare -A EXACT BTF TIMES
for c in "${COLS[@]}"; do
	f=$RES/$c
	m=$RES/$c.main.metrics
	if [[ $c == host ]]; then
		# not asserted: the host is shared, the built-in counts every netns
		kp="n/a"
		[[ ${CELL[$c,kp_tcpconnect]} == attached* ]] && kp="$(num "$(sample "$m" ebpf_solo_io_counter_connections_kp probe=kp_tcpconnect daddr=127.0.0.1 saddr=127.0.0.1)")/$CONNECTS"
		EXACT[$c]="kprobe $kp, built-in $(num "$(sample "$m" ebpf_solo_io_counter_connections probe=tcpconnect daddr=127.0.0.1 dport="$HOST_PORT")")/$CONNECTS"
		BTF[$c]="not run"
		TIMES[$c]="beed ready $(tag "$f" TIME main_ready)s, whole run ${WALL[host]}s"
		continue
	fi
	kp=$(num "$(sample "$m" ebpf_solo_io_counter_connections_kp probe=kp_tcpconnect daddr=127.0.0.1 saddr=127.0.0.1)")
	tc=$(num "$(sample "$m" ebpf_solo_io_counter_connections probe=tcpconnect daddr=127.0.0.1 saddr=127.0.0.1 dport=9091)")
	EXACT[$c]="kprobe $kp/$CONNECTS, built-in $tc/$CONNECTS"
	[[ $kp == "$CONNECTS" ]] || problem "${HEAD[$c]}: kprobe tcpconnect counted $kp loopback connects, expected exactly $CONNECTS"
	[[ $tc == "$CONNECTS" ]] || problem "${HEAD[$c]}: built-in tcpconnect counted $tc loopback connects to :9091, expected exactly $CONNECTS"
	setup=$(grep -m1 '^@@STATUS btf setup=' "$f" | sed 's/.*setup=//' || true)
	b=$RES/$c.btf.metrics
	with_up=$(sample "$b" beed_probe_up probe=kp_btf_path)
	with_n=$(num "$(sample "$b" ebpf_solo_io_counter_connections_kp probe=kp_btf_path daddr=127.0.0.1 saddr=127.0.0.1)")
	without_up=$(sample "$b" beed_probe_up probe=kp_no_btf)
	without_err=$(errmsg "$RES/$c.btf.log" kp_no_btf)
	bst=$(grep -m1 '^@@STATUS btf alive=' "$f" || true)
	if [[ $setup != ok ]]; then
		BTF[$c]="FAILED (setup: ${setup:-not run})"
	elif [[ $bst != *alive=1* ]] || grep -q panicked "$RES/$c.btf.log"; then
		BTF[$c]="FAILED (beed did not survive: ${bst:-no status})"
	elif [[ $with_up == 1 && $with_n == "$CONNECTS" && $without_up == 0 && $without_err == *btf_path* ]]; then
		BTF[$c]="ok: with btf_path loaded, $with_n/$CONNECTS connects; without: clean failure"
	else
		BTF[$c]="FAILED (with btf_path: up=${with_up:-?} count=$with_n; without: up=${without_up:-?} ${without_err:+error names BTF: $([[ $without_err == *BTF* ]] && echo yes || echo no)})"
	fi
	[[ ${BTF[$c]} == ok* ]] || problem "${HEAD[$c]}: btf_path: ${BTF[$c]}"
	TIMES[$c]="user space $(tag "$f" BOOT)s after boot, beed ready $(tag "$f" TIME main_ready)s, matrix $(tag "$f" TIME matrix)s, qemu ${WALL[$c]}s"
	TIMES[$c]=${TIMES[$c]// s,/ ?,}
	TIMES[$c]=${TIMES[$c]/user space s /user space ? }
done

# the examples: every one through the verifier (--check-config --load);
# execsnoop, opensnoop, syscount, syscount_comm and runqlat attached and fed
# (matrix.sh: a file read and one run of the target, EXAMPLE_CALLS getppid)
EXAMPLE_CALLS=7
declare -A EXVER EXDATA
for c in "${COLS[@]}"; do
	f=$RES/$c
	for part in check log metrics events; do sect "$f" "examples-$part" >"$RES/$c.examples-$part"; done
	st=$(grep -m1 '^@@STATUS examples check=' "$f" || true)
	want=$(sed -n 's/.*expected=\([0-9]*\).*/\1/p' <<<"$st")
	ok=$(grep -c ': ok (.*loaded into the kernel and verified' "$RES/$c.examples-check" || true)
	if [[ -n $want && $st == *check=0* && $ok == "$want" ]]; then
		EXVER[$c]="$ok/$want verified"
	else
		EXVER[$c]="FAILED (${st:-not run}; $ok verified)"
		problem "${HEAD[$c]}: examples, --check-config --load: ${EXVER[$c]}: $(grep -m1 'error' "$RES/$c.examples-check" | cut -c1-300)"
	fi
	m=$RES/$c.examples-metrics
	ev=$RES/$c.examples-events
	missing=()
	grep -q '"mapName":"print_execs".*"comm":"uprobe_target"' "$ev" || missing+=(execsnoop)
	grep '"mapName":"print_opens"' "$ev" | grep '/beedex-open"' | grep -q '"ret":[0-9]' || missing+=(opensnoop)
	nr=$(num "$(sample "$m" ebpf_solo_io_counter_syscalls nr="$GETPPID_NR")")
	bycomm=$(num "$(sample "$m" ebpf_solo_io_counter_syscalls_by_comm comm=uprobe_target)")
	runq=$(num "$(sample "$m" ebpf_solo_io_hist_runqlat_usecs_count probe=runqlat)")
	[[ $nr -ge $EXAMPLE_CALLS ]] || missing+=("syscount (getppid $nr)")
	[[ $bycomm -ge $EXAMPLE_CALLS ]] || missing+=("syscount_comm ($bycomm)")
	[[ $runq -gt 0 ]] || missing+=(runqlat)
	if ((${#missing[@]} == 0)); then
		EXDATA[$c]="ok: exec and open events, getppid $nr/$EXAMPLE_CALLS+, uprobe_target $bycomm syscalls, $runq run-queue samples"
	else
		EXDATA[$c]="FAILED (no data from: ${missing[*]})"
		problem "${HEAD[$c]}: examples: ${EXDATA[$c]} (log: $RES/$c.examples-log)"
	fi
done

# the installed package run as its unit says (matrix.sh phase_unit; only
# where a guest ran it): ExecStartPre passed, ExecStart ready with the
# packaged config, both built-ins up with an exec event and the connects
declare -A UNITRUN=()
for c in "${COLS[@]}"; do
	f=$RES/$c
	grep -q '^@@STATUS unit ' "$f" || continue
	for part in pre log metrics events; do sect "$f" "unit-$part" >"$RES/$c.unit-$part"; done
	m=$RES/$c.unit-metrics
	setup=$(grep -m1 '^@@STATUS unit setup=' "$f" | sed 's/.*setup=//' || true)
	pre=$(grep -m1 '^@@STATUS unit pre=' "$f" | sed 's/.*pre=//' || true)
	st=$(grep -m1 '^@@STATUS unit alive=' "$f" || true)
	listen=$(tag "$f" UNIT listen)
	ex_up=$(sample "$m" beed_probe_up probe=exitsnoop)
	tc_up=$(sample "$m" beed_probe_up probe=tcpconnect)
	tc=$(num "$(sample "$m" ebpf_solo_io_counter_connections probe=tcpconnect daddr=127.0.0.1 dport="${listen##*:}")")
	ev=$(grep -c '"probe":"exitsnoop"' "$RES/$c.unit-events" || true)
	bad=()
	[[ $setup == ok ]] || bad+=("setup: ${setup:-not run}")
	[[ $pre == 0 ]] || bad+=("ExecStartPre exited ${pre:-?}: $(head -c 300 "$RES/$c.unit-pre")")
	[[ -n $(tag "$f" TIME unit_ready) ]] || bad+=("ExecStart never ready: $(grep -m1 -iE 'error|failed' "$RES/$c.unit-log" | cut -c1-300)")
	[[ $st == *alive=1*exit=0* ]] || bad+=("beed: ${st:-no status}")
	[[ $ex_up == 1 && $tc_up == 1 ]] || bad+=("built-ins up: exitsnoop ${ex_up:-?}, tcpconnect ${tc_up:-?}")
	[[ $ev -gt 0 ]] || bad+=("no exitsnoop event of uprobe_target")
	[[ $tc -ge $CONNECTS ]] || bad+=("tcpconnect counted $tc connects to ${listen:-?}, expected >= $CONNECTS")
	if ((${#bad[@]} == 0)); then
		UNITRUN[$c]="ok: ExecStartPre passed, ExecStart ready in $(tag "$f" TIME unit_ready)s, exitsnoop and tcpconnect up, $ev exit events of the target, $tc connects to $listen"
	else
		UNITRUN[$c]="FAILED (${bad[*]})"
		problem "${HEAD[$c]}: the installed unit's commands: ${UNITRUN[$c]}"
	fi
done

# ---------------------------------------------------------------- print
table() {
	local row="| program type |" sep="|---|" r c
	for c in "${COLS[@]}"; do row+=" ${HEAD[$c]} |"; sep+="---|"; done
	echo "$row"
	echo "$sep"
	for r in "${ROWS[@]}"; do
		row="| ${LABEL[$r]:-$r} |"
		for c in "${COLS[@]}"; do row+=" ${CELL[$c,$r]} |"; done
		echo "$row"
	done
	local rows=(EXACT BTF EXVER EXDATA)
	((${#UNITRUN[@]} == 0)) || rows+=(UNITRUN)
	for what in "${rows[@]}" TIMES; do
		case $what in
		EXACT) row="| exact loopback connect count |" ;;
		BTF) row="| btf_path, kernel BTF hidden |" ;;
		EXVER) row="| examples/: --check-config --load |" ;;
		EXDATA) row="| examples/: execsnoop, opensnoop, syscount, syscount_comm, runqlat data |" ;;
		UNITRUN) row="| installed beed.service: ExecStartPre, ExecStart, /etc/bee/beed.toml |" ;;
		TIMES) row="| times |" ;;
		esac
		local -n values=$what
		for c in "${COLS[@]}"; do row+=" ${values[$c]:-} |"; done
		unset -n values
		echo "$row"
	done
}
# every clean failure with its message: what a user reads in the log
failures() {
	local c r
	for c in "${COLS[@]}"; do
		for r in "${ROWS[@]}"; do
			[[ ${CELL[$c,$r]} == "clean failure" ]] || continue
			printf -- '- %s, %s: `` %s ``\n' "${HEAD[$c]}" "$r" "$(errmsg "$RES/$c.main.log" "$r" | cut -c1-300)"
		done
	done
	for c in "${COLS[@]}"; do
		[[ -s $RES/$c.btf.log ]] || continue
		printf -- '- %s, btf_path check, kp_no_btf (kernel BTF hidden, no btf_path): `` %s ``\n' "${HEAD[$c]}" "$(errmsg "$RES/$c.btf.log" kp_no_btf | cut -c1-300)"
	done
}
TOTAL=$(($(date +%s) - START))
step "results"
table | tee "$RES/table.md"
echo
echo "kernel packages: $(for s in $KERNELS; do printf '%s ' "$(basename "${KDIR[$s]}")"; done)"
echo "whole run: ${TOTAL}s; logs, metrics and console output in $RES"
echo
echo "clean failures, as logged:"
failures | cut -c1-400
{
	echo "# ${TITLE:-Kernel matrix results}"
	echo
	echo "Command: ${COMMAND:-\`make test-kernels\` (= \`tests/kernels/run.sh\`)}, as root, on $(date -u +%Y-%m-%d)."
	echo "Host kernel $(uname -r); guests: $(for s in $KERNELS; do printf '%s ' "$(basename "${KDIR[$s]}")"; done)"
	echo "booted with \`${QEMU[*]}\`, $CONNECTS counted loopback connects per phase."
	echo "Whole run: ${TOTAL}s on $(nproc) cores."
	[[ -z ${NOTES:-} ]] || echo "$NOTES"
	echo
	table
	for c in "${COLS[@]}"; do
		[[ -n ${UNITRUN[$c]:-} ]] || continue
		echo
		echo "The installed unit's commands, run in the guests as beed.service names them (no systemd there: as root, unsandboxed):"
		grep -E '^@@UNIT Exec' "$RES/$c" | sed 's/^@@UNIT \([A-Za-z]*\) \(.*\)$/\1=`\2`/' | sed 's/^/- /'
		break
	done
	echo
	echo "Clean failures, as beed logged them (\`probe NAME failed: ...\`, cut at 300 characters):"
	echo
	failures
	if ((${#PROBLEMS[@]})); then
		echo
		echo "Problems:"
		for p in "${PROBLEMS[@]}"; do echo "- $p"; done
	fi
} >"$RESULTS"
echo "report written to $RESULTS"


if ((${#PROBLEMS[@]})); then
	echo
	echo "FAILED: ${#PROBLEMS[@]} problem(s):"
	for p in "${PROBLEMS[@]}"; do echo "  - $p" | cut -c1-600; done
	exit 1
fi
echo
echo "kernel matrix: all passed"
exit 0
