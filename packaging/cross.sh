#!/bin/bash
# Cross-builds beed and bee for aarch64 on an x86_64 Debian host, offline
# (only the apt mirror and the crates registry are needed): Debian trixie's
# own toolchain (rustc 1.85, libstd-rust-dev:arm64, gcc-aarch64-linux-gnu)
# in a debootstrapped root, with the checkout bind-mounted at /src.
#
# usage: packaging/cross.sh build [PKG...]  cargo build --release for aarch64
#                                           of PKGs (default: beed bee)
#        packaging/cross.sh root           only make (or check) the cached root
#        packaging/cross.sh run CMD...     run CMD in the root (cwd /src)
#
# Output: $CARGO_TARGET_DIR (default target/aarch64, never the host's
# target/release)/aarch64-unknown-linux-gnu/release/{beed,bee}; `build`
# prints that directory on its last line.
# The root is cached in $BEED_ARM64_ROOT (default
# /var/cache/beed-tests/arm64-root) and rebuilt when missing or incomplete
# (delete it to start over). The binaries link trixie's glibc (>= 2.38 for
# libbpf's __isoc23_* symbols): they run on Debian 13 (trixie) and newer,
# Ubuntu 24.04 and newer, not on Debian 12 arm64.
# Needs root (debootstrap, chroot, bind mounts).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${BEED_ARM64_ROOT:-/var/cache/beed-tests/arm64-root}
SUITE=trixie
TRIPLE=aarch64-unknown-linux-gnu
# the target dir as seen from inside the root (the repo is /src there)
TARGET_REL=${CARGO_TARGET_DIR_REL:-target/aarch64}
# arm64 libraries to link, the native ones the build scripts link
# (libbpf-sys builds libbpf for the host too), the BPF compiler, and
# dpkg-shlibdeps (the arm64 .deb's Depends)
PACKAGES=(ca-certificates rustc cargo libstd-rust-dev:arm64 gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	libelf-dev:arm64 zlib1g-dev:arm64 libelf-dev zlib1g-dev clang llvm pkg-config make dpkg-dev)
STAMP=$ROOT/.beed-root-complete

die() { echo "error: $*" >&2; exit 2; }
log() { printf '==> %s\n' "$*" >&2; }

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, chroot and bind mounts need it)"
[[ $(uname -m) == x86_64 ]] || die "this script cross-builds from x86_64; on an arm64 host run cargo build --release directly"

# The first Debian mirror of this machine's apt sources (deb822 or
# one-line format); never a hard-coded host.
mirror() {
	local m
	m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[[ -n $m ]] || m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) { print $i; exit } }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1 || true)
	[[ -n $m ]] || die "no Debian mirror found in /etc/apt/sources.list{,.d/}: add one (deb822 URIs: line) or set MIRROR"
	echo "$m"
}

MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null || true; done
	MOUNTS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
bind() { # SRC DST
	mkdir -p "$2"
	mount --bind "$1" "$2" || die "mount --bind $1 $2 failed (a container without CAP_SYS_ADMIN?)"
	MOUNTS+=("$2")
}
mount_root() {
	mountpoint -q "$ROOT/proc" || { mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc"); }
	mountpoint -q "$ROOT/dev" || bind /dev "$ROOT/dev"
	# DNS and this machine's CA certificates (cargo and apt over https)
	cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null && [[ -x $ROOT/usr/sbin/update-ca-certificates ]]; then
		mkdir -p "$ROOT/usr/local/share/ca-certificates"
		cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
		chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || log "warning: update-ca-certificates failed in $ROOT"
	fi
	# cargo's registry settings (a mirror or source replacement), if any
	mkdir -p "$ROOT/root/.cargo"
	local c
	for c in "${CARGO_HOME:-$HOME/.cargo}"/config.toml "${CARGO_HOME:-$HOME/.cargo}"/config; do
		[[ -f $c ]] && cp "$c" "$ROOT/root/.cargo/"
	done
	return 0
}
# in the root, with the proxy settings of this environment if there are any
in_root() {
	chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
		${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} ${no_proxy:+no_proxy=$no_proxy} \
		${HTTP_PROXY:+HTTP_PROXY=$HTTP_PROXY} ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} ${NO_PROXY:+NO_PROXY=$NO_PROXY} \
		"$@"
}

make_root() {
	if [[ -f $STAMP ]] && [[ $(cat "$STAMP") == "${PACKAGES[*]}" ]]; then return 0; fi
	command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
		die "debootstrap is missing and apt-get install debootstrap failed"
	local m t
	m=${MIRROR:-$(mirror)}
	t=$(date +%s)
	if [[ ! -x $ROOT/usr/bin/apt-get ]]; then
		log "debootstrap --variant=minbase $SUITE $ROOT (mirror from the apt sources; a few minutes)"
		rm -rf "$ROOT" && mkdir -p "$(dirname "$ROOT")"
		debootstrap --variant=minbase "$SUITE" "$ROOT" "$m" >"$ROOT.debootstrap.log" 2>&1 ||
			die "debootstrap $SUITE failed (log: $ROOT.debootstrap.log; its tail: $(tail -n 3 "$ROOT.debootstrap.log" 2>/dev/null | tr '\n' ' '))"
	fi
	mount_root
	log "installing the cross toolchain in the root: ${PACKAGES[*]}"
	in_root dpkg --add-architecture arm64
	in_root apt-get update -qq || die "apt-get update in $ROOT failed: is the mirror reachable? (rm -rf $ROOT to start over)"
	in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null ||
		die "apt-get install in $ROOT failed (packages: ${PACKAGES[*]}); rm -rf $ROOT to start over"
	in_root apt-get clean
	mount_root # now with ca-certificates installed: add this machine's CAs
	echo "${PACKAGES[*]}" >"$STAMP"
	log "root ready in $(($(date +%s) - t))s: $(in_root rustc --version), $(in_root cargo --version)"
}

exec 8>"${ROOT%/}.lock"
flock 8 # one build or root change at a time
make_root
mount_root
[[ -d $ROOT/src ]] || mkdir -p "$ROOT/src"
mountpoint -q "$ROOT/src" && umount -l "$ROOT/src"
bind "$REPO" "$ROOT/src"

cmd=${1:-build}
shift || true
case $cmd in
root)
	in_root rustc --version
	in_root cargo --version
	;;
run)
	[[ $# -gt 0 ]] || die "usage: $0 run CMD..."
	in_root sh -c 'cd /src && exec "$@"' sh "$@"
	;;
build)
	[[ $# -gt 0 ]] || set -- beed bee
	pkgs=()
	for p in "$@"; do pkgs+=(-p "$p"); done
	log "cargo build --release --target $TRIPLE ${pkgs[*]} with $(in_root rustc --version) (CARGO_TARGET_DIR=$TARGET_REL)"
	t=$(date +%s)
	# shellcheck disable=SC2016 # expanded by the inner sh
	in_root env \
		CARGO_TARGET_DIR="/src/$TARGET_REL" \
		CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
		CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
		AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
		PKG_CONFIG_ALLOW_CROSS=1 \
		PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
		sh -c 'cd /src && exec cargo build --release --locked --target "$0" "$@"' "$TRIPLE" "${pkgs[@]}" ||
		die "the aarch64 build failed (above); the root is $ROOT, the repo is /src in it: packaging/cross.sh run cargo ... to retry by hand"
	out=$REPO/$TARGET_REL/$TRIPLE/release
	log "built in $(($(date +%s) - t))s: $(file -b "$out/beed" | cut -d, -f1-2)"
	echo "$out"
	;;
*) die "usage: $0 build | root | run CMD..." ;;
esac
