#!/usr/bin/env bash
# The kernel matrix (`make test-kernels`): every attach type, the built-in
# probes, a kprobe/kretprobe tcpconnect with exact counts and the btf_path
# fallback, on this host's kernel and on Debian's own cloud kernels (the
# newest 5.10 of bullseye, 6.1, 6.12, and the newest the mirror has) booted
# under qemu with software emulation (no KVM needed).
# The BPF objects are compiled once, here, and the same files run on every
# kernel: that is the CO-RE check. Results come back over a serial port.
#
# Needs root. Installs what it needs with apt. Kernel packages are cached in
# $BEED_KERNEL_CACHE (default /var/cache/beed-tests/kernels), build output
# goes to target/kernels. Exit status 0 only if everything expected to work
# worked and every failure was a clean one.
#
# Environment: CONNECTS (default 5), KERNELS (default "5.10 6.1 6.12
# newest": `newest` is the newest cloud kernel of the sources),
# HOST=0 to skip the host run, QEMU_TIMEOUT (s, per guest, default 480),
# JOBS (guests booted at once, default: 2 when the machine has 2+ cores).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/kernels
CACHE=${BEED_KERNEL_CACHE:-/var/cache/beed-tests/kernels}
WORK=${BEED_KERNELS_WORK:-$REPO/target/kernels}
CONNECTS=${CONNECTS:-5}
KERNELS=${KERNELS:-5.10 6.1 6.12 newest}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-480}
HOST_PORT=${HOST_PORT:-19391}
if [[ -z ${JOBS:-} ]]; then JOBS=1; [[ $(nproc) -ge 2 ]] && JOBS=2; fi
# kernel modules the guests need (tc: clsact qdisc and the bpf classifier)
MODULES=(sch_ingress cls_bpf)
DEB_DEPS=(qemu-system-x86 busybox-static cpio clang llvm gcc libc6-dev libelf-dev zlib1g-dev pkg-config kmod xz-utils zstd iproute2 util-linux)
# the guests' machine; results on their second serial port (/dev/ttyS1)
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024)
QEMU_CONSOLE=ttyS0
results_args() { echo -serial; echo "file:$1"; }
# read by report.sh
# shellcheck disable=SC2034
ARCH=x86_64 RESULTS=$WORK/RESULTS.md

# shellcheck source=tests/kernels/lib.sh
source "$HERE/lib.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (the matrix loads BPF programs and mounts filesystems)"
[[ $(uname -m) == x86_64 ]] || die "the kernel matrix boots x86_64 Debian kernels: run it on an x86_64 host"
mkdir -p "$CACHE" "$WORK"

# ---------------------------------------------------------------- deps
step "checking packages"
need_debs "${DEB_DEPS[@]}"
APT_UPDATED=0
apt_update() { [[ $APT_UPDATED -eq 1 ]] || { apt-get update -qq; APT_UPDATED=1; }; }
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain >= 1.82 (rustup)"

# ---------------------------------------------------------------- build
step "building beed (cargo build --release --bin beed)"
(cd "$REPO" && cargo build --release --bin beed)
BEED=$REPO/target/release/beed

step "compiling the probes once (the same objects run on every kernel: CO-RE)"
PROBES=$WORK/probes
compile_probes "$PROBES" -g -O2 -target bpf -D__TARGET_ARCH_x86 -I "$REPO/vmlinux" -I "$REPO/solo_types"
TARGET=$WORK/uprobe_target
gcc -static -O2 -o "$TARGET" "$REPO/tests/fixtures/uprobe_target.c"
echo "static $TARGET"

# ---------------------------------------------------------------- kernels
# Kernels come from Debian's apt sources: this machine's own, plus the same
# mirror's other releases through a private apt configuration in $CACHE/apt
# (5.10 from bullseye, the newest from trixie-backports). The mirror is read
# from this machine's apt sources at run time.
OTHER_SUITES=${OTHER_SUITES:-bullseye trixie trixie-backports}
PRIVATE_APT=(-o "Dir::Etc::SourceList=$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::State::Status=$CACHE/apt/status"
	-o "Dir::Cache=$CACHE/apt/cache" -o APT::Sandbox::User=root)
