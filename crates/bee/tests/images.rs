//! Probe images end to end, without root: `bee build REF`, `push`, `pull`,
//! `list`, `tag`, `rm`, `prune`, `login`, `logout` and `describe REF`
//! against a real registry (docker-registry, `bee_testutil::registry`), what
//! bee pushed read back independently (the harness's HTTP client, skopeo),
//! and a bpfman bytecode image built by hand and pushed by skopeo. Bad
//! input: every refusal names the ref, exits ≠ 0 without a panic and leaves
//! the store as it was (the same blob files, the same `index.json`).
//! Needs clang, skopeo, htpasswd, tar, gzip and `make registry-tool`.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::{json, Value};

use common::images::{
    arch_object, blob_files, blob_of_file, digest, json_out, push_bpfman_execsnoop, put_blob, write_layout, File,
    Pushed, Registry, Sandbox, BEE_CONFIG, BEE_PROGRAM, HOST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, OTHER, TAR_GZIP,
    TITLE,
};
use common::{fail, failed_with, Error, TestResult};

/// `ADDR/REPO:TAG` on `reg`.
fn image(reg: &Registry, repo_tag: &str) -> String {
    format!("{}/{repo_tag}", reg.addr())
}

/// An RFC 3339 UTC time as bee writes it (`2024-05-01T12:00:00Z`).
fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 20 && s.as_bytes().get(10) == Some(&b'T') && s.ends_with('Z'))
}

/// A blob of `repo` in the registry, read with the harness's own client.
fn registry_blob(reg: &Registry, repo: &str, digest: &Value) -> Result<Vec<u8>, Error> {
    let d = digest.as_str().ok_or("a descriptor without a digest")?;
    let (status, _, body) = reg.get(&format!("/v2/{repo}/blobs/{d}"), None)?;
    if status != 200 {
        return Err(fail(format!("GET blob {d}: {status}")));
    }
    Ok(body)
}

/// The seed story without the kernel: built into store A, pushed, pulled
/// into store B (byte for byte the same blobs), pulled again (nothing
/// downloaded), and described from store C, which pulls it on the way.
#[test]
fn build_push_pull_across_stores() -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v1", &["--description", "exec snoop"])?;
    let (sb, r, obj) = (&p.sb, p.reference.clone(), &p.obj);
    let ran = sb.ok("B", &["pull", &r])?;
    assert!(ran.stdout.starts_with(&format!("pulled {r} (sha256:")), "{}", ran.show());
    assert_eq!(blob_files(&sb.store("A"))?, blob_files(&sb.store("B"))?);
    let in_b = sb.store("B").join("blobs/sha256").join(blob_of_file(obj)?);
    assert_eq!(std::fs::read(in_b)?, std::fs::read(obj)?, "B's program blob is not the built object");
    let list = |store: &str| -> Result<Value, Error> { json_out(&sb.ok(store, &["list", "--output", "json"])?) };
    let (a, b) = (list("A")?, list("B")?);
    assert_eq!(a[0]["digest"], b[0]["digest"]);
    assert_eq!(b[0]["name"], r.as_str());
    let again = sb.ok("B", &["pull", &r])?;
    assert!(again.stdout.starts_with(&format!("up to date: {r}")), "{}", again.show());
    assert!(again.stdout.contains(", 0 bytes downloaded"), "{}", again.show());

    let ran = sb.ok("C", &["describe", "--output", "json", &r])?;
    assert!(ran.stderr.contains(&format!("{r} is not in the local store: pulling it")), "{}", ran.show());
    let d = json_out(&ran)?;
    assert_eq!(d["image"]["reference"], r.as_str());
    assert_eq!(d["image"]["digest"], a[0]["digest"]);
    assert_eq!(d["image"]["format"], "bumblebee");
    assert_eq!(d["image"]["platform"], format!("linux/{}", HOST.1));
    assert_eq!(d["image"]["annotations"]["org.opencontainers.image.description"], "exec snoop");
    assert_eq!(d["maps"][0]["name"], "print_execs");
    Ok(())
}

