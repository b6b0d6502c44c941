use super::{annotations, load, store_built, summarize, Build, Format};
use crate::store::{Store, DEFAULT_MAX_BLOB};
use crate::{media, Error};

fn build(arch: &str, program: &[u8]) -> Build {
    Build { arch: arch.into(), program: program.to_vec(), config: serde_json::json!({"bee": {"arch": arch}}) }
}

#[test]
fn single_arch_image_is_bumblebees_format() -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    let store = Store::open(dir.path())?;
    let ann = annotations(&[(media::DESCRIPTION, Some("test probe")), (media::AUTHORS, None)]);
    let top = store_built(&store.session()?, "r/p:v1", &[build("amd64", b"\x7fELFobj")], &ann)?;
    assert_eq!(top.media_type, media::OCI_MANIFEST);
    let bytes = store.read_blob(&top.digest().ok_or(Error::Auth("d".into()))?, DEFAULT_MAX_BLOB)?;
    let m: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| Error::Auth(e.to_string()))?;
    assert_eq!(m["config"]["mediaType"], media::BEE_CONFIG);
    assert_eq!(m["config"]["annotations"][media::TITLE], "config.json");
    assert_eq!(m["layers"][0]["mediaType"], media::BEE_PROGRAM);
    assert_eq!(m["layers"][0]["annotations"][media::TITLE], "program.o");
    assert_eq!(m["annotations"][media::DESCRIPTION], "test probe");
    assert!(m["annotations"][media::CREATED].is_string());
    let p = load(&store, "r/p:v1", "amd64", DEFAULT_MAX_BLOB)?;
    assert_eq!((p.bytes.as_slice(), p.format), (&b"\x7fELFobj"[..], Format::Bumblebee));
    let e = load(&store, "r/p:v1", "arm64", DEFAULT_MAX_BLOB).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("no image for linux/arm64 (it has linux/amd64)") && e.contains("--arch aarch64"), "{e}");
    let e = load(&store, "r/none:v1", "amd64", DEFAULT_MAX_BLOB).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("r/none:v1: not in the local store"), "{e}");
    Ok(())
}

#[test]
fn multi_arch_image_is_an_index() -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    let store = Store::open(dir.path())?;
    let top = store_built(
        &store.session()?,
        "r/p:v2",
        &[build("amd64", b"x86 obj"), build("arm64", b"arm obj")],
        &annotations(&[]),
    )?;
    assert_eq!(top.media_type, media::OCI_INDEX);
    assert_eq!(load(&store, "r/p:v2", "amd64", DEFAULT_MAX_BLOB)?.bytes, b"x86 obj");
    assert_eq!(load(&store, "r/p:v2", "arm64", DEFAULT_MAX_BLOB)?.bytes, b"arm obj");
    let e = load(&store, "r/p:v2", "riscv64", DEFAULT_MAX_BLOB).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("(it has linux/amd64, linux/arm64)"), "{e}");
    let entries = store.refs()?;
    let s = summarize(&store, &entries[0]);
    assert_eq!(s.arches, ["amd64", "arm64"]);
    assert!(s.size > 14 && s.created.is_some());
    Ok(())
}
