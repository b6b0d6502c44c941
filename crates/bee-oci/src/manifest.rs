//! The JSON documents of an image: descriptors, manifests, indexes. Read
//! leniently (unknown fields are kept out of the way), written compactly and
//! deterministically.

use crate::digest::Digest;
use crate::media;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: String,
    /// `sha256:…`, checked with [`Descriptor::digest`] before any use.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations (`org.opencontainers.image.title`, `…ref.name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The platform of a manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A descriptor of `bytes`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes).to_string(),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    /// The digest, if it is a well-formed sha256 one.
    pub fn digest(&self) -> Option<Digest> {
        Digest::parse(&self.digest)
    }

    /// Whether it describes a manifest list rather than a manifest.
    pub fn is_index(&self) -> bool {
        self.media_type == media::OCI_INDEX || self.media_type == media::DOCKER_INDEX
    }
}

/// A platform (`linux/amd64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `amd64`, `arm64`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v8`, for some arm64 images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/ARCH`.
    pub fn linux(architecture: &str) -> Platform {
        Platform { architecture: architecture.into(), os: "linux".into(), variant: None }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// An image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json` (or docker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Image annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (manifest list), also the layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json` (or docker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// An empty OCI index.
    pub fn new() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: vec![],
            annotations: BTreeMap::new(),
        }
    }
}

impl Default for Index {
    fn default() -> Self {
        Index::new()
    }
}

/// A manifest document of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document {
    /// One image.
    Manifest(Manifest),
    /// Several (one per platform).
    Index(Index),
}

/// Parses manifest bytes whose descriptor (or Content-Type) said
/// `media_type`; the document's own `mediaType` must agree with it when it
/// has one.
pub fn parse(bytes: &[u8], media_type: &str) -> Result<Document, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Peek {
        schema_version: Option<u32>,
        media_type: Option<String>,
    }
    let peek: Peek = serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
    if peek.schema_version != Some(2) {
        return Err(format!("manifest schemaVersion {:?}, expected 2", peek.schema_version));
    }
    let ty = match (&peek.media_type, media_type) {
        (Some(own), _) if !media_type.is_empty() && own != media_type => {
            return Err(format!("manifest says it is {own} but was served as {media_type}"))
        }
        (Some(own), _) => own.clone(),
        (None, "") => media_type_of(bytes)?,
        (None, t) => t.to_string(),
    };
    match ty.as_str() {
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => {
            serde_json::from_slice(bytes).map(Document::Manifest).map_err(|e| format!("bad image manifest: {e}"))
        }
        media::OCI_INDEX | media::DOCKER_INDEX => {
            serde_json::from_slice(bytes).map(Document::Index).map_err(|e| format!("bad image index: {e}"))
        }
        other => {
            Err(format!("unknown manifest media type `{other}` (expected one of {})", media::MANIFESTS.join(", ")))
        }
    }
}

/// The media type of a manifest document: its own `mediaType`, else
/// inferred (`manifests` → an OCI index, `layers` → an OCI manifest).
pub fn media_type_of(bytes: &[u8]) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("manifest is not JSON: {e}"))?;
    if let Some(t) = v.get("mediaType").and_then(|t| t.as_str()) {
        return Ok(t.to_string());
    }
    if v.get("manifests").is_some() {
        Ok(media::OCI_INDEX.into())
    } else if v.get("layers").is_some() {
        Ok(media::OCI_MANIFEST.into())
    } else {
        Err("manifest has no mediaType, layers or manifests".into())
    }
}

/// The canonical bytes of a document this crate writes.
pub fn to_bytes<T: Serialize>(doc: &T) -> Vec<u8> {
    // serializing these plain structs cannot fail
    serde_json::to_vec(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{parse, Document};

    #[test]
    fn media_types_are_checked() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:00","size":2},"layers":[]}"#;
        assert!(matches!(parse(m, "application/vnd.oci.image.manifest.v1+json"), Ok(Document::Manifest(_))));
        assert!(parse(m, "application/vnd.oci.image.index.v1+json").is_err_and(|e| e.contains("served as")));
        let e = parse(br#"{"schemaVersion":2,"mediaType":"text/x-weird"}"#, "").err().unwrap_or_default();
        assert!(e.contains("unknown manifest media type `text/x-weird`"), "{e}");
        assert!(parse(br#"{"schemaVersion":1}"#, "").is_err());
        assert!(parse(b"\xff", "").is_err());
    }
}
