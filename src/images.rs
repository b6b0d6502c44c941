//! Probes from OCI images: before every load and reload, each `image =`
//! probe is read from the store (`[images] store`), pulled first as its
//! `pull` policy says. A registry that cannot be reached leaves the cached
//! image running (and says so); a probe with neither image nor cache is one
//! failed probe, never a failed daemon.

use std::os::unix::fs::MetadataExt;

use bee_oci::registry::{Client, Options, Quiet};
use bee_oci::{image, platform, Ref, Store};
use bee_runtime::ObjectSource;

use crate::config::{Config, ImagesConfig, ProbeSource, PullPolicy};

/// Whether pulls may happen (`--check-config` reads the store only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Pull,
    Offline,
}

/// Resolves every image probe of `cfg` to an object (or to the reason it
/// has none). Offline, returns the probes whose image is not in the store
/// yet but will be pulled when beed starts (not an error for
/// `--check-config`).
pub fn resolve(cfg: &mut Config, network: Network) -> Vec<String> {
    let mut pending = Vec::new();
    if !cfg.probes.iter().any(|p| matches!(p.source, ProbeSource::Image { .. })) {
        return pending;
    }
    let store = Store::open(&cfg.images.store).map_err(|e| format!("the image store: {e}"));
    for p in cfg.probes.iter_mut() {
        let ProbeSource::Image { reference, pull } = &p.source else { continue };
        let what = format!("image {reference}");
        let in_store = store.as_ref().is_ok_and(|s| matches!(s.resolve(reference), Ok(Some(_))));
        if network == Network::Offline && *pull != PullPolicy::Never && !in_store {
            pending.push(p.name.clone());
        }
        p.resolved = Some(match &store {
            Err(e) => ObjectSource::Unavailable { what, reason: e.clone() },
            Ok(store) => match obtain(store, &cfg.images, &p.name, reference, *pull, network) {
                Ok(bytes) => ObjectSource::Image { reference: reference.clone(), bytes: bytes.into() },
                Err(reason) => ObjectSource::Unavailable { what, reason },
            },
        });
    }
    pending
}

/// The object of `reference` for this machine, pulling as `pull` says.
fn obtain(
    store: &Store,
    images: &ImagesConfig,
    probe: &str,
    reference: &str,
    pull: PullPolicy,
    network: Network,
) -> Result<Vec<u8>, String> {
    let arch = platform::host();
    let cached = || image::load(store, reference, arch, images.max_blob_size);
    let must_pull = match (pull, network) {
        (_, Network::Offline) | (PullPolicy::Never, _) => false,
        (PullPolicy::Always, _) => true,
        (PullPolicy::IfNotPresent, _) => !matches!(store.resolve(reference), Ok(Some(_))),
    };
    if !must_pull {
        return match cached() {
            Ok(p) => Ok(p.bytes),
            Err(bee_oci::Error::NotFound(_)) if network == Network::Offline && pull != PullPolicy::Never => {
                Err(format!("not in the image store {} yet (beed pulls it when it starts)", store.root().display()))
            }
            Err(bee_oci::Error::NotFound(_)) => Err(format!(
                "not in the image store {} and pull = \"never\" (fetch it with `bee --storage {} pull {reference}`)",
                store.root().display(),
                store.root().display()
            )),
            Err(e) => Err(cause(&e, reference)),
        };
    }
    match pull_image(store, images, reference, arch) {
        Ok(p) => {
            if p.changed {
                tracing::info!("probe {probe}: pulled image {reference} ({})", p.digest);
            }
            cached().map(|p| p.bytes).map_err(|e| cause(&e, reference))
        }
        Err(e) => match cached() {
            Ok(p) => {
                tracing::warn!(
                    "probe {probe}: image {reference}: {}; running the cached image ({})",
                    cause(&e, reference),
                    p.digest
                );
                Ok(p.bytes)
            }
            Err(_) => Err(format!(
                "{}; and the image store {} has no copy of it",
                cause(&e, reference),
                store.root().display()
            )),
        },
    }
}

/// An error's message without the ref it starts with (the probe's
/// messages name it already).
fn cause(e: &bee_oci::Error, reference: &str) -> String {
    let s = e.to_string();
    s.strip_prefix(reference).and_then(|r| r.strip_prefix(": ")).map(str::to_string).unwrap_or(s)
}

fn pull_image(
    store: &Store,
    images: &ImagesConfig,
    reference: &str,
    arch: &str,
) -> bee_oci::Result<bee_oci::registry::Pulled> {
    let r = Ref::parse(reference)?;
    let credentials = match &images.auth {
        Some(f) => {
            check_private(f)?;
            bee_oci::auth::lookup(std::slice::from_ref(f), r.registry())?
        }
        None => None,
    };
    let opts = Options {
        plain_http: images.plain_http.iter().any(|h| h == r.registry()),
        insecure: images.insecure.iter().any(|h| h == r.registry()),
        max_blob: images.max_blob_size,
        auth_files: Vec::new(),
        credentials,
        connect_timeout: std::time::Duration::from_secs(5),
        read_timeout: std::time::Duration::from_secs(30),
    };
    Client::new(opts)?.pull(store, &r, arch, &Quiet)
}

/// Credentials must not be readable by others.
fn check_private(f: &std::path::Path) -> bee_oci::Result<()> {
    let m = std::fs::metadata(f).map_err(|e| bee_oci::Error::Auth(format!("images.auth: {}: {e}", f.display())))?;
    if m.mode() & 0o077 != 0 {
        return Err(bee_oci::Error::Auth(format!(
            "images.auth: {} is readable by others (mode {:o}): chmod 600 it",
            f.display(),
            m.mode() & 0o777
        )));
    }
    Ok(())
}