# the URI of the Debian archive this machine's apt sources use (deb822 or
# one-line format), empty if none
debian_mirror() {
	{
		awk '/^URIs:/ { u = $2 } /^Suites:/ && / (bookworm|trixie|bullseye)( |$)/ && u !~ /security/ { print u; exit }' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null
		awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
	} | head -1
}
PRIVATE_UPDATED=0
private_apt_update() {
	[[ $PRIVATE_UPDATED -eq 0 ]] || return 0
	PRIVATE_UPDATED=1
	local mirror
	mirror=$(debian_mirror)
	[[ -n $mirror ]] || { echo "note: no Debian mirror in the apt sources: only their own kernels" >&2; return 0; }
	mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial"
	: >"$CACHE/apt/status"
	for suite in $OTHER_SUITES; do echo "deb $mirror $suite main"; done >"$CACHE/apt/sources.list"
	apt-get "${PRIVATE_APT[@]}" update -qq >&2 || echo "note: updating the lists of $OTHER_SUITES failed" >&2
}
# linux-image-<series>*-cloud-amd64 packages (not the meta-package) the apt
# configuration of "$@" knows; series `newest` is any
kernel_packages() { # SERIES APT-OPTIONS...
	local s=$1 re
	shift
	re=$([[ $s == newest ]] && echo '[0-9]+\.[0-9]+' || echo "${s//./\\.}")
	apt-cache "$@" search --names-only "^linux-image-$re[.-].*cloud-amd64\$" 2>/dev/null |
		awk '{print $1}' | grep -E "^linux-image-$re[.-][0-9]" | grep -v -- '-unsigned' || true
}
# the newest of them, and the apt options that fetch it
newest_kernel() { # SERIES
	local best
	best=$({
		kernel_packages "$1" | sed 's/$/ host/'
		kernel_packages "$1" "${PRIVATE_APT[@]}" | sed 's/$/ private/'
	} | sort -V -k1,1 | tail -1)
	echo "$best"
}
cached_kernel() { # SERIES -> newest cached .deb
	local glob=$1
	[[ $1 == newest ]] && glob='[0-9]*.[0-9]*'
	# shellcheck disable=SC2086
	ls "$CACHE"/linux-image-$glob[.-][0-9]*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1
}
fetch_kernel() { # SERIES -> prints the path of its .deb
	local s=$1 pkg where deb opts=()
	read -r pkg where <<<"$(newest_kernel "$s")"
	if [[ -z $pkg ]]; then
		apt_update >&2
		private_apt_update
		read -r pkg where <<<"$(newest_kernel "$s")"
	fi
	if [[ -n $pkg ]]; then
		[[ $where == private ]] && opts=("${PRIVATE_APT[@]}")
		deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | tail -1 || true)
		if [[ -z $deb ]]; then
			echo "downloading $pkg" >&2
			if (cd "$CACHE" && apt-get "${opts[@]}" -o APT::Sandbox::User=root download "$pkg" >&2); then
				deb=$(ls "$CACHE/${pkg}"_*.deb | tail -1)
			fi
		fi
	fi
	[[ -n ${deb:-} ]] || deb=$(cached_kernel "$s")
	[[ -n $deb ]] || return 1
	echo "$deb"
}
# Since 7.x (trixie-backports) linux-image-X is an empty package depending
# on linux-binary-X (the kernel) and linux-modules-X: those are fetched with
# the apt configuration that has them and extracted into the same tree.
extract_parts() { # DEB DIR
	local deb=$1 dir=$2 parts tmp p ok
	parts=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -nE 's/^ *(linux-(binary|modules)-[^ ]+).*/\1/p')
	[[ -n $parts ]] || return 0
	tmp=$(mktemp -d "$CACHE/.parts.XXXXXX")
	for p in $parts; do
		ok=0
		for opts in host private; do
			if [[ $opts == private ]]; then
				private_apt_update
				(cd "$tmp" && apt-get "${PRIVATE_APT[@]}" download "$p" >&2) && ok=1
			else
				(cd "$tmp" && apt-get -o APT::Sandbox::User=root download "$p" >/dev/null 2>&1) && ok=1
			fi
			[[ $ok == 1 ]] && break
		done
		[[ $ok == 1 ]] || { rm -rf "$tmp"; echo "error: cannot download $p" >&2; return 1; }
	done
	for p in "$tmp"/*.deb; do dpkg-deb -x "$p" "$dir" || { rm -rf "$tmp"; return 1; }; done
	echo "with $(cd "$tmp" && ls -- *.deb | tr '\n' ' ')" >&2
	rm -rf "$tmp"
}
declare -A KDIR KVER KMODS
KEEP=()
exec 9>"$CACHE/.lock"
flock 9 # another run may be filling the cache
for s in $KERNELS; do
	step "kernel $s"
	deb=$(fetch_kernel "$s") || die "no linux-image-$s*-cloud-amd64 in the apt sources ($OTHER_SUITES included) nor in $CACHE"
	dir=$CACHE/$(basename "$deb" .deb)
	if [[ ! -f $dir/.extracted ]]; then
		rm -rf "$dir" && dpkg-deb -x "$deb" "$dir"
		extract_parts "$deb" "$dir" || die "fetch the parts $(basename "$deb") depends on"
		touch "$dir/.extracted"
	fi
	KEEP+=("$deb" "$dir")
	KDIR[$s]=$dir
	# modules in /lib/modules, or /usr/lib/modules (7.x packages, merged /usr)
	KMODS[$s]=$dir/lib/modules
	[[ -d ${KMODS[$s]} ]] || KMODS[$s]=$dir/usr/lib/modules
	KVER[$s]=$(basename "$(ls -d "${KMODS[$s]}"/*)")
	echo "$(basename "$deb") -> $dir (kernel ${KVER[$s]})"
done

# one package (and its extracted tree) per X.Y series in the cache: older
# ones of the series used are removed
for kept in "${KEEP[@]}"; do
	series=$(basename "$kept" | sed -E 's/^(linux-image-[0-9]+\.[0-9]+)[.-].*/\1/')
	for old in "$CACHE/$series".*-cloud-amd64_* "$CACHE/$series"-*-cloud-amd64_*; do
		[[ -e $old && " ${KEEP[*]} " != *" ${old%/} "* ]] && rm -rf "$old"
	done