/// `--arch x86_64,aarch64` pushes an OCI index of two manifests. A store
/// that pulled only the other machine's cannot describe or run it here: a
/// clear error saying what it holds and how to fetch the rest, and no
/// change; pulling this machine's completes it.
#[test]
fn multi_arch_image_is_an_index() -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v2", &["--arch", "x86_64,aarch64"])?;
    let (reg, sb, r, obj) = (&p.reg, &p.sb, p.reference.clone(), &p.obj);
    let (status, headers, body) = reg.get_accept("/v2/execsnoop/manifests/v2", OCI_INDEX, None)?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let ctype = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Content-Type")).map(|(_, v)| v.as_str());
    assert_eq!(ctype, Some(OCI_INDEX));
    let index: Value = serde_json::from_slice(&body)?;
    let manifests = index["manifests"].as_array().ok_or("the index has no manifests")?;
    let platforms: Vec<String> = manifests
        .iter()
        .map(|m| {
            let plat = &m["platform"];
            format!("{}/{}", plat["os"].as_str().unwrap_or("?"), plat["architecture"].as_str().unwrap_or("?"))
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for m in manifests {
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        let path = format!("/v2/execsnoop/manifests/{}", m["digest"].as_str().unwrap_or("?"));
        assert_eq!(reg.get_accept(&path, OCI_MANIFEST, None)?.0, 200, "{path}");
    }

    let ran = sb.ok("other", &["pull", "--arch", OTHER.0, &r])?;
    assert!(ran.stdout.starts_with(&format!("pulled {r}")), "{}", ran.show());
    let blobs = blob_files(&sb.store("other"))?;
    assert!(blobs.contains(&blob_of_file(&arch_object(obj, OTHER.0))?), "{blobs:?}");
    assert!(!blobs.contains(&blob_of_file(&arch_object(obj, HOST.0))?), "{blobs:?}");

    let want = format!("no image for linux/{} in the local store (it holds only linux/{})", HOST.1, OTHER.1);
    let how = format!("bee pull --arch {} {r}", HOST.0);
    for args in [&["describe", &r][..], &["run", "--no-tty", "--duration", "1s", &r]] {
        sb.refused("other", args, &[&r, &want, &how])?;
    }
    sb.ok("other", &["pull", &r])?;
    let d = json_out(&sb.ok("other", &["describe", "--output", "json", &r])?)?;
    assert_eq!(d["image"]["platform"], format!("linux/{}", HOST.1));
    assert_eq!(d["image"]["digest"], digest(&body));
    Ok(())
}

/// What the registry holds is bumblebee's format, as skopeo reads it: a
/// config blob of bumblebee's media type titled config.json (a JSON
/// object), one program layer titled program.o whose bytes are the built
/// object, and the description, creation time and version annotations.
#[test]
fn registry_holds_bumblebee_format() -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v1", &["--description", "exec snoop"])?;
    let (reg, sb, r, obj) = (&p.reg, &p.sb, p.reference.clone(), &p.obj);
    let m = sb.skopeo_manifest(&r)?;
    assert_eq!(m["mediaType"], OCI_MANIFEST, "{m}");
    assert_eq!(m["config"]["mediaType"], BEE_CONFIG, "{m}");
    assert_eq!(m["config"]["annotations"][TITLE], "config.json", "{m}");
    let layers = m["layers"].as_array().ok_or("no layers")?;
    assert_eq!(layers.len(), 1, "{m}");
    assert_eq!(layers[0]["mediaType"], BEE_PROGRAM, "{m}");
    assert_eq!(layers[0]["annotations"][TITLE], "program.o", "{m}");
    let object = std::fs::read(obj)?;
    assert_eq!(layers[0]["size"], object.len(), "{m}");
    assert!(registry_blob(reg, "execsnoop", &layers[0]["digest"])? == object, "the program layer is not the object");
    let annotations = &m["annotations"];
    assert_eq!(annotations["org.opencontainers.image.description"], "exec snoop", "{m}");
    assert_eq!(annotations["org.opencontainers.image.version"], "v1", "{m}");
    assert!(is_rfc3339(&annotations["org.opencontainers.image.created"]), "{m}");
    let config: Value = serde_json::from_slice(&registry_blob(reg, "execsnoop", &m["config"]["digest"])?)?;
    assert!(config.is_object(), "{config}");
    assert_eq!(config["bee"]["arch"], HOST.0, "{config}");
    assert_eq!(config["bee"]["maps"][0]["name"], "print_execs", "{config}");
    assert_eq!(config["bee"]["requires"]["min_kernel"], "5.8", "a ring buffer needs 5.8: {config}");
    Ok(())
}

