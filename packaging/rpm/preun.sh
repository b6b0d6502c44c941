# shellcheck shell=sh
# %systemd_preun beed.service, written out: on removal (not upgrade) stop
# beed and disable the unit.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload disable --now beed.service >/dev/null 2>&1 || :
fi
