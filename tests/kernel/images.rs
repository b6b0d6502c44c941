//! beed runs probes from OCI images in a real registry (Debian's
//! docker-registry, started by the test): pulled before load, cached in the
//! store, kept when the registry is down across a restart, reloaded when the
//! tag moves, left alone when it does not; a missing image is one failed
//! probe. Needs root.

use crate::common;

use std::path::Path;
use std::time::Duration;

use bee_oci::image::{self, Build};
use bee_oci::registry::{Client, Options, Quiet};
use bee_oci::{Ref, Store};
use bee_testutil::registry::Registry;
use common::{check_config as check, compile, fixture, is_root, start, TestResult};

/// Builds `obj` into an image in a scratch store under `work` and pushes it
/// as `reference`; returns its digest.
fn push(obj: &Path, reference: &str, work: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let store = Store::open(&work.join("build-store"))?;
    let r = Ref::parse(reference)?;
    let build = Build {
        arch: bee_oci::platform::host().into(),
        program: std::fs::read(obj)?,
        config: serde_json::json!({ "bee": { "arch": std::env::consts::ARCH } }),
    };
    image::store_built(&store.session()?, &r.name(), &[build], &image::annotations(&[]))?;
    let opts = Options { auth_files: Vec::new(), ..Options::default() };
    Ok(Client::new(opts)?.push(&store, &r, &Quiet)?.to_string())
}

fn getppid_events(beed: &mut common::Beed, probe: &str) -> bool {
    for _ in 0..20 {
        let _ = nix::unistd::getppid();
        let hit = beed.wait_event(Duration::from_millis(200), |v| v["probe"] == probe && v["mapName"] == "print_calls");
        if hit.is_some() {
            return true;
        }
    }
    false
}

#[test]
fn image_probes_pull_cache_reload_and_fail_alone() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let mut reg = Registry::start()?;
    let addr = reg.addr();
    let user = compile(&fixture("user_probe.bpf.c"), d)?;
    let other = compile(&fixture("seed_exitsnoop.bpf.c"), d)?;
    let first = push(&user, &format!("{addr}/user:v1"), d)?;
    push(&user, &format!("{addr}/steady:v1"), d)?;
    let config = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[images]\nstore = \"{}\"\n\
         [probes.mine]\nimage = \"{addr}/user:v1\"\npull = \"always\"\n\
         [probes.steady]\nimage = \"{addr}/steady:v1\"\npull = \"always\"\n\
         [probes.gone]\nimage = \"{addr}/nothere:v1\"\n",
        d.join("store").display()
    );

    // pulled and running; the missing image is one failed probe
    let mut beed = start(d, &config)?;
    let text = beed.scrape()?;
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0), "{text}");
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "gone")]), Some(0.0), "{text}");
    let log = beed.log.join("\n");
    assert!(log.contains(&format!("pulled image {addr}/user:v1 ({first})")), "{log}");
    assert!(log.contains(&format!("image {addr}/nothere:v1: not found in the registry")), "{log}");
    assert!(getppid_events(&mut beed, "mine"), "no decoded event from the image's probe");
    let (status, _) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()));

    // the registry is down: beed starts from the cache and says so
    reg.stop();
    let mut beed = start(d, &config)?;
    let text = beed.scrape()?;
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0), "{text}");
    let log = beed.log.join("\n");
    assert!(log.contains("cannot reach the registry") && log.contains("running the cached image"), "{log}");
    assert!(getppid_events(&mut beed, "mine"));

    // the tag moves to another object: a reload swaps it, the unchanged
    // image keeps running untouched
    reg.restart()?;
    let moved = push(&other, &format!("{addr}/user:v1"), d)?;
    assert_ne!(moved, first);
    let line = beed.signal_and_wait("HUP", "reloaded:")?;
    assert!(line.contains("kept [steady]"), "{line}");
    let log = beed.log.join("\n");
    assert!(log.contains(&format!("pulled image {addr}/user:v1 ({moved})")), "{log}");
    let text = beed.scrape()?;
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0), "{text}");
    let exits = beed.wait_event(Duration::from_secs(10), |v| {
        let _ = std::process::Command::new("true").status();
        v["probe"] == "mine" && v["mapName"] != "print_calls"
    });
    assert!(exits.is_some(), "the moved tag's probe did not run");
    drop(beed);
    Ok(())
}

