//! Probe images: bumblebee's format written and read, multi-arch indexes,
//! bpfman's bytecode images read; from a ref of the store to object bytes.
//!
//! bumblebee's format (`pkg/spec/spec.go`): an OCI image manifest whose
//! config blob has media type `application/ebpf.oci.image.config.v1+json`
//! and title `config.json`, and whose one layer, of media type
//! `application/ebpf.oci.image.program.v1+binary` and title `program.o`, is
//! the object. bumblebee's own config is `{}`; ours describes the probe and
//! stays a JSON object bumblebee reads.

use crate::bpfman;
use crate::digest::Digest;
use crate::manifest::{self, Descriptor, Document, Index, Manifest, Platform};
use crate::store::{Entry, Session, Store};
use crate::{media, platform, Error, Result};
use std::collections::BTreeMap;

/// One platform's object to put in an image.
pub struct Build {
    /// The OCI architecture (`amd64`, `arm64`).
    pub arch: String,
    /// The object file.
    pub program: Vec<u8>,
    /// The config blob (a JSON object describing the probe).
    pub config: serde_json::Value,
}

/// How an image carries its probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// bumblebee's (and bee's) ebpf media types.
    Bumblebee,
    /// bpfman's bytecode image: a tar layer and `io.ebpf.*` labels.
    Bpfman,
}

impl Format {
    /// `bumblebee` / `bpfman`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Bumblebee => "bumblebee",
            Format::Bpfman => "bpfman",
        }
    }
}

/// A probe read out of an image.
#[derive(Debug, Clone)]
pub struct Program {
    /// The object file.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: Format,
    /// The digest of the ref's manifest or index (what `@sha256:` pins).
    pub digest: Digest,
    /// The digest of this platform's manifest.
    pub manifest: Digest,
    /// The platform it was built for, when the image says.
    pub platform: Option<Platform>,
    /// The manifest's annotations (description, authors, created, …).
    pub annotations: BTreeMap<String, String>,
    /// The config blob as JSON (bpfman: its `io.ebpf.*` labels).
    pub config: serde_json::Value,
}

/// Writes `builds` into the store and points `name` at them: one manifest
/// when there is one build, else an index with one manifest per platform.
/// `annotations` go on every manifest (and the index).
pub fn store_built(
    session: &Session<'_>,
    name: &str,
    builds: &[Build],
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor> {
    let mut manifests = Vec::new();
    for b in builds {
        let config = manifest::to_bytes(&b.config);
        let mut config_desc = Descriptor::of(media::BEE_CONFIG, &config);
        config_desc.annotations.insert(media::TITLE.into(), media::BEE_CONFIG_TITLE.into());
        let mut layer = Descriptor::of(media::BEE_PROGRAM, &b.program);
        layer.annotations.insert(media::TITLE.into(), media::BEE_PROGRAM_TITLE.into());
        session.put_blob(&config)?;
        session.put_blob(&b.program)?;
        let m = Manifest {
            schema_version: 2,
            media_type: Some(media::OCI_MANIFEST.into()),
            config: config_desc,
            layers: vec![layer],
            annotations: annotations.clone(),
        };
        let bytes = manifest::to_bytes(&m);
        session.put_blob(&bytes)?;
        let mut d = Descriptor::of(media::OCI_MANIFEST, &bytes);
        d.platform = Some(Platform::linux(&b.arch));
        manifests.push(d);
    }
    let top = match manifests.len() {
        0 => return Err(Error::format(name, "nothing to store: no object was built")),
        1 => manifests.remove(0),
        _ => {
            let ix = Index { manifests, annotations: annotations.clone(), ..Index::new() };
            let bytes = manifest::to_bytes(&ix);
            session.put_blob(&bytes)?;
            Descriptor::of(media::OCI_INDEX, &bytes)
        }
    };
    session.set_ref(name, &top)?;
    Ok(top)
}

/// The manifest of `index` for `arch` (OCI name); an image without one is an
/// error naming what it has.
pub fn select<'a>(reference: &str, index: &'a Index, arch: &str) -> Result<&'a Descriptor> {
    let linux = |d: &&Descriptor| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch);
    if let Some(d) = index.manifests.iter().find(linux) {
        return Ok(d);
    }
    let have: Vec<String> = index
        .manifests
        .iter()
        .map(|d| d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "no platform".into()))
        .collect();
    Err(Error::Platform {
        reference: reference.into(),
        want: format!("linux/{arch}"),
        have: if have.is_empty() { "no manifests".into() } else { have.join(", ") },
        arch: platform::bee_arch(arch).into(),
    })
}

