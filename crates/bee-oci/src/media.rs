//! Media types and annotation keys of the formats this crate reads and
//! writes.

/// bumblebee's config blob (`pkg/spec/spec.go`).
pub const BEE_CONFIG: &str = "application/ebpf.oci.image.config.v1+json";
/// bumblebee's program layer: the object file itself.
pub const BEE_PROGRAM: &str = "application/ebpf.oci.image.program.v1+binary";
/// The title bumblebee finds the program layer by.
pub const BEE_PROGRAM_TITLE: &str = "program.o";
/// The title bumblebee finds the config blob by.
pub const BEE_CONFIG_TITLE: &str = "config.json";

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker v2 manifest (what some builders push bpfman images as).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list.
pub const DOCKER_INDEX: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image config (bpfman's images carry their labels there).
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// A Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Layer types of bpfman's bytecode images: a (gzipped) tar holding the object.
pub const TAR_LAYERS: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// Every manifest type a pull accepts.
pub const MANIFESTS: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_INDEX];

/// The annotation naming a ref in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// A blob's title (bumblebee's `program.o` / `config.json`).
pub const TITLE: &str = "org.opencontainers.image.title";
/// When the image was built (RFC 3339).
pub const CREATED: &str = "org.opencontainers.image.created";
/// What the probe does.
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// Who wrote it.
pub const AUTHORS: &str = "org.opencontainers.image.authors";
/// Where its source is.
pub const SOURCE: &str = "org.opencontainers.image.source";
/// Its version.
pub const VERSION: &str = "org.opencontainers.image.version";
