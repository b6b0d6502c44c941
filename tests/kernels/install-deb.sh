# shellcheck shell=bash
# Installs an arm64 beed .deb with `dpkg -i` on an arm64 userland and takes
# what the matrix guests run from that install; sourced by arm64.sh (bash,
# after lib.sh).
#
# The userland is the trixie root of the cross-build (packaging/cross.sh:
# `dpkg --add-architecture arm64`, libc6:arm64, libelf1t64:arm64,
# zlib1g:arm64, libgcc-s1:arm64, init-system-helpers), seen through an
# overlay so that the cached root itself is never changed: dpkg resolves the
# package's Depends against the arm64 packages installed there, and runs the
# maintainer scripts (shell scripts, whatever the package's architecture).
# The installed /usr/bin/beed runs here under qemu-aarch64 user emulation
# (qemu-user-static, called explicitly: no binfmt_misc registration).
#
# install_deb DEB ROOT DIR leaves in DIR/files the package's files as dpkg
# installed them (dpkg -L) plus the arm64 libraries beed links, resolved in
# the installed system, and in INSTALL_NOTES what the install showed
# (markdown, for the report).

INSTALL_NOTES=
install_deb() { # DEB ROOT DIR
	local deb=$1 root=$2 dir=$3 m st f out rc pre
	if ! [[ -x $root/usr/bin/dpkg ]] || ! grep -qsx arm64 "$root/var/lib/dpkg/arch"; then
		die "$root is not the cross-build's root with arm64 enabled (make build-arm64 makes it)"
	fi
	command -v qemu-aarch64-static >/dev/null || need_debs qemu-user-static
	rm -rf "$dir" && mkdir -p "$dir"/{upper,work,root,files}
	m=$dir/root
	exec 8>"${root%/}.lock"
	flock 8 # not while packaging/cross.sh changes the root
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$dir/upper,workdir=$dir/work" "$m" ||
		die "mounting an overlay of $root on $m failed"
	mount -t proc proc "$m/proc" || { umount "$m"; die "mounting /proc in $m failed"; }
	# shellcheck disable=SC2064 # now: the paths of this call
	trap "umount '$m/proc' 2>/dev/null; umount '$m' 2>/dev/null" EXIT
	in_install() { chroot "$m" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

	cp "$deb" "$m/tmp/beed.deb"
	echo "dpkg -i $(basename "$deb") in an overlay of $root"
	in_install dpkg -i /tmp/beed.deb 2>&1 | tee "$dir/dpkg.log" | sed 's/^/    /'
	rc=${PIPESTATUS[0]}
	[[ $rc == 0 ]] || die "dpkg -i $(basename "$deb") failed (status $rc; its output is above and in $dir/dpkg.log)"
	# shellcheck disable=SC2016 # dpkg-query's format
	st=$(in_install dpkg-query -W -f '${Package}:${Architecture} ${Version} ${Status}' beed:arm64) ||
		die "dpkg -s beed:arm64: not installed after dpkg -i"
	[[ $st == "beed:arm64 "*" install ok installed" ]] || die "dpkg -s beed:arm64: $st (expected install ok installed)"
	echo "dpkg -s: $st"
	in_install dpkg -L beed:arm64 >"$dir/files.list"
	for f in /usr/bin/beed /etc/bee/beed.toml /usr/share/bee/include/vmlinux.h /usr/share/bee/include/aarch64/vmlinux.h; do
		grep -qx "$f" "$dir/files.list" || die "dpkg -L beed:arm64 lists no $f"
	done
	UNIT_PATH=$(grep -m1 -E '^(/usr)?/lib/systemd/system/beed\.service$' "$dir/files.list") ||
		die "dpkg -L beed:arm64 lists no beed.service"
	# the maintainer scripts ran: postinst enabled the unit with
	# deb-systemd-helper; it starts it only where systemd runs (not here)
	[[ -f $m/var/lib/dpkg/info/beed:arm64.postinst || -f $m/var/lib/dpkg/info/beed.postinst ]] ||
		die "beed's postinst is not in $m/var/lib/dpkg/info"
	[[ -L $m/etc/systemd/system/multi-user.target.wants/beed.service ]] ||
		die "postinst did not enable beed.service (no /etc/systemd/system/multi-user.target.wants/beed.service)"
	echo "postinst ran: $(readlink "$m/etc/systemd/system/multi-user.target.wants/beed.service") enabled (not started: no systemd in a chroot)"

	# the installed beed, emulated in the installed system
	cp "$(command -v qemu-aarch64-static)" "$m/tmp/qemu-aarch64-static"
	out=$(in_install /tmp/qemu-aarch64-static /usr/bin/beed --version 2>&1) ||
		die "the installed /usr/bin/beed --version under qemu-aarch64 failed: $out"
	echo "/usr/bin/beed --version (qemu-aarch64): $out"
	local version=$out
	pre=$(sed -n 's/^ExecStartPre=[-@+!:]*//p' "$m$UNIT_PATH" | head -n 1)
	[[ $pre == /usr/bin/beed\ * ]] || die "$UNIT_PATH: its ExecStartPre is not a /usr/bin/beed command: $pre"
	# shellcheck disable=SC2086 # the unit's command line, split into words as systemd does
	out=$(in_install /tmp/qemu-aarch64-static $pre 2>&1) ||
		die "the unit's ExecStartPre ($pre) under qemu-aarch64 failed: $out"
	echo "ExecStartPre $pre (qemu-aarch64): ${out:-exit 0, no output}"
	local check=$out

	# what the guests get: the package's files, and beed's libraries as
	# the installed system resolves them
	while read -r f; do
		[[ -f $m$f && ! -L $m$f ]] || continue
		mkdir -p "$dir/files$(dirname "$f")"
		cp -p "$m$f" "$dir/files$f"
	done <"$dir/files.list"
	mkdir -p "$dir/files/etc/bee/probes.d"
	copy_libs "$m/usr/bin/beed" "$dir/files" "$m" aarch64-linux-gnu

	umount "$m/proc" || die "unmounting $m/proc failed"
	umount "$m" || die "unmounting the overlay $m failed"
	trap - EXIT
	exec 8>&-
	# shellcheck disable=SC2034 # arm64.sh
	INSTALL_NOTES="The beed that ran is the one of $(basename "$deb"), installed with \`dpkg -i\` on an arm64 userland (an overlay of the trixie root of packaging/cross.sh, \`dpkg --add-architecture arm64\`, its Depends met by the arm64 libc6, libelf1t64, zlib1g and libgcc-s1 installed there): \`dpkg -s\`: ${st#beed:arm64 }; \`dpkg -L\` lists $(wc -l <"$dir/files.list") paths; postinst ran (deb-systemd-helper enabled beed.service; not started: no systemd in a chroot).
The installed /usr/bin/beed under qemu-aarch64 user emulation: \`--version\` printed \`$version\`; the unit's ExecStartPre \`$pre\` exited 0${check:+ (\`$(echo "$check" | tr '\n' ' ' | cut -c1-200)\`)}.
The guests boot with that install's /usr/bin/beed, the arm64 libraries it links, /etc/bee/beed.toml and $UNIT_PATH; the probes are compiled against its /usr/share/bee/include (the flags of \`bee build --arch aarch64\`)."
}
