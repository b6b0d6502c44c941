//! The object layer of beed: everything that can be known of a probe from
//! its bytes alone. ELF sections and symbols, BTF, the section-suffix
//! spelling normalized for libbpf, the bee convention (which maps are
//! watched and how), decode plans, `const volatile` variables and decoding
//! of records. Pure: no libbpf, no syscalls, no configuration-file types,
//! so every parser here can be fuzzed and tested without root.

pub mod btf;
pub mod convention;
pub mod decode;
pub mod elf;
pub mod error;
pub mod json_plan;
pub mod normalize;
pub mod object;
pub mod percpu;
pub mod schema;
#[cfg(test)]
mod testbtf;
pub mod validate;
pub mod vars;

pub use error::{Error, Result};
pub use object::{inspect, parse_object, MapSpec, LOST_MAP};
