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

# check DESCRIPTION COMMAND...: ok if the command succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# http_code PORT PATH: the HTTP status of GET http://127.0.0.1:PORT/PATH
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1$2"; }

# promql PORT QUERY: the first value of an instant query to the Prometheus
# on 127.0.0.1:PORT, `none` if the result is empty
promql() {
	curl -s --max-time 5 "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" |
		jq -r '.data.result[0].value[1] // "none"' 2>/dev/null
}

# listen_and_connect PORT N: a listener on 127.0.0.1:PORT (its pid in NC_PID,
# for the caller's cleanup) and N TCP connections to it, each closed
listen_and_connect() {
	nc -lk 127.0.0.1 "$1" >/dev/null 2>&1 &
	NC_PID=$!
	wait_for 10 port_in_use "$1" || return 1
	for _ in $(seq 1 "$2"); do
		exec 3<>"/dev/tcp/127.0.0.1/$1" && exec 3>&-
	done
}
