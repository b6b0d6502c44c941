#!/bin/sh
# /init of the kernel matrix guests (busybox). Mounts what beed needs, loads
# the modules run.sh packed (tc's qdisc and classifier are modules on
# Debian's cloud kernels), brings lo up, runs matrix.sh with its results on
# the second serial port (/dev/ttyS1: the console also carries kernel
# messages; beed_out=DEV on the kernel command line names another one, e.g.
# /dev/hvc0, a virtio console, on arm64's virt machine), then powers off.
# Progress goes to the console (ttyS0, ttyAMA0 on arm64), kernel messages
# to the results at the end (dmesg).
export PATH=/bin
say() { echo "[vm] $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
dmesg -n 1
BOOT=$(cut -d' ' -f1 /proc/uptime)
# the kernel hands unknown name=value parameters to init as variables
OUT=${beed_out:-/dev/ttyS1}
# modules first: the results port may be one (virtio_console)
failed=
if [ -s /modules/order ]; then
	for m in $(cat /modules/order); do
		insmod "/modules/$m.ko" || failed="$failed $m"
	done
fi
i=0
while [ ! -e "$OUT" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "@@BOOT $BOOT" >>"$OUT"
for m in $failed; do echo "@@MODULE $m failed" >>"$OUT"; done

# a guard: whatever happens below, the guest stops
(sleep "${VM_TIMEOUT:-900}"; echo "@@GUARD timeout" >>$OUT; say "guard timeout: powering off"; poweroff -f) &

say "kernel $(uname -r) in user space after $(cut -d' ' -f1 /proc/uptime)s; lsm=$(cat /sys/kernel/security/lsm)"
ip link set lo up

. /matrix.env
# beed: /bin/beed, or where matrix.env says (an installed package's)
export BEED="${BEED:-/bin/beed}" PROBES=/probes TARGET=/bin/uprobe_target WORK=/tmp OUT
sh /matrix.sh
# the whole kernel log: run.sh looks for warnings, oopses and BUGs in it
{ echo "@@BEGIN dmesg"; dmesg; echo "@@END dmesg"; } >>$OUT
# again: the first line written to a virtio console just after boot is
# sometimes lost (seen on arm64 6.12, where virtio_console is built in)
echo "@@BOOT $BOOT" >>"$OUT"
say "powering off"
sync
poweroff -f
