//! One error type for the store, the formats and the registry. Every message
//! names the ref, file or blob it is about.

use std::path::PathBuf;

/// What went wrong with an image, the store or a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ref that is not a valid image reference.
    #[error("`{0}`: not a valid image reference: {1}")]
    BadRef(String, String),
    /// A file of the store (or a credentials file) could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A store file that is not what the layout says it is.
    #[error("{}: {msg}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The ref is not in the local store.
    #[error("{0}: not in the local store (`bee pull {0}` fetches it, `bee list` shows what is there)")]
    NotFound(String),
    /// An image whose manifest, config or layers are not a probe image.
    #[error("{reference}: {msg}")]
    Format {
        /// The image.
        reference: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A blob whose bytes do not match its digest or declared size.
    #[error("{reference}: blob {digest}: {msg}")]
    Blob {
        /// The image.
        reference: String,
        /// The blob's digest.
        digest: String,
        /// What is wrong with it.
        msg: String,
    },
    /// The image has no manifest for this machine's platform.
    #[error("{reference}: no image for {want} (it has {have}); build one with `bee build --arch {arch} …`")]
    Platform {
        /// The image.
        reference: String,
        /// The platform wanted, `linux/arm64`.
        want: String,
        /// The platforms it has.
        have: String,
        /// The `--arch` name of the wanted platform.
        arch: String,
    },
    /// A multi-arch image of the store whose manifest for the wanted
    /// platform was not pulled (`bee pull --arch` fetched another).
    #[error(
        "{reference}: no image for {want} in the local store (it holds only {have}); \
         `bee pull --arch {arch} {reference}` fetches it"
    )]
    NotPulled {
        /// The image.
        reference: String,
        /// The platform wanted, `linux/amd64`.
        want: String,
        /// The platforms the store holds.
        have: String,
        /// The `--arch` name of the wanted platform.
        arch: String,
    },
    /// A registry refused, failed or could not be reached.
    #[error("{reference}: {msg}")]
    Registry {
        /// The image (or registry, for login).
        reference: String,
        /// What happened.
        msg: String,
        /// The registry could not be reached at all (connection refused,
        /// DNS, timeout): a daemon falls back to its cache on this.
        unreachable: bool,
    },
    /// Credentials that cannot be read or used.
    #[error("credentials: {0}")]
    Auth(String),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An image-format error about `reference`.
    pub(crate) fn format(reference: &str, msg: impl Into<String>) -> Self {
        Error::Format { reference: reference.to_string(), msg: msg.into() }
    }

    /// Whether a registry could not be reached (as opposed to refusing).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Registry { unreachable: true, .. })
    }
}
