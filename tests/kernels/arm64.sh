#!/usr/bin/env bash
# The kernel matrix on arm64 (`make test-arm64`, not part of `make test`:
# software emulation of arm64 is slow), run with an installed arm64 package.
# The arm64 .deb (BEED_DEB, else built here: packaging/build.sh deb --arch
# aarch64, which cross-builds beed and bee with Debian trixie's toolchain,
# packaging/cross.sh) is installed with dpkg -i on an arm64 userland and its
# beed run under qemu-aarch64 (install-deb.sh); the probes are compiled once
# against the installed headers (-D__TARGET_ARCH_arm64, as bee build --arch
# aarch64 does), and Debian's arm64 cloud kernels boot under
# qemu-system-aarch64 -machine virt -cpu max (TCG) with an initramfs of
# busybox-static:arm64, the installed beed, the arm64 libraries it links, its
# beed.toml and unit, the probes, init.sh and the same matrix.sh as on x86,
# plus the unit phase (the unit's ExecStartPre and ExecStart with the
# packaged config). Results come back over a virtio console (/dev/hvc0, named
# to init.sh with beed_out=) and are judged by report.sh.
#
# Needs root. Kernel and busybox packages are fetched with apt-get download
# through a private apt configuration for arm64 (the mirrors of this
# machine's apt sources) and cached in $BEED_KERNEL_CACHE (default
# /var/cache/beed-tests/kernels); the trixie root of the cross-build in
# /var/cache/beed-tests/arm64-root. Build output goes to target/kernels-arm64
# (and target/aarch64 for cargo). Writes tests/kernels/RESULTS-arm64.md.
#
# Environment: BEED_DEB (the arm64 .deb to install; default: build one),
# CONNECTS (default 5), KERNELS (default "6.1 6.12"), QEMU_TIMEOUT (s, per
# guest, default 900), JOBS (guests at once, default 1).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/kernels
CACHE=${BEED_KERNEL_CACHE:-/var/cache/beed-tests/kernels}
WORK_REL=target/kernels-arm64 # under the repo: the cross root sees it as /src/$WORK_REL
WORK=$REPO/$WORK_REL
CONNECTS=${CONNECTS:-5}
KERNELS=${KERNELS:-6.1 6.12}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-900}
JOBS=${JOBS:-1}
# read by report.sh (sourced at the end)
# shellcheck disable=SC2034
ARCH=aarch64 RESULTS=$HERE/RESULTS-arm64.md TITLE="Kernel matrix results, arm64"
# tc's qdisc and classifier; the virtio-mmio transport and console that
# carry the results (all modules on Debian's arm64 cloud kernels)
MODULES=(sch_ingress cls_bpf virtio_mmio virtio_console)
# BPF trampolines on kernel functions (fentry, fexit, lsm) need ftrace direct
# calls, which arm64 has from Linux 6.4 on: on a kernel whose config lacks
# CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS (Debian's 6.1) these must fail
# cleanly (filled from each kernel's config below, read by report.sh)
declare -A KERNEL_EXPECTED_FAILURES=()
# pauth-impdef: the pointer-authentication the kernel uses everywhere, computed
# with a cheap implementation-defined hash instead of QARMA (much faster TCG)
QEMU=(qemu-system-aarch64 -machine virt -cpu "max,pauth-impdef=on" -smp 1 -m 1024)
QEMU_CONSOLE=ttyAMA0
# results over a virtio console: the virt machine has one PL011 UART
BEED_OUT=/dev/hvc0
results_args() { printf '%s\n' -device virtio-serial-device -chardev "file,id=results,path=$1" -device virtconsole,chardev=results; }
DEB_DEPS=(qemu-system-arm qemu-user-static busybox-static cpio clang llvm kmod xz-utils zstd binutils file)

# shellcheck source=tests/kernels/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tests/kernels/install-deb.sh
source "$HERE/install-deb.sh"

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and chroot for the cross-build, kernel caches)"
[[ $(uname -m) == x86_64 ]] || die "this script cross-builds on x86_64 and emulates arm64; on an arm64 host use tests/kernels/run.sh's approach"
mkdir -p "$CACHE" "$WORK"

step "checking packages"
need_debs "${DEB_DEPS[@]}"
ROOT=${BEED_ARM64_ROOT:-/var/cache/beed-tests/arm64-root}

# ---------------------------------------------------------------- the package
# Always an installed package: the matrix runs what users install. Without
# BEED_DEB, the .deb is built first (its cross-build is the one make
# build-arm64 does; warm, packaging adds about a minute).
t=$(date +%s)
if [[ -n ${BEED_DEB:-} ]]; then
	[[ -f $BEED_DEB ]] || die "BEED_DEB=$BEED_DEB: no such file (make package ARCH=aarch64 builds one)"
	DEB=$BEED_DEB
	HOW="BEED_DEB=${BEED_DEB#"$REPO"/} make test-arm64"
