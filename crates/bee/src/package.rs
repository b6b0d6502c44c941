//! `bee package REF IMAGE`: a container image that runs one probe with
//! beed, as bumblebee's `bee package` made one that ran `bee run`. Built
//! with podman from beed's own image (`make image`, the base), adding the
//! probe's object and a beed.toml that runs it alone: events as JSON lines
//! on stdout, metrics on `--metrics-listen`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cli::PackageArgs;
use crate::images::Probe;

/// Where the probe's object is in the image.
const PROBE_DIR: &str = "/usr/lib/bee/probes";

/// The default base: the beed image of bee's own version.
pub fn default_base() -> String {
    format!("localhost/beed:{}", env!("CARGO_PKG_VERSION"))
}

/// The beed.toml of a packaged probe.
fn config(probe: &Probe, listen: &str) -> String {
    format!(
        "# beed configuration written by `bee package`: one probe, {name}, from {what}\n\
         [metrics]\n\
         # /metrics, /healthz and /readyz\n\
         listen = \"{listen}\"\n\n\
         [events]\n\
         output = \"stdout\"\n\n\
         [probes.{name}]\n\
         object = \"{PROBE_DIR}/{name}.bpf.o\"\n",
        name = probe.name,
        what = label(&probe.what),
    )
}

/// A label value: one line, no quotes, no `$` (they go into a Containerfile,
/// whose LABEL values expand `${VAR}`).
fn label(s: &str) -> String {
    s.chars().map(|c| if matches!(c, '"' | '\\' | '$') || c.is_control() { '_' } else { c }).collect()
}

/// The Containerfile: `base_digest` is the base image's digest, labelled
/// with its name; `created` replaces the base's own, as the revision label
/// (beed's commit) is the base's and is said as such.
fn containerfile(probe: &Probe, base: &str, base_digest: &str, created: &str) -> String {
    let mut labels = vec![
        ("org.opencontainers.image.title", format!("beed-{}", probe.name)),
        ("org.opencontainers.image.description", format!("beed running the probe {}", probe.what)),
        ("org.opencontainers.image.base.name", base.to_string()),
        ("org.opencontainers.image.base.digest", base_digest.to_string()),
        ("org.opencontainers.image.created", created.to_string()),
    ];
    if let Some(image) = &probe.image {
        labels.push(("beed.probe.ref", image.reference.clone()));
        labels.push(("beed.probe.digest", image.digest.clone()));
        for key in ["org.opencontainers.image.version", "org.opencontainers.image.source"] {
            if let Some(v) = image.annotations.get(key) {
                labels.push((key, v.clone()));
            }
        }
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("      {k}=\"{}\"", label(v))).collect();
    format!(
        "FROM {base}\n\
         COPY probe.bpf.o {PROBE_DIR}/{name}.bpf.o\n\
         COPY beed.toml /etc/bee/beed.toml\n\
         LABEL {}\n",
        labels.join(" \\\n").trim_start(),
        name = probe.name,
    )
}

/// What a podman that could not be started means.
fn podman_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!("podman not found: bee package builds images with podman (apt install podman)")
    } else {
        anyhow::anyhow!("running podman: {e}")
    }
}

fn podman() -> Command {
    Command::new(std::env::var_os("BEE_PODMAN").unwrap_or_else(|| "podman".into()))
}

/// Runs podman with `args`, its output captured; an error says what failed.
fn run_podman(args: &[&str], what: &str) -> Result<String> {
    let out = podman().args(args).output().map_err(podman_error)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{what}: podman {}: {}", args.join(" "), stderr.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Builds `args.image` from `probe` and prints its name, size and how to run it.
pub fn package(args: &PackageArgs, probe: &Probe, checked_maps: &str) -> Result<()> {
    let base = args.base.clone().unwrap_or_else(default_base);
    if args.metrics_listen.parse::<std::net::SocketAddr>().is_err() {
        bail!("--metrics-listen {}: not an ADDRESS:PORT (e.g. 0.0.0.0:9091)", args.metrics_listen);
    }
    // a base that is missing would make podman try to pull it
    if !podman().args(["image", "exists", &base]).status().map_err(podman_error)?.success() {
        bail!(
            "the base image {base} is not in podman's local storage: build it with `make image` in beed's \
             source tree, or name another with --base"
        );
    }
    let base_digest = run_podman(&["image", "inspect", "--format", "{{.Digest}}", &base], "reading the base's digest")?;
    let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let ctx = tempfile::Builder::new().prefix("bee-package-").tempdir().context("a temporary build directory")?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        std::fs::write(ctx.path().join(name), bytes).with_context(|| format!("{}", ctx.path().join(name).display()))
    };
    write("probe.bpf.o", &probe.bytes)?;
    write("beed.toml", config(probe, &args.metrics_listen).as_bytes())?;
    write("Containerfile", containerfile(probe, &base, &base_digest, &created).as_bytes())?;
    let context = ctx.path().to_str().context("the temporary directory's path is not UTF-8")?;
    let file = Path::new(context).join("Containerfile");
    let file = file.to_str().context("the temporary directory's path is not UTF-8")?;
    eprintln!("bee: building {} from {base} with podman", args.image);
    run_podman(
        &["build", "--quiet", "--layers=false", "--pull=never", "--file", file, "--tag", &args.image, context],
        &format!("building {}", args.image),
    )?;
    let size = run_podman(&["image", "inspect", "--format", "{{.Size}}", &args.image], "reading the image's size")?;
    crate::emit(&format!(
        "packaged {} as {} ({size} bytes): probe {}, watched maps {checked_maps}\n\
         run it: podman run -d --network host --cap-drop=ALL --cap-add=BPF,PERFMON,DAC_READ_SEARCH \\\n    \
         --security-opt seccomp=deploy/container/seccomp.json \\\n    \
         -v /sys/kernel/tracing:/sys/kernel/tracing:ro -v /sys/kernel/btf:/sys/kernel/btf:ro {}\n",
        probe.what, args.image, probe.name, args.image
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Probe {
        Probe { bytes: vec![], what: "image localhost/p/exits:1".into(), name: "exits".into(), image: None }
    }

    #[test]
    fn the_config_runs_the_one_probe_from_the_image() -> Result<(), toml::de::Error> {
        let c = config(&probe(), "127.0.0.1:9100");
        let v: toml::Value = toml::from_str(&c)?;
        assert_eq!(v["metrics"]["listen"].as_str(), Some("127.0.0.1:9100"));
        assert_eq!(v["events"]["output"].as_str(), Some("stdout"));
        assert_eq!(v["probes"]["exits"]["object"].as_str(), Some("/usr/lib/bee/probes/exits.bpf.o"));
        assert_eq!(v["probes"].as_table().map(|t| t.len()), Some(1));
        Ok(())
    }

    #[test]
    fn labels_cannot_break_the_containerfile() {
        let mut p = probe();
        p.what = "image \"x\"\nRUN rm -rf /".into();
        let f = containerfile(&p, "localhost/beed:1", "sha256:00", "2026-01-01T00:00:00Z");
        assert!(f.starts_with("FROM localhost/beed:1\n"), "{f}");
        assert!(!f.contains("\nRUN"), "{f}");
        assert_eq!(f.matches("COPY").count(), 2, "{f}");
    }
}
