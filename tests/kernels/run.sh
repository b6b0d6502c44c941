#!/usr/bin/env bash
# The kernel matrix (`make test-kernels`): every attach type, the built-in
# probes, a kprobe/kretprobe tcpconnect with exact counts and the btf_path
# fallback, on this host's kernel and on Debian's own cloud kernels (newest
# 6.1 and 6.12) booted under qemu with software emulation (no KVM needed).
# The BPF objects are compiled once, here, and the same files run on every
# kernel: that is the CO-RE check. Results come back over a serial port.
#
# Needs root. Installs what it needs with apt. Kernel packages are cached in
# $BEED_KERNEL_CACHE (default /var/cache/beed-tests/kernels), build output
# goes to target/kernels. Exit status 0 only if everything expected to work
# worked and every failure was a clean one.
#
# Environment: CONNECTS (default 5), KERNELS (default "6.1 6.12"),
# HOST=0 to skip the host run, QEMU_TIMEOUT (s, per guest, default 480),
# JOBS (guests booted at once, default: 2 when the machine has 2+ cores).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/tests/kernels
CACHE=${BEED_KERNEL_CACHE:-/var/cache/beed-tests/kernels}
WORK=${BEED_KERNELS_WORK:-$REPO/target/kernels}
CONNECTS=${CONNECTS:-5}
KERNELS=${KERNELS:-6.1 6.12}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-480}
HOST_PORT=${HOST_PORT:-19391}
if [[ -z ${JOBS:-} ]]; then JOBS=1; [[ $(nproc) -ge 2 ]] && JOBS=2; fi
KINDS=(tracepoint raw_tp tp_btf kprobe kretprobe ksyscall fentry fexit lsm uprobe uretprobe perf_event xdp tc iter)
# the hit key of each kind in attach_types.bpf.c (iter has none: attach only)
declare -A KEY=([tracepoint]=1 [raw_tp]=2 [tp_btf]=3 [kprobe]=4 [kretprobe]=5 [ksyscall]=6 [fentry]=7 [fexit]=8
	[lsm]=9 [uprobe]=10 [uretprobe]=11 [perf_event]=12 [xdp]=13 [tc]=14 [iter]=0)
# kernel modules the guests need (tc: clsact qdisc and the bpf classifier)
MODULES=(sch_ingress cls_bpf)
DEB_DEPS=(qemu-system-x86 busybox-static cpio clang llvm gcc libc6-dev libelf-dev zlib1g-dev pkg-config kmod xz-utils zstd iproute2 util-linux)

START=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { echo "error: $*" >&2; exit 2; }

[[ $(id -u) -eq 0 ]] || die "run as root (the matrix loads BPF programs and mounts filesystems)"
[[ $(uname -m) == x86_64 ]] || die "the kernel matrix boots x86_64 Debian kernels: run it on an x86_64 host"
mkdir -p "$CACHE" "$WORK"

# ---------------------------------------------------------------- deps
step "checking packages"
missing=()
for p in "${DEB_DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
APT_UPDATED=0
apt_update() { [[ $APT_UPDATED -eq 1 ]] || { apt-get update -qq; APT_UPDATED=1; }; }
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain >= 1.82 (rustup)"

# ---------------------------------------------------------------- build
step "building beed (cargo build --release --bin beed)"
(cd "$REPO" && cargo build --release --bin beed)
BEED=$REPO/target/release/beed

step "compiling the probes once (the same objects run on every kernel: CO-RE)"
PROBES=$WORK/probes
rm -rf "$PROBES" && mkdir -p "$PROBES"
BPF_CFLAGS=(-g -O2 -target bpf -D__TARGET_ARCH_x86 -I "$REPO/vmlinux" -I "$REPO/solo_types")
for k in "${KINDS[@]}"; do
	clang "${BPF_CFLAGS[@]}" "-DKIND_$k" -c "$REPO/tests/fixtures/attach_types.bpf.c" -o "$PROBES/$k.bpf.o"
