#!/bin/bash
# End-to-end test of beed's container image under a real container runtime
# (podman) scraped by a real Prometheus: the commands of README's "Run in a
# container", run as they are written there.
#
# Builds the image (deploy/container/build.sh, as `make image`), checks what
# it holds, runs it with the documented flags (every capability dropped but
# BPF, PERFMON and DAC_READ_SEARCH, host network, tracefs and kernel BTF
# mounted read-only, the shipped seccomp profile, the configuration from a
# mounted directory), drives activity on the host (a process that exits, N
# loopback TCP connections) and checks:
#   the exit events on the container's stdout (JSON lines), the exact
#   connection count through Prometheus' HTTP API, /healthz and /readyz, the
#   user and capabilities of the process, a clean `podman stop` (exit 0,
#   "stopped" in its log), and, under the runtime's default seccomp profile,
#   probes that fail with beed's clear error while the container serves.
#
# Prints one line per check (`ok - ...` / `not ok - ...`) and a final
# `N passed, M failed` line; exits non-zero if a check failed.
#
# Needs root and the packages of `make container-deps` (podman, runc,
# catatonit, jq, netcat-openbsd) plus prometheus and curl (`make deps`).
# CONTAINERS_CONF defaults to deploy/container/containers.conf (what this
# machine's podman needs). Logs of the last run: target/container-test/.
# no pipefail: `producer | grep -q` would fail whenever grep quits early
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LOG_DIR=$REPO/target/container-test
export CONTAINERS_CONF=${CONTAINERS_CONF:-$REPO/deploy/container/containers.conf}
CONNECTIONS=7 # loopback connections to count

T0=$(date +%s)
# say, elapsed, ok, not_ok, check, summary, bail, wait_for, port_in_use,
# free_port, http_code, promql, listen_and_connect
. "$REPO/tests/lib/checks.sh"
# BEED_CAPS, stderr_of, stdout_of, proc_status, status_field, exit_event_of,
# check_loads, check_stopped
. "$REPO/tests/lib/podman.sh"
WORK='' PROM_PID='' NC_PID='' CONTAINERS=() PACKAGED=''

[ "$(id -u)" = 0 ] || { echo "tests/container/run.sh: needs root (it loads BPF programs)" >&2; exit 1; }
for tool in podman runc jq nc prometheus curl; do
	command -v "$tool" >/dev/null || bail "find $tool (make container-deps deps)"
done
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
WORK=$(mktemp -d /var/tmp/beed-container-test.XXXXXX)
TAG=${WORK##*.}
TAG=${TAG,,}

cleanup() {
	local rc=$? c
	trap - EXIT INT TERM
	for c in "${CONTAINERS[@]}"; do
		podman logs "$c" >"$LOG_DIR/$c.log" 2>&1
		podman rm -f -t 5 "$c" >/dev/null 2>&1
	done
	[ -n "$PACKAGED" ] && podman rmi -f "$PACKAGED" >/dev/null 2>&1
	for pid in $PROM_PID $NC_PID; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the image ------------------------------------------------------------------
say "host: $(uname -r), $(podman --version), runc $(runc --version | awk 'NR == 1 { print $3 }')"
say "building the image ($(elapsed))"
"$REPO/deploy/container/build.sh" >"$LOG_DIR/build.log" 2>&1 ||
	bail "build the image with deploy/container/build.sh" "$(tail -n 20 "$LOG_DIR/build.log")"
read -r IMAGE size _ < <(tail -n 1 "$LOG_DIR/build.log")
ok "build $IMAGE ($size bytes, $((size / 1024 / 1024)) MiB, $(elapsed))"

# what it holds: beed, exactly the libraries ldd lists, the configuration,
# the user database and /run/beed
cid=$(podman create "$IMAGE") || bail "podman create $IMAGE"
files=$(podman export "$cid" | tar -tf - | grep -v '/$' | sort)
podman rm "$cid" >/dev/null
bin=$(cd "$REPO" && cargo metadata --no-deps --format-version 1 | jq -r .target_directory)/release/beed
want=$( {
	printf '%s\n' usr/bin/beed etc/bee/beed.toml etc/passwd etc/group
	ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print substr($3, 2) } $1 ~ /^\// { print substr($1, 2) }'
} | sort)
if [ "$files" = "$want" ]; then
	ok "the image holds beed, the $(ldd "$bin" | grep -c '/') libraries ldd lists, its configuration and nothing else"
else
	not_ok "the image holds beed, its libraries and its configuration only" "$(diff <(echo "$want") <(echo "$files"))"
fi
labels=$(podman image inspect --format '{{json .Config.Labels}}' "$IMAGE")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1)
jq_true() { jq -e "$@" >/dev/null; }
revision=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
check "labels: org.opencontainers.image.title, description, version $version, revision ${revision:0:12}, licenses" \
	jq_true --arg v "$version" --arg rev "$revision" '.["org.opencontainers.image.title"] == "beed" and .["org.opencontainers.image.version"] == $v
		and .["org.opencontainers.image.licenses"] == "Apache-2.0" and (.["org.opencontainers.image.description"] | length > 0)
		and (.["org.opencontainers.image.revision"] | startswith($rev))' <<<"$labels"
