#!/bin/bash
# Builds beed's packages from this checkout:
#   target/debian/beed_<version>-<rev>_<arch>.deb       (cargo-deb)
#   target/generate-rpm/beed-<version>-<rel>.<arch>.rpm (cargo-generate-rpm)
#
# usage: packaging/build.sh [deb] [rpm] [--check] [--arch aarch64]
#   no package named: both; --check: lintian on the .deb, rpm -qip/-qlp and
#   the scriptlets of the .rpm (fails if lintian reports an error);
#   --arch aarch64 on an x86_64 host: arm64 packages from binaries that
#   packaging/cross.sh builds with Debian trixie's toolchain (root; the
#   aarch64 bee itself, under qemu-user, writes the docs and compiles the
#   example library with bee build --arch aarch64), into target/aarch64/
#
# Installs what is missing: Debian packages with apt-get, cargo-deb and
# cargo-generate-rpm with `cargo install --locked` (into ~/.cargo/bin).
# Prints the path of each package built on the last lines of its output.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-deb 3.2.1 is the last release that installs units in /lib/systemd/system
# (bookworm's debhelper location); 3.3 moved them to /usr/lib/systemd/system.
CARGO_DEB_VERSION=3.2.1
CARGO_GENERATE_RPM_VERSION=0.21.1

want_deb=0 want_rpm=0 check=0 arch=$(uname -m)
while [ $# -gt 0 ]; do
	case $1 in
	deb) want_deb=1 ;;
	rpm) want_rpm=1 ;;
	--check) check=1 ;;
	--arch) arch=${2:-}; shift ;;
	--arch=*) arch=${1#--arch=} ;;
	*) echo "usage: $0 [deb] [rpm] [--check] [--arch aarch64]" >&2; exit 2 ;;
	esac
	shift
done
case $arch in arm64) arch=aarch64 ;; amd64) arch=x86_64 ;; esac
cross=0
if [ "$arch" != "$(uname -m)" ]; then
	if [ "$arch" != aarch64 ] || [ "$(uname -m)" != x86_64 ]; then
		echo "error: --arch $arch on $(uname -m): only aarch64 packages from an x86_64 host are cross-built (packaging/cross.sh)" >&2
		exit 2
	fi
	cross=1
fi
if [ $want_deb = 0 ] && [ $want_rpm = 0 ]; then want_deb=1 want_rpm=1; fi

log() { printf '==> %s\n' "$*" >&2; }