/// A registry behind basic auth: push without credentials, a wrong
/// password (nothing saved), `bee login` (a 0600 file), push and pull,
/// `bee logout`; then docker's and podman's credentials files.
#[test]
fn login_push_logout() -> TestResult {
    let reg = Registry::start_with_auth("u", "pw")?;
    let sb = Sandbox::new()?;
    let addr = reg.addr();
    let r = image(&reg, "private/execsnoop:v1");
    sb.build("A", "execsnoop", &r, &[])?;
    let refused = [r.as_str(), "credentials", "401", "bee login"];
    sb.refused("A", &["push", &r], &refused)?;

    let login =
        |pw: &str| sb.bee_input("A", &["login", &addr, "-u", "u", "--password-stdin"], Some(&format!("{pw}\n")));
    failed_with(&login("wrong")?, &[&addr, "401"], true)?;
    assert!(!sb.auth_file().exists(), "a refused login saved credentials");
    let ran = login("pw")?;
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert!(ran.stdout.contains(&format!("login succeeded: {addr}")), "{}", ran.show());
    assert_eq!(std::fs::metadata(sb.auth_file())?.permissions().mode() & 0o777, 0o600);
    let saved: Value = serde_json::from_slice(&std::fs::read(sb.auth_file())?)?;
    assert!(saved["auths"][&addr]["auth"].is_string(), "{saved}");

    sb.ok("A", &["push", &r])?;
    let (status, _, _) = reg.get_accept("/v2/private/execsnoop/manifests/v1", OCI_MANIFEST, Some(("u", "pw")))?;
    assert_eq!(status, 200);
    sb.ok("B", &["pull", &r])?;

    let ran = sb.ok("A", &["logout", &addr])?;
    assert!(ran.stdout.contains(&format!("removed the credentials of {addr}")), "{}", ran.show());
    let saved: Value = serde_json::from_slice(&std::fs::read(sb.auth_file())?)?;
    assert!(saved["auths"].get(&addr).is_none(), "{saved}");
    failed_with(&sb.bee("A", &["logout", &addr])?, &[&addr, "not logged in"], true)?;
    sb.init_store("C")?;
    sb.refused("C", &["pull", &r], &refused)?;

    // docker's config.json, then podman's auth.json: base64("u:pw")
    let file = json!({"auths": {&addr: {"auth": "dTpwdw=="}}}).to_string();
    std::fs::create_dir_all(sb.docker_dir())?;
    std::fs::write(sb.docker_dir().join("config.json"), &file)?;
    sb.ok("C", &["pull", &r])?;
    std::fs::remove_file(sb.docker_dir().join("config.json"))?;
    sb.init_store("D")?;
    sb.refused("D", &["pull", &r], &refused)?;
    std::fs::write(sb.podman_auth_file(), &file)?;
    sb.ok("D", &["pull", &r])?;
    Ok(())
}

/// A tag or repository the registry does not have.
#[test]
fn unknown_tag_or_repository() -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v1", &[])?;
    let (reg, sb) = (&p.reg, &p.sb);
    for r in [image(reg, "execsnoop:nosuch"), image(reg, "nosuch:v1")] {
        for args in [&["pull", &r][..], &["describe", &r], &["push", &r]] {
            let not_there = if args[0] == "push" { "not in the local store" } else { "not found in the registry" };
            sb.refused("A", args, &[&r, not_there])?;
        }
    }
    Ok(())
}