config=$(podman image inspect --format '{{json .Config}}' "$IMAGE")
check "user 65532, EXPOSE 9091, STOPSIGNAL SIGTERM, ENTRYPOINT beed" \
	jq_true '.User == "65532:65532" and (.ExposedPorts | has("9091/tcp")) and .StopSignal == "SIGTERM"
		and .Entrypoint == ["/usr/bin/beed"]' <<<"$config"
# the committed profile is what the generator makes of this runtime's default
if [ -r /usr/share/containers/seccomp.json ]; then
	"$REPO/deploy/container/seccomp.sh" /usr/share/containers/seccomp.json "$WORK/seccomp.json" >/dev/null
	check "deploy/container/seccomp.json is deploy/container/seccomp.sh's output" \
		cmp -s "$WORK/seccomp.json" "$REPO/deploy/container/seccomp.json"
fi

# --- the configuration (README: a directory mounted on /etc/bee) ----------------------
free_port METRICS_PORT && free_port PROM_PORT && free_port CONN_PORT && free_port DEFAULT_PORT ||
	bail "find free TCP ports"
mkdir -p "$WORK/bee/probes.d" "$WORK/bee-default/probes.d"
# the image's configuration, on the loopback address and a port of our own
# (host network)
sed "s|^listen = \"0.0.0.0:9091\"|listen = \"127.0.0.1:$METRICS_PORT\"|" "$REPO/deploy/container/beed.toml" >"$WORK/bee/beed.toml"
grep -q "^listen = \"127.0.0.1:$METRICS_PORT\"" "$WORK/bee/beed.toml" ||
	bail "set metrics.listen in the mounted beed.toml" "deploy/container/beed.toml has no 'listen = \"0.0.0.0:9091\"' line"
sed "s|$METRICS_PORT|$DEFAULT_PORT|" "$WORK/bee/beed.toml" >"$WORK/bee-default/beed.toml"

# --- run it -----------------------------------------------------------------------
NAME=beed-test-$TAG
CONTAINERS+=("$NAME")
say "podman run $NAME ($(elapsed))"
# README "Run in a container", with this test's configuration directory
podman run -d --name "$NAME" --network host \
	--cap-drop=ALL --cap-add=BPF,PERFMON,DAC_READ_SEARCH \
	--security-opt seccomp="$REPO/deploy/container/seccomp.json" \
	-v /sys/kernel/tracing:/sys/kernel/tracing:ro -v /sys/kernel/btf:/sys/kernel/btf:ro \
	-v "$WORK/bee:/etc/bee:ro" \
	"$IMAGE" >"$LOG_DIR/run.log" 2>&1 || bail "podman run $IMAGE" "$(cat "$LOG_DIR/run.log")"

ready() { [ "$(http_code "$1" /readyz)" = 200 ]; }
if wait_for 30 ready "$METRICS_PORT"; then
	ok "/readyz answers 200 once the probes were tried ($(elapsed))"
else
	bail "/readyz answers 200" "last answer: $(http_code "$METRICS_PORT" /readyz)" "$(stderr_of "$NAME" | tail -n 20)"
fi
check "/healthz answers 200" test "$(http_code "$METRICS_PORT" /healthz)" = 200
check_loads "$NAME" 2 "both built-in probes load in the container"

# the process: the image's user, with exactly the capabilities added
status=$(proc_status "$NAME")
uid=$(awk '$1 == "Uid:" { print $3 }' <<<"$status")
capeff=$(status_field "$status" CapEff)
capbnd=$(status_field "$status" CapBnd)
if [ "$uid" = 65532 ] && [ "$capeff" = "$BEED_CAPS" ] && [ "$capbnd" = "$BEED_CAPS" ]; then
	ok "beed runs as uid 65532 with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH only"
