//! The local store: an OCI image-layout directory.
//!
//! ```text
//! STORE/oci-layout        {"imageLayoutVersion":"1.0.0"}
//! STORE/index.json        one descriptor per ref (org.opencontainers.image.ref.name)
//! STORE/blobs/sha256/HEX  content, named by its digest
//! STORE/gc.lock           shared by every user, exclusive for prune
//! STORE/index.lock        exclusive around index.json updates
//! ```
//!
//! Crash safety: a blob is written to a temporary file, checked against its
//! digest, synced and renamed into place; `index.json` is replaced the same
//! way, after the blobs it names. A crash leaves at worst a temporary file
//! (removed by `prune`), never a ref to a partial blob.

use crate::digest::{Digest, Hasher};
use crate::lock::{lock, Lock};
use crate::manifest::{self, Descriptor, Index};
use crate::{media, Error, Result};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where `beed` keeps images (its unit's `StateDirectory=bee`).
pub const SYSTEM_STORE: &str = "/var/lib/bee/store";

/// The largest blob read from the store or a registry unless a front end
/// says otherwise (probe objects are kilobytes to a few megabytes).
pub const DEFAULT_MAX_BLOB: u64 = 256 << 20;

const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
const TMP_PREFIX: &str = ".tmp-";

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// One ref of the store.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The normalized ref (`registry/repository:tag`).
    pub name: String,
    /// What it points at (a manifest or an index).
    pub descriptor: Descriptor,
}

/// Holds the store's shared lock: blobs written under it are safe from a
/// concurrent `prune` until a ref names them.
pub struct Session<'a> {
    store: &'a Store,
    _gc: Lock,
}

impl Store {
    /// Opens the store at `root`, creating the layout if it is not there.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store { root: root.to_path_buf() };
        let blobs = store.blobs();
        fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        let layout = root.join("oci-layout");
        match fs::read(&layout) {
            Ok(b) if serde_json::from_slice::<serde_json::Value>(&b).is_ok() => {}
            Ok(_) => return Err(Error::Corrupt { path: layout, msg: "not an OCI image layout file".into() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomic(&layout, LAYOUT)?,
            Err(e) => return Err(Error::io(layout, e)),
        }
        let index = root.join("index.json");
        if !index.exists() {
            write_atomic(&index, &manifest::to_bytes(&Index::new()))?;
        }
        Ok(store)
    }

    /// The per-user store: `$BEE_STORE`, else `$XDG_DATA_HOME/bee/store`,
    /// else `~/.local/share/bee/store`.
    pub fn user_default() -> PathBuf {
        if let Some(p) = std::env::var_os("BEE_STORE").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        data.join("bee/store")
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    /// The file of a blob.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs().join(d.hex())
    }

    /// Starts a session (the shared lock) for writing blobs and refs.
    pub fn session(&self) -> Result<Session<'_>> {
        Ok(Session { store: self, _gc: lock(&self.root.join("gc.lock"), false)? })
    }

    /// Every ref, in the order of `index.json`.
    pub fn refs(&self) -> Result<Vec<Entry>> {
        let _gc = lock(&self.root.join("gc.lock"), false)?;
        self.read_refs()
    }

    fn read_refs(&self) -> Result<Vec<Entry>> {
        let index = self.read_index()?;
        Ok(index
            .manifests
            .into_iter()
            .filter_map(|d| d.annotations.get(media::REF_NAME).cloned().map(|name| Entry { name, descriptor: d }))
            .collect())
    }