/// The registry stopped: pull, run and push say it cannot be reached; once
/// it is back, the pull works.
#[test]
fn registry_down() -> TestResult {
    let mut p = Pushed::execsnoop("execsnoop:v1", &[])?;
    let (sb, r) = (&p.sb, p.reference.clone());
    sb.init_store("B")?;
    p.reg.stop();
    let down = [r.as_str(), "cannot reach the registry", "Connection refused"];
    sb.refused("B", &["pull", &r], &down)?;
    sb.refused("B", &["run", "--no-tty", "--duration", "1s", &r], &down)?;
    sb.refused("A", &["push", &r], &down)?;
    p.reg.restart()?;
    sb.ok("B", &["pull", &r])?;
    Ok(())
}

/// A registry on this machine that speaks HTTPS (self-signed): bee finds
/// out and speaks TLS, refuses the certificate until `--insecure`, and
/// `--plain-http` is answered with a hint.
#[test]
fn tls_registry_on_loopback() -> TestResult {
    let reg = Registry::start_tls()?;
    let sb = Sandbox::new()?;
    let r = image(&reg, "execsnoop:v1");
    sb.build("A", "execsnoop", &r, &[])?;
    sb.init_store("B")?;
    sb.refused("A", &["push", &r], &[&r, "certificate", "--insecure"])?;
    sb.refused("A", &["push", "--plain-http", &r], &[&r, "400", "is it HTTPS?"])?;
    sb.ok("A", &["push", "--insecure", &r])?;
    sb.refused("B", &["pull", &r], &[&r, "certificate", "--insecure"])?;
    sb.ok("B", &["pull", "--insecure", &r])?;
    Ok(())
}

/// docker-registry itself refuses a manifest of an unknown media type, so
/// bee's own check is reached with one in the store; from the registry, an
/// ordinary container image (valid OCI, no probe in it) is refused as not
/// a probe image.
#[test]
fn not_a_probe_image() -> TestResult {
    let reg = Registry::start()?;
    let sb = Sandbox::new()?;
    let weird = "application/vnd.example.unknown+json";
    let doc = format!(r#"{{"schemaVersion":2,"mediaType":"{weird}","layers":[]}}"#);
    let (status, _, body) = reg.put("/v2/weird/manifests/v1", weird, doc.as_bytes(), None)?;
    assert_eq!(status, 400, "docker-registry took an unknown manifest type: {}", String::from_utf8_lossy(&body));

    let plain = sb.path().join("plain-layout");
    let config = json!({"architecture": HOST.1, "os": "linux", "config": {}});
    write_layout(&sb, &plain, "v1", config, &[File { name: "hello.txt", bytes: b"hello\n" }])?;
    let r = image(&reg, "plain:v1");
    sb.skopeo_push(&plain, "v1", &r)?;
    sb.init_store("B")?;
    for args in [&["pull", &r][..], &["describe", &r], &["run", "--no-tty", "--duration", "1s", &r]] {
        sb.refused("B", args, &[&r, "not a probe image", OCI_CONFIG, TAR_GZIP])?;
    }

    // another tool left a manifest of an unknown type in the store
    let store = sb.store("B");
    let mut desc = put_blob(&store, weird, doc.as_bytes())?;
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": "localhost:1/weird:v1"});
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [desc]});
    std::fs::write(store.join("index.json"), index.to_string())?;
    let unknown = format!("unknown manifest media type `{weird}`");
    sb.refused("B", &["describe", "localhost:1/weird:v1"], &["localhost:1/weird:v1", &unknown])?;
    Ok(())
}

/// Two images sharing their config blob, `execsnoop:v1` and
/// `execsnoop:debug` (its object keeps DWARF: another program blob); store
/// S holds v1. The registry's file of debug's program is damaged: pulling
/// or describing it fails naming the blob, and S keeps every blob it had,
/// the shared config included.
fn damaged_program(damage: impl Fn(&Path) -> Result<(), Error>) -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v1", &[])?;
    let (reg, sb, good) = (&p.reg, &p.sb, p.reference.clone());
    let bad = image(reg, "execsnoop:debug");
    let obj = sb.build_push("A", "execsnoop", &bad, &["--keep-debug"])?;
    let manifest = |tag: &str| -> Result<Value, Error> {
        let (_, _, body) = reg.get_accept(&format!("/v2/execsnoop/manifests/{tag}"), OCI_MANIFEST, None)?;
        Ok(serde_json::from_slice(&body)?)
    };
    let (mg, mb) = (manifest("v1")?, manifest("debug")?);
    assert_eq!(mg["config"]["digest"], mb["config"]["digest"], "the two images should share their config");
    assert_ne!(mg["layers"][0]["digest"], mb["layers"][0]["digest"], "--keep-debug built the same object");
    sb.ok("S", &["pull", &good])?;
    let program = digest(&std::fs::read(&obj)?);
    damage(&reg.blob_file(&program)?)?;
    for args in [&["pull", &bad][..], &["describe", &bad]] {
        sb.refused("S", args, &[&bad, &program])?;
    }
    sb.ok("S", &["describe", &good])?;
    Ok(())
}

