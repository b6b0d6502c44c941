#!/usr/bin/env bash
# The kernel matrix on arm64 (`make test-arm64`, not part of `make test`:
# software emulation of arm64 is slow). beed and bee are cross-built for
# aarch64 with Debian trixie's toolchain (packaging/cross.sh), the probes are
# compiled once for arm64 (-D__TARGET_ARCH_arm64, vmlinux/aarch64), and
# Debian's arm64 cloud kernels boot under qemu-system-aarch64 -machine virt
# -cpu max (TCG) with an initramfs of busybox-static:arm64, the aarch64 beed,
# the arm64 libraries it links, the probes, init.sh and the same matrix.sh as
# on x86. Results come back over a virtio console (/dev/hvc0, named to
# init.sh with beed_out=) and are judged by report.sh.
#
# Needs root. Kernel and busybox packages are fetched with apt-get download
# through a private apt configuration for arm64 (the mirrors of this
# machine's apt sources) and cached in $BEED_KERNEL_CACHE (default
# /var/cache/beed-tests/kernels); the trixie root of the cross-build in
# /var/cache/beed-tests/arm64-root. Build output goes to target/kernels-arm64
# (and target/aarch64 for cargo). Writes tests/kernels/RESULTS-arm64.md.
#
# Environment: BEED_DEB (an arm64 .deb whose beed runs instead of the one
# just built), CONNECTS (default 5), KERNELS (default "6.1 6.12"),
# QEMU_TIMEOUT (s, per guest, default 900), JOBS (guests at once, default 1).
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
# read by report.sh (sourced at the end): no host column here
# shellcheck disable=SC2034
HOST=0 HOST_PORT=0
KINDS=(tracepoint raw_tp tp_btf kprobe kretprobe ksyscall fentry fexit lsm uprobe uretprobe perf_event xdp tc iter)
# shellcheck disable=SC2034 # report.sh
declare -A KEY=([tracepoint]=1 [raw_tp]=2 [tp_btf]=3 [kprobe]=4 [kretprobe]=5 [ksyscall]=6 [fentry]=7 [fexit]=8
	[lsm]=9 [uprobe]=10 [uretprobe]=11 [perf_event]=12 [xdp]=13 [tc]=14 [iter]=0)
# tc's qdisc and classifier; the virtio-mmio transport and console that
# carry the results (all modules on Debian's arm64 cloud kernels)
MODULES=(sch_ingress cls_bpf virtio_mmio virtio_console)
# getppid's syscall number on arm64 (x86_64: 110), what syscount counts
GETPPID_NR=173
# BPF trampolines (fentry, fexit, lsm) need ftrace direct calls, which arm64
# has from Linux 6.4 on: on 6.1 these must fail cleanly (read by report.sh)
# shellcheck disable=SC2034
declare -A KERNEL_EXPECTED_FAILURES=([6.1]=" fentry fexit lsm ")
# pauth-impdef: the pointer-authentication the kernel uses everywhere, computed
# with a cheap implementation-defined hash instead of QARMA (much faster TCG)
QEMU=(qemu-system-aarch64 -machine virt -cpu "max,pauth-impdef=on" -smp 1 -m 1024)
DEB_DEPS=(qemu-system-arm busybox-static cpio clang llvm libbpf-dev kmod xz-utils zstd binutils file)