#[test]
fn check_config_reads_the_store_and_never_pulls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let reg = Registry::start()?;
    let addr = reg.addr();
    let user = compile(&fixture("user_probe.bpf.c"), d)?;
    let digest = push(&user, &format!("{addr}/user:v1"), d)?;
    let store = d.join("store");
    let write = |name: &str, probe: &str| -> Result<std::path::PathBuf, std::io::Error> {
        let p = d.join(name);
        std::fs::write(&p, format!("[images]\nstore = \"{}\"\n{probe}", store.display()))?;
        Ok(p)
    };
    // not in the store: a tag is pulled at start (fine), `never` is an error
    let later = write("later.toml", &format!("[probes.p]\nimage = \"{addr}/user:v1\"\n"))?;
    let (code, text) = check(&later, &[])?;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("not in the image store yet; beed pulls it when it starts"), "{text}");
    let pinned = format!("{addr}/user@{digest}");
    let never = write("never.toml", &format!("[probes.p]\nimage = \"{pinned}\"\npull = \"never\"\n"))?;
    let (code, text) = check(&never, &[])?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not in the image store") && text.contains("pull = \"never\""), "{text}");
    // pulled into the store (as `bee --storage STORE pull` does): checked
    let s = Store::open(&store)?;
    let opts = Options { auth_files: Vec::new(), ..Options::default() };
    Client::new(opts)?.pull(&s, &Ref::parse(&pinned)?, bee_oci::platform::host(), &Quiet)?;
    let (code, text) = check(&never, &[])?;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("probe p: ok (image {pinned})")), "{text}");
    // a tampered blob is caught by its digest
    for entry in std::fs::read_dir(store.join("blobs/sha256"))? {
        let p = entry?.path();
        if std::fs::metadata(&p)?.len() > 4096 {
            std::fs::write(&p, b"tampered")?;
        }
    }
    let (code, text) = check(&never, &[])?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("blob is corrupt"), "{text}");
    Ok(())
}

#[test]
fn registry_credentials_come_from_a_private_file() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let reg = Registry::start_with_auth("beed", "s3cret")?;
    let addr = reg.addr();
    let user = compile(&fixture("user_probe.bpf.c"), d)?;
    let opts = Options {
        auth_files: Vec::new(),
        credentials: Some(bee_oci::auth::Credentials { username: "beed".into(), password: "s3cret".into() }),
        ..Options::default()
    };
    let store = Store::open(&d.join("build-store"))?;
    let r = Ref::parse(&format!("{addr}/user:v1"))?;
    let build =
        Build { arch: bee_oci::platform::host().into(), program: std::fs::read(&user)?, config: serde_json::json!({}) };
    image::store_built(&store.session()?, &r.name(), &[build], &image::annotations(&[]))?;
    Client::new(opts)?.push(&store, &r, &Quiet)?;

    let auth = d.join("registry-auth.json");
    bee_oci::auth::save(
        &auth,
        &addr,
        &bee_oci::auth::Credentials { username: "beed".into(), password: "s3cret".into() },
    )?;
    let config = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[images]\nstore = \"{}\"\nauth = \"{}\"\n\
         [probes.mine]\nimage = \"{addr}/user:v1\"\n",
        d.join("store").display(),
        auth.display()
    );
    // readable by others: refused, the probe fails alone
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    let beed = start(d, &config)?;
    let log = beed.log.join("\n");
    assert!(log.contains("is readable by others (mode 644): chmod 600 it"), "{log}");
    assert_eq!(common::sample(&beed.scrape()?, "beed_probe_up", &[("probe", "mine")]), Some(0.0));
    drop(beed);
    // mode 0600: pulled with the credentials
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let beed = start(d, &config)?;
    assert_eq!(
        common::sample(&beed.scrape()?, "beed_probe_up", &[("probe", "mine")]),
        Some(1.0),
        "{}",
        beed.log.join("\n")
    );
    drop(beed);
    // a wrong password is named as such
    bee_oci::auth::save(
        &auth,
        &addr,
        &bee_oci::auth::Credentials { username: "beed".into(), password: "wrong".into() },
    )?;
    std::fs::remove_dir_all(d.join("store"))?;
    let beed = start(d, &config)?;
    let log = beed.log.join("\n");
    assert!(log.contains("refused the credentials"), "{log}");
    Ok(())
}
