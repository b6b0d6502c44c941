#!/bin/bash
# End-to-end test of the beed Debian package under a real systemd.
#
# Builds the .deb (packaging/build.sh deb), boots a Debian bookworm container
# with systemd-nspawn, installs the package in it the way an operator does
# (dpkg -i: the postinst enables and starts beed), and checks, through
# systemctl, journalctl, curl and bpftool run inside the container:
#   enabled + active after READY, `systemd-analyze verify` and `security`,
#   events in the journal with one field per struct member, the metrics
#   endpoint, reload on `systemctl reload` with a new probes.d file (counters
#   of the other probes survive), a failed reload on an invalid probes.d file
#   (beed keeps running), a probe from an OCI image that bee built and pushed
#   to a registry on the host (pulled into the unit's StateDirectory, run
#   from that cache when the registry is gone; an image that exists nowhere
#   is one failed probe), every tracing attach type under the unit's sandbox
#   (XDP/TC and uprobes with the drop-ins beed(8) documents), the ksym
#   decoder with beed(8)'s CAP_SYSLOG drop-in, the watchdog
#   restarting a stopped beed, and no program left in the kernel after
#   `systemctl stop`.
#
# Prints one line per check (`ok - ...` / `not ok - ...`) and a final
# `N passed, M failed` line; exits non-zero if a check failed.
#
# Needs root. Installs what is missing with apt-get (systemd-container,
# debootstrap, clang, ...). The pristine container root is debootstrapped once
# and cached as a tarball in $BEED_TEST_CACHE (default /var/cache/beed-tests);
# every run unpacks a fresh copy. The Debian mirror is taken from this
# machine's apt sources (override with BEED_TEST_MIRROR).
# BEED_TEST_KEEP=1 keeps the container root after the run for debugging.
# Logs of the last run: target/systemd-test/.
# no pipefail: `producer | grep -q` would fail whenever grep quits early
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CACHE_DIR=${BEED_TEST_CACHE:-/var/cache/beed-tests}
SUITE=bookworm
# no procps: `systemctl reload beed` must work without /bin/kill; curl and
# bpftool are the test's own tools
# clang, llvm and ca-certificates: `bee build` and image pulls and pushes in
# the container, as a user would have them (the package recommends them)
INCLUDE=systemd,systemd-sysv,dbus,curl,bpftool,libelf1,zlib1g,clang,llvm,ca-certificates
LOG_DIR=$REPO/target/systemd-test
CONTAINER_LIFETIME=900 # hard limit on the container, whatever happens to this script

T0=$(date +%s)
# say, elapsed, ok, not_ok, check, summary, bail, wait_for, port_in_use,
# free_port, http_code, promql, listen_and_connect
. "$REPO/tests/lib/checks.sh"
WORK='' TIMEOUT_PID='' NSPAWN_PID='' CPID='' REG_PID='' KEEP=${BEED_TEST_KEEP:-0}

[ "$(id -u)" = 0 ] || { echo "tests/systemd/run.sh: needs root (it boots a container)" >&2; exit 1; }
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log

need_debs() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} = 0 ] && return 0
	say "installing ${missing[*]}"
	timeout 600 apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian archive this machine's apt uses: the first enabled `deb` source
# for a Debian suite (not -security), from deb822 .sources or one-line .list files.
host_mirror() {
	local f
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk 'BEGIN { RS = ""; FS = "\n" }
			{
				types = uris = suites = comps = ""; enabled = "yes"
				for (i = 1; i <= NF; i++) {
					line = $i
					if (line ~ /^[ \t]*#/) continue
					k = line; sub(/:.*/, "", k); v = line; sub(/^[^:]*:[ \t]*/, "", v)
					k = tolower(k)
					if (k == "types") types = v; else if (k == "uris") uris = v
					else if (k == "suites") suites = v; else if (k == "components") comps = v
					else if (k == "enabled") enabled = tolower(v)
				}
				if (enabled == "no" || types !~ /(^| )deb( |$)/ || comps !~ /(^| )main( |$)/) next
				split(uris, u, /[ \t]+/); n = split(suites, s, /[ \t]+/)
				for (j = 1; j <= n; j++) print s[j], u[1]
			}' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[ -f "$f" ] || continue
			# deb [options] URI SUITE COMPONENTS...
			sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && / main( |$)/ { print $3, $2 }'
		done
	} | awk -v want="$SUITE" '
		$1 ~ /-security$/ || $2 !~ /^(https?|file):/ { next }
		$1 == want { print $2; found = 1; exit }
		$1 ~ /^(bullseye|bookworm|trixie|forky|sid|stable|testing|unstable|oldstable)(-updates|-backports)?$/ && fallback == "" { fallback = $2 }
		END { if (!found && fallback != "") print fallback }'
}

# ---------------------------------------------------------------------------
say "host: $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
need_debs systemd-container debootstrap debian-archive-keyring clang libbpf-dev libc6-dev ||
	bail "install the test's Debian packages (systemd-container, debootstrap, clang, libbpf-dev)"

# --- the package -------------------------------------------------------------
say "building the .deb ($(elapsed))"
timeout 1800 "$REPO/packaging/build.sh" deb >"$LOG_DIR/build.log" 2>&1
build_rc=$?
DEB=$(tail -n 1 "$LOG_DIR/build.log")
if [ $build_rc != 0 ] || [ ! -f "$DEB" ]; then
	bail "build the .deb with packaging/build.sh" "$(tail -n 30 "$LOG_DIR/build.log")"
fi
ok "build $(basename "$DEB")"

# a user probe for the reload check, compiled like an operator would
case $(uname -m) in aarch64) BPF_ARCH=arm64 ;; *) BPF_ARCH=x86 ;; esac
USER_OBJ=$LOG_DIR/user_probe.bpf.o
if ! clang -g -O2 -target bpf -D__TARGET_ARCH_$BPF_ARCH -I "$REPO/vmlinux" -I "$REPO/solo_types" \
	-c "$REPO/tests/fixtures/user_probe.bpf.c" -o "$USER_OBJ" 2>"$LOG_DIR/clang.log"; then
	bail "compile tests/fixtures/user_probe.bpf.c" "$(cat "$LOG_DIR/clang.log")"
fi

REJECT_OBJ=$LOG_DIR/verifier_reject.bpf.o
clang -g -O2 -target bpf -D__TARGET_ARCH_$BPF_ARCH -I "$REPO/vmlinux" -I "$REPO/solo_types" \
	-c "$REPO/tests/fixtures/verifier_reject.bpf.c" -o "$REJECT_OBJ" 2>>"$LOG_DIR/clang.log" ||
	bail "compile tests/fixtures/verifier_reject.bpf.c" "$(tail -n 20 "$LOG_DIR/clang.log")"