else
	not_ok "beed runs as uid 65532 with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH only" \
		"uid $uid, CapEff $capeff, CapBnd $capbnd (want $BEED_CAPS)"
fi

# --- Prometheus, with the scrape configuration of the README -----------------------------
sed -e "s|\"localhost:9091\"|\"127.0.0.1:$METRICS_PORT\"|" -e 's|scrape_interval: 15s|scrape_interval: 1s|' \
	"$REPO/deploy/container/prometheus.yml" >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$LOG_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
target_up() { [ "$(promql "$PROM_PORT" 'up{job="beed"}')" = 1 ]; }
wait_for 60 target_up ||
	bail "Prometheus scrapes the container (up{job=\"beed\"} == 1)" "$(tail -n 5 "$LOG_DIR/prometheus.log")"
ok "Prometheus scrapes the container (up{job=\"beed\"} == 1, $(elapsed))"

# --- activity on the host ------------------------------------------------------------
# a process with a name of its own that exits
EXITER=beedc-$TAG
cp /bin/true "$WORK/$EXITER"
"$WORK/$EXITER"
if wait_for 15 exit_event_of "$NAME" "$EXITER"; then
	ok "the exit of $EXITER is a JSON line with probe exitsnoop on the container's stdout"
else
	not_ok "the exit of $EXITER is a JSON line on the container's stdout" "$(stdout_of "$NAME" | tail -n 3)"
fi

# N loopback connections to a port of our own, each accepted and closed
listen_and_connect "$CONN_PORT" "$CONNECTIONS" || bail "start a listener on 127.0.0.1:$CONN_PORT (nc -lk)"
query="sum(ebpf_solo_io_counter_connections{probe=\"tcpconnect\",daddr=\"127.0.0.1\",dport=\"$CONN_PORT\"})"
counted() { [ "$(promql "$PROM_PORT" "$query")" = "$CONNECTIONS" ]; }
if wait_for 30 counted; then
	ok "Prometheus' API counts exactly $CONNECTIONS connections: $query ($(elapsed))"
else
	not_ok "Prometheus' API counts exactly $CONNECTIONS connections" "$query = $(promql "$PROM_PORT" "$query")"
fi
check "/readyz still answers 200" test "$(http_code "$METRICS_PORT" /readyz)" = 200

# --- stop -----------------------------------------------------------------------------
podman stop -t 20 "$NAME" >/dev/null 2>&1
check_stopped "$NAME" "podman stop ends it cleanly"

# --- the runtime's default seccomp profile refuses bpf() ---------------------------------------
NAME2=beed-test-default-$TAG
CONTAINERS+=("$NAME2")
say "podman run $NAME2 without the seccomp profile ($(elapsed))"
podman run -d --name "$NAME2" --network host \
	--cap-drop=ALL --cap-add=BPF,PERFMON,DAC_READ_SEARCH \
	-v /sys/kernel/tracing:/sys/kernel/tracing:ro -v /sys/kernel/btf:/sys/kernel/btf:ro \
	-v "$WORK/bee-default:/etc/bee:ro" \
	"$IMAGE" >"$LOG_DIR/run-default.log" 2>&1 || bail "podman run $IMAGE (default seccomp)" "$(cat "$LOG_DIR/run-default.log")"
if wait_for 30 ready "$DEFAULT_PORT"; then
	ok "under the default seccomp profile the container still serves (/readyz 200)"
else
	not_ok "under the default seccomp profile the container still serves (/readyz 200)" "$(stderr_of "$NAME2" | tail -n 10)"
fi
metrics=$(curl -s --max-time 5 "http://127.0.0.1:$DEFAULT_PORT/metrics")
if grep -qx 'beed_probe_up{probe="exitsnoop"} 0' <<<"$metrics" && grep -qx 'beed_probe_up{probe="tcpconnect"} 0' <<<"$metrics"; then
	ok "under the default seccomp profile both probes are down (beed_probe_up 0)"
else
	not_ok "under the default seccomp profile both probes are down" "$(grep beed_probe_up <<<"$metrics")"
fi
log=$(stderr_of "$NAME2")
clear='bpf() refused (EPERM): seccomp or missing CAP_BPF: beed holds CAP_BPF, so a seccomp filter refused it'
if [ "$(grep -cF "$clear" <<<"$log")" = 2 ] && ! grep -q MEMLOCK <<<"$log"; then
	ok "each probe fails with beed's clear error: \"$clear ...\""