#[test]
fn tampered_layer() -> TestResult {
    damaged_program(|file| {
        let mut bytes = std::fs::read(file)?;
        let mid = bytes.len() / 2;
        let b = bytes.get_mut(mid).ok_or("an empty blob")?;
        *b ^= 0xff;
        std::fs::write(file, bytes)?;
        Ok(())
    })
}

#[test]
fn truncated_blob() -> TestResult {
    damaged_program(|file| {
        let f = std::fs::OpenOptions::new().write(true).open(file)?;
        let len = f.metadata()?.len();
        f.set_len(len / 2)?;
        Ok(())
    })
}

/// An image built for the other architecture only: pull, run and describe
/// here say so and what to build; `pull --arch` of it works.
#[test]
fn other_arch_only() -> TestResult {
    let p = Pushed::execsnoop("armonly:v1", &["--arch", OTHER.0])?;
    let (sb, r) = (&p.sb, p.reference.clone());
    sb.init_store("B")?;
    let want = format!("no image for linux/{} (it has linux/{})", HOST.1, OTHER.1);
    let how = format!("bee build --arch {}", HOST.0);
    for args in [&["pull", &r][..], &["run", "--no-tty", "--duration", "1s", &r], &["describe", &r]] {
        sb.refused("B", args, &[&r, &want, &how])?;
    }
    sb.ok("B", &["pull", "--arch", OTHER.0, &r])?;
    Ok(())
}

/// `--max-blob-size`: a layer above it is refused by its declared size,
/// before it is downloaded; a limit it fits in works.
#[test]
fn blob_above_limit() -> TestResult {
    let p = Pushed::execsnoop("execsnoop:v1", &[])?;
    let (sb, r) = (&p.sb, p.reference.clone());
    sb.init_store("B")?;
    let too_big = [r.as_str(), BEE_PROGRAM, "above the limit of 1000 bytes", "not downloaded", "--max-blob-size"];
    let limit = ["--max-blob-size", "1000"];
    for cmd in [&["pull"][..], &["describe"], &["run", "--no-tty", "--duration", "1s"]] {
        let args: Vec<&str> = cmd.iter().chain(&limit).copied().chain([r.as_str()]).collect();
        sb.refused("B", &args, &too_big)?;
    }
    sb.ok("B", &["pull", "--max-blob-size", "100000", &r])?;
    Ok(())
}

/// Refs that are not refs: every command names the one it refuses.
#[test]
fn invalid_refs() -> TestResult {
    let sb = Sandbox::new()?;
    sb.init_store("A")?;
    let cases: [&[&str]; 6] = [
        &["pull", "Bad Ref"],
        &["push", "x:y:z"],
        &["tag", "x:y:z", "localhost:1/ok:v1"],
        &["rm", "Upper/Case:v1"],
        &["describe", "Bad Ref"],
        &["run", "--no-tty", "--duration", "1s", "Bad Ref"],
    ];
    for args in cases {
        let bad = args.iter().find(|a| a.contains(' ') || a.contains(":y:") || a.contains('U')).copied();
        let bad = format!("`{}`", bad.ok_or("no bad ref in the case")?);
        sb.refused("A", args, &[&bad, "not a valid image reference"])?;
    }
    Ok(())
}