# one object per attach type (tests/fixtures/attach_types.bpf.c), to check
# that the unit's sandbox lets each of them load and attach; kprobes and BPF
# trampolines (tp_btf, fentry, LSM) are left out: this kernel may lack them,
# which tests/attach.rs covers
ATTACH_KINDS="tracepoint raw_tp perf_event iter" # CAP_BPF + CAP_PERFMON
NET_KINDS="xdp tc"                                # + CAP_NET_ADMIN (drop-in of beed(8))
UPROBE_KINDS="uprobe uretprobe"                   # + CAP_SYS_ADMIN (drop-in of beed(8))
for kind in $ATTACH_KINDS $NET_KINDS $UPROBE_KINDS; do
	clang -g -O2 -target bpf -D__TARGET_ARCH_$BPF_ARCH -DKIND_$kind -I "$REPO/vmlinux" -I "$REPO/solo_types" \
		-c "$REPO/tests/fixtures/attach_types.bpf.c" -o "$LOG_DIR/$kind.bpf.o" 2>>"$LOG_DIR/clang.log" ||
		bail "compile tests/fixtures/attach_types.bpf.c for $kind" "$(tail -n 20 "$LOG_DIR/clang.log")"
done
# the decoders fixture: its `func` is vfs_read's address, for the ksym decoder
clang -g -O2 -target bpf -D__TARGET_ARCH_$BPF_ARCH -I "$REPO/vmlinux" -I "$REPO/solo_types" \
	-c "$REPO/tests/fixtures/decoders.bpf.c" -o "$LOG_DIR/decoders.bpf.o" 2>>"$LOG_DIR/clang.log" ||
	bail "compile tests/fixtures/decoders.bpf.c" "$(tail -n 20 "$LOG_DIR/clang.log")"
# static: it runs inside the container, whatever this host's libc is
cc -O2 -static -o "$LOG_DIR/uprobe_target" "$REPO/tests/fixtures/uprobe_target.c" 2>>"$LOG_DIR/clang.log" ||
	bail "compile tests/fixtures/uprobe_target.c" "$(tail -n 20 "$LOG_DIR/clang.log")"

