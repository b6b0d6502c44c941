//! Architectures: `bee build --arch` names (the kernel's, `uname -m`) and
//! OCI platform names (Go's).

/// The OCI architecture of this machine (`amd64`, `arm64`, …).
pub fn host() -> &'static str {
    oci_arch(std::env::consts::ARCH).unwrap_or(std::env::consts::ARCH)
}

/// `x86_64` → `amd64`, `aarch64` → `arm64`; an OCI name maps to itself.
pub fn oci_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" | "amd64" => Some("amd64"),
        "aarch64" | "arm64" => Some("arm64"),
        _ => None,
    }
}

/// `amd64` → `x86_64`, `arm64` → `aarch64` (what `--arch` takes); other
/// names are returned as they are.
pub fn bee_arch(oci: &str) -> &str {
    match oci {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_round_trip() {
        for (bee, oci) in [("x86_64", "amd64"), ("aarch64", "arm64")] {
            assert_eq!(super::oci_arch(bee), Some(oci));
            assert_eq!(super::oci_arch(oci), Some(oci));
            assert_eq!(super::bee_arch(oci), bee);
        }
        assert_eq!(super::oci_arch("mips"), None);
    }
}