/// `bee list --output json` after a build; `tag` then `rm` of the original
/// keeps the tag working; `prune` deletes exactly the blobs no ref reaches
/// (and a crash's temporary file).
#[test]
fn list_tag_rm_prune() -> TestResult {
    let sb = Sandbox::new()?;
    // no registry on port 1: everything below reads the store alone
    let (r1, r2, r3) = ("localhost:1/execsnoop:v1", "localhost:1/copy:v1", "localhost:1/opensnoop:v1");
    let obj = sb.build("A", "execsnoop", r1, &[])?;
    let rows = json_out(&sb.ok("A", &["list", "--output", "json"])?)?;
    let index: Value = serde_json::from_slice(&std::fs::read(sb.store("A").join("index.json"))?)?;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    let row = &rows[0];
    assert_eq!(row["name"], r1, "{row}");
    assert_eq!(row["digest"], index["manifests"][0]["digest"], "{row}");
    assert_eq!(row["arch"], json!([HOST.0]), "{row}");
    assert!(row["size"].as_u64().is_some_and(|n| n > std::fs::metadata(&obj).map_or(0, |m| m.len())), "{row}");
    assert!(is_rfc3339(&row["created"]), "{row}");

    sb.ok("A", &["tag", r1, r2])?;
    let rows = json_out(&sb.ok("A", &["list", "--output", "json"])?)?;
    let names: Vec<&Value> = rows.as_array().into_iter().flatten().map(|r| &r["name"]).collect();
    assert_eq!(names, [r1, r2]);
    assert_eq!(rows[0]["digest"], rows[1]["digest"]);
    let blobs = blob_files(&sb.store("A"))?;
    sb.ok("A", &["rm", r1])?;
    let rows = json_out(&sb.ok("A", &["list", "--output", "json"])?)?;
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["name"], r2);
    assert_eq!(blob_files(&sb.store("A"))?, blobs, "rm deleted blobs (prune does)");
    sb.ok("A", &["describe", r2])?;

    sb.build("A", "opensnoop", r3, &[])?;
    let only_r3: Vec<String> = blob_files(&sb.store("A"))?.difference(&blobs).cloned().collect();
    assert_eq!(only_r3.len(), 3, "opensnoop's manifest, config and program: {only_r3:?}");
    sb.ok("A", &["rm", r3])?;
    std::fs::write(sb.store("A").join("blobs/sha256/.tmp-1-0"), "a crash's leftover")?;
    let ran = sb.ok("A", &["prune"])?;
    assert!(ran.stdout.starts_with("removed 4 unused blobs"), "{}", ran.show());
    assert_eq!(blob_files(&sb.store("A"))?, blobs);
    sb.ok("A", &["describe", r2])?;
    let ran = sb.ok("A", &["prune"])?;
    assert!(ran.stdout.starts_with("removed 0 unused blobs"), "{}", ran.show());
    Ok(())
}

/// A bpfman bytecode image (an OCI image whose gzipped tar layer holds the
/// object and whose config carries io.ebpf.* labels), pushed by skopeo:
/// `bee describe` says it is a bpfman image and describes its maps.
#[test]
fn bpfman_image_is_described() -> TestResult {
    let reg = Registry::start()?;
    let sb = Sandbox::new()?;
    let object = sb.build_object("execsnoop")?;
    let r = image(&reg, "bpfman-exec:v1");
    push_bpfman_execsnoop(&sb, &object, &r)?;
    let m = sb.skopeo_manifest(&r)?;
    assert_eq!((&m["config"]["mediaType"], &m["layers"][0]["mediaType"]), (&json!(OCI_CONFIG), &json!(TAR_GZIP)));

    let ran = sb.ok("B", &["describe", &r])?;
    assert!(ran.stdout.contains("format: bpfman image"), "{}", ran.show());
    assert!(ran.stdout.contains("print_execs (print, RINGBUF)"), "{}", ran.show());
    let d = json_out(&sb.ok("B", &["describe", "--output", "json", &r])?)?;
    assert_eq!(d["image"]["format"], "bpfman");
    assert_eq!(d["image"]["platform"], format!("linux/{}", HOST.1));
    assert_eq!(d["programs"][0]["name"], "on_exec");
    assert_eq!(d["maps"][0]["name"], "print_execs");
    Ok(())
}
