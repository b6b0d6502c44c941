//! The test registry itself: readiness, basic auth, stop and restart on the
//! same port and storage, and an image pushed by skopeo (from an OCI layout
//! written here) read back with the harness's own HTTP client. Any user;
//! needs skopeo and htpasswd (`make deps`) and docker-registry (`make registry-tool`).

use bee_testutil::registry::Registry;
use std::path::Path;
use std::process::Command;

type R = Result<(), String>;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

#[test]
fn answers_v2() -> R {
    let reg = Registry::start()?;
    let (status, headers, _) = reg.get("/v2/", None)?;
    assert_eq!(status, 200);
    let api = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Docker-Distribution-Api-Version"));
    assert_eq!(api.map(|(_, v)| v.as_str()), Some("registry/2.0"));
    Ok(())
}

#[test]
fn basic_auth() -> R {
    let reg = Registry::start_with_auth("bee", "s3cret")?;
    let (status, headers, _) = reg.get("/v2/", None)?;
    assert_eq!(status, 401);
    let challenge = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("WWW-Authenticate"));
    assert_eq!(challenge.map(|(_, v)| v.as_str()), Some("Basic realm=\"bee-test\""));
    assert_eq!(reg.get("/v2/", Some(("bee", "s3cret")))?.0, 200);
    assert_eq!(reg.get("/v2/", Some(("bee", "wrong")))?.0, 401);
    assert_eq!(reg.get("/v2/", Some(("other", "s3cret")))?.0, 401);
    Ok(())
}

#[test]
fn stop_and_restart_keep_port_and_storage() -> R {
    let mut reg = Registry::start()?;
    let addr = reg.addr();
    let layer = push_tiny_image(&reg, None)?;
    reg.stop();
    assert!(reg.get("/v2/", None).is_err(), "a stopped registry still answers");
    reg.restart()?;
    assert_eq!(reg.addr(), addr);
    assert_eq!(reg.get("/v2/", None)?.0, 200);
    let (status, _, body) = reg.get(&format!("/v2/test/img/blobs/{layer}"), None)?;
    assert_eq!(status, 200, "the layer is gone after a restart");
    assert_eq!(body, layer_bytes());
    Ok(())
}

#[test]
fn skopeo_push_reads_back() -> R {
    let reg = Registry::start()?;
    let layer = push_tiny_image(&reg, None)?;
    check_manifest(&reg, &layer, None)
}

#[test]
fn skopeo_push_with_auth() -> R {
    let auth = ("bee", "s3cret");
    let reg = Registry::start_with_auth(auth.0, auth.1)?;
    let layer = push_tiny_image(&reg, Some(auth))?;
    assert_eq!(reg.get_accept("/v2/test/img/manifests/v1", OCI_MANIFEST, None)?.0, 401);
    check_manifest(&reg, &layer, Some(auth))
}

/// The pushed manifest is the OCI one skopeo was given, with its one layer,
/// and the layer blob has the layer's bytes.
fn check_manifest(reg: &Registry, layer: &str, auth: Option<(&str, &str)>) -> R {
    let (status, headers, body) = reg.get_accept("/v2/test/img/manifests/v1", OCI_MANIFEST, auth)?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let ctype = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Content-Type")).map(|(_, v)| v.as_str());
    assert_eq!(ctype, Some(OCI_MANIFEST));
    let m: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("manifest: {e}"))?;
    assert_eq!(m["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(m["layers"][0]["digest"].as_str(), Some(layer));
    let (status, _, blob) = reg.get(&format!("/v2/test/img/blobs/{layer}"), auth)?;
    assert_eq!(status, 200);
    assert_eq!(blob, layer_bytes());
    Ok(())
}

/// The one layer of the test image: an empty tar archive (two zero blocks)
/// gzipped by hand (one stored deflate block), so that skopeo copies it as it
/// is (it gzips an uncompressed layer on its way to a registry).
fn layer_bytes() -> Vec<u8> {
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]; // header: deflate, no name, no mtime
    gz.extend_from_slice(&[1, 0x00, 0x04, 0xff, 0xfb]); // final stored block, LEN 1024, NLEN
    gz.extend_from_slice(&[0; 1024]);
    gz.extend_from_slice(&0xefb5_af2e_u32.to_le_bytes()); // CRC-32 of the 1024 zero bytes
    gz.extend_from_slice(&1024u32.to_le_bytes()); // ISIZE
    gz
}

/// Writes an OCI layout (config `{}`, one layer) and copies it with skopeo
/// to `ADDR/test/img:v1`; the layer's digest.
fn push_tiny_image(reg: &Registry, auth: Option<(&str, &str)>) -> Result<String, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let layout = tmp.path().join("layout");
    let config = blob(&layout, b"{}")?;
    let layer = blob(&layout, &layer_bytes())?;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
        layer_bytes().len()
    );
    let mdigest = blob(&layout, manifest.as_bytes())?;
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{mdigest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
        manifest.len()
    );
    write(&layout.join("index.json"), index.as_bytes())?;
    write(&layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut cmd = Command::new("skopeo");
    // --insecure-policy: no /etc/containers/policy.json needed
    cmd.args(["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false"]);
    if let Some((user, password)) = auth {
        cmd.arg(format!("--dest-creds={user}:{password}"));
    }
    cmd.arg(format!("oci:{}:v1", layout.display())).arg(format!("docker://{}/test/img:v1", reg.addr()));
    // no credentials from the user's auth files
    cmd.env("REGISTRY_AUTH_FILE", tmp.path().join("auth.json"));
    let out = cmd.output().map_err(|e| format!("running skopeo: {e} (install it: `make deps`)"))?;
    if !out.status.success() {
        return Err(format!(
            "skopeo copy failed: {}\nregistry log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            reg.log_tail()
        ));
    }
    Ok(layer)
}

/// Stores `data` under `blobs/sha256/` of the layout; its `sha256:` digest.
fn blob(layout: &Path, data: &[u8]) -> Result<String, String> {
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join("incoming");
    write(&tmp, data)?;
    let out = Command::new("sha256sum").arg(&tmp).output().map_err(|e| format!("sha256sum: {e}"))?;
    let hex = String::from_utf8_lossy(&out.stdout).split(' ').next().unwrap_or_default().to_string();
    if hex.len() != 64 {
        return Err(format!("sha256sum printed {:?}", String::from_utf8_lossy(&out.stdout)));
    }
    std::fs::rename(&tmp, dir.join(&hex)).map_err(|e| format!("rename: {e}"))?;
    Ok(format!("sha256:{hex}"))
}

fn write(path: &Path, data: &[u8]) -> R {
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}
