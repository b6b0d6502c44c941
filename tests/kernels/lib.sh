# shellcheck shell=bash
# What the kernel matrices of x86_64 (run.sh) and arm64 (arm64.sh) share,
# sourced by both (bash): the probe objects, the initramfs (busybox, beed and
# the libraries it links, the probes, init.sh, matrix.sh, kernel modules),
# the qemu boots, and the report (report.sh).
#
# The sourcing script sets REPO, HERE, WORK and, before the functions that
# use them: KERNELS, KDIR, KMODS, KVER (per series), QEMU (the qemu command
# and machine), QEMU_CONSOLE (the kernel console device), QEMU_TIMEOUT,
# JOBS, MODULES, and defines results_args FILE (the qemu arguments of the
# device that carries the guest's results into FILE).

START=$(date +%s)
step() { printf '\n==> [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
die() { echo "error: $*" >&2; exit 2; }

# every attach type the matrix loads, one object each
# shellcheck disable=SC2034 # used by the sourcing scripts and report.sh
KINDS=(tracepoint raw_tp tp_btf kprobe kretprobe ksyscall fentry fexit lsm uprobe uretprobe perf_event xdp tc iter)
# the hit key of each kind in attach_types.bpf.c (iter has none: attach only)
# shellcheck disable=SC2034 # report.sh
declare -A KEY=([tracepoint]=1 [raw_tp]=2 [tp_btf]=3 [kprobe]=4 [kretprobe]=5 [ksyscall]=6 [fentry]=7 [fexit]=8
	[lsm]=9 [uprobe]=10 [uretprobe]=11 [perf_event]=12 [xdp]=13 [tc]=14 [iter]=0)

# Installs the Debian packages of "$@" that are missing.
need_debs() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	((${#missing[@]})) || return 0
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

# The test probes, compiled once (the same objects run on every kernel of
# the architecture: that is the CO-RE check): one object per attach type,
# the kprobe tcpconnect, and examples/ into OUT/examples.
compile_probes() { # OUT CLANG-FLAGS...
	local out=$1 k f
	shift
	rm -rf "$out" && mkdir -p "$out/examples"
	for k in "${KINDS[@]}"; do
		clang "$@" "-DKIND_$k" -c "$REPO/tests/fixtures/attach_types.bpf.c" -o "$out/$k.bpf.o"
	done
	clang "$@" -c "$REPO/tests/fixtures/kprobe_tcpconnect.bpf.c" -o "$out/kprobe_tcpconnect.bpf.o"
	for f in "$REPO"/examples/*.bpf.c; do
		clang "$@" -c "$f" -o "$out/examples/$(basename "$f" .c).o"
	done
	echo "$(find "$out" -maxdepth 1 -name '*.bpf.o' | wc -l) objects, $(find "$out/examples" -name '*.o' | wc -l) examples in $out"
}

# Copies the shared libraries ELF needs (DT_NEEDED, recursively) and its
# dynamic loader from the system in LIBROOT ("" for this machine) into
# BASE, at the paths they have there. Read with readelf, so it works for a
# foreign architecture too (no ldd for arm64 binaries here).
declare -A COPIED_LIBS
copy_libs() { # ELF BASE LIBROOT MULTIARCH
	local elf=$1 base=$2 libroot=$3 triplet=$4 interp
	COPIED_LIBS=()
	_copy_needed "$elf" "$base" "$libroot" "$triplet"
	interp=$(readelf -l "$elf" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
	[[ -n $interp ]] || die "$elf has no program interpreter (a static binary?)"
	mkdir -p "$base$(dirname "$interp")"
	cp -L "$libroot$interp" "$base$interp" || die "the dynamic loader $interp is not in ${libroot:-/}"
	echo "libraries: ${!COPIED_LIBS[*]} + $interp"
}
_copy_needed() { # ELF BASE LIBROOT MULTIARCH
	local n f d
	for n in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		[[ -n ${COPIED_LIBS[$n]:-} ]] && continue
		f=
		for d in /usr/lib/"$4" /lib/"$4"; do [[ -e $3$d/$n ]] && { f=$d/$n; break; }; done
		[[ -n $f ]] || die "library $n (needed by $(basename "$1")) not found in ${3:-/}/{usr/,}lib/$4"
		COPIED_LIBS[$n]=1
		mkdir -p "$2$(dirname "$f")"
		cp -L "$3$f" "$2$f"
		_copy_needed "$3$f" "$2" "$3" "$4"
	done
}

# The common part of every guest's initramfs: busybox (BUSYBOX, its applets
# named after APPLETS_FROM's list: a busybox of the same version that runs
# here), the probes and the static target, init.sh, matrix.sh and its
# environment (the variables of "$@", NAME=VALUE). The caller adds beed
# and its libraries.
initramfs_base() { # BASE BUSYBOX APPLETS_FROM PROBES TARGET NAME=VALUE...
	local base=$1 busybox=$2 applets=$3 probes=$4 target=$5 a
	shift 5
	rm -rf "$base" && mkdir -p "$base"/{bin,sbin,proc,sys,dev,tmp,probes,modules,etc}
	cp "$busybox" "$base/bin/busybox"
	for a in $("$applets" --list); do
		[[ -e $base/bin/$a ]] || ln -s busybox "$base/bin/$a"
	done
	ln -sf ../bin/busybox "$base/sbin/modprobe"
	cp "$probes"/*.bpf.o "$base/probes/"
	cp -r "$probes/examples" "$base/probes/examples"
	cp "$target" "$base/bin/uprobe_target"
	cp "$HERE/init.sh" "$base/init" && chmod 755 "$base/init"
	cp "$HERE/matrix.sh" "$base/matrix.sh"
	for a in "$@"; do printf "export %s='%s'\n" "${a%%=*}" "${a#*=}"; done >"$base/matrix.env"
}

# The module NAME of kernel version V (its modules in MODULES-DIR/V) and what
# it depends on, decompressed into OUTDIR, in load order (OUTDIR/order).
add_module() { # MODULES-DIR V NAME OUTDIR
	local d=$1 v=$2 m=$3 out=$4 f dep
	grep -qx "$m" "$out/order" 2>/dev/null && return 0
	f=$(find "$d/$v/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -1)
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

# One initramfs per kernel of KERNELS: BASE plus that kernel's MODULES, in
# INITRD[series].
declare -A INITRD
pack_initrds() { # BASE
	local s root m
	for s in $KERNELS; do
		root=$WORK/initramfs-$s
		rm -rf "$root" && cp -a "$1" "$root"
		for m in "${MODULES[@]}"; do add_module "${KMODS[$s]}" "${KVER[$s]}" "$m" "$root/modules"; done
		INITRD[$s]=$WORK/initrd-$s.cpio.gz
		(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"${INITRD[$s]}"
		echo "$s: ${INITRD[$s]} ($(du -h "${INITRD[$s]}" | cut -f1); modules: $(tr '\n' ' ' <"$root/modules/order" 2>/dev/null))"
	done
}

# Boots kernel SERIES with its initramfs; the guest's results go to
# $RES/SERIES, its console to $RES/SERIES.console, "SECONDS STATUS" of qemu
# to $RES/SERIES.wall. Runs in the background (a subshell).
boot() { # SERIES
	set +e +o pipefail
	local s=$1 vmlinuz t rc extra
	vmlinuz=$(compgen -G "${KDIR[$s]}/boot/vmlinuz-*" || compgen -G "${KMODS[$s]}/${KVER[$s]}/vmlinuz")
	vmlinuz=${vmlinuz%%$'\n'*}
	: >"$RES/$s"
	mapfile -t extra < <(results_args "$RES/$s")
	t=$(date +%s)
	timeout --kill-after=10 "$QEMU_TIMEOUT" "${QEMU[@]}" \
		-nodefaults -display none -no-reboot \
		-kernel "$vmlinuz" -initrd "${INITRD[$s]}" \
		-append "console=$QEMU_CONSOLE ${BEED_OUT:+beed_out=$BEED_OUT }lsm=lockdown,capability,landlock,yama,apparmor,bpf panic=-1 loglevel=4" \
		-serial stdio "${extra[@]}" </dev/null 2>&1 |
		stdbuf -oL tr -d '\r' | tee "$RES/$s.console" |
		{ grep --line-buffered -E '^\[(vm|matrix)' || true; } | sed -u "s/^/    $s /"
	rc=${PIPESTATUS[0]}
	sed -i 's/\r$//' "$RES/$s" # the guest's tty ends lines with CR LF
	echo "$(($(date +%s) - t)) $rc" >"$RES/$s.wall"
}

# Boots every kernel of KERNELS, JOBS at a time, and fills WALL.
# shellcheck disable=SC2034 # report.sh
declare -A WALL
boot_all() {
	local s p w rc pids=()
	step "booting ${KERNELS// /, } under ${QEMU[*]} (TCG, $JOBS at a time; console logs in $RES)"
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
}