/// Reads the probe that `name` points at in the store, for `arch`.
pub fn load(store: &Store, name: &str, arch: &str, max: u64) -> Result<Program> {
    let desc = store.resolve(name)?.ok_or_else(|| Error::NotFound(name.into()))?;
    load_descriptor(store, name, &desc, arch, max)
}

/// Reads the probe that `desc` (a manifest or index in the store) holds.
pub fn load_descriptor(store: &Store, reference: &str, desc: &Descriptor, arch: &str, max: u64) -> Result<Program> {
    let top = digest_of(reference, desc)?;
    let (m, mdesc) = match read_document(store, reference, desc, max)? {
        Document::Manifest(m) => (m, desc.clone()),
        Document::Index(ix) => {
            let d = select(reference, &ix, arch)?.clone();
            if d.digest().is_some_and(|dg| !store.has_blob(&dg)) {
                return Err(not_pulled(store, reference, &ix, arch));
            }
            match read_document(store, reference, &d, max)? {
                Document::Manifest(m) => (m, d),
                Document::Index(_) => return Err(Error::format(reference, "an index nested in an index")),
            }
        }
    };
    let manifest = digest_of(reference, &mdesc)?;
    let (bytes, format, config) = program_of(store, reference, &m, max)?;
    if let Some(p) = mdesc.platform.as_ref().filter(|p| p.architecture != arch) {
        return Err(Error::Platform {
            reference: reference.into(),
            want: format!("linux/{arch}"),
            have: p.to_string(),
            arch: platform::bee_arch(arch).into(),
        });
    }
    Ok(Program { bytes, format, digest: top, manifest, platform: mdesc.platform, annotations: m.annotations, config })
}

/// An index of the store lacks the manifest for `arch` (a pull for another
/// platform stored the index and that platform's manifest only).
fn not_pulled(store: &Store, reference: &str, index: &Index, arch: &str) -> Error {
    let have: Vec<String> = index
        .manifests
        .iter()
        .filter(|d| d.digest().is_some_and(|dg| store.has_blob(&dg)))
        .map(|d| d.platform.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "no platform".into()))
        .collect();
    Error::NotPulled {
        reference: reference.into(),
        want: format!("linux/{arch}"),
        have: if have.is_empty() { "no manifests".into() } else { have.join(", ") },
        arch: platform::bee_arch(arch).into(),
    }
}

fn digest_of(reference: &str, d: &Descriptor) -> Result<Digest> {
    d.digest().ok_or_else(|| Error::format(reference, format!("`{}` is not a sha256 digest", d.digest)))
}

/// Reads and parses a manifest or index blob.
pub fn read_document(store: &Store, reference: &str, d: &Descriptor, max: u64) -> Result<Document> {
    let bytes = read(store, reference, d, max)?;
    manifest::parse(&bytes, &d.media_type).map_err(|e| Error::format(reference, e))
}

fn read(store: &Store, reference: &str, d: &Descriptor, max: u64) -> Result<Vec<u8>> {
    let digest = digest_of(reference, d)?;
    if d.size > max {
        return Err(Error::Blob {
            reference: reference.into(),
            digest: digest.to_string(),
            msg: format!("{} bytes, above the limit of {max}", d.size),
        });
    }
    store.read_blob(&digest, max)
}

