# Helpers of the shell tests (tests/systemd/run.sh, tests/container/run.sh),
# sourced: one line per check (`ok - ...` / `not ok - ...` with indented
# details), a final `N passed, M failed` line, waits and free ports.
# The sourcing script sets T0=$(date +%s) first.
# shellcheck shell=bash

pass=0 fail=0

say() { printf '# %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - T0))s"; }
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() {
	fail=$((fail + 1))
	echo "not ok - $1"
	shift
	local l
	for l in "$@"; do [ -n "$l" ] && printf '%s\n' "$l" | sed 's/^/#   /'; done
	return 0
}
summary() {
	say "total time $(elapsed)"
	echo "$pass passed, $fail failed"
}
# an infrastructure step failed: nothing after it can be checked
bail() {
	not_ok "$@"
	summary
	exit 1
}

# wait_for SECONDS COMMAND...: retry every 0.5 s until the command succeeds
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.5
	done
}

# port_in_use PORT: a TCP socket of this network namespace is bound to PORT
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v p=":$hex" '$2 ~ p"$" { found = 1 } END { exit !found }'
}

# free_port VAR: set VAR to a random TCP port nobody listens on, not one an
# earlier free_port call of this script handed out
FREE_PORTS_TAKEN=''
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 30000))
		case " $FREE_PORTS_TAKEN " in *" $p "*) continue ;; esac
		port_in_use "$p" && continue
		FREE_PORTS_TAKEN="$FREE_PORTS_TAKEN $p"
		printf -v "$1" '%s' "$p"
		return 0
	done
	return 1
}
