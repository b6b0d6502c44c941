//! Image references (`registry/repository:tag` or `@sha256:…`), parsed
//! with oci-client's (distribution's) grammar and normalized as docker does
//! (`probe` is `docker.io/library/probe:latest`).

use crate::{Error, Result};
use oci_client::Reference;
use std::fmt;
use std::str::FromStr;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref(Reference);

impl Ref {
    /// Parses `s`; an invalid one is an error naming it and the rule it
    /// breaks.
    pub fn parse(s: &str) -> Result<Ref> {
        if s.is_empty() {
            return Err(Error::BadRef(s.into(), "empty".into()));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::BadRef(s.into(), "contains whitespace or control characters".into()));
        }
        Reference::from_str(s).map(Ref).map_err(|e| Error::BadRef(s.into(), e.to_string()))
    }

    /// The normalized whole name, the key of the local store:
    /// `registry/repository:tag` (and `@digest` when pinned).
    pub fn name(&self) -> String {
        self.0.whole()
    }

    /// The registry host (and port) to talk to.
    pub fn registry(&self) -> &str {
        self.0.resolve_registry()
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        self.0.repository()
    }

    /// The pinned digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.0.digest()
    }

    /// The same repository at `digest` (to fetch one manifest of an index).
    pub fn at_digest(&self, digest: &str) -> Ref {
        Ref(Reference::with_digest(self.0.registry().into(), self.0.repository().into(), digest.into()))
    }

    /// Whether the registry is on this machine (`127.0.0.1`, `localhost`,
    /// `[::1]`): spoken to over plain HTTP, as docker and podman do.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.registry())
    }

    /// oci-client's reference.
    pub(crate) fn oci(&self) -> &Reference {
        &self.0
    }
}

/// Whether `registry` (`host[:port]`) names this machine.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => registry.split(':').next().unwrap_or(registry),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::{is_loopback_host, Ref};

    #[test]
    fn normalizes_and_refuses() -> crate::Result<()> {
        assert_eq!(Ref::parse("probe")?.name(), "docker.io/library/probe:latest");
        assert_eq!(Ref::parse("127.0.0.1:5000/probe:v1")?.name(), "127.0.0.1:5000/probe:v1");
        assert!(Ref::parse("127.0.0.1:5000/probe:v1")?.is_loopback());
        assert!(!Ref::parse("ttl.sh/probe:1h")?.is_loopback());
        let pinned = format!("127.0.0.1:5000/p@sha256:{}", "a".repeat(64));
        assert_eq!(Ref::parse(&pinned)?.digest(), Some(format!("sha256:{}", "a".repeat(64)).as_str()));
        for bad in ["", "Probe:v1", "probe:v 1", "probe:", "a//b", "probe@sha256:12", "x:\u{7}"] {
            let e = Ref::parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.starts_with(&format!("`{bad}`: not a valid image reference")), "{bad}: {e}");
        }
        Ok(())
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost:5000", "127.0.0.1", "127.0.0.1:5000", "[::1]:5000"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["ttl.sh", "10.0.0.1:5000", "docker.io"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
