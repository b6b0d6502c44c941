//! Errors of the metric families: a setting that does not fit the map, a
//! metric that cannot be registered.

/// Result alias for the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A map's settings do not fit it (labels, value, slot fields): the
    /// object layer's `Map` error.
    #[error(transparent)]
    Object(#[from] bee_object::Error),

    /// A metric could not be registered (name clash, invalid label name).
    #[error("metric {name}: {reason}")]
    Metric { name: String, reason: String },
}

impl Error {
    /// A map's settings do not fit it.
    pub fn map(map: &str, reason: String) -> Self {
        Error::Object(bee_object::Error::Map { map: map.to_string(), reason })
    }
}

impl From<Error> for bee_runtime::Error {
    /// A family that cannot be built fails its probe.
    fn from(e: Error) -> Self {
        bee_runtime::Error::Consumer(Box::new(e))
    }
}
