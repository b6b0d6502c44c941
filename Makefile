# beed — the two set-up commands are `make run` and `make test` (see README).
SHELL := /bin/bash
CARGO ?= cargo
CONFIG ?= packaging/beed.toml

# Debian packages the build, the tests and the benchmark need (tmux: the
# terminal UI tests of bee run; procps: kill(1) in tests; skopeo: pushes and
# reads OCI images independently of bee; apache2-utils: htpasswd -B for the
# test registry's users; python3: deploy/grafana/gen.py, re-run by
# tests/dashboard.rs).
DEB_DEPS := clang llvm libelf-dev zlib1g-dev pkg-config make gcc bpftool prometheus curl libbpf-dev iproute2 tmux procps skopeo apache2-utils openssl python3
DEPS_STAMP := target/.deps-installed
# the test OCI registry (bee_testutil::registry), see registry-tool below
REGISTRY_DIR := target/tools/docker-registry
REGISTRY_STAMP := target/tools/.docker-registry

.PHONY: run test test-unit build deps registry-tool tracefs bench fuzz clean

run: deps tracefs
	$(CARGO) build --release --bin beed
	./target/release/beed --config $(CONFIG)

test: deps container-deps registry-tool tracefs
	@if $(CARGO) fmt --version >/dev/null 2>&1; then \
		$(CARGO) fmt --all -- --check; \
	else echo "rustfmt is not installed: skipping the format check"; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then \
		$(CARGO) clippy --all-targets --all-features -- -D warnings; \
	else echo "clippy is not installed: skipping lints"; fi
	$(CARGO) test --all-targets --all-features -- --test-threads=1
	$(MAKE) test-systemd
	$(MAKE) test-kernels
	$(MAKE) test-container
	$(MAKE) test-kubernetes

# the tests that need neither root nor the kernel (no `root-tests` feature:
# tests/kernel/ and the runtime's collect.rs are not even built); any user
# (the registry tests need skopeo and htpasswd, which `make deps` installs)
test-unit: registry-tool
	$(CARGO) test --all-targets

build: deps
	$(CARGO) build --release

bench: deps tracefs
	benches/run.sh

# fuzz the object layer (FUZZ_SECONDS per target); the fuzz crate is a
# workspace member outside the default members, linted here
fuzz: deps
	$(CARGO) clippy -p beed-fuzz -- -D warnings
	fuzz/run.sh

deps: $(DEPS_STAMP)