done
exec 9>&-

# ---------------------------------------------------------------- initramfs
# The common part: busybox, beed and the libraries it links, the probes,
# the static target, init.sh and matrix.sh. Each kernel adds its modules.
step "building the initramfs"
BASE=$WORK/initramfs
initramfs_base "$BASE" /bin/busybox /bin/busybox "$PROBES" "$TARGET" \
	CONNECTS="$CONNECTS" PORT=9091 PHASES="main btf examples" READY_TIMEOUT=240 VM_TIMEOUT=$((QEMU_TIMEOUT - 20))
cp "$BEED" "$BASE/bin/beed"
copy_libs "$BEED" "$BASE" "" x86_64-linux-gnu
pack_initrds "$BASE"

RES=$WORK/results
rm -rf "$RES" && mkdir -p "$RES"

# ---------------------------------------------------------------- host
if [[ ${HOST:-1} != 0 ]]; then
	step "host kernel $(uname -r): the same objects, beed in a private network namespace"
	hw=$WORK/host
	rm -rf "$hw" && mkdir -p "$hw"
	t=$(date +%s)
	timeout --kill-after=10 600 unshare --net -- env BEED="$BEED" PROBES="$PROBES" TARGET="$TARGET" WORK="$hw" OUT="$RES/host" \
		CONNECTS="$CONNECTS" PHASES="main examples" PORT="$HOST_PORT" READY_TIMEOUT=120 \
		sh -c 'ip link set lo up && exec sh "$0"' "$HERE/matrix.sh" | sed 's/^/    /' || true
	WALL[host]=$(($(date +%s) - t))
fi

# ---------------------------------------------------------------- guests
boot_all

# ---------------------------------------------------------------- report
source "$HERE/report.sh"