need_debs() {
	local missing=() p
	for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	[ ${#missing[@]} = 0 ] && return 0
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# cargo_tool SUBCOMMAND CRATE VERSION: make `cargo SUBCOMMAND` that version
cargo_tool() {
	local sub=$1 crate=$2 version=$3 have
	have=$(cargo "$sub" --version 2>/dev/null | awk '{print $NF}' || true)
	if [ "$have" != "$version" ]; then
		log "installing $crate $version${have:+ (found $have)}"
		cargo install --locked --quiet "$crate@$version"
	fi
}

command -v cargo >/dev/null || { echo "error: cargo not found: install a Rust toolchain (rustup)" >&2; exit 1; }
debs=(binutils gzip)
[ $want_deb = 1 ] && debs+=(dpkg-dev)
[ $check = 1 ] && [ $want_deb = 1 ] && debs+=(lintian)
[ $want_rpm = 1 ] && debs+=(rpm)
# cross: strip for aarch64, and qemu-user to run the aarch64 bee here
[ $cross = 1 ] && debs+=(binutils-aarch64-linux-gnu qemu-user-static)
need_debs "${debs[@]}"

built=()
if [ $cross = 1 ]; then
	triple=aarch64-unknown-linux-gnu
	# cargo deb and cargo generate-rpm read it too
	export CARGO_TARGET_DIR=$PWD/target/aarch64
	target_dir=$CARGO_TARGET_DIR
	rel=$target_dir/$triple/release
	log "cross-building beed and bee for aarch64 (packaging/cross.sh build)"
	packaging/cross.sh build >/dev/null
	arm64_root=${BEED_ARM64_ROOT:-/var/cache/beed-tests/arm64-root}
	# the aarch64 bee, emulated, with the arm64 libraries of the build root
	bee() { QEMU_LD_PREFIX=$arm64_root qemu-aarch64-static "$rel/bee" "$@"; }
	bee_arch=(--arch aarch64)
	strip_tool=aarch64-linux-gnu-strip
	deb_target=(--target "$triple")
	rpm_target=(--target "$triple" --arch aarch64)
	rpm_dir=$target_dir/$triple/generate-rpm
else
	# where cargo puts its output (CARGO_TARGET_DIR, .cargo/config.toml, ...)
	target_dir=$(cargo metadata --no-deps --format-version 1 |
		sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
	[ -n "$target_dir" ] || { echo "error: cannot find cargo's target directory" >&2; exit 1; }
	rel=$target_dir/release
	log "building beed and bee"
	# built here, not by cargo deb: it would build every workspace member, the
	# fuzz crate (libFuzzer, C++) included
	cargo build --release --locked -p beed -p bee --target-dir "$target_dir"
	bee() { "$rel/bee" "$@"; }
	bee_arch=()
	strip_tool="strip"
	deb_target=()
	rpm_target=()
	rpm_dir=$target_dir/generate-rpm
fi

# bee and what it brings (man pages, completions, headers, the example
# library compiled by bee itself) staged in target/release/bee-share (or
# target/aarch64/<triple>/release/bee-share) for both packages
log "staging bee's files"
share=$rel/bee-share
rm -rf "$share" && mkdir -p "$share/examples" "$share/examples-obj"
bee generate-docs "$share"
# man pages compressed, as Debian policy and lintian want (cargo-deb only
# compresses the ones it is given one by one)
gzip -9n "$share"/man1/*.1
for src in examples/*.bpf.c; do
	[ -e "$src" ] || continue
	cp "$src" "$share/examples/"
	# objects are arch-dependent (__TARGET_ARCH_*): /usr/lib/bee/examples
	bee build "${bee_arch[@]}" "$src" -o "$share/examples-obj/$(basename "$src" .c).o" >/dev/null
done
[ ! -f examples/README.md ] || cp examples/README.md "$share/examples/"
# the headers the examples include, for plain clang (bee carries them too)
cp -L examples/*.h "$share/examples/" 2>/dev/null || true

if [ $want_deb = 1 ]; then
	cargo_tool deb cargo-deb "$CARGO_DEB_VERSION"
	log "building the .deb (cargo deb)"
	# --strip: [profile.release] keeps debug info for benchmarks and perf;
	# the package does not need it
	deb=$(cargo deb --locked --strip --no-build "${deb_target[@]}" | tail -n 1)
	[ -f "$deb" ] || { echo "error: cargo deb did not report a package (got: $deb)" >&2; exit 1; }
	# cargo-deb packages files only: add the empty /etc/bee/probes.d/ that
	# beed reads drop-in probe files from, so dpkg owns it, and the md5sums
	# that dh_md5sums would write (every file but the conffiles)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	dpkg-deb -R "$deb" "$tmp/pkg"
	install -d -m 0755 "$tmp/pkg/etc/bee/probes.d"
	if [ $cross = 1 ]; then
		# cargo deb's dpkg-shlibdeps cannot see arm64 libraries here: ask the
		# one of the trixie root, where libc6:arm64 and the rest are installed
		depends=$(packaging/cross.sh run sh -c 'd=$(mktemp -d) && mkdir "$d/debian" &&
			printf "Source: beed\n\nPackage: beed\nArchitecture: arm64\n" >"$d/debian/control" &&
			cd "$d" && dpkg-shlibdeps -O "$@"' sh "/src/${rel#"$PWD"/}/beed" "/src/${rel#"$PWD"/}/bee" |
			sed -n 's/^shlibs:Depends=//p')
		[ -n "$depends" ] || { echo "error: dpkg-shlibdeps in the arm64 root found no dependencies for beed and bee" >&2; exit 1; }
		sed -i "s/^Depends:.*/Depends: $depends/" "$tmp/pkg/DEBIAN/control"
		grep -q '^Depends: .' "$tmp/pkg/DEBIAN/control" || echo "Depends: $depends" >>"$tmp/pkg/DEBIAN/control"
		log "Depends: $depends"
	fi
	(cd "$tmp/pkg" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' |
		LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
	chmod 0644 "$tmp/pkg/DEBIAN/md5sums"
	dpkg-deb --root-owner-group -Zxz -b "$tmp/pkg" "$deb" >/dev/null
	rm -rf "$tmp"
	trap - EXIT
	built+=("$deb")
	if [ $check = 1 ]; then
		log "lintian $deb"
		# exit status 2 = errors (warnings leave it 0 with --fail-on error)
		lintian --fail-on error --info "$deb"
		log "lintian: no errors"
	fi
fi

if [ $want_rpm = 1 ]; then
	cargo_tool generate-rpm cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
	log "building the .rpm (cargo generate-rpm)"
	# cargo-generate-rpm neither strips nor compresses: stage both
	stage=$rel/rpm
	mkdir -p "$stage"
	$strip_tool --strip-debug --strip-unneeded -o "$stage/beed" "$rel/beed"
	$strip_tool --strip-debug --strip-unneeded -o "$stage/bee" "$rel/bee"
	gzip -9n <packaging/beed.8 >"$stage/beed.8.gz"

	version=$(cargo metadata --no-deps --format-version 1 |
		sed -n 's/.*"name":"beed","version":"\([^"]*\)".*/\1/p')
	rm -f "$rpm_dir"/beed-"$version"-*.rpm
	cargo generate-rpm --target-dir "$target_dir" "${rpm_target[@]}"
	rpm=$(ls -t "$rpm_dir"/beed-"$version"-*.rpm | head -n 1)
	built+=("$rpm")
	if [ $check = 1 ]; then
		log "rpm -qip $rpm"
		rpm -qip "$rpm"
		log "rpm -qlvp $rpm"
		rpm -qlvp "$rpm"
		log "rpm -qp --configfiles / --requires / --scripts"
		rpm -qp --configfiles "$rpm"
		rpm -qp --requires "$rpm"
		rpm -qp --scripts "$rpm"
	fi
fi

for p in "${built[@]}"; do echo "$p"; done
