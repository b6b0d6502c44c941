use super::{Store, DEFAULT_MAX_BLOB};
use crate::digest::Digest;
use crate::manifest::Descriptor;
use crate::Error;

fn tmp() -> Result<tempfile::TempDir, Error> {
    tempfile::tempdir().map_err(|e| Error::io("tempdir", e))
}

#[test]
fn layout_blobs_refs_and_prune() -> Result<(), Error> {
    let dir = tmp()?;
    let store = Store::open(dir.path())?;
    assert!(dir.path().join("oci-layout").is_file() && dir.path().join("index.json").is_file());
    let s = store.session()?;
    let d = s.put_blob(b"hello")?;
    assert_eq!(store.read_blob(&d, DEFAULT_MAX_BLOB)?, b"hello");
    assert!(store.read_blob(&d, 3).is_err(), "the size limit applies on read");
    let desc = Descriptor::of("application/octet-stream", b"hello");
    assert_eq!(s.set_ref("r/a:1", &desc)?, None);
    assert_eq!(s.set_ref("r/a:1", &desc)?, Some(desc.clone()));
    let orphan = s.put_blob(b"orphan")?;
    drop(s);
    assert_eq!(store.refs()?.len(), 1);
    assert_eq!(
        store.resolve("r/a:1")?,
        Some({
            let mut d = desc.clone();
            d.annotations.insert(crate::media::REF_NAME.into(), "r/a:1".into());
            d
        })
    );
    // a crash mid-write leaves a temporary file; prune takes it and the orphan
    std::fs::write(dir.path().join("blobs/sha256/.tmp-1-1"), b"partial").map_err(|e| Error::io("tmp", e))?;
    assert_eq!(store.prune()?, (2, 13));
    assert!(store.has_blob(&d) && !store.has_blob(&orphan));
    assert!(store.remove("r/a:1")?);
    assert!(!store.remove("r/a:1")?);
    assert_eq!(store.prune()?.0, 1);
    Ok(())
}

#[test]
fn corrupt_and_mismatched_blobs_are_refused() -> Result<(), Error> {
    let dir = tmp()?;
    let store = Store::open(dir.path())?;
    let s = store.session()?;
    let d = s.put_blob(b"content")?;
    std::fs::write(store.blob_path(&d), b"tampered").map_err(|e| Error::io("w", e))?;
    let e = store.read_blob(&d, DEFAULT_MAX_BLOB).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("blob is corrupt"), "{e}");
    // a writer refuses more bytes than declared, and a wrong digest, and
    // leaves nothing behind
    let want = Digest::of(b"abc");
    let mut w = s.blob_writer(&want, 2)?;
    assert!(w.write(b"abc").is_err());
    drop(w);
    let mut w = s.blob_writer(&want, 3)?;
    w.write(b"abd")?;
    let e = w.finish().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("does not match its digest"), "{e}");
    assert!(!store.has_blob(&want));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256")).map_err(|e| Error::io("r", e))?.collect();
    assert_eq!(left.len(), 1, "only the first blob");
    Ok(())
}

#[test]
fn concurrent_ref_updates_are_not_lost() -> Result<(), Error> {
    let dir = tmp()?;
    let root = dir.path().to_path_buf();
    Store::open(&root)?;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || -> Result<(), Error> {
                let store = Store::open(&root)?;
                for i in 0..25 {
                    let s = store.session()?;
                    let bytes = format!("{t}-{i}");
                    s.put_blob(bytes.as_bytes())?;
                    s.set_ref(&format!("r/t{t}:{i}"), &Descriptor::of("x", bytes.as_bytes()))?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| Error::Auth("thread".into()))??;
    }
    assert_eq!(Store::open(&root)?.refs()?.len(), 100);
    Ok(())
}

#[test]
fn a_broken_layout_is_named() -> Result<(), Error> {
    let dir = tmp()?;
    std::fs::write(dir.path().join("oci-layout"), b"nope").map_err(|e| Error::io("w", e))?;
    let e = Store::open(dir.path()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.ends_with("oci-layout: not an OCI image layout file"), "{e}");
    Ok(())
}
