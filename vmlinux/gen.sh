#!/bin/sh
# Regenerates vmlinux/<arch>/vmlinux.h from kernel BTF.
#
#   vmlinux/gen.sh                 # host arch, from /sys/kernel/btf/vmlinux
#   vmlinux/gen.sh aarch64 [DEB]   # another arch, from a Debian linux-image .deb
#
# For another architecture the script downloads (or takes) a Debian kernel
# package, extracts vmlinuz, decompresses it and carves the raw .BTF blob out
# of the image (it starts with the BTF magic 0xeb9f and its header gives its
# length), then lets bpftool print it as C. The output is committed, so
# builds (and offline deb/rpm builds) never need this script or the network.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
arch=${1:-$(uname -m)}
out="$here/$arch/vmlinux.h"
mkdir -p "$here/$arch"
if [ "$arch" = "$(uname -m)" ] && [ -z "${2:-}" ] && [ -r /sys/kernel/btf/vmlinux ]; then
    bpftool btf dump file /sys/kernel/btf/vmlinux format c > "$out.tmp"
    mv "$out.tmp" "$out"
    echo "wrote $out from /sys/kernel/btf/vmlinux ($(uname -r))"
    exit 0
fi
case "$arch" in
    aarch64) debarch=arm64 ;;
    x86_64) debarch=amd64 ;;
    *) echo "unsupported arch $arch" >&2; exit 1 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb=${2:-}
if [ -z "$deb" ]; then
    pkg=$(apt-cache depends "linux-image-$debarch:$debarch" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}' | sed "s/:.*//")
    [ -n "$pkg" ] || pkg=$(apt-cache search --names-only "^linux-image-[0-9.]+-[0-9]+-$debarch\$" | awk '{print $1}' | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "no linux-image package for $debarch; run: dpkg --add-architecture $debarch && apt-get update" >&2; exit 1; }
    (cd "$work" && apt-get download "$pkg:$debarch")
    deb=$(ls "$work"/*.deb)
fi
dpkg-deb -x "$deb" "$work/root"
img=$(ls "$work"/root/boot/vmlinuz-* | head -1)
python3 "$here/extract_btf.py" "$img" "$work/vmlinux.btf"
bpftool btf dump file "$work/vmlinux.btf" format c > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out from $(basename "$deb")"