done
clang "${BPF_CFLAGS[@]}" -c "$REPO/tests/fixtures/kprobe_tcpconnect.bpf.c" -o "$PROBES/kprobe_tcpconnect.bpf.o"
mkdir -p "$PROBES/examples"
for f in "$REPO"/examples/*.bpf.c; do
	clang "${BPF_CFLAGS[@]}" -c "$f" -o "$PROBES/examples/$(basename "$f" .c).o"
done
TARGET=$WORK/uprobe_target
gcc -static -O2 -o "$TARGET" "$REPO/tests/fixtures/uprobe_target.c"
echo "$(ls "$PROBES"/*.bpf.o | wc -l) objects in $PROBES, $(ls "$PROBES"/examples | wc -l) examples in $PROBES/examples; static $TARGET"

# ---------------------------------------------------------------- kernels
# newest linux-image-<series>*-cloud-amd64 in the apt sources (not the
# meta-package), downloaded once into $CACHE; a cached one is used when
# the sources cannot be reached.
newest_kernel() { # SERIES
	apt-cache search --names-only "^linux-image-$1[.-].*cloud-amd64\$" 2>/dev/null |
		awk '{print $1}' | grep -E "^linux-image-$1[.-][0-9]" | grep -v -- '-unsigned' | sort -V | tail -1
}
cached_kernel() { # SERIES -> newest cached .deb
	ls "$CACHE"/linux-image-"$1"[.-][0-9]*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1
}
fetch_kernel() { # SERIES -> prints the path of its .deb
	local s=$1 pkg deb
	pkg=$(newest_kernel "$s")
	if [[ -z $pkg ]]; then apt_update >&2; pkg=$(newest_kernel "$s"); fi
	if [[ -n $pkg ]]; then
		deb=$(ls "$CACHE/${pkg}"_*.deb 2>/dev/null | tail -1 || true)
		if [[ -z $deb ]]; then
			echo "downloading $pkg" >&2
			if (cd "$CACHE" && apt-get download -o APT::Sandbox::User=root "$pkg" >&2); then
				deb=$(ls "$CACHE/${pkg}"_*.deb | tail -1)
				# keep one package per series
				for old in "$CACHE"/linux-image-"$s"[.-][0-9]*-cloud-amd64_*.deb; do
					[[ $old == "$deb" ]] || rm -f "$old"
				done
			fi
		fi
	fi
	[[ -n ${deb:-} ]] || deb=$(cached_kernel "$s")
	[[ -n $deb ]] || return 1
	echo "$deb"
}
declare -A KDIR KVER
exec 9>"$CACHE/.lock"
flock 9 # another run may be filling the cache
for s in $KERNELS; do
	step "kernel $s"
	deb=$(fetch_kernel "$s") || die "no linux-image-$s*-cloud-amd64 in the apt sources nor in $CACHE"
	dir=$CACHE/$(basename "$deb" .deb)
	if [[ ! -f $dir/.extracted ]]; then
		rm -rf "$dir" && dpkg-deb -x "$deb" "$dir" && touch "$dir/.extracted"
	fi
	for old in "$CACHE"/linux-image-"$s"[.-][0-9]*-cloud-amd64_*/; do
		[[ -d $old && ${old%/} != "$dir" ]] && rm -rf "$old"
	done
	KDIR[$s]=$dir
	KVER[$s]=$(basename "$(ls -d "$dir"/lib/modules/*)")
	echo "$(basename "$deb") -> $dir (kernel ${KVER[$s]})"
done

exec 9>&-

# ---------------------------------------------------------------- initramfs
# The common part: busybox, beed and the libraries it links, the probes,
# the static target, init.sh and matrix.sh. Each kernel adds its modules.
step "building the initramfs"
BASE=$WORK/initramfs
rm -rf "$BASE" && mkdir -p "$BASE"/{bin,sbin,proc,sys,dev,tmp,probes,modules,etc}
cp /bin/busybox "$BASE/bin/busybox"
for a in $("$BASE/bin/busybox" --list); do
	[[ -e $BASE/bin/$a ]] || ln -s busybox "$BASE/bin/$a"
done
ln -sf ../bin/busybox "$BASE/sbin/modprobe"
cp "$BEED" "$BASE/bin/beed"
for lib in $(ldd "$BEED" | grep -o '/[^ ]*' | sort -u); do
	mkdir -p "$BASE$(dirname "$lib")"
	cp -L "$lib" "$BASE$lib"
done
cp "$PROBES"/*.bpf.o "$BASE/probes/"
cp -r "$PROBES/examples" "$BASE/probes/examples"
cp "$TARGET" "$BASE/bin/uprobe_target"
cp "$HERE/init.sh" "$BASE/init" && chmod 755 "$BASE/init"
cp "$HERE/matrix.sh" "$BASE/matrix.sh"
cat >"$BASE/matrix.env" <<EOF
export CONNECTS=$CONNECTS PORT=9091 PHASES="main btf examples" READY_TIMEOUT=240 VM_TIMEOUT=$((QEMU_TIMEOUT - 20))
EOF

# the module NAME of kernel dir D and what it depends on, decompressed, in load order
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
declare -A WALL

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
boot() { # SERIES (runs in the background: a subshell)
	set +e +o pipefail
	local s=$1 vmlinuz
	vmlinuz=$(ls "${KDIR[$s]}"/boot/vmlinuz-* | head -1)
	: >"$RES/$s"
	local t=$(date +%s) rc
	timeout --kill-after=10 "$QEMU_TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m 1024 \
		-nodefaults -display none -no-reboot \
		-kernel "$vmlinuz" -initrd "${INITRD[$s]}" \
		-append "console=ttyS0 lsm=lockdown,capability,landlock,yama,apparmor,bpf panic=-1 loglevel=4" \
		-serial stdio -serial "file:$RES/$s" </dev/null 2>&1 |
		stdbuf -oL tr -d '\r' | tee "$RES/$s.console" |
		{ grep --line-buffered -E '^\[(vm|matrix)' || true; } | sed -u "s/^/    $s /"
	rc=${PIPESTATUS[0]}
	sed -i 's/\r$//' "$RES/$s" # the guest's tty ends lines with CR LF
	echo "$(($(date +%s) - t)) $rc" >"$RES/$s.wall"
}
step "booting ${KERNELS// /, } under qemu (TCG, $JOBS at a time; console logs in $RES)"
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
	WALL[$s]=$w
	echo "    $s: qemu exited after ${w}s (status $rc)"
done

# ---------------------------------------------------------------- report
source "$HERE/report.sh"