else
	not_ok "each probe fails with beed's clear error ($clear)" "$(grep -i 'failed' <<<"$log" | tail -n 4)"
fi
podman stop -t 20 "$NAME2" >/dev/null 2>&1
check "it stops cleanly too (exit 0)" test "$(podman inspect --format '{{.State.ExitCode}}' "$NAME2")" = 0

# --- bee package: a probe image as a container image of its own ------------------------
say "bee package ($(elapsed))"
(cd "$REPO" && cargo build --release --locked -p bee) >"$LOG_DIR/bee-build.log" 2>&1 ||
	bail "build bee" "$(tail -n 10 "$LOG_DIR/bee-build.log")"
BEE="$(dirname "$bin")/bee"
PROBE_REF=localhost/probes/exitcodes:$TAG
PKG_IMAGE=localhost/beed-exitcodes-test:$TAG
free_port PKG_PORT || bail "find a free TCP port"
"$BEE" --storage "$WORK/store" build "$REPO/examples/exitcodes.bpf.c" "$PROBE_REF" -o "$WORK/exitcodes.bpf.o" \
	>"$LOG_DIR/bee-package.log" 2>&1 || bail "bee build examples/exitcodes.bpf.c $PROBE_REF" "$(tail -n 5 "$LOG_DIR/bee-package.log")"
PACKAGED=$PKG_IMAGE
if "$BEE" --storage "$WORK/store" package "$PROBE_REF" "$PKG_IMAGE" --metrics-listen "127.0.0.1:$PKG_PORT" \
	>>"$LOG_DIR/bee-package.log" 2>&1; then
	ok "bee package $PROBE_REF $PKG_IMAGE (FROM $IMAGE)"
else
	bail "bee package $PROBE_REF $PKG_IMAGE" "$(tail -n 5 "$LOG_DIR/bee-package.log")"
fi
labels=$(podman image inspect --format '{{json .Config.Labels}}' "$PKG_IMAGE")
check "its labels name the probe image, its digest and the base" jq_true --arg ref "$PROBE_REF" --arg base "$IMAGE" \
	'.["beed.probe.ref"] == $ref and (.["beed.probe.digest"] | startswith("sha256:"))
		and .["org.opencontainers.image.base.name"] == $base' <<<"$labels"
NAME3=beed-test-package-$TAG
CONTAINERS+=("$NAME3")
# the command bee package prints
podman run -d --name "$NAME3" --network host --cap-drop=ALL --cap-add=BPF,PERFMON,DAC_READ_SEARCH \
	--security-opt seccomp="$REPO/deploy/container/seccomp.json" \
	-v /sys/kernel/tracing:/sys/kernel/tracing:ro -v /sys/kernel/btf:/sys/kernel/btf:ro \
	"$PKG_IMAGE" >"$LOG_DIR/run-package.log" 2>&1 || bail "podman run $PKG_IMAGE" "$(cat "$LOG_DIR/run-package.log")"
if wait_for 30 ready "$PKG_PORT"; then
	ok "the packaged image is ready (/readyz 200)"
else
	bail "the packaged image is ready" "$(stderr_of "$NAME3" | tail -n 10)"
fi
check_loads "$NAME3" 1 "it runs the one probe, from /usr/lib/bee/probes/exitcodes.bpf.o"
FAILER=beedp-$TAG
cp /bin/false "$WORK/$FAILER"
"$WORK/$FAILER"
"$WORK/$FAILER"
series="ebpf_solo_io_counter_exits{probe=\"exitcodes\",comm=\"$FAILER\",code=\"1\",sig=\"0\"} 2"
counted_exits() { curl -s --max-time 5 "http://127.0.0.1:$PKG_PORT/metrics" | grep -qxF "$series"; }
if wait_for 15 counted_exits; then
	ok "it counts the two failed exits of $FAILER: $series"
else
	not_ok "it counts the two failed exits of $FAILER" "$(curl -s --max-time 5 "http://127.0.0.1:$PKG_PORT/metrics" | grep -F "$FAILER")"
fi
podman stop -t 20 "$NAME3" >/dev/null 2>&1
check "it stops cleanly (exit 0)" test "$(podman inspect --format '{{.State.ExitCode}}' "$NAME3")" = 0

summary
[ "$fail" = 0 ]