else
	step "building the arm64 .deb (packaging/build.sh deb --arch aarch64: cross-builds beed and bee, packages them)"
	DEB=$("$REPO/packaging/build.sh" deb --arch aarch64 | tail -n 1)
	[[ -f $DEB ]] || die "packaging/build.sh did not report an arm64 .deb (got: $DEB)"
	HOW="make test-arm64"
fi
BUILD_TIME=$(($(date +%s) - t))
[[ $(dpkg-deb -f "$DEB" Architecture) == arm64 ]] || die "$DEB is not an arm64 package: $(dpkg-deb -f "$DEB" Package Architecture | tr '\n' ' ')"
step "installing $(basename "$DEB") (dpkg -i on the arm64 userland of $ROOT, through an overlay)"
install_deb "$DEB" "$ROOT" "$WORK/install"
INSTALLED=$WORK/install/files
BEED=$INSTALLED/usr/bin/beed
file -b "$BEED" | grep -q 'ARM aarch64' || die "$BEED is not an aarch64 binary: $(file -b "$BEED")"

step "compiling the probes once for arm64 against the installed headers (/usr/share/bee/include)"
PROBES=$WORK/probes
compile_probes "$PROBES" -g -O2 -target bpf -D__TARGET_ARCH_arm64 -I "$INSTALLED/usr/share/bee/include"
# the static uprobe target, with the cross gcc of the trixie root
"$REPO/packaging/cross.sh" run aarch64-linux-gnu-gcc -static -O2 -o "$WORK_REL/uprobe_target" tests/fixtures/uprobe_target.c ||
	die "cross-compiling tests/fixtures/uprobe_target.c failed"
TARGET=$WORK/uprobe_target
file -b "$TARGET" | cut -d, -f1-2

# ---------------------------------------------------------------- apt for arm64
# A private apt configuration: this machine's sources, arm64 only, own lists
# and status; never the machine's own apt state.
APTDIR=$CACHE/apt-arm64
mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
[[ -f $APTDIR/status ]] || : >"$APTDIR/status"
{
	# deb822 stanzas: URIs, Suites, Components, Signed-By
	awk 'BEGIN { RS = "" } {
		u = s = c = k = ""
		n = split($0, L, "\n")
		for (i = 1; i <= n; i++) {
			if (L[i] ~ /^URIs:/) u = substr(L[i], 7)
			if (L[i] ~ /^Suites:/) s = substr(L[i], 9)
			if (L[i] ~ /^Components:/) c = substr(L[i], 13)
			if (L[i] ~ /^Signed-By:/) k = substr(L[i], 12)
		}
		if (u == "" || s == "") next
		ns = split(s, S, " ")
		for (j = 1; j <= ns; j++) printf "deb [arch=arm64%s] %s %s %s\n", (k == "" ? "" : " signed-by=" k), u, S[j], c
	}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true
	# one-line sources
	sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(.*\)$/deb [arch=arm64] \2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true
} >"$APTDIR/sources.list"
[[ -s $APTDIR/sources.list ]] || die "no apt sources found in /etc/apt/sources.list{,.d/}: arm64 kernels are fetched from the same mirrors"
APT_OPTS=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Dir::Etc::SourceList="$APTDIR/sources.list"
	-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APTDIR/lists" -o Dir::State::Status="$APTDIR/status"
	-o Dir::Cache="$APTDIR/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
exec 9>"$CACHE/.lock-arm64"
flock 9
step "arm64 package lists (private apt configuration in $APTDIR)"
apt-get "${APT_OPTS[@]}" update -qq || echo "warning: apt-get update for arm64 failed: using what $CACHE holds"

newest() { # REGEX -> newest package name
	apt-cache "${APT_OPTS[@]}" search --names-only "$1" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}
download() { # PACKAGE GLOB -> path of the cached .deb (newest cached one when offline)
	local pkg=$1 glob=$2 deb
	if [[ -n $pkg ]]; then
		deb=$(compgen -G "$CACHE/${pkg}_*_arm64.deb" | tail -n 1 || true)
		if [[ -z $deb ]]; then
			echo "downloading $pkg (arm64)" >&2
			(cd "$CACHE" && apt-get "${APT_OPTS[@]}" download "$pkg" >&2) || true
			deb=$(compgen -G "$CACHE/${pkg}_*_arm64.deb" | tail -n 1 || true)
		fi
	fi
	[[ -n ${deb:-} ]] || deb=$(compgen -G "$CACHE/${glob}_arm64.deb" | sort -V | tail -n 1 || true)
	[[ -n $deb ]] || return 1
	echo "$deb"
}
extract() { # DEB -> directory
	local dir
	dir=$CACHE/$(basename "$1" .deb)
	if [[ ! -f $dir/.extracted ]]; then rm -rf "$dir" && dpkg-deb -x "$1" "$dir" && touch "$dir/.extracted"; fi
	echo "$dir"
}