# --- the pristine root, cached ------------------------------------------------
mkdir -p "$CACHE_DIR"
CACHE_TAR=$CACHE_DIR/$SUITE-minbase-$(echo "$SUITE $INCLUDE" | md5sum | cut -c1-10)-$(dpkg --print-architecture).tar
exec 9>"$CACHE_DIR/.lock"
flock -w 1200 9 || bail "lock $CACHE_DIR/.lock (another run is debootstrapping?)"
rm -rf --one-file-system "$CACHE_DIR"/debootstrap.* "$CACHE_DIR"/*.tar.tmp # left by a killed run
if [ ! -s "$CACHE_TAR" ]; then
	MIRROR=${BEED_TEST_MIRROR:-$(host_mirror)}
	[ -n "$MIRROR" ] || bail "find a Debian mirror in /etc/apt/sources.list{,.d} (set BEED_TEST_MIRROR)"
	say "debootstrap $SUITE from $MIRROR into the cache (once; $(elapsed))"
	tmp=$(mktemp -d "$CACHE_DIR/debootstrap.XXXXXX")
	if ! timeout 1200 debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp/root" "$MIRROR" \
		>"$LOG_DIR/debootstrap.log" 2>&1; then
		rm -rf --one-file-system "$tmp"
		bail "debootstrap $SUITE from $MIRROR" "$(tail -n 20 "$LOG_DIR/debootstrap.log")"
	fi
	rm -f "$tmp"/root/var/cache/apt/archives/*.deb
	tar -C "$tmp/root" --numeric-owner -cf "$CACHE_TAR.tmp" . && mv "$CACHE_TAR.tmp" "$CACHE_TAR"
	rm -rf --one-file-system "$tmp"
	[ -s "$CACHE_TAR" ] || bail "write $CACHE_TAR"
	ok "debootstrap $SUITE (cached in $CACHE_TAR)"
fi
flock -u 9

# --- a fresh root for this run -------------------------------------------------
WORK=$(mktemp -d /var/tmp/beed-systemd-test.XXXXXX)
ROOT=$WORK/root
MACHINE=beedtest-${WORK##*.}
MACHINE=${MACHINE,,}

# The OCI registry of the image checks: Debian's docker-registry (CNCF
# distribution), extracted by `make registry-tool`, run on the host with its
# storage under $WORK. systemd-nspawn runs without --private-network or
# --network-*, so the container shares the host's network namespace and
# reaches it on 127.0.0.1, where bee and beed speak plain HTTP unasked.
# BEE_TEST_REGISTRY names another docker-registry, as for the cargo tests.
REGISTRY_BIN=${BEE_TEST_REGISTRY:-$REPO/target/tools/docker-registry/usr/bin/docker-registry}
# start_registry PORT: serve $WORK/registry/storage on 127.0.0.1:PORT
start_registry() {
	local dir=$WORK/registry v
	mkdir -p "$dir/storage" || return 1
	cat >"$dir/config.yml" <<-EOF
		version: 0.1
		log:
		  level: error
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $dir/storage
		http:
		  addr: 127.0.0.1:$1
		  secret: beed-systemd-test
	EOF
	# REGISTRY_* variables would override the config file
	local drop=()
	for v in $(compgen -e); do [[ $v == REGISTRY_* ]] && drop+=(-u "$v"); done
	env "${drop[@]}" "$REGISTRY_BIN" serve "$dir/config.yml" </dev/null >>"$LOG_DIR/registry.log" 2>&1 &
	REG_PID=$!
}
stop_registry() {
	[ -n "$REG_PID" ] || return 0
	kill -TERM "$REG_PID" 2>/dev/null
	wait "$REG_PID" 2>/dev/null
	REG_PID=
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	stop_registry
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		[ -n "$CPID" ] && timeout 10 nsenter -t "$CPID" -a systemctl poweroff --no-block >/dev/null 2>&1
		for _ in $(seq 1 30); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
		if kill -0 "$NSPAWN_PID" 2>/dev/null; then
			say "the container did not power off: stopping systemd-nspawn ($NSPAWN_PID)"
			kill -TERM "$NSPAWN_PID" 2>/dev/null
			for _ in $(seq 1 20); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
			for pid in $(pgrep -P "$NSPAWN_PID") "$NSPAWN_PID"; do kill -KILL "$pid" 2>/dev/null; done
		fi
	fi
	if [ -n "$TIMEOUT_PID" ] && kill -0 "$TIMEOUT_PID" 2>/dev/null; then
		# systemd-nspawn never showed up, or is gone: end its `timeout` parent
		kill -TERM "$TIMEOUT_PID" 2>/dev/null
		for _ in $(seq 1 20); do kill -0 "$TIMEOUT_PID" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$TIMEOUT_PID" 2>/dev/null
	fi
	[ -n "$TIMEOUT_PID" ] && wait "$TIMEOUT_PID" 2>/dev/null
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ "$KEEP" = 1 ]; then
			say "kept the container root: $ROOT"
		elif findmnt -rn -o TARGET | grep -q "^$WORK"; then
			say "something is still mounted under $WORK: not removing it"
		else
			rm -rf --one-file-system "$WORK"
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "unpacking a fresh root into $ROOT ($(elapsed))"
mkdir -p "$ROOT"
tar -C "$ROOT" --numeric-owner -xf "$CACHE_TAR" || bail "unpack $CACHE_TAR"

# a free port on the (shared) host network for the container's beed
free_port PORT || bail "find a free TCP port"

# the shipped default config, listening on that port
mkdir -p "$ROOT/etc/bee/probes" "$ROOT/etc/bee/probes.d"
sed -E "s|^listen = \"127\\.0\\.0\\.1:[0-9]+\"|listen = \"127.0.0.1:$PORT\"|" "$REPO/packaging/beed.toml" >"$ROOT/etc/bee/beed.toml"
grep -q "^listen = \"127.0.0.1:$PORT\"" "$ROOT/etc/bee/beed.toml" ||
	bail "set metrics.listen in the container's beed.toml" "packaging/beed.toml has no 'listen = \"127.0.0.1:PORT\"' line"
install -m 0644 "$USER_OBJ" "$ROOT/etc/bee/probes/user_probe.bpf.o"
for kind in $ATTACH_KINDS $NET_KINDS $UPROBE_KINDS; do install -m 0644 "$LOG_DIR/$kind.bpf.o" "$ROOT/etc/bee/probes/"; done
install -m 0755 "$LOG_DIR/uprobe_target" "$ROOT/usr/local/bin/uprobe_target"
install -m 0644 "$LOG_DIR/decoders.bpf.o" "$ROOT/etc/bee/probes/"
# the fixture records opens of processes whose comm starts with "beedec"
install -m 0755 "$ROOT/usr/bin/cat" "$ROOT/usr/local/bin/beedecksym"
# a short watchdog for the whole run: missed pings show up as restarts
mkdir -p "$ROOT/etc/systemd/system/beed.service.d"
printf '[Service]\nWatchdogSec=5s\n' >"$ROOT/etc/systemd/system/beed.service.d/50-test-watchdog.conf"
# exitsnoop sees every process exit on the host: keep journald from dropping
# the one this test looks for when the host is busy
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
printf '[Journal]\nRateLimitIntervalSec=0\nStorage=volatile\n' >"$ROOT/etc/systemd/journald.conf.d/50-test.conf"
install -m 0644 "$DEB" "$ROOT/root/beed.deb"
# a process with a name of its own that exits with status 3
EXITER=beedt-$(tr -dc a-z0-9 </dev/urandom | head -c 6)
printf '#!/bin/sh\nexit 3\n' >"$ROOT/usr/local/bin/$EXITER"
chmod 0755 "$ROOT/usr/local/bin/$EXITER"

# --- boot ------------------------------------------------------------------------
say "booting $MACHINE ($(elapsed))"
timeout -k 10 "$CONTAINER_LIFETIME" systemd-nspawn -D "$ROOT" -b --register=no --keep-unit \
	--capability=all --system-call-filter='bpf perf_event_open' --machine="$MACHINE" \
	--console=pipe -- systemd.show_status=1 </dev/null >"$LOG_DIR/console.log" 2>&1 &
TIMEOUT_PID=$!
# systemd-nspawn runs under `timeout`; the container's init is its child
for _ in $(seq 1 100); do
	NSPAWN_PID=$(pgrep -P "$TIMEOUT_PID" -x systemd-nspawn | head -n 1)
	[ -n "$NSPAWN_PID" ] && CPID=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n 1)
	[ -n "$CPID" ] && break
	kill -0 "$TIMEOUT_PID" 2>/dev/null || break
	sleep 0.2
done
[ -n "$CPID" ] || bail "boot the container (no init process)" "$(tail -n 20 "$LOG_DIR/console.log")"

# run a command inside the container: in [T seconds] C cmd...
C() { timeout "${T:-30}" nsenter -t "$CPID" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_COLORS=0 "$@"; }

# systemctl answers once the container's systemd listens on its private socket
wait_for 60 C test -S /run/systemd/private
state=$(T=120 C systemctl is-system-running --wait 2>&1)
case $state in
running) ok "container boots under systemd (system running, $(elapsed))" ;;
degraded) ok "container boots under systemd (degraded: $(C systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' '))" ;;
*) bail "container boots under systemd" "is-system-running: $state" "$(tail -n 20 "$LOG_DIR/console.log")" ;;
esac

# --- install -----------------------------------------------------------------------
T=180 C dpkg -i --force-confdef --force-confold /root/beed.deb >"$LOG_DIR/dpkg.log" 2>&1 ||
	bail "dpkg -i $(basename "$DEB") inside the container" "$(tail -n 30 "$LOG_DIR/dpkg.log")"
ok "dpkg -i installs the package (postinst ran)"

# a journal line of an event (`PROBE MAP field=...`), as journalctl prints it
EVENT_LINE='\]: [A-Za-z0-9_-]+ (print|counter|gauge|hist)_[A-Za-z0-9_]+ '
# beed's and systemd's messages about beed, without the events (for diagnostics)
journal() {
	C journalctl -u beed --no-pager -o short-monotonic -n 2000 2>&1 | grep -vE "$EVENT_LINE" | tail -n "${1:-15}"
}
# the messages of `journalctl ARGS...` without the events: with an execsnoop
# probe loaded, the exec of a `grep PATTERN` reading the journal is an event
# that contains PATTERN
messages() { C journalctl --no-pager "$@" 2>/dev/null | grep -vE "$EVENT_LINE"; }
show() { C systemctl show beed -p "$1" --value 2>/dev/null; }
metrics() { C curl -sS --max-time 5 "http://127.0.0.1:$PORT/metrics" 2>&1; }
# metric_sum NAME [LABEL_REGEX]: sum of the samples of NAME whose labels match
metric_sum() {
	awk -v name="$1" -v re="${2:-.}" '
		$1 ~ "^" name "({|$)" && $1 ~ re { s += $NF; n++ }
		END { if (n) printf "%d\n", s; else print "none" }'
}
probe_up() {
	local m
	m=$(metrics)
	grep -qx "beed_probe_up{probe=\"$1\"} 1" <<<"$m"
}
# the BPF programs the container's process $1 holds (through a program or a
# link fd, as /proc/PID/fdinfo says), as "ID NAME" lines named by bpftool
progs_of() {
	local ids id
	ids=$(C sh -c "cat /proc/$1/fdinfo/* 2>/dev/null" | awk '$1 == "prog_id:" { print $2 }' | sort -un)
	for id in $ids; do
		C bpftool prog show id "$id" 2>/dev/null |
			awk -v id="$id" 'NR == 1 { for (i = 2; i < NF; i++) if ($i == "name") print id, $(i + 1) }'
	done
}

# --- checks ------------------------------------------------------------------------
enabled=$(C systemctl is-enabled beed 2>&1)
active=$(C systemctl is-active beed 2>&1)
if [ "$enabled" = enabled ] && [ "$active" = active ]; then
	ok "beed.service is enabled and active after READY ($(show StatusText))"
else
	not_ok "beed.service is enabled and active after READY" "is-enabled: $enabled, is-active: $active" "$(journal)"
fi
MAIN=$(show MainPID)

out=$(C systemd-analyze verify --man=no beed.service 2>&1)
if [ -z "$out" ]; then
	ok "systemd-analyze verify beed.service is clean"
else
	not_ok "systemd-analyze verify beed.service is clean" "$out"
fi
# the unit's hardening must not regress: raise MAX_EXPOSURE only together with
# packaging/SECURITY-SCORE.md
MAX_EXPOSURE=1.8
score=$(C systemd-analyze security --no-pager beed.service 2>&1 | awk '/Overall exposure level/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) print $i }')
if [ -n "$score" ] && awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
	ok "systemd-analyze security rates beed.service $score (at most $MAX_EXPOSURE)"
else
	not_ok "systemd-analyze security rates beed.service at most $MAX_EXPOSURE" "got: ${score:-nothing}" \
		"$(C systemd-analyze security --no-pager beed.service 2>&1 | grep '✗' | head -n 30)"
fi

m=$(metrics)
if grep -q '^beed_build_info' <<<"$m" && grep -qx 'beed_probe_up{probe="exitsnoop"} 1' <<<"$m" &&
	grep -qx 'beed_probe_up{probe="tcpconnect"} 1' <<<"$m"; then
	ok "metrics endpoint answers on 127.0.0.1:$PORT with both built-in probes up"
else
	not_ok "metrics endpoint answers on 127.0.0.1:$PORT with both built-in probes up" \
		"$(grep -E '^(beed_probe_up|beed_build_info)|curl' <<<"$m" | head -n 10)" "$(journal)"
fi

# an exit event, as a journal entry with one field per struct member
C "/usr/local/bin/$EXITER"
exit_entry() {
	C journalctl -u beed -o json --no-pager "COMM=$EXITER" 2>/dev/null | grep -F "\"COMM\":\"$EXITER\"" | tail -n 1
}
entry=
wait_for 15 eval 'entry=$(exit_entry); [ -n "$entry" ]'
fields_ok=1
for f in '"PROBE":"exitsnoop"' '"MAP":"print_exits"' '"EXIT_CODE":"3"' '"PID":"' '"PPID":"' '"_SYSTEMD_UNIT":"beed.service"'; do
	grep -qF "$f" <<<"$entry" || fields_ok=0
done
if [ -n "$entry" ] && [ $fields_ok = 1 ]; then
	ok "exit of $EXITER (status 3) is in journalctl -u beed -o json with PROBE, MAP, PID, PPID, COMM, EXIT_CODE"
else
	not_ok "exit of $EXITER (status 3) is in journalctl -u beed -o json with PROBE, MAP, PID, PPID, COMM, EXIT_CODE" \
		"entry: ${entry:-none}" \
		"$(C journalctl -u beed -o json --no-pager -n 2 2>&1 | cut -c1-600)"
fi

# --- reload with a new probes.d file ---------------------------------------------------
conn_count() { metrics | metric_sum ebpf_solo_io_counter_connections "dport=\"$PORT\""; }
for _ in 1 2 3; do metrics >/dev/null; done # three connections to the metrics port
sleep 2.5                                      # > the 1 s walk interval
before=$(conn_count)
if [[ $before =~ ^[0-9]+$ ]] && [ "$before" -ge 3 ]; then
	ok "tcpconnect counts the scrapes (ebpf_solo_io_counter_connections{dport=\"$PORT\"} = $before)"
else
	not_ok "tcpconnect counts the scrapes (ebpf_solo_io_counter_connections{dport=\"$PORT\"} >= 3)" "got: $before"
fi

cat >"$ROOT/etc/bee/probes.d/50-user.toml" <<'EOF'
# added by tests/systemd/run.sh: a user probe, attached by `systemctl reload beed`
[probes.user_getppid]
object = "/etc/bee/probes/user_probe.bpf.o"
EOF
out=$(T=60 C systemctl reload beed 2>&1)
reload_rc=$?
if [ $reload_rc = 0 ] && wait_for 15 probe_up user_getppid; then
	ok "systemctl reload beed attaches the probe of a new probes.d file (beed_probe_up{probe=\"user_getppid\"} 1)"
else
	not_ok "systemctl reload beed attaches the probe of a new probes.d file (beed_probe_up{probe=\"user_getppid\"} 1)" \
		"reload exit status $reload_rc $out" "$(metrics | grep '^beed_probe_up')" "$(journal 15)"
fi
if [ "$(show MainPID)" = "$MAIN" ] && [ "$(show ActiveState)" = active ]; then
	ok "reload keeps the same beed process (MainPID $MAIN)"
else
	not_ok "reload keeps the same beed process (MainPID $MAIN)" "MainPID now $(show MainPID), $(show ActiveState)"
fi
C bash -c 'for i in 1 2 3; do bash -c "exit 0"; done' # bash calls getppid()
sleep 2.5
got=$(metrics | metric_sum ebpf_solo_io_counter_getppid)
if [[ $got =~ ^[0-9]+$ ]] && [ "$got" -ge 1 ]; then
	ok "the reloaded user probe counts getppid() calls (ebpf_solo_io_counter_getppid = $got)"
else
	not_ok "the reloaded user probe counts getppid() calls (ebpf_solo_io_counter_getppid >= 1)" "got: $got"
fi
after=$(conn_count)
if [[ $before =~ ^[0-9]+$ ]] && [[ $after =~ ^[0-9]+$ ]] && [ "$after" -ge "$before" ]; then
	ok "reload keeps the counters of unchanged probes ($before before, $after after)"
else
	not_ok "reload keeps the counters of unchanged probes (ebpf_solo_io_counter_connections must not drop)" \
		"before: $before, after: $after"
fi

# --- bee: the seeds' workflow with only the package (no repository) --------------------
# bee init writes a probe, bee build compiles it with the container's clang and
# the headers bee carries, bee run shows its events; the same object then runs
# in beed from /etc/bee/probes.d
BEEX=beex-$(tr -dc a-z0-9 </dev/urandom | head -c 6)
printf '#!/bin/sh\nexit 7\n' >"$ROOT/usr/local/bin/$BEEX"
chmod 0755 "$ROOT/usr/local/bin/$BEEX"
if T=30 C sh -c 'mkdir -p /root/work && cd /root/work && bee init --program-type process --map ring-buffer --output-type print --file exits.bpf.c' >"$LOG_DIR/bee.log" 2>&1 &&
	T=180 C sh -c 'cd /root/work && bee build exits.bpf.c' >>"$LOG_DIR/bee.log" 2>&1; then
	ok "bee init + bee build in the container ($(C clang --version | head -n 1))"
else
	not_ok "bee init + bee build in the container" "$(tail -n 20 "$LOG_DIR/bee.log")"
fi
T=60 C sh -c "cd /root/work && { bee run exits.bpf.o --no-tty --duration 8s >run.out 2>run.err & }; for i in 1 2 3 4 5 6; do sleep 1; /usr/local/bin/$BEEX; done; wait" >/dev/null 2>&1
if C grep -q "\"exit_code\":7,\"comm\":\"$BEEX\"" /root/work/run.out; then
	ok "bee run --no-tty shows the exits of the probe bee init wrote ($BEEX, exit code 7)"
else
	not_ok "bee run --no-tty shows the exits of the probe bee init wrote" \
		"$(C head -c 2000 /root/work/run.out)" "$(C cat /root/work/run.err)"
fi
C install -m 0644 /root/work/exits.bpf.o /etc/bee/probes/bee_exits.bpf.o
printf '# added by tests/systemd/run.sh: the probe bee built\n[probes.bee_exits]\nobject = "/etc/bee/probes/bee_exits.bpf.o"\n' \
	>"$ROOT/etc/bee/probes.d/55-bee.toml"
T=60 C systemctl reload beed >/dev/null 2>&1
if wait_for 15 probe_up bee_exits; then
	for i in 1 2 3; do C "/usr/local/bin/$BEEX"; done
	bee_in_journal() {
		C journalctl -u beed -o json --no-pager PROBE=bee_exits "COMM=$BEEX" 2>/dev/null | grep -qF '"EXIT_CODE":"7"'
	}
	if wait_for 15 bee_in_journal; then
		ok "beed runs the same object from /etc/bee/probes.d: its events reach the journal (PROBE=bee_exits COMM=$BEEX EXIT_CODE=7)"
	else
		not_ok "beed runs the same object from /etc/bee/probes.d: its events reach the journal (PROBE=bee_exits COMM=$BEEX EXIT_CODE=7)" "$(journal 10)"
	fi
else
	not_ok "beed loads the object bee built (beed_probe_up{probe=\"bee_exits\"} 1)" "$(journal 10)"
fi
for f in /usr/share/man/man1/bee.1.gz /usr/share/bee/include/solo_types.h /usr/share/bash-completion/completions/bee; do
	if C test -s "$f"; then ok "the package installs $f"; else not_ok "the package installs $f"; fi
done

# --- probes from OCI images, through a registry on the host -----------------------------
# As a user would: bee builds the shipped execsnoop example into an image and
# pushes it; `systemctl reload beed` pulls it into the unit's StateDirectory
# (DynamicUser=yes: /var/lib/private/bee, which beed sees as /var/lib/bee) and
# runs it; at the next start without the registry beed runs that cached copy;
# an image that exists nowhere is one failed probe. Here, under the shipped
# unit (the drop-ins come later); its probes.d files go when it ends, and its
# `systemctl restart` is no watchdog restart (NRestarts counts automatic ones).
IMGX=imgx-$(tr -dc a-z0-9 </dev/urandom | head -c 6) # a command execsnoop can be asked about
printf '#!/bin/sh\nexit 0\n' >"$ROOT/usr/local/bin/$IMGX"
chmod 0755 "$ROOT/usr/local/bin/$IMGX"
REG_PORT=
# from inside the container: the address beed pulls from
registry_answers() {
	[ "$(C curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$REG_PORT/v2/" 2>/dev/null)" = 200 ]
}
# probe $1 is down and every other one up
only_down() {
	local m
	m=$(metrics | grep '^beed_probe_up{')
	grep -qx "beed_probe_up{probe=\"$1\"} 0" <<<"$m" && ! grep -vF "probe=\"$1\"" <<<"$m" | grep -qv ' 1$'
}
# execsnoop's journal entry for an exec of $IMGX
img_event() {
	C journalctl -u beed -o json --no-pager PROBE=img "COMM=$IMGX" 2>/dev/null | grep -F '"MAP":"print_execs"' | tail -n 1
}
image_checks() {
	local ref missing out rc entry index mode inv main
	if [ ! -x "$REGISTRY_BIN" ] && ! make -C "$REPO" registry-tool >>"$LOG_DIR/registry.log" 2>&1; then
		not_ok "make registry-tool extracts Debian's docker-registry" "$(tail -n 10 "$LOG_DIR/registry.log")"
		return
	fi
	if free_port REG_PORT && start_registry "$REG_PORT" && wait_for 20 registry_answers; then
		ok "a docker-registry on the host answers the container on 127.0.0.1:$REG_PORT (shared network namespace)"
	else
		not_ok "a docker-registry on the host answers the container on 127.0.0.1:${REG_PORT:-?}" \
			"$(tail -n 10 "$LOG_DIR/registry.log")"
		return
	fi
	ref=127.0.0.1:$REG_PORT/execsnoop:v1
	missing=127.0.0.1:$REG_PORT/nothere:v1
	# -o: the example's directory belongs to the package
	if T=180 C env HOME=/root sh -c "mkdir -p /root/work && cd /root/work &&
		bee build /usr/share/bee/examples/execsnoop.bpf.c $ref -o execsnoop.bpf.o && bee push $ref" \
		>"$LOG_DIR/bee-image.log" 2>&1; then
		ok "bee build /usr/share/bee/examples/execsnoop.bpf.c $ref + bee push $ref in the container"
	else
		not_ok "bee build /usr/share/bee/examples/execsnoop.bpf.c $ref + bee push $ref in the container" \
			"$(tail -n 20 "$LOG_DIR/bee-image.log")"
		return
	fi

	# pull = "always": the restart below tries the registry before the cache
	printf '# added by tests/systemd/run.sh: a probe from an image\n[probes.img]\nimage = "%s"\npull = "always"\n' \
		"$ref" >"$ROOT/etc/bee/probes.d/img.toml"
	out=$(T=90 C systemctl reload beed 2>&1)
	rc=$?
	if [ $rc = 0 ] && wait_for 15 probe_up img; then
		ok "systemctl reload beed pulls $ref and runs it (beed_probe_up{probe=\"img\"} 1)"
	else
		not_ok "systemctl reload beed pulls $ref and runs it (beed_probe_up{probe=\"img\"} 1)" \
			"reload exit status $rc $out" "$(metrics | grep '^beed_probe_up')" "$(journal 15)"
	fi
	for _ in 1 2 3; do C "/usr/local/bin/$IMGX"; done
	entry=
	wait_for 15 eval 'entry=$(img_event); [ -n "$entry" ]'
	if [ -n "$entry" ]; then
		ok "the image's probe reports the exec of $IMGX in the journal (PROBE=img MAP=print_execs)"
	else
		not_ok "the image's probe reports the exec of $IMGX in the journal (PROBE=img MAP=print_execs)" \
			"$(C journalctl -u beed -o json --no-pager PROBE=img -n 2 2>&1 | cut -c1-600)" "$(journal 10)"
	fi
	# the real path of StateDirectory= under DynamicUser=yes
	index=$(C cat /var/lib/private/bee/store/index.json 2>&1)
	mode=$(C stat -c 'uid %u, mode %a' /var/lib/private/bee/store/index.json 2>&1)
	if grep -qF "\"$ref\"" <<<"$index"; then
		ok "the image is in beed's store, /var/lib/private/bee/store/index.json names it ($mode)"
	else
		not_ok "the image is in beed's store, /var/lib/private/bee/store/index.json names $ref" \
			"$index" "$(C ls -lR /var/lib/private/bee 2>&1 | head -n 20)"
	fi

	# an image that exists nowhere: one failed probe, which fails the reload
	# (as any probe that does not load) and nothing else
	main=$(show MainPID)
	printf '# added by tests/systemd/run.sh: an image the registry lacks\n[probes.noimg]\nimage = "%s"\n' \
		"$missing" >"$ROOT/etc/bee/probes.d/noimg.toml"
	out=$(T=90 C systemctl reload beed 2>&1)
	rc=$?
	if wait_for 15 only_down noimg && [ "$(show ActiveState)" = active ] && [ "$(show MainPID)" = "$main" ]; then
		ok "an image that exists nowhere is one failed probe (reload exit $rc; beed active, MainPID $main; beed_probe_up{probe=\"noimg\"} 0, every other probe 1)"
	else
		not_ok "an image that exists nowhere is one failed probe (beed active, beed_probe_up{probe=\"noimg\"} 0, every other probe 1)" \
			"reload exit status $rc $out" "$(show ActiveState), MainPID $(show MainPID)" \
			"$(metrics | grep '^beed_probe_up')" "$(journal 10)"
	fi
	out=$(messages "_SYSTEMD_INVOCATION_ID=$(show InvocationID)" | grep -F 'probe noimg failed' | tail -n 1)
	if grep -qF "$missing" <<<"$out" && grep -qF 'not found in the registry' <<<"$out"; then
		ok "the journal says why noimg failed (not found in the registry)"
	else
		not_ok "the journal says why noimg failed (not found in the registry)" "${out:-no 'probe noimg failed' line}" "$(journal 10)"
	fi
	rm -f "$ROOT/etc/bee/probes.d/noimg.toml"
	T=90 C systemctl reload beed >/dev/null 2>&1 || say "reload without noimg failed: $(journal 5)"

	# the registry is gone: a restart runs the cached image and says so
	stop_registry
	out=$(T=90 C systemctl restart beed 2>&1)
	rc=$?
	if [ $rc = 0 ] && [ "$(show ActiveState)" = active ] && wait_for 15 probe_up img; then
		ok "without the registry, systemctl restart beed runs the cached image (active, beed_probe_up{probe=\"img\"} 1)"
	else
		not_ok "without the registry, systemctl restart beed runs the cached image (active, beed_probe_up{probe=\"img\"} 1)" \
			"restart exit status $rc $out" "$(show ActiveState)" "$(metrics | grep '^beed_probe_up')" "$(journal 15)"
	fi
	# this start of the unit only
	inv=$(show InvocationID)
	out=$(messages "_SYSTEMD_INVOCATION_ID=$inv" | grep -F 'running the cached image' | tail -n 1)
	if [ -n "$inv" ] && grep -qF 'cannot reach the registry' <<<"$out" && grep -qF 'running the cached image (sha256:' <<<"$out"; then
		ok "the journal of this start says it cannot reach the registry and is ${out##*; }"
	else
		not_ok "the journal of this start says it cannot reach the registry and runs the cached image" \
			"invocation ${inv:-?}: ${out:-no such line}" "$(journal 10)"
	fi

	rm -f "$ROOT/etc/bee/probes.d/img.toml"
	T=90 C systemctl reload beed >/dev/null 2>&1 || say "reload without img failed: $(journal 5)"
}
image_checks

# --- an invalid probes.d file: reload fails, beed keeps running --------------------------
printf '[probes.broken]\nobjet = "/etc/bee/probes/user_probe.bpf.o"\n' >"$ROOT/etc/bee/probes.d/90-broken.toml"
MAIN=$(show MainPID)
out=$(T=60 C systemctl reload beed 2>&1)
reload_rc=$?
if [ $reload_rc != 0 ]; then
	ok "systemctl reload beed fails on an invalid probes.d file (exit status $reload_rc)"
else
	not_ok "systemctl reload beed fails on an invalid probes.d file" "reload exit status 0 $out" "$(journal 10)"
fi
sleep 1
if [ "$(show ActiveState)" = active ] && [ "$(show MainPID)" = "$MAIN" ] && probe_up exitsnoop && probe_up tcpconnect; then
	ok "beed keeps running after the failed reload (active, same MainPID $MAIN, probes up)"
else
	not_ok "beed keeps running after the failed reload (active, same MainPID $MAIN, probes up)" \
		"$(show ActiveState), MainPID $(show MainPID)" "$(metrics | grep '^beed_probe_up')" "$(journal 10)"
fi
# what `beed --check-config` (ExecReload=) wrote to stderr
if C journalctl _SYSTEMD_UNIT=beed.service _TRANSPORT=stdout --no-pager 2>/dev/null | grep -q '90-broken.toml'; then
	ok "the journal says which file is invalid (90-broken.toml)"
else
	not_ok "the journal says which file is invalid (90-broken.toml)" "$(journal 10)"
fi
rm -f "$ROOT/etc/bee/probes.d/90-broken.toml"

# --- a changed probe whose new version the verifier rejects ------------------------------
# --check-config (no kernel) passes; beed --reload reports the verifier's
# refusal, systemctl reload fails, and the previous version keeps counting
if C test -e /bin/kill; then
	not_ok "the container has no /bin/kill (reload must not need procps)" "$(C ls -l /bin/kill)"
else
	ok "the container has no /bin/kill (reload must not need procps)"
fi
cp "$LOG_DIR/verifier_reject.bpf.o" "$ROOT/etc/bee/probes/reject.bpf.o"
sed -i 's#/etc/bee/probes/user_probe.bpf.o#/etc/bee/probes/reject.bpf.o#' "$ROOT/etc/bee/probes.d/50-user.toml"
out=$(T=60 C systemctl reload beed 2>&1)
reload_rc=$?
C bash -c 'for i in 1 2 3; do bash -c "exit 0"; done'
sleep 2
if [ $reload_rc != 0 ] && probe_up user_getppid && [ "$(show MainPID)" = "$MAIN" ]; then
	ok "a reload whose new probe version the verifier rejects fails (exit $reload_rc) and the previous version keeps running"
else
	not_ok "a reload whose new probe version the verifier rejects fails and the previous version keeps running" \
		"reload exit status $reload_rc $out" "$(metrics | grep -E '^beed_(probe_up|config)')" "$(journal 15)"
fi
if C journalctl -u beed --no-pager -n 200 2>/dev/null | grep -q 'previous version keeps running' &&
	metrics | grep -q '^beed_config_last_reload_successful 0'; then
	ok "the failed reload is logged and exported (beed_config_last_reload_successful 0)"
else
	not_ok "the failed reload is logged and exported (beed_config_last_reload_successful 0)" \
		"$(metrics | grep -E '^beed_config')" "$(journal 15)"
fi
sed -i 's#/etc/bee/probes/reject.bpf.o#/etc/bee/probes/user_probe.bpf.o#' "$ROOT/etc/bee/probes.d/50-user.toml"
T=60 C systemctl reload beed >/dev/null 2>&1
if metrics | grep -q '^beed_config_last_reload_successful 1'; then
	ok "the next good reload succeeds (beed_config_last_reload_successful 1)"
else
	not_ok "the next good reload succeeds (beed_config_last_reload_successful 1)" "$(metrics | grep -E '^beed_config')" "$(journal 15)"
fi

# --- every tracing attach type under the sandbox ------------------------------------------
# hits of probe $1 (counter_hits of tests/fixtures/attach_types.bpf.c)
hits() { metrics | metric_sum ebpf_solo_io_counter_hits "probe=\"$1\""; }
# the error beed logged for probe $1, if any
probe_error() { C journalctl -u beed --no-pager -n 3000 2>/dev/null | grep -F "probe $1 failed" | tail -n 1; }
# attach_checks WITH KIND...: one check per kind, after the probes were (re)loaded
attach_checks() {
	local with=$1 kind h
	shift
	C /usr/local/bin/uprobe_target 5 "$PORT" # uprobe hits, getppid(), a loopback connect
	metrics >/dev/null
	sleep 1.5
	for kind in "$@"; do
		h=$(hits "at_$kind")
		if probe_up "at_$kind" && { [ "$kind" = iter ] || { [[ $h =~ ^[0-9]+$ ]] && [ "$h" -gt 0 ]; }; }; then
			ok "$kind program loads and attaches under beed.service$with ($([ "$kind" = iter ] && echo "a task iterator: nothing to count" || echo "fires: $h hits"))"
		else
			not_ok "$kind program loads, attaches and fires under beed.service$with" "hits: $h" "$(probe_error "at_$kind")"
		fi
	done
}
{
	echo "# added by tests/systemd/run.sh: one probe per attach type"
	for kind in $ATTACH_KINDS; do printf '[probes.at_%s]\nobject = "/etc/bee/probes/%s.bpf.o"\n' "$kind" "$kind"; done
	printf '[probes.at_perf_event.attach.prog]\nfrequency = 199\n'
} >"$ROOT/etc/bee/probes.d/60-attach-types.toml"
out=$(T=60 C systemctl reload beed 2>&1) || say "reload for the attach types failed: $out"
wait_for 15 probe_up at_tracepoint
attach_checks "" $ATTACH_KINDS

# --- watchdog --------------------------------------------------------------------------
restarts=$(show NRestarts)
if [ "$restarts" = 0 ]; then
	ok "watchdog pings keep beed alive under WatchdogSec=5s (NRestarts=0 after $(($(date +%s) - T0))s of test)"
else
	not_ok "watchdog pings keep beed alive under WatchdogSec=5s (NRestarts=0)" "NRestarts=$restarts" \
		"$(C journalctl -u beed --no-pager -n 200 | grep -iE 'watchdog|Main process exited' | tail -n 5)"
fi
MAIN=$(show MainPID)
C bash -c "kill -STOP $MAIN" # the bash builtin: the container has no /bin/kill
restarted() {
	local pid n
	pid=$(show MainPID)
	n=$(show NRestarts)
	[ "$(show ActiveState)" = active ] && [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "$MAIN" ] &&
		[ "${n:-0}" -gt "${restarts:-0}" ]
}
if wait_for 40 restarted; then
	ok "SIGSTOP of beed leads to a watchdog restart (MainPID $MAIN -> $(show MainPID), NRestarts=$(show NRestarts))"
else
	not_ok "SIGSTOP of beed leads to a watchdog restart" \
		"MainPID $(show MainPID), NRestarts $(show NRestarts), $(show ActiveState)/$(show SubState)" "$(journal 10)"
	C bash -c "kill -CONT $MAIN" 2>/dev/null
fi

# --- XDP and TC with the CAP_NET_ADMIN drop-in of beed(8) ----------------------------------
wait_for 15 eval '[ "$(show ActiveState)" = active ]'
printf '[Service]\nCapabilityBoundingSet=CAP_NET_ADMIN\nAmbientCapabilities=CAP_NET_ADMIN\n' \
	>"$ROOT/etc/systemd/system/beed.service.d/60-net-admin.conf"
{
	echo "# added by tests/systemd/run.sh: XDP and TC on the loopback interface"
	for kind in $NET_KINDS; do
		printf '[probes.at_%s]\nobject = "/etc/bee/probes/%s.bpf.o"\n' "$kind" "$kind"
		printf '[probes.at_%s.attach.prog]\ninterface = "lo"\n' "$kind"
	done
} >"$ROOT/etc/bee/probes.d/70-net.toml"
C systemctl daemon-reload
T=60 C systemctl restart beed || say "restart with CAP_NET_ADMIN failed: $(journal 5)"
wait_for 15 probe_up at_xdp
attach_checks " + the CAP_NET_ADMIN drop-in" $NET_KINDS

# --- uprobes with the CAP_SYS_ADMIN drop-in of beed(8) ----------------------------------
# (perf requires CAP_SYS_ADMIN for uprobes again since the kernel fix "perf:
# Require CAP_SYS_ADMIN for uprobes", also in stable kernels)
printf '[Service]\nCapabilityBoundingSet=CAP_SYS_ADMIN\nAmbientCapabilities=CAP_SYS_ADMIN\nSystemCallFilter=@mount\n' \
	>"$ROOT/etc/systemd/system/beed.service.d/60-sys-admin.conf"
{
	echo "# added by tests/systemd/run.sh: uprobes on a binary of the container"
	for kind in $UPROBE_KINDS; do
		printf '[probes.at_%s]\nobject = "/etc/bee/probes/%s.bpf.o"\n' "$kind" "$kind"
		printf '[probes.at_%s.attach.prog]\nbinary = "/usr/local/bin/uprobe_target"\nfunc = "bee_target_function"\n' "$kind"
	done
} >"$ROOT/etc/bee/probes.d/80-uprobes.toml"
C systemctl daemon-reload
T=60 C systemctl restart beed || say "restart with CAP_SYS_ADMIN failed: $(journal 5)"
wait_for 15 probe_up at_uprobe
attach_checks " + the CAP_SYS_ADMIN drop-in" $UPROBE_KINDS

# --- the ksym decoder with the CAP_SYSLOG drop-in of beed(8) ----------------------------
# /proc/kallsyms shows addresses only to CAP_SYSLOG (kernel.kptr_restrict,
# unless perf_event_paranoid <= 1), which ProtectKernelLogs=yes removes, and
# ProtectKernelTunables=yes hides the file itself (it reads as empty with
# CAP_DAC_READ_SEARCH); the fixture's typeless __ksym extern needs it too
# (libbpf reads kallsyms), so without the drop-in the probe fails to load
# the `func` member of the event line, as journalctl -o cat prints it
ksym_func() {
	C /usr/local/bin/beedecksym /etc/hostname >/dev/null
	sleep 1.5
	C journalctl -u beed --no-pager -o cat -n 500 2>/dev/null | grep -E '^dec print_opens ' | tail -n 1 |
		grep -oE ' func=[^ ]+' | cut -d= -f2
}
printf '[probes.dec]\nobject = "/etc/bee/probes/decoders.bpf.o"\n[probes.dec.maps.print_opens.fields]\nfunc = { decode = "ksym" }\n' \
	>"$ROOT/etc/bee/probes.d/90-ksym.toml"
restrict=$(cat /proc/sys/kernel/kptr_restrict 2>/dev/null)
out=$(T=60 C systemctl reload beed 2>&1) || say "reload with the ksym probe reports a failure, as expected without the drop-in: $out"
wait_for 15 probe_up dec
if probe_up dec; then
	not_ok "without the drop-in, a probe with a typeless __ksym extern fails alone (libbpf cannot read /proc/kallsyms)" "probe dec is up: func=$(ksym_func)"
else
	ok "without the drop-in, a probe with a typeless __ksym extern fails alone: $(messages -u beed -n 3000 | grep -oE "extern 'vfs_read'[^;]*" | tail -n 1)"
fi
printf '[Service]\nProtectKernelTunables=no\nProtectKernelLogs=no\nCapabilityBoundingSet=CAP_SYSLOG\nAmbientCapabilities=CAP_SYSLOG\n' \
	>"$ROOT/etc/systemd/system/beed.service.d/60-syslog.conf"
C systemctl daemon-reload
T=60 C systemctl restart beed || say "restart with CAP_SYSLOG failed: $(journal 5)"
wait_for 15 probe_up dec
func=$(ksym_func)
if [ "$restrict" = 2 ]; then
	say "skipped: kernel.kptr_restrict=2 hides kernel addresses even from CAP_SYSLOG (func=$func)"
elif [ "$func" = vfs_read ]; then
	ok "the ksym decoder names kernel functions under beed.service + the CAP_SYSLOG drop-in (func=vfs_read)"
else
	not_ok "the ksym decoder names kernel functions under beed.service + the CAP_SYSLOG drop-in" "func=$func" \
		"$(messages -u beed -n 3000 | grep -E 'ksym|probe dec' | tail -n 5)"
fi

# --- stop: nothing left in the kernel ----------------------------------------------------
wait_for 15 eval '[ "$(show ActiveState)" = active ]'
MAIN=$(show MainPID)
ours=$(progs_of "$MAIN")
say "programs held by beed (PID $MAIN): $(tr '\n' ' ' <<<"$ours")"
T=60 C systemctl stop beed
gone() {
	local now id
	now=$(C bpftool prog show 2>/dev/null | awk '/^[0-9]+:/ { sub(":", "", $1); print $1 }')
	for id in $(awk '{ print $1 }' <<<"$ours"); do grep -qx "$id" <<<"$now" && return 1; done
	return 0
}
if [ "$(show ActiveState)" = inactive ] && [ "$(show ExecMainStatus)" = 0 ]; then
	ok "systemctl stop beed stops it cleanly (inactive, exit status 0)"
else
	not_ok "systemctl stop beed stops it cleanly (inactive, exit status 0)" \
		"$(show ActiveState), exit status $(show ExecMainStatus)" "$(journal 10)"
fi
if ! grep -qw sched_process_exit <<<"$ours" || ! grep -qw inet_sock_set_state <<<"$ours"; then
	not_ok "systemctl stop beed leaves no beed program in the kernel" \
		"could not find beed's programs before the stop (prog_id in /proc/$MAIN/fdinfo)" \
		"$(C bpftool prog show 2>&1 | grep -A4 -E 'sched_process_exit|inet_sock_set_state' | head -n 20)"
elif wait_for 10 gone; then
	ok "systemctl stop beed leaves no beed program in the kernel ($(wc -l <<<"$ours") programs, bpftool prog show: $(awk '{ print $2 }' <<<"$ours" | sort -u | tr '\n' ' ')gone)"
else
	not_ok "systemctl stop beed leaves no beed program in the kernel" "$(C bpftool prog show 2>&1 | head -n 40)"
fi

# --- power off -----------------------------------------------------------------------------
C journalctl -u beed --no-pager -o short-monotonic >"$LOG_DIR/beed-journal.log" 2>&1
T=10 C systemctl poweroff --no-block >/dev/null 2>&1
if wait_for 60 eval '! kill -0 "$NSPAWN_PID" 2>/dev/null'; then
	ok "container powers off ($(elapsed))"
	NSPAWN_PID=
else
	not_ok "container powers off" "$(tail -n 10 "$LOG_DIR/console.log")"
fi

summary
[ "$fail" = 0 ]