START=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { echo "error: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and chroot for the cross-build, kernel caches)"
[[ $(uname -m) == x86_64 ]] || die "this script cross-builds on x86_64 and emulates arm64; on an arm64 host use tests/kernels/run.sh's approach"
mkdir -p "$CACHE" "$WORK"

step "checking packages"
missing=()
for p in "${DEB_DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi

# ---------------------------------------------------------------- build
step "cross-building beed and bee for aarch64 (packaging/cross.sh build; bee too: building beed alone would unify features differently and rebuild its dependencies)"
t=$(date +%s)
BIN=$("$REPO/packaging/cross.sh" build | tail -n 1)
BUILD_TIME=$(($(date +%s) - t))
BEED=$BIN/beed
[[ -x $BEED ]] || die "packaging/cross.sh did not produce $BEED"
if [[ -n ${BEED_DEB:-} ]]; then
	# the beed of an arm64 package (make package ARCH=aarch64) instead
	[[ -f $BEED_DEB ]] || die "BEED_DEB=$BEED_DEB: no such file (make package ARCH=aarch64 builds one)"
	rm -rf "$WORK/deb"
	dpkg-deb -x "$BEED_DEB" "$WORK/deb" || die "dpkg-deb -x $BEED_DEB failed"
	BEED=$WORK/deb/usr/bin/beed
	[[ -x $BEED ]] || die "$BEED_DEB has no usr/bin/beed"
	echo "using beed from $(dpkg-deb -f "$BEED_DEB" Package Version Architecture | tr '\n' ' ')"
fi
file -b "$BEED" | grep -q 'ARM aarch64' || die "$BEED is not an aarch64 binary: $(file -b "$BEED")"
ROOT=${BEED_ARM64_ROOT:-/var/cache/beed-tests/arm64-root}

step "compiling the probes once for arm64 (-D__TARGET_ARCH_arm64, vmlinux/aarch64)"
PROBES=$WORK/probes
rm -rf "$PROBES" && mkdir -p "$PROBES/examples"
BPF_CFLAGS=(-g -O2 -target bpf -D__TARGET_ARCH_arm64 -I "$REPO/vmlinux" -I "$REPO/solo_types")
for k in "${KINDS[@]}"; do
	clang "${BPF_CFLAGS[@]}" "-DKIND_$k" -c "$REPO/tests/fixtures/attach_types.bpf.c" -o "$PROBES/$k.bpf.o"
done
clang "${BPF_CFLAGS[@]}" -c "$REPO/tests/fixtures/kprobe_tcpconnect.bpf.c" -o "$PROBES/kprobe_tcpconnect.bpf.o"
for f in "$REPO"/examples/*.bpf.c; do
	clang "${BPF_CFLAGS[@]}" -c "$f" -o "$PROBES/examples/$(basename "$f" .c).o"
done
# the static uprobe target, with the cross gcc of the trixie root
"$REPO/packaging/cross.sh" run aarch64-linux-gnu-gcc -static -O2 -o "$WORK_REL/uprobe_target" tests/fixtures/uprobe_target.c ||
	die "cross-compiling tests/fixtures/uprobe_target.c failed"
TARGET=$WORK/uprobe_target
echo "$(find "$PROBES" -maxdepth 1 -name '*.bpf.o' | wc -l) objects, $(find "$PROBES/examples" -name '*.o' | wc -l) examples in $PROBES; $(file -b "$TARGET" | cut -d, -f1-2)"

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
declare -A KDIR KVER
for s in $KERNELS; do
	step "arm64 kernel $s"
	pkg=$(newest "^linux-image-${s}[.-][0-9].*-cloud-arm64\$")
	deb=$(download "$pkg" "linux-image-${s}[.-][0-9]*-cloud-arm64_*") ||
		die "no linux-image-$s*-cloud-arm64 in the arm64 package lists nor in $CACHE"
	KDIR[$s]=$(extract "$deb")
	KVER[$s]=$(basename "$(ls -d "${KDIR[$s]}"/lib/modules/*)")
	for old in "$CACHE"/linux-image-"$s"[.-][0-9]*-cloud-arm64_*; do
		[[ $old == "$deb" || $old == "${KDIR[$s]}" ]] || rm -rf "$old"
	done
	echo "$(basename "$deb") -> ${KDIR[$s]} (kernel ${KVER[$s]})"
done
exec 9>&-

# ---------------------------------------------------------------- initramfs
step "building the initramfs (busybox-static:arm64, the aarch64 beed and its libraries)"
BASE=$WORK/initramfs
rm -rf "$BASE" && mkdir -p "$BASE"/{bin,sbin,proc,sys,dev,tmp,probes,modules,etc,lib}
cp "$BUSYBOX" "$BASE/bin/busybox"
# the applet list from the x86 busybox of the same version (the arm64 one
# cannot run here); the arm64 binary is the one in the guest
for a in $(busybox --list 2>/dev/null || /bin/busybox --list); do
	[[ -e $BASE/bin/$a ]] || ln -s busybox "$BASE/bin/$a"
done
ln -sf ../bin/busybox "$BASE/sbin/modprobe"
cp "$BEED" "$BASE/bin/beed"
# the libraries beed links, resolved in the trixie root (no ldd for arm64
# binaries here): DT_NEEDED, recursively, plus the dynamic loader
LIBDIRS=("$ROOT/usr/lib/aarch64-linux-gnu" "$ROOT/lib/aarch64-linux-gnu")
declare -A HAVE
add_libs() { # ELF
	local n f d
	for n in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[[ -n ${HAVE[$n]:-} ]] && continue
		f=
		for d in "${LIBDIRS[@]}"; do [[ -e $d/$n ]] && { f=$d/$n; break; }; done
		[[ -n $f ]] || die "library $n (needed by $(basename "$1")) not found in $ROOT: is libelf1:arm64 installed there? (rm -rf $ROOT to rebuild it)"
		HAVE[$n]=1
		mkdir -p "$BASE/lib/aarch64-linux-gnu"
		cp -L "$f" "$BASE/lib/aarch64-linux-gnu/$n"
		add_libs "$f"
	done
}
add_libs "$BEED"
interp=$(readelf -l "$BEED" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[[ -n $interp ]] || die "$BEED has no program interpreter (a static binary?)"
mkdir -p "$BASE$(dirname "$interp")"
cp -L "$ROOT$interp" "$BASE$interp" || die "the dynamic loader $interp is not in $ROOT"
echo "libraries: ${!HAVE[*]} + $interp"
cp "$PROBES"/*.bpf.o "$BASE/probes/"
cp -r "$PROBES/examples" "$BASE/probes/examples"
cp "$TARGET" "$BASE/bin/uprobe_target"
cp "$HERE/init.sh" "$BASE/init" && chmod 755 "$BASE/init"
cp "$HERE/matrix.sh" "$BASE/matrix.sh"
cat >"$BASE/matrix.env" <<EOF
export CONNECTS=$CONNECTS PORT=9091 PHASES="main btf examples" READY_TIMEOUT=480 VM_TIMEOUT=$((QEMU_TIMEOUT - 20))
EOF

add_module() { # DIR KVER NAME OUTDIR
	local d=$1 v=$2 m=$3 out=$4 f dep
	grep -qx "$m" "$out/order" 2>/dev/null && return 0
	f=$(find "$d/lib/modules/$v/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -1)
	[[ -n $f ]] || { echo "note: module $m not in ${v}'s package (built in?)"; return 0; }
	for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add_module "$d" "$v" "$dep" "$out"; done
	case $f in
	*.xz) xz -dc "$f" >"$out/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$out/$m.ko" ;;
	*.gz) gzip -dc "$f" >"$out/$m.ko" ;;
	*) cp "$f" "$out/$m.ko" ;;
	esac
	echo "$m" >>"$out/order"
}
declare -A INITRD
for s in $KERNELS; do
	root=$WORK/initramfs-$s
	rm -rf "$root" && cp -a "$BASE" "$root"
	for m in "${MODULES[@]}"; do add_module "${KDIR[$s]}" "${KVER[$s]}" "$m" "$root/modules"; done
	INITRD[$s]=$WORK/initrd-$s.cpio.gz
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"${INITRD[$s]}"
	echo "$s: ${INITRD[$s]} ($(du -h "${INITRD[$s]}" | cut -f1); modules: $(tr '\n' ' ' <"$root/modules/order" 2>/dev/null))"
done

RES=$WORK/results
rm -rf "$RES" && mkdir -p "$RES"
declare -A WALL # report.sh

# ---------------------------------------------------------------- guests
boot() { # SERIES (in the background: a subshell)
	set +e +o pipefail
	local s=$1 vmlinuz t rc
	vmlinuz=$(compgen -G "${KDIR[$s]}/boot/vmlinuz-*" | head -n 1)
	: >"$RES/$s"
	t=$(date +%s)
	timeout --kill-after=10 "$QEMU_TIMEOUT" "${QEMU[@]}" \
		-nodefaults -display none -no-reboot \
		-kernel "$vmlinuz" -initrd "${INITRD[$s]}" \
		-append "console=ttyAMA0 beed_out=/dev/hvc0 lsm=lockdown,capability,landlock,yama,apparmor,bpf panic=-1 loglevel=4" \
		-serial stdio \
		-device virtio-serial-device -chardev "file,id=results,path=$RES/$s" -device virtconsole,chardev=results \
		</dev/null 2>&1 |
		stdbuf -oL tr -d '\r' | tee "$RES/$s.console" |
		{ grep --line-buffered -E '^\[(vm|matrix)' || true; } | sed -u "s/^/    $s /"
	rc=${PIPESTATUS[0]}
	sed -i 's/\r$//' "$RES/$s" # the guest's tty ends lines with CR LF
	echo "$(($(date +%s) - t)) $rc" >"$RES/$s.wall"
}
step "booting ${KERNELS// /, } under ${QEMU[*]} (TCG, $JOBS at a time; console logs in $RES)"
pids=()
for s in $KERNELS; do
	echo "    booting $s (${KVER[$s]})"
	boot "$s" &
	pids+=($!)
	if ((${#pids[@]} >= JOBS)); then wait "${pids[0]}" || true; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || true; done
for s in $KERNELS; do
	read -r w rc <"$RES/$s.wall"
	# shellcheck disable=SC2034 # report.sh
	WALL[$s]=$w
	echo "    $s: qemu exited after ${w}s (status $rc)"
done

# ---------------------------------------------------------------- report
# report.sh judges and prints as for x86; three x86 facts in it are
# replaced here (getppid's number, the command and the qemu line of the
# header) and each replacement is checked, so a change there fails loudly.
REPORT=$WORK/report-arm64.sh
# shellcheck disable=SC2016 # literal backticks
sed -e "s/nr=110)/nr=$GETPPID_NR)/" \
	-e 's/^\(\t*\)\(\[\[ \$c == host && \$HOST_EXPECTED_FAILURES == \*" \$r "\* \]\] && expected_ok=0\)$/&\n\1[[ ${KERNEL_EXPECTED_FAILURES[$c]:-} == *" $r "* ]] \&\& expected_ok=0/' \
	-e 's/Command: \\`make test-kernels\\` (= \\`tests\/kernels\/run.sh\\`)/Command: \\`make test-arm64\\` (= \\`tests\/kernels\/arm64.sh\\`)/' \
	-e "s/qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024/${QEMU[*]}/" \
	"$HERE/report.sh" >"$REPORT"
# shellcheck disable=SC2016 # literal text
for want in "nr=$GETPPID_NR)" 'make test-arm64' "${QEMU[*]}" 'KERNEL_EXPECTED_FAILURES[$c]'; do
	grep -qF -- "$want" "$REPORT" || die "tests/kernels/report.sh changed: cannot adapt it for arm64 (no '$want' after the substitutions); update arm64.sh"
done
set +e
(
	# shellcheck source=/dev/null
	source "$REPORT"
)
rc=$?
set -e
if [[ -f $WORK/RESULTS.md ]]; then
	{
		sed -n '1,/^Whole run/p' "$WORK/RESULTS.md" | sed 's/^# Kernel matrix results/# Kernel matrix results, arm64/'
		echo "aarch64 beed and bee cross-built by packaging/cross.sh (its cargo step took ${BUILD_TIME}s in this run; a cold build about 25 min on 2 busy cores) ($(file -b "$BEED" | cut -d, -f1-2)); probes compiled with \`clang -target bpf -D__TARGET_ARCH_arm64\`."
		[[ -z ${BEED_DEB:-} ]] || echo "The beed that ran is the one of $(basename "$BEED_DEB") (BEED_DEB), extracted with dpkg-deb -x."
		sed -n '/^Whole run/,$p' "$WORK/RESULTS.md" | tail -n +2
	} >"$HERE/RESULTS-arm64.md"
	echo "results written to tests/kernels/RESULTS-arm64.md"
fi
exit $rc