/// The object, format and config of one image manifest.
fn program_of(store: &Store, reference: &str, m: &Manifest, max: u64) -> Result<(Vec<u8>, Format, serde_json::Value)> {
    let config_bytes = read(store, reference, &m.config, max)?;
    let config: serde_json::Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::format(reference, format!("its config blob is not JSON: {e}")))?;
    let bee_layers: Vec<&Descriptor> = m
        .layers
        .iter()
        .filter(|l| {
            l.media_type == media::BEE_PROGRAM
                || l.annotations.get(media::TITLE).map(String::as_str) == Some(media::BEE_PROGRAM_TITLE)
        })
        .collect();
    match bee_layers.as_slice() {
        [layer] => return Ok((read(store, reference, layer, max)?, Format::Bumblebee, config)),
        [] => {}
        many => return Err(Error::format(reference, format!("{} program layers; a probe image has one", many.len()))),
    }
    let labels = bpfman::labels(&config);
    let tar_layers: Vec<&Descriptor> =
        m.layers.iter().filter(|l| media::TAR_LAYERS.contains(&l.media_type.as_str())).collect();
    if let ([layer], false) = (tar_layers.as_slice(), labels.is_empty()) {
        let bytes = read(store, reference, layer, max)?;
        let object = bpfman::object(&bytes, layer.media_type.ends_with("gzip"), max)
            .map_err(|e| Error::format(reference, format!("bpfman bytecode image: {e}")))?;
        let labels: serde_json::Map<String, serde_json::Value> =
            labels.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        return Ok((object, Format::Bpfman, serde_json::Value::Object(labels)));
    }
    let types: Vec<&str> = m.layers.iter().map(|l| l.media_type.as_str()).collect();
    Err(Error::format(
        reference,
        format!(
            "not a probe image: config {}, layers [{}]; a bumblebee image has one layer of type {}, a bpfman image one tar layer and io.ebpf.* labels",
            m.config.media_type,
            types.join(", "),
            media::BEE_PROGRAM
        ),
    ))
}

/// The platform an image's config names: ours (`bee.arch`) or a container
/// config's (`architecture`, `os`), as a layout descriptor carries it.
pub fn platform_of(store: &Store, config: &Descriptor, max: u64) -> Option<Platform> {
    let bytes = store.read_blob(&config.digest()?, max).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if let Some(arch) = v.pointer("/bee/arch").and_then(|a| a.as_str()) {
        return platform::oci_arch(arch).map(Platform::linux);
    }
    let arch = v.get("architecture").and_then(|a| a.as_str())?;
    Some(Platform {
        architecture: arch.into(),
        os: v.get("os").and_then(|o| o.as_str()).unwrap_or("linux").into(),
        variant: None,
    })
}

/// One line of `bee list`.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The ref.
    pub name: String,
    /// What it points at.
    pub digest: String,
    /// Its platforms (`amd64`, `arm64`).
    pub arches: Vec<String>,
    /// Bytes of every blob it reaches.
    pub size: u64,
    /// `org.opencontainers.image.created`, if set.
    pub created: Option<String>,
}

/// Summarizes one ref (unreadable parts count as what their descriptors say).
pub fn summarize(store: &Store, e: &Entry) -> Summary {
    let d = &e.descriptor;
    let mut s = Summary { name: e.name.clone(), digest: d.digest.clone(), arches: vec![], size: d.size, created: None };
    // a platform counts when its manifest is here (a pull keeps only this
    // machine's manifest of an index)
    let add_manifest = |s: &mut Summary, md: &Descriptor| {
        if let Ok(Document::Manifest(m)) = read_document(store, &e.name, md, crate::store::DEFAULT_MAX_BLOB) {
            if let Some(p) = &md.platform {
                s.arches.push(p.architecture.clone());
            }
            // sizes come from descriptors, which another tool may have written
            let blobs = m.layers.iter().fold(m.config.size, |a, l| a.saturating_add(l.size));
            s.size = s.size.saturating_add(blobs);
            if s.created.is_none() {
                s.created = m.annotations.get(media::CREATED).cloned();
            }
        }
    };
    match read_document(store, &e.name, d, crate::store::DEFAULT_MAX_BLOB) {
        Ok(Document::Index(ix)) => {
            for md in &ix.manifests {
                s.size = s.size.saturating_add(md.size);
                add_manifest(&mut s, md);
            }
        }
        Ok(Document::Manifest(_)) => add_manifest(&mut s, d),
        Err(_) => {}
    }
    s
}

/// The annotations of a build: `created` now, and whichever of description,
/// authors, source and version are given.
pub fn annotations(fields: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> =
        fields.iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string()))).collect();
    a.entry(media::CREATED.into())
        .or_insert_with(|| humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    a
}

#[cfg(test)]
mod tests;
