//! Errors of the daemon's modules. Every variant says what was wrong and where.

use std::path::PathBuf;

/// Result alias for the daemon.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the daemon's configuration and outputs can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("{path}:{line}:{column}: {reason}")]
    Config { path: PathBuf, line: usize, column: usize, reason: String },

    /// A map's output settings do not fit it (labels, value, slot fields,
    /// a map named in config): `Map` and `Setting` of the object layer.
    #[error(transparent)]
    Object(#[from] bee_object::Error),

    /// Reading a file failed. (The cause is part of the message and not a
    /// `source`, so that a chain printed with `{:#}` says it once.)
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },

    /// A metric family could not be built (settings, registration).
    #[error(transparent)]
    Metrics(#[from] bee_metrics::Error),

    /// Loading, attaching or reading a probe.
    #[error(transparent)]
    Runtime(#[from] bee_runtime::Error),
}

impl Error {
    /// A map's settings do not fit it.
    pub fn map(map: &str, reason: String) -> Self {
        Error::Object(bee_object::Error::Map { map: map.to_string(), reason })
    }
}

impl From<Error> for bee_runtime::Error {
    /// A sink the daemon could not build fails its probe.
    fn from(e: Error) -> Self {
        match e {
            Error::Runtime(r) => r,
            other => bee_runtime::Error::Consumer(Box::new(other)),
        }
    }
}
