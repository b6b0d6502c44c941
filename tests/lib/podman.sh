# Helpers of the tests that run beed's image under podman
# (tests/container/run.sh, tests/kubernetes/run.sh), sourced after checks.sh.
# shellcheck shell=bash

# CAP_DAC_READ_SEARCH (2), CAP_PERFMON (38), CAP_BPF (39): the capability
# mask the image is documented to need, as /proc/PID/status prints it
BEED_CAPS=$(printf '%016x' $(((1 << 2) | (1 << 38) | (1 << 39))))

stderr_of() { podman logs "$1" 2>&1 >/dev/null; }
stdout_of() { podman logs "$1" 2>/dev/null; }

# proc_status CONTAINER: /proc/PID/status of the container's process
proc_status() { cat "/proc/$(podman inspect --format '{{.State.Pid}}' "$1")/status" 2>/dev/null; }
# status_field STATUS NAME: the first value of line `NAME:` of a status text
status_field() { awk -v f="$2:" '$1 == f { print $2 }' <<<"$1"; }

# exit_event_of CONTAINER COMM: exitsnoop's JSON line of COMM's exit is on
# the container's stdout
exit_event_of() {
	stdout_of "$1" | jq -c --arg comm "$2" \
		'select(.probe == "exitsnoop" and .mapName == "print_exits" and .entry.comm == $comm)' 2>/dev/null | grep -q .
}

# check_loads CONTAINER N DESCRIPTION: beed's log says N probes up, none failed
check_loads() {
	local log
	log=$(stderr_of "$1")
	if grep -q "ready: $2 probes up, 0 failed" <<<"$log"; then
		ok "$3"
	else
		not_ok "$3" "$(tail -n 20 <<<"$log")"
	fi
}

# check_stopped CONTAINER DESCRIPTION: after a stop, beed exited 0, having
# logged the SIGTERM and that every probe was detached
check_stopped() {
	local code log
	code=$(podman inspect --format '{{.State.ExitCode}}' "$1")
	log=$(stderr_of "$1")
	if [ "$code" = 0 ] && grep -q 'SIGTERM: stopping' <<<"$log" && grep -q 'stopped: .* every probe detached' <<<"$log"; then
		ok "$2 (SIGTERM, exit 0, \"stopped\" in its log)"
	else
		not_ok "$2" "exit code $code" "$(tail -n 5 <<<"$log")"
	fi
}
