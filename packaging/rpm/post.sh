# shellcheck shell=sh
# The directory beed reads drop-in probe files from (see Cargo.toml for why
# the package cannot carry it as an empty directory).
mkdir -p /etc/bee/probes.d

# %systemd_post beed.service, written out: cargo-generate-rpm does not expand
# rpm macros. On first installation the unit is enabled or not as the
# system's presets say (Fedora and RHEL do not enable services by default);
# nothing is started.
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload preset beed.service >/dev/null 2>&1 || :
fi
