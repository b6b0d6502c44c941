//! `syscall`: a syscall number to its name, for the architecture beed was
//! built for (x86_64 or aarch64; tables generated into source by
//! `gen/tables.sh`). Unknown numbers (and -1, "no syscall") stay numbers.

use bee_object::decode::{Render, Value};

use crate::tables::{lookup, syscalls_aarch64, syscalls_x86_64};
use crate::value::{int_of, push_int};

/// The syscall table of an architecture (`std::env::consts::ARCH` names).
pub fn table(arch: &str) -> Option<&'static [(u32, &'static str)]> {
    match arch {
        "x86_64" => Some(syscalls_x86_64::SYSCALLS),
        "aarch64" => Some(syscalls_aarch64::SYSCALLS),
        _ => None,
    }
}

/// The `syscall` decoder of one architecture.
#[derive(Debug)]
pub struct Syscall {
    table: &'static [(u32, &'static str)],
}

impl Syscall {
    /// The decoder of `arch`; an architecture without a table keeps numbers.
    pub fn new(arch: &str) -> Self {
        Syscall { table: table(arch).unwrap_or(&[]) }
    }

    /// The decoder of the architecture beed runs on.
    pub fn host() -> Self {
        Syscall::new(std::env::consts::ARCH)
    }
}

impl Render for Syscall {
    fn json(&self, v: Value<'_>, out: &mut String) {
        crate::value::json_named(self, v, out);
    }

    fn text(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(n) => match u64::try_from(n).ok().and_then(|n| lookup(self.table, n)) {
                Some(name) => out.push_str(name),
                None => push_int(out, n),
            },
            None => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_names_per_architecture() {
        for (arch, n, want) in [
            ("x86_64", 0, "read"),
            ("x86_64", 1, "write"),
            ("x86_64", 59, "execve"),
            ("x86_64", 257, "openat"),
            ("x86_64", 435, "clone3"),
            ("aarch64", 56, "openat"),
            ("aarch64", 63, "read"),
            ("aarch64", 64, "write"),
            ("aarch64", 221, "execve"),
            ("aarch64", 79, "newfstatat"),
            ("aarch64", 435, "clone3"),
            ("x86_64", -1, "-1"),
            ("x86_64", 100_000, "100000"),
            ("riscv64", 63, "63"),
        ] {
            let mut s = String::new();
            Syscall::new(arch).text(Value::I(n), &mut s);
            assert_eq!(s, want, "{arch} {n}");
        }
        for arch in ["x86_64", "aarch64"] {
            let t = table(arch).unwrap_or(&[]);
            assert!(t.len() > 250, "{arch}: {} syscalls", t.len());
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "{arch}: sorted, unique");
        }
    }
}
