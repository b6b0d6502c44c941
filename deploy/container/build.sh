#!/bin/bash
# Builds beed's container image offline (`make image`): FROM scratch, holding
# the release beed (stripped), exactly the shared libraries `ldd` says it
# links (at the paths the dynamic loader looks in), the container's default
# configuration (deploy/container/beed.toml), an empty /etc/bee/probes.d,
# beed's user (uid 65532, the image's USER) and its /run/beed.
#
# usage: deploy/container/build.sh [IMAGE]     (default: localhost/beed:VERSION)
#   Also tags IMAGE's repository with `latest`. Prints the image's name and
#   size on its last line. Needs podman; CONTAINERS_CONF is honoured (the
#   tests point it at deploy/container/containers.conf).
#
# The build context is staged in target/container/context.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

log() { printf '==> %s\n' "$*" >&2; }

command -v podman >/dev/null || { echo "error: podman not found (make container-deps)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "error: cargo not found: install a Rust toolchain >= 1.85" >&2; exit 1; }

meta=$(cargo metadata --no-deps --format-version 1)
version=$(jq -r '.packages[] | select(.name == "beed") | .version' <<<"$meta")
target_dir=$(jq -r '.target_directory' <<<"$meta")
source=$(jq -r '.packages[] | select(.name == "beed") | .repository // empty' <<<"$meta")
[ -n "$source" ] || source=$(git remote get-url origin 2>/dev/null || true)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then revision=$revision-dirty; fi
# the commit's date, not the build's: rebuilding the same tree changes nothing
created=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || true)
image=${1:-localhost/beed:$version}

log "building the release beed"
cargo build --release --locked -p beed --bin beed >&2
bin=$target_dir/release/beed

ctx=$target_dir/container/context
rm -rf "$ctx" && mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/etc/bee/probes.d" "$ctx/rootfs/run" "$ctx/state/beed"
cp "$here/Containerfile" "$ctx/Containerfile"
# beed's user (the image's USER) for tools that show names; /run/beed is
# its runtime directory (reload status, TC state), writable by that user
# and by group root (a container run as uid 0 without CAP_DAC_OVERRIDE)
printf 'root:x:0:0:root:/:/sbin/nologin\nbeed:x:65532:65532:beed:/:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nbeed:x:65532:\n' >"$ctx/rootfs/etc/group"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group"
chmod 0770 "$ctx/state/beed"
strip --strip-unneeded -o "$ctx/rootfs/usr/bin/beed" "$bin"
chmod 0755 "$ctx/rootfs/usr/bin/beed"
install -m 0644 "$here/beed.toml" "$ctx/rootfs/etc/bee/beed.toml"

# every library ldd resolves (`NAME => PATH (ADDR)`) and the loader itself
# (`PATH (ADDR)`), copied to the path ldd names (the loader's search path
# and the binary's PT_INTERP), symlinks followed
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "error: ldd $bin listed no library" >&2; exit 1; }
if ldd "$bin" | grep -q 'not found'; then
	echo "error: ldd $bin: a library is missing:" >&2
	ldd "$bin" | grep 'not found' >&2
	exit 1
fi
for lib in $libs; do
	mkdir -p "$ctx/rootfs$(dirname "$lib")"
	cp -L "$lib" "$ctx/rootfs$lib"
done
log "libraries: $(echo $libs)"

log "building $image"
previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
# org.opencontainers.image.source only when known: Cargo.toml's
# `repository`, else the checkout's origin
labels=()
[ -n "$source" ] && labels+=(--label "org.opencontainers.image.source=$source")
# no layers, so no cache (buildah 1.28 reuses a cached LABEL step whose ARG
# values changed: a new commit kept the old revision label) and no
# intermediate images left behind; the build is two COPYs
podman build --quiet --layers=false --file "$ctx/Containerfile" --tag "$image" --tag "${image%:*}:latest" "${labels[@]}" \
	--build-arg VERSION="$version" --build-arg REVISION="$revision" \
	--build-arg CREATED="$created" "$ctx" >&2
# the image this build replaced, unless a container or another tag uses it
current=$(podman image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "$image $size bytes ($((size / 1024 / 1024)) MiB)"
