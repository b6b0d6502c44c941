//! Errors of the object layer. Every variant says what was wrong and where.

/// Result alias for the object layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an object file (or a setting checked against it) can be wrong with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object is not an ELF file beed can read.
    #[error("{what}: not a valid BPF ELF object: {reason}")]
    Elf { what: String, reason: String },

    /// The object uses a program type beed does not run.
    #[error("{what}: {reason}")]
    Unsupported { what: String, reason: String },

    /// The BTF of an object is malformed or uses something beed cannot decode.
    #[error("{what}: invalid BTF: {reason}")]
    Btf { what: String, reason: String },

    /// A watched map's key or value type cannot be decoded.
    #[error("map {map}: field `{field}`: {reason}")]
    Schema { map: String, field: String, reason: String },

    /// A watched map is unusable as declared (no BTF type, wrong map type, ...).
    #[error("map {map}: {reason}")]
    Map { map: String, reason: String },

    /// A probe setting does not fit the object (a variable, an attach
    /// target, a map named in config).
    #[error("{what}: {reason}")]
    Setting { what: String, reason: String },
}

impl Error {
    pub(crate) fn btf(what: &str, reason: impl Into<String>) -> Self {
        Error::Btf { what: what.to_string(), reason: reason.into() }
    }

    pub(crate) fn elf(what: &str, reason: impl Into<String>) -> Self {
        Error::Elf { what: what.to_string(), reason: reason.into() }
    }
}