# rechecked when this file changes (DEB_DEPS may have grown)
$(DEPS_STAMP): Makefile
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install a Rust toolchain >= 1.85 (rustup)" >&2; exit 1; }
	@missing=$$(for p in $(DEB_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p target && touch $@

# Debian's docker-registry (CNCF distribution 2.8.2), extracted, not installed:
# its post-install starts a system service on :5000. The tests run
# $(REGISTRY_DIR)/usr/bin/docker-registry (BEE_TEST_REGISTRY overrides it).
# apt's own sources; `apt-get update` (root) only when the lists lack it.
registry-tool: $(REGISTRY_STAMP)

$(REGISTRY_STAMP):
	@dl=$$(mktemp -d) && { chown _apt $$dl 2>/dev/null; true; } && trap 'rm -rf "$$dl"' EXIT; \
	( cd $$dl && apt-get download -qq docker-registry 2>/dev/null ) || \
	{ apt-get update -qq && ( cd $$dl && apt-get download -qq docker-registry ); } || \
	{ echo "error: apt-get download docker-registry failed" >&2; exit 1; }; \
	rm -rf $(REGISTRY_DIR) && mkdir -p $(REGISTRY_DIR) && \
	dpkg-deb -x $$dl/docker-registry_*.deb $(REGISTRY_DIR) && \
	$(REGISTRY_DIR)/usr/bin/docker-registry --version && touch $@

# tracepoint programs need tracefs (beed mounts it too when it runs as root)
tracefs:
	@[ -d /sys/kernel/tracing/events ] || [ -d /sys/kernel/debug/tracing/events ] || \
		mount -t tracefs tracefs /sys/kernel/tracing

clean:
	$(CARGO) clean

# --- packages and the systemd test (packaging/, systemd/, tests/systemd/) ---
.PHONY: package test-systemd

# target/debian/beed_<version>-1_<arch>.deb (cargo-deb) and
# target/generate-rpm/beed-<version>-1.<arch>.rpm (cargo-generate-rpm),
# checked with lintian, rpm -qip and rpm -qlp. ARCH=aarch64 (on x86_64):
# arm64 packages from packaging/cross.sh's binaries, in target/aarch64/
# aarch64-unknown-linux-gnu/{debian,generate-rpm}
package: deps
	packaging/build.sh deb rpm --check $(if $(ARCH),--arch $(ARCH))

# boots a Debian bookworm container with systemd-nspawn, installs the .deb and
# checks the unit under a real systemd (root; ~1 min cold for the debootstrap)
test-systemd: deps
	tests/systemd/run.sh
# --- end systemd ---

# --- kernel matrix (tests/kernels/) ---
# every attach type, the built-ins, exact kprobe counts and btf_path on this
# host's kernel and on Debian's 5.10 (bullseye), 6.1, 6.12 and newest cloud
# kernels booted under qemu
# (TCG, no KVM needed); root; kernels cached in /var/cache/beed-tests/kernels
.PHONY: test-kernels
test-kernels: deps
	tests/kernels/run.sh

# --- arm64 (packaging/cross.sh, tests/kernels/arm64.sh) ---
# aarch64 beed and bee cross-built with Debian trixie's rustc 1.85 in a
# debootstrapped root (cached in /var/cache/beed-tests/arm64-root), into
# target/aarch64/aarch64-unknown-linux-gnu/release; root; ~4 min cold root
.PHONY: build-arm64 test-arm64
build-arm64:
	packaging/cross.sh build

# the kernel matrix on Debian's arm64 cloud kernels under qemu-system-aarch64
# (TCG), run with an installed arm64 .deb: BEED_DEB=FILE, else one built
# first (packaging/build.sh deb --arch aarch64); dpkg -i on the trixie root's
# arm64 userland (an overlay), its beed run under qemu-aarch64, the guests
# boot the installed beed, config and unit. Not part of `make test` (slow);
# writes tests/kernels/RESULTS-arm64.md
test-arm64:
	tests/kernels/arm64.sh

# --- the container image (deploy/container/, tests/container/) ---
.PHONY: image container-deps test-container test-kubernetes

# podman builds and runs the image (runc: this machine's hybrid cgroups, which
# crun refuses; catatonit: the pause process of pods); jq for the build and
# seccomp scripts, netcat-openbsd for the test's listener, python3-yaml for
# the Kubernetes test's reading of the manifests
CONTAINER_DEBS := podman runc catatonit golang-github-containers-common jq netcat-openbsd python3-yaml
CONTAINER_STAMP := target/.container-deps-installed
# what podman needs on this machine (no CAP_SYS_RESOURCE for its default
# ulimits, runc, cgroupfs): passed to every podman run here, never written to /etc
export CONTAINERS_CONF ?= $(CURDIR)/deploy/container/containers.conf

container-deps: $(CONTAINER_STAMP)

$(CONTAINER_STAMP): Makefile
	@missing=$$(for p in $(CONTAINER_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@mkdir -p target && touch $@

# localhost/beed:<version> (and :latest), FROM scratch, offline; prints its size
image: deps container-deps
	deploy/container/build.sh

# builds the image and runs it under podman with README's flags, scraped by a
# real Prometheus (root; ~2 min warm)
test-container: deps container-deps tracefs
	tests/container/run.sh

# plays deploy/kubernetes/beed.yaml's DaemonSet pod with podman kube play,
# scraped by a real Prometheus with deploy/kubernetes/prometheus-scrape.yml's
# relabeling (root; ~1 min warm)
test-kubernetes: deps container-deps tracefs
	tests/kubernetes/run.sh
# --- end container ---
