#!/bin/bash
# Builds beed's packages from this checkout:
#   target/debian/beed_<version>-<rev>_<arch>.deb       (cargo-deb)
#   target/generate-rpm/beed-<version>-<rel>.<arch>.rpm (cargo-generate-rpm)
#
# usage: packaging/build.sh [deb] [rpm] [--check]
#   no package named: both; --check: lintian on the .deb, rpm -qip/-qlp and
#   the scriptlets of the .rpm (fails if lintian reports an error)
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

want_deb=0 want_rpm=0 check=0
for a in "$@"; do
	case $a in
	deb) want_deb=1 ;;
	rpm) want_rpm=1 ;;
	--check) check=1 ;;
	*) echo "usage: $0 [deb] [rpm] [--check]" >&2; exit 2 ;;
	esac
done
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
need_debs "${debs[@]}"

# where cargo puts its output (CARGO_TARGET_DIR, .cargo/config.toml, ...)
target_dir=$(cargo metadata --no-deps --format-version 1 |
	sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target_dir" ] || { echo "error: cannot find cargo's target directory" >&2; exit 1; }

built=()

# bee and what it brings (man pages, completions, headers, the example
# library compiled by bee itself) staged in target/release/bee-share for both
# packages
log "building beed and bee, and staging bee's files"
# built here, not by cargo deb: it would build every workspace member, the
# fuzz crate (libFuzzer, C++) included
cargo build --release --locked -p beed -p bee --target-dir "$target_dir"
share=$target_dir/release/bee-share
rm -rf "$share" && mkdir -p "$share/examples" "$share/examples-obj"
"$target_dir/release/bee" generate-docs "$share"
# man pages compressed, as Debian policy and lintian want (cargo-deb only
# compresses the ones it is given one by one)
gzip -9n "$share"/man1/*.1
for src in examples/*.bpf.c; do
	[ -e "$src" ] || continue
	cp "$src" "$share/examples/"
	# objects are arch-dependent (__TARGET_ARCH_*): /usr/lib/bee/examples
	"$target_dir/release/bee" build "$src" -o "$share/examples-obj/$(basename "$src" .c).o" >/dev/null
done
[ ! -f examples/README.md ] || cp examples/README.md "$share/examples/"
# the headers the examples include, for plain clang (bee carries them too)
cp -L examples/*.h "$share/examples/" 2>/dev/null || true

if [ $want_deb = 1 ]; then
	cargo_tool deb cargo-deb "$CARGO_DEB_VERSION"
	log "building the .deb (cargo deb)"
	# --strip: [profile.release] keeps debug info for benchmarks and perf;
	# the package does not need it
	deb=$(cargo deb --locked --strip --no-build | tail -n 1)
	[ -f "$deb" ] || { echo "error: cargo deb did not report a package (got: $deb)" >&2; exit 1; }
	# cargo-deb packages files only: add the empty /etc/bee/probes.d/ that
	# beed reads drop-in probe files from, so dpkg owns it, and the md5sums
	# that dh_md5sums would write (every file but the conffiles)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	dpkg-deb -R "$deb" "$tmp/pkg"
	install -d -m 0755 "$tmp/pkg/etc/bee/probes.d"
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
	stage=$target_dir/release/rpm
	mkdir -p "$stage"
	strip --strip-debug --strip-unneeded -o "$stage/beed" "$target_dir/release/beed"
	strip --strip-debug --strip-unneeded -o "$stage/bee" "$target_dir/release/bee"
	gzip -9n <packaging/beed.8 >"$stage/beed.8.gz"

	version=$(cargo metadata --no-deps --format-version 1 |
		sed -n 's/.*"name":"beed","version":"\([^"]*\)".*/\1/p')
	rm -f "$target_dir"/generate-rpm/beed-"$version"-*.rpm
	cargo generate-rpm --target-dir "$target_dir"
	rpm=$(ls -t "$target_dir"/generate-rpm/beed-"$version"-*.rpm | head -n 1)
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
