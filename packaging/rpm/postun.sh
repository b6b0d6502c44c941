# shellcheck shell=sh
# %systemd_postun_with_restart beed.service, written out: after an upgrade
# restart beed if it was running, so the new binary and unit are used.
# (systemd's own file triggers run daemon-reload for the new unit file.)
if [ "$1" -ge 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl try-restart beed.service >/dev/null 2>&1 || :
fi