    /// What `name` (a normalized ref) points at, if it is in the store.
    pub fn resolve(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self.refs()?.into_iter().find(|e| e.name == name).map(|e| e.descriptor))
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt { path, msg: format!("not an image index: {e}") })
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        write_atomic(&self.root.join("index.json"), &manifest::to_bytes(index))
    }

    /// Reads a blob, refusing one larger than `max` and checking its digest.
    pub fn read_blob(&self, d: &Digest, max: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let file = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Corrupt {
                path: path.clone(),
                msg: format!("blob {d} is missing from the store (pull the image again)"),
            },
            _ => Error::io(&path, e),
        })?;
        let mut bytes = Vec::new();
        file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
        if bytes.len() as u64 > max {
            return Err(Error::Corrupt { path, msg: format!("blob is larger than the limit of {max} bytes") });
        }
        let got = Digest::of(&bytes);
        if &got != d {
            return Err(Error::Corrupt {
                path,
                msg: format!(
                    "blob is corrupt: its content has digest {got}, not {d} (remove the image and pull it again)"
                ),
            });
        }
        Ok(bytes)
    }

    /// Whether the blob is present (not checked).
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Removes the ref `name`; returns whether it was there.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let _gc = lock(&self.root.join("gc.lock"), false)?;
        let _ix = lock(&self.root.join("index.lock"), true)?;
        let mut index = self.read_index()?;
        let before = index.manifests.len();
        index.manifests.retain(|d| d.annotations.get(media::REF_NAME).map(String::as_str) != Some(name));
        let removed = index.manifests.len() != before;
        if removed {
            self.write_index(&index)?;
        }
        Ok(removed)
    }

    /// Removes every blob no ref reaches, and temporary files left by a
    /// crash; returns how many files and bytes went.
    pub fn prune(&self) -> Result<(usize, u64)> {
        let _gc = lock(&self.root.join("gc.lock"), true)?;
        let mut keep = BTreeSet::new();
        for e in self.read_refs()? {
            self.reach(&e.descriptor, &mut keep);
        }
        let dir = self.blobs();
        let (mut n, mut bytes) = (0, 0);
        for f in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let f = f.map_err(|e| Error::io(&dir, e))?;
            let name = f.file_name().to_string_lossy().into_owned();
            if keep.contains(&name) {
                continue;
            }
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(f.path()).map_err(|e| Error::io(f.path(), e))?;
            n += 1;
            bytes += size;
        }
        Ok((n, bytes))
    }

    /// Adds the hex names of every blob `d` reaches (unreadable manifests
    /// keep what they are; a broken image is not a reason to delete).
    fn reach(&self, d: &Descriptor, keep: &mut BTreeSet<String>) {
        let Some(digest) = d.digest() else { return };
        keep.insert(digest.hex().to_string());
        if !(d.is_index() || d.media_type == media::OCI_MANIFEST || d.media_type == media::DOCKER_MANIFEST) {
            return;
        }
        let Ok(bytes) = self.read_blob(&digest, DEFAULT_MAX_BLOB) else { return };
        match manifest::parse(&bytes, &d.media_type) {
            Ok(manifest::Document::Index(ix)) => ix.manifests.iter().for_each(|m| self.reach(m, keep)),
            Ok(manifest::Document::Manifest(m)) => {
                for b in std::iter::once(&m.config).chain(&m.layers) {
                    if let Some(dg) = b.digest() {
                        keep.insert(dg.hex().to_string());
                    }
                }
            }
            Err(_) => {}
        }
    }
}

impl Session<'_> {
    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Stores `bytes` as a blob; returns its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let mut w = self.blob_writer(&d, bytes.len() as u64)?;
        w.write(bytes)?;
        w.finish()?;
        Ok(d)
    }

    /// A writer for a blob expected to be `size` bytes with digest `d`.
    pub fn blob_writer(&self, d: &Digest, size: u64) -> Result<BlobWriter> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = self.store.blobs().join(format!(
            "{TMP_PREFIX}{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp,
            dest: self.store.blob_path(d),
            digest: d.clone(),
            size,
            written: 0,
            hasher: Some(Hasher::default()),
        })
    }

    /// Points `name` at `desc` (its blobs must be stored); returns what it
    /// pointed at before.
    pub fn set_ref(&self, name: &str, desc: &Descriptor) -> Result<Option<Descriptor>> {
        let _ix = lock(&self.store.root.join("index.lock"), true)?;
        let mut index = self.store.read_index()?;
        let mut old = None;
        index.manifests.retain(|d| {
            let same = d.annotations.get(media::REF_NAME).map(String::as_str) == Some(name);
            if same {
                old = Some(d.clone());
            }
            !same
        });
        let mut d = desc.clone();
        d.annotations.insert(media::REF_NAME.into(), name.into());
        index.manifests.push(d);
        self.store.write_index(&index)?;
        Ok(old.map(|mut d| {
            d.annotations.remove(media::REF_NAME);
            d
        }))
    }
}

/// A blob being written: checked against its size as it grows and against
/// its digest before it is renamed into place. Dropped unfinished, it
/// removes its temporary file.
pub struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
    digest: Digest,
    size: u64,
    written: u64,
    hasher: Option<Hasher>,
}

impl BlobWriter {
    /// Appends bytes; more than the declared size is an error.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.written += bytes.len() as u64;
        if self.written > self.size {
            return Err(Error::Blob {
                reference: String::new(),
                digest: self.digest.to_string(),
                msg: format!("more than the {} bytes its descriptor declares", self.size),
            });
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(bytes);
        }
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes).map_err(|e| Error::io(&self.tmp, e)),
            None => Ok(()),
        }
    }

    /// Checks size and digest, syncs and renames the blob into place.
    pub fn finish(mut self) -> Result<()> {
        let blob_err =
            |digest: &Digest, msg: String| Error::Blob { reference: String::new(), digest: digest.to_string(), msg };
        if self.written != self.size {
            return Err(blob_err(
                &self.digest,
                format!("{} bytes, but its descriptor declares {}", self.written, self.size),
            ));
        }
        let got = self.hasher.take().map(Hasher::finish);
        if got.as_ref() != Some(&self.digest) {
            let got = got.map(|g| g.to_string()).unwrap_or_default();
            return Err(blob_err(&self.digest, format!("content does not match its digest (got {got})")));
        }
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        }
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        sync_parent(&self.dest);
        Ok(())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() || self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Replaces `path` with `bytes` by a synced temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_parent(path);
    Ok(())
}

/// Makes a rename durable (best effort: a failure here loses nothing that
/// the next write does not redo).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests;
