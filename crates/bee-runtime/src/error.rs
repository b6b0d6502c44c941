//! Errors of the runtime. Every variant says what was wrong and where.

use std::path::PathBuf;

/// Result alias for the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything loading, attaching or reading a probe can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object itself (ELF, BTF, types, the convention, vars).
    #[error(transparent)]
    Object(#[from] bee_object::Error),

    /// A watched map is unusable as loaded.
    #[error("map {map}: {reason}")]
    Map { map: String, reason: String },

    /// A probe setting does not fit the object (an attach target, a map
    /// size, a variable).
    #[error("{what}: {reason}")]
    Setting { what: String, reason: String },

    /// Reading a file failed. (The cause is part of the message and not a
    /// `source`, so that a chain printed with `{:#}` says it once.)
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },

    /// libbpf refused to open, load or attach something.
    #[error("{what}: {cause}")]
    Libbpf { what: String, cause: libbpf_rs::Error },

    /// A changed probe's new version could not attach, and its previous
    /// version could not attach again either.
    #[error("{new}; re-attaching the previous version failed too: {old}")]
    Swap { new: Box<Error>, old: Box<Error> },

    /// The engine thread stopped, and every probe with it.
    #[error("the engine stopped")]
    Stopped,

    /// The front end could not build a consumer for a map (its own
    /// settings did not fit the map, a metric could not be registered).
    #[error(transparent)]
    Consumer(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub(crate) fn libbpf(what: impl Into<String>, source: libbpf_rs::Error) -> Self {
        Error::Libbpf { what: what.into(), cause: source }
    }
}
