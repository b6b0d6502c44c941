#!/bin/bash
# End-to-end test of beed's Kubernetes manifests (deploy/kubernetes/) under a
# real container runtime, scraped by a real Prometheus: README's "Run on
# Kubernetes" on a machine without a cluster.
#
# podman 4.3 plays Pods, not DaemonSets: tests/kubernetes/pod-of.py turns
# deploy/kubernetes/beed.yaml into its ConfigMaps plus one Pod made of the
# DaemonSet's pod template, which `podman kube play` runs. What the test
# changes, and why:
#   - the port: the pod is on the (shared) host network, so the manifest's
#     9091 becomes a free port everywhere it appears (beed.toml's listen, the
#     probes, the scrape annotation, the Service);
#   - NODE_NAME: podman has no node, so the downward API's spec.nodeName
#     becomes a literal name (pod-of.py);
#   - the seccomp profile is read from a directory of the test's
#     (--seccomp-profile-root) instead of the node's /var/lib/kubelet/seccomp;
#   - Prometheus runs prometheus-scrape.yml's relabeling rules as written,
#     but finds the pod through a file_sd file carrying the labels
#     kubernetes_sd would give it (there is no API server here, and Debian's
#     Prometheus is built without kubernetes_sd).
# Everything else runs as written: the image, arguments, environment,
# capabilities, user, read-only root, seccomp profile, resources, volumes,
# ConfigMaps. podman turns the liveness probe into a `curl` healthcheck run
# inside the container, which cannot run in a FROM scratch image (the
# kubelet probes over HTTP itself): the test makes the liveness and readiness
# probes' HTTP requests as the manifest describes them.
#
# Checks: the manifests agree with each other (selectors, ports, seccomp
# annotation and field, the image's version); the pod becomes ready; beed runs
# as uid 0 with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH only, under
# seccomp, with a read-only root and the memory limit; both built-ins load;
# an exit on the host is a JSON line on the pod's stdout; Prometheus counts
# exactly N loopback connections, labelled with the node; every series
# carries the node label; the pod stops cleanly.
#
# Prints one line per check and a final `N passed, M failed` line; exits
# non-zero if a check failed. Needs root, the packages of `make
# container-deps` and `make deps`. Logs of the last run: target/kubernetes-test/.
# no pipefail: `producer | grep -q` would fail whenever grep quits early
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LOG_DIR=$REPO/target/kubernetes-test
MANIFEST=$REPO/deploy/kubernetes/beed.yaml
export CONTAINERS_CONF=${CONTAINERS_CONF:-$REPO/deploy/container/containers.conf}
CONNECTIONS=5 # loopback connections to count

T0=$(date +%s)
# say, elapsed, ok, not_ok, check, summary, bail, wait_for, port_in_use,
# free_port, http_code, promql, listen_and_connect
. "$REPO/tests/lib/checks.sh"
# BEED_CAPS, stderr_of, stdout_of, proc_status, status_field, exit_event_of,
# check_loads, check_stopped
. "$REPO/tests/lib/podman.sh"
WORK='' PROM_PID='' NC_PID='' POD='' PLAYED=''

[ "$(id -u)" = 0 ] || { echo "tests/kubernetes/run.sh: needs root (it loads BPF programs)" >&2; exit 1; }
for tool in podman runc jq nc prometheus promtool curl python3; do
	command -v "$tool" >/dev/null || bail "find $tool (make container-deps deps)"
done
python3 -c 'import yaml' 2>/dev/null || bail "import yaml in python3 (python3-yaml, make container-deps)"
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
WORK=$(mktemp -d /var/tmp/beed-kubernetes-test.XXXXXX)
TAG=${WORK##*.}
TAG=${TAG,,}
POD=beed-test-$TAG
NODE=node-$TAG

# the ConfigMaps become podman volumes named after them
configmaps() { python3 -c 'import sys, yaml; [print(d["metadata"]["name"]) for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ConfigMap"]' "$MANIFEST"; }
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$PLAYED" ]; then
		podman logs "$POD-beed" >"$LOG_DIR/pod.log" 2>&1
		podman kube down "$WORK/pod.yaml" >/dev/null 2>&1
		podman volume rm -f $(configmaps) >/dev/null 2>&1
	fi
	for pid in $PROM_PID $NC_PID; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -n "$WORK" ] && rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# yq-like reads of a YAML file: q FILE PYTHON-EXPRESSION over `docs` (the
# documents) and `kind(K)` (the first document of kind K)
q() {
	python3 - "$1" "$2" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def kind(k):
    return next(d for d in docs if d["kind"] == k)
r = eval(sys.argv[2])
print(r if isinstance(r, str) else json.dumps(r))
PY
}

# --- the manifests agree with each other and with the image -----------------------
say "host: $(uname -r), $(podman --version)"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1)
image=$(q "$MANIFEST" 'kind("DaemonSet")["spec"]["template"]["spec"]["containers"][0]["image"]')
check "the DaemonSet runs the image make image builds (localhost/beed:$version): $image" test "$image" = "localhost/beed:$version"
check "the DaemonSet's selector matches its pod template's labels" test "$(q "$MANIFEST" \
	'all(kind("DaemonSet")["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in kind("DaemonSet")["spec"]["selector"]["matchLabels"].items())')" = true
