//! Tables generated into source by `gen/tables.sh` (never read from headers
//! at run time).

pub mod errnos {
    include!("tables/errnos.rs");
}
pub mod syscalls_x86_64 {
    include!("tables/syscalls_x86_64.rs");
}
pub mod syscalls_aarch64 {
    include!("tables/syscalls_aarch64.rs");
}

/// The name of `n` in a table sorted by number.
pub fn lookup(table: &'static [(u32, &'static str)], n: u64) -> Option<&'static str> {
    let n = u32::try_from(n).ok()?;
    table.binary_search_by_key(&n, |&(k, _)| k).ok().map(|i| table[i].1)
}
