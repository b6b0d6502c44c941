#!/bin/bash
# Regenerates deploy/container/seccomp.json: the container runtime's default
# seccomp profile (containers/common's, which podman and CRI-O use and which
# is docker's with the same rules) as it applies to beed's container, plus
# `bpf` and `perf_event_open`.
#
# usage: deploy/container/seccomp.sh [DEFAULT_PROFILE [OUTPUT]]
#   DEFAULT_PROFILE: /usr/share/containers/seccomp.json (Debian package
#   golang-github-containers-common, a dependency of podman)
#   OUTPUT: deploy/container/seccomp.json
#
# The default profile allows `bpf` and `perf_event_open` only to containers
# holding CAP_SYS_ADMIN (and answers EPERM otherwise): beed's container holds
# CAP_BPF and CAP_PERFMON instead, so both calls move to the unconditional
# allow list. The kernel still checks those capabilities itself.
#
# The default profile's rules that depend on the container's capabilities
# (`includes.caps` / `excludes.caps`) are resolved here for the capabilities
# beed's container is given (CAPS below: the --cap-add list of README's "Run
# in a container"), and the per-architecture list (`archMap`) is flattened
# into `architectures`. The result is plain OCI runtime-spec seccomp JSON:
# podman and docker read it with --security-opt seccomp=FILE, and it works
# as a Kubernetes `Localhost` profile under containerd (which reads the OCI
# format and would apply both sides of every capability-conditional pair) as
# well as CRI-O. Only the architectures beed is built for are kept (x86_64 and
# arm64, with their 32-bit modes). Flattening widens one rule: arch_prctl,
# allowed on x86_64 and x32, is then also allowed to 32-bit x86 processes
# (they have it too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr/share/containers/seccomp.json}
out=${2:-$here/seccomp.json}
CAPS='["CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH"]'
# the architectures beed is built for (Go's names in `includes.arches`, the
# main seccomp architecture of each in `archMap`)
ARCHES='["amd64", "x32", "x86", "arm64", "arm"]'
MAIN_ARCHES='["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]'

[ -r "$src" ] || { echo "error: $src not found (apt-get install golang-github-containers-common)" >&2; exit 1; }
command -v jq >/dev/null || { echo "error: jq not found (apt-get install jq)" >&2; exit 1; }

jq --indent 1 --argjson caps "$CAPS" --argjson arches "$ARCHES" --argjson main "$MAIN_ARCHES" '
	def beed: ["bpf", "perf_event_open"];
	# a rule applies to a container with capabilities $caps when every cap it
	# includes is held and none it excludes is
	def applies: ((.includes.caps // []) - $caps | length == 0)
		and ((.excludes.caps // []) | all(. as $c | $caps | index($c) | not))
		and ((.includes.arches // []) as $a | $a == [] or any($a[]; . as $x | $arches | index($x)));
	{
		defaultAction,
		defaultErrnoRet,
		architectures: [.archMap[] | select(.architecture as $m | $main | index($m)) | .architecture, .subArchitectures[]],
		syscalls: ([.syscalls[] | select(applies)
				| .names -= beed | select(.names | length > 0)
				| {names, action} + (if .errnoRet then {errnoRet} else {} end)
					+ (if (.args // []) | length > 0 then {args} else {} end)]
			+ [{names: beed, action: "SCMP_ACT_ALLOW"}])
	}' "$src" >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
