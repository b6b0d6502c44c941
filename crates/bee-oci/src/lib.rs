//! Probes as OCI images, beside the runtime and used by both front ends
//! (`bee` and `beed`).
//!
//! - [`store`]: the local store, an OCI image-layout directory
//!   (`oci-layout`, `index.json`, `blobs/sha256/…`) whose refs are
//!   `org.opencontainers.image.ref.name` annotations. Every blob is checked
//!   against its digest when written and when read; blobs land by rename
//!   before a ref names them; two lock files make `bee` and `beed` safe
//!   together.
//! - [`image`]: bumblebee's image format (written and read), multi-arch
//!   indexes, and bpfman's bytecode images (read): from a ref in the store to
//!   the probe's object bytes.
//! - [`registry`]: push, pull and login against an OCI registry with
//!   `oci-client`; [`auth`]: the credentials files.
//!
//! No libbpf, no output: a front end turns a [`image::Program`] into an
//! object for the runtime.

pub mod auth;
mod bpfman;
pub mod digest;
mod error;
pub mod image;
mod lock;
pub mod manifest;
pub mod media;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod store;

pub use error::{Error, Result};
pub use reference::Ref;
pub use store::Store;