check "the Service selects the DaemonSet's pods, on the scrape annotation's port" test "$(q "$MANIFEST" \
	'(all(kind("DaemonSet")["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in kind("Service")["spec"]["selector"].items())
	 and str(kind("Service")["spec"]["ports"][0]["targetPort"]) == kind("DaemonSet")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])')" = true
check "the seccomp annotation (podman) names the profile of securityContext (Kubernetes)" test "$(q "$MANIFEST" \
	'(lambda t: t["metadata"]["annotations"]["container.seccomp.security.alpha.kubernetes.io/beed"] == "localhost/" + t["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"])(kind("DaemonSet")["spec"]["template"])')" = true
sm=$REPO/deploy/kubernetes/servicemonitor.yaml
check "the ServiceMonitor selects the Service and scrapes its port by name" test "$(python3 - "$MANIFEST" "$sm" <<'PY'
import sys, yaml
svc = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Service")
sm = yaml.safe_load(open(sys.argv[2]))
ok = (all(svc["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
      and svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
      and sm["spec"]["endpoints"][0]["port"] in [p["name"] for p in svc["spec"]["ports"]])
print(str(ok).lower())
PY
)" = true
# the places that hold the port: beed.toml's listen, the two probes, the
# annotation, the Service's port and targetPort
check "9091 is in beed.toml's listen, the annotation, both probes and the Service, nowhere else" \
	test "$(grep -c '9091' "$MANIFEST")" = 6

# --- the image --------------------------------------------------------------------
say "building the image ($(elapsed))"
"$REPO/deploy/container/build.sh" >"$LOG_DIR/build.log" 2>&1 ||
	bail "build the image with deploy/container/build.sh" "$(tail -n 20 "$LOG_DIR/build.log")"
ok "make image: $(tail -n 1 "$LOG_DIR/build.log") ($(elapsed))"

# --- play the DaemonSet's pod ------------------------------------------------------
free_port PORT && free_port PROM_PORT && free_port CONN_PORT || bail "find free TCP ports"
sed "s/\b9091\b/$PORT/g" "$MANIFEST" >"$WORK/beed.yaml"
"$REPO/tests/kubernetes/pod-of.py" "$WORK/beed.yaml" "$POD" "$NODE" >"$WORK/pod.yaml" ||
	bail "turn the DaemonSet into a Pod (tests/kubernetes/pod-of.py)"
mkdir -p "$WORK/seccomp"
profile=$(q "$MANIFEST" 'kind("DaemonSet")["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"]["localhostProfile"]')
cp "$REPO/deploy/container/seccomp.json" "$WORK/seccomp/$profile"
podman volume rm -f $(configmaps) >/dev/null 2>&1
say "podman kube play $POD ($(elapsed))"
PLAYED=1
podman kube play --seccomp-profile-root "$WORK/seccomp" "$WORK/pod.yaml" >"$LOG_DIR/play.log" 2>&1 ||
	bail "podman kube play the DaemonSet's pod" "$(tail -n 10 "$LOG_DIR/play.log")"
CTR=$POD-beed
ok "podman kube play runs the DaemonSet's pod template with its ConfigMaps"

# the probes, as the kubelet would make them
probe_path() { q "$WORK/pod.yaml" "kind('Pod')['spec']['containers'][0]['$1']['httpGet']['path']"; }
probe_port() { q "$WORK/pod.yaml" "kind('Pod')['spec']['containers'][0]['$1']['httpGet']['port']"; }
ready_path=$(probe_path readinessProbe) ready_port=$(probe_port readinessProbe)
live_path=$(probe_path livenessProbe) live_port=$(probe_port livenessProbe)
ready() { [ "$(http_code "$ready_port" "$ready_path")" = 200 ]; }
if wait_for 30 ready; then
	ok "the readiness probe (GET :$ready_port$ready_path) answers 200 ($(elapsed))"
else
	bail "the readiness probe (GET :$ready_port$ready_path) answers 200" "$(stderr_of "$CTR" | tail -n 20)"
fi
check "the liveness probe (GET :$live_port$live_path) answers 200" test "$(http_code "$live_port" "$live_path")" = 200
check_loads "$CTR" 2 "both built-ins of the beed-probes ConfigMap load (probes_dir = /etc/bee-probes.d)"

# the process: uid 0, the three capabilities, seccomp, read-only root, memory limit
pid=$(podman inspect --format '{{.State.Pid}}' "$CTR")
status=$(proc_status "$CTR")
field() { status_field "$status" "$1"; }
uid=$(awk '$1 == "Uid:" { print $3 }' <<<"$status")
if [ "$uid" = 0 ] && [ "$(field CapEff)" = "$BEED_CAPS" ] && [ "$(field CapBnd)" = "$BEED_CAPS" ] &&
	[ "$(field CapAmb)" = 0000000000000000 ] && [ "$(field Seccomp)" = 2 ] && [ "$(field NoNewPrivs)" = 1 ]; then
	ok "beed runs as uid 0 with CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH only, seccomp filtered, no new privileges"
else
	not_ok "beed runs as uid 0 with the three capabilities only, under seccomp" \
		"uid $uid, CapEff $(field CapEff), CapBnd $(field CapBnd), CapAmb $(field CapAmb), Seccomp $(field Seccomp), NoNewPrivs $(field NoNewPrivs)"
fi
root_opts=$(awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo")
check "its root filesystem is read-only (readOnlyRootFilesystem): $root_opts" grep -qE '(^|,)ro(,|$)' <<<"$root_opts"
limit=$(podman inspect --format '{{.HostConfig.Memory}}' "$CTR")
check "the memory limit is the manifest's 256Mi" test "$limit" = $((256 << 20))

# --- Prometheus, with prometheus-scrape.yml's relabeling -----------------------------
annotation() { q "$MANIFEST" "kind('DaemonSet')['spec']['template']['metadata']['annotations']['prometheus.io/$1']"; }
cat >"$WORK/targets.json" <<JSON
[{"targets": ["127.0.0.1"], "labels": {
  "__meta_kubernetes_namespace": "beed",
  "__meta_kubernetes_pod_name": "$POD",
  "__meta_kubernetes_pod_node_name": "$NODE",
  "__meta_kubernetes_pod_container_init": "false",
  "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "$(annotation scrape)",
  "__meta_kubernetes_pod_annotation_prometheus_io_port": "$PORT",
  "__meta_kubernetes_pod_annotation_prometheus_io_path": "$(annotation path)"}}]
JSON
python3 - "$REPO/deploy/kubernetes/prometheus-scrape.yml" "$WORK/targets.json" >"$WORK/prometheus.yml" <<'PY' ||
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
for job in cfg["scrape_configs"]:
    del job["kubernetes_sd_configs"]
    job["file_sd_configs"] = [{"files": [sys.argv[2]]}]
    job["scrape_interval"] = "1s"
cfg["global"] = {"scrape_interval": "1s"}
yaml.safe_dump(cfg, sys.stdout, sort_keys=False)
PY
	bail "make the test's Prometheus configuration"
promtool check config "$WORK/prometheus.yml" >"$LOG_DIR/promtool.log" 2>&1 ||
	bail "promtool check config (prometheus-scrape.yml with file_sd)" "$(cat "$LOG_DIR/promtool.log")"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$LOG_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
target_up() { [ "$(promql "$PROM_PORT" "up{job=\"beed\",namespace=\"beed\",pod=\"$POD\"}")" = 1 ]; }
wait_for 60 target_up ||
	bail "Prometheus scrapes the pod through prometheus-scrape.yml's relabeling" "$(tail -n 5 "$LOG_DIR/prometheus.log")"
ok "Prometheus scrapes the pod at its annotated port and path (up{job=\"beed\",namespace=\"beed\",pod=\"$POD\"} == 1, $(elapsed))"

# --- activity on the node -------------------------------------------------------------
EXITER=beedk-$TAG
cp /bin/true "$WORK/$EXITER"
"$WORK/$EXITER"
if wait_for 15 exit_event_of "$CTR" "$EXITER"; then
	ok "the exit of $EXITER is a JSON line on the pod's stdout (kubectl logs)"
else
	not_ok "the exit of $EXITER is a JSON line on the pod's stdout" "$(stdout_of "$CTR" | tail -n 3)"
fi
listen_and_connect "$CONN_PORT" "$CONNECTIONS" || bail "start a listener on 127.0.0.1:$CONN_PORT (nc -lk)"
query="sum(ebpf_solo_io_counter_connections{node=\"$NODE\",probe=\"tcpconnect\",daddr=\"127.0.0.1\",dport=\"$CONN_PORT\"})"
counted() { [ "$(promql "$PROM_PORT" "$query")" = "$CONNECTIONS" ]; }
if wait_for 30 counted; then
	ok "Prometheus counts exactly $CONNECTIONS connections on node $NODE: $query ($(elapsed))"
else
	not_ok "Prometheus counts exactly $CONNECTIONS connections on node $NODE" "$query = $(promql "$PROM_PORT" "$query")"
fi
# every series of the scrape carries the node (metrics.const_labels from NODE_NAME)
unlabelled=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep -v '^#' | grep -v "node=\"$NODE\"" | head -n 3)
count=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep -vc '^#')
if [ -z "$unlabelled" ] && [ "$count" -gt 0 ]; then
	ok "all $count series of /metrics carry node=\"$NODE\" (downward API → NODE_NAME → metrics.const_labels)"
else
	not_ok "every series of /metrics carries node=\"$NODE\"" "$unlabelled"
fi

# --- stop --------------------------------------------------------------------------
podman pod stop -t 30 "$POD" >/dev/null 2>&1
check_stopped "$CTR" "stopping the pod ends beed cleanly"

summary
[ "$fail" = 0 ]