bb=$(download busybox-static 'busybox-static_*') || die "busybox-static:arm64 could not be downloaded nor found in $CACHE"
BUSYBOX=$(extract "$bb")/bin/busybox
declare -A KDIR KVER KMODS
for s in $KERNELS; do
	step "arm64 kernel $s"
	pkg=$(newest "^linux-image-${s}[.-][0-9].*-cloud-arm64\$")
	deb=$(download "$pkg" "linux-image-${s}[.-][0-9]*-cloud-arm64_*") ||
		die "no linux-image-$s*-cloud-arm64 in the arm64 package lists nor in $CACHE"
	KDIR[$s]=$(extract "$deb")
	KMODS[$s]=${KDIR[$s]}/lib/modules
	KVER[$s]=$(basename "$(ls -d "${KMODS[$s]}"/*)")
	for old in "$CACHE"/linux-image-"$s"[.-][0-9]*-cloud-arm64_*; do
		[[ $old == "$deb" || $old == "${KDIR[$s]}" ]] || rm -rf "$old"
	done
	echo "$(basename "$deb") -> ${KDIR[$s]} (kernel ${KVER[$s]})"
done
exec 9>&-
DIRECT_CALLS=()
for s in $KERNELS; do
	cfg=$(compgen -G "${KDIR[$s]}/boot/config-*" | head -n 1) || die "no boot/config-* in ${KDIR[$s]}"
	if grep -q '^CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y' "$cfg"; then
		DIRECT_CALLS+=("$s: CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y")
	else
		KERNEL_EXPECTED_FAILURES[$s]=" fentry fexit lsm "
		DIRECT_CALLS+=("$s: no CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS (fentry, fexit and lsm must fail cleanly)")
	fi
	echo "${DIRECT_CALLS[-1]}"
done

# ---------------------------------------------------------------- initramfs
step "building the initramfs (busybox-static:arm64; the installed beed, its libraries, beed.toml and unit)"
BASE=$WORK/initramfs
# the applet list from the x86 busybox of the same version (the arm64 one
# cannot run here); the arm64 binary is the one in the guest
initramfs_base "$BASE" "$BUSYBOX" /bin/busybox "$PROBES" "$TARGET" \
	CONNECTS="$CONNECTS" PORT=9091 PHASES="main btf examples unit" READY_TIMEOUT=480 VM_TIMEOUT=$((QEMU_TIMEOUT - 20)) \
	BEED=/usr/bin/beed UNIT="$UNIT_PATH"
for f in usr/bin/beed etc/bee "${UNIT_PATH#/}" lib usr/lib/aarch64-linux-gnu; do
	[[ -e $INSTALLED/$f ]] || continue
	mkdir -p "$BASE/$(dirname "$f")"
	cp -a "$INSTALLED/$f" "$BASE/$(dirname "$f")/"
done
pack_initrds "$BASE"

RES=$WORK/results
rm -rf "$RES" && mkdir -p "$RES"

# ---------------------------------------------------------------- guests
boot_all

# ---------------------------------------------------------------- report
# shellcheck disable=SC2034 # report.sh
COMMAND="\`$HOW\` (= \`tests/kernels/arm64.sh\`)"
DC=$(printf '%s; ' "${DIRECT_CALLS[@]}")
# shellcheck disable=SC2034 # report.sh
NOTES="The arm64 .deb: $(basename "$DEB") ($([[ -n ${BEED_DEB:-} ]] && echo "given as BEED_DEB, made by \`make package ARCH=aarch64\`" || echo "built by this run with packaging/build.sh deb --arch aarch64 in ${BUILD_TIME}s")); beed and bee in it cross-built by packaging/cross.sh (a cold build about 25 min on 2 busy cores).
$INSTALL_NOTES
BPF trampolines on kernel functions (fentry, fexit, lsm) need ftrace direct calls; the kernels' own configs (boot/config-*): ${DC%; }."
set +e
(
	# shellcheck source=tests/kernels/report.sh
	source "$HERE/report.sh"
)
rc=$?
set -e
exit $rc
