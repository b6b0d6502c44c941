//! `ksym`: a kernel address to the name of the function it falls in, from
//! `/proc/kallsyms` (text symbols only). The table is read when the first
//! address is looked up, kept sorted (bounded by [`MAX_SYMBOLS`]), and read
//! again when an address falls outside every known function and the loaded
//! modules changed (`/proc/modules`), at most once per [`RECHECK`].
//! Addresses that stay unknown render as hex. `/proc/kallsyms` shows
//! addresses only to CAP_SYSLOG (`kernel.kptr_restrict`), and systemd's
//! `ProtectKernelTunables=yes` hides it: without it every address stays
//! hex, and that is logged once.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bee_object::decode::{Render, Value};

use crate::value::int_of;

/// Bound on symbols kept (a kernel with every module has ~300k text symbols).
pub const MAX_SYMBOLS: usize = 2_000_000;
/// Bound on the bytes of /proc/kallsyms read.
const MAX_BYTES: u64 = 256 << 20;
/// How often a miss may re-check the module list.
pub const RECHECK: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Table {
    /// (address, start and length of its name in `names`), sorted by address.
    syms: Vec<(u64, u32, u32)>,
    names: String,
    /// /proc/modules when the table was read.
    modules: Vec<u8>,
    loaded: bool,
    checked: Option<Instant>,
    warned: bool,
}

/// The kernel symbol table, shared by every `ksym` field.
pub struct Ksyms {
    kallsyms: PathBuf,
    modules: PathBuf,
    recheck: Duration,
    table: Mutex<Table>,
}

impl std::fmt::Debug for Ksyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ksyms").field("kallsyms", &self.kallsyms).finish()
    }
}

impl Ksyms {
    /// `/proc/kallsyms` and `/proc/modules`.
    pub fn system() -> Self {
        Ksyms::at("/proc/kallsyms".into(), "/proc/modules".into(), RECHECK)
    }

    /// Reads the symbols at `kallsyms` and watches `modules` for changes.
    pub fn at(kallsyms: PathBuf, modules: PathBuf, recheck: Duration) -> Self {
        Ksyms { kallsyms, modules, recheck, table: Mutex::new(Table::default()) }
    }

    fn read_modules(&self) -> Vec<u8> {
        read_bounded(&self.modules, 1 << 20).unwrap_or_default()
    }

    fn load(&self, t: &mut Table) {
        use std::io::BufRead as _;
        t.modules = self.read_modules();
        t.loaded = true;
        t.syms.clear();
        t.names.clear();
        let Ok(f) = std::fs::File::open(&self.kallsyms) else {
            self.warn_once(t, "cannot be read");
            return;
        };
        let mut r = std::io::BufReader::new(std::io::Read::take(f, MAX_BYTES));
        let mut line = String::new();
        let mut zero = false;
        while t.syms.len() < MAX_SYMBOLS {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let mut it = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else { continue };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            if addr == 0 {
                zero = true;
                continue;
            }
            let (Ok(start), Ok(len)) = (u32::try_from(t.names.len()), u32::try_from(name.len())) else { break };
            t.names.push_str(name);
            t.syms.push((addr, start, len));
        }
        if t.syms.is_empty() {
            self.warn_once(t, if zero { "shows no addresses (kernel.kptr_restrict)" } else { "lists no functions" });
        }
        t.syms.sort_unstable_by_key(|s| s.0);
    }

    /// Says once why no address can be named, and what gives beed the table.
    fn warn_once(&self, t: &mut Table, why: &str) {
        if !t.warned {
            t.warned = true;
            tracing::warn!(
                "ksym: {} {why}: kernel addresses stay numbers; beed needs CAP_SYSLOG and, under systemd, \
                 ProtectKernelTunables=no (it hides /proc/kallsyms) and ProtectKernelLogs=no (see beed(8))",
                self.kallsyms.display()
            );
        }
    }

    fn find(t: &Table, addr: u64) -> Option<&str> {
        let i = t.syms.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        // past the last symbol: not known to be inside a function
        if i + 1 == t.syms.len() && addr != t.syms[i].0 {
            return None;
        }
        let (_, start, len) = t.syms[i];
        t.names.get(start as usize..start as usize + len as usize)
    }

    /// Appends the name of the function `addr` is in; false when unknown.
    pub fn write(&self, addr: u64, out: &mut String) -> bool {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if !t.loaded {
            self.load(&mut t);
        }
        if let Some(name) = Self::find(&t, addr) {
            out.push_str(name);
            return true;
        }
        let now = Instant::now();
        if t.checked.is_some_and(|c| now.duration_since(c) < self.recheck) {
            return false;
        }
        t.checked = Some(now);
        if self.read_modules() != t.modules {
            self.load(&mut t);
            if let Some(name) = Self::find(&t, addr) {
                out.push_str(name);
                return true;
            }
        }
        false
    }
}

fn read_bounded(path: &std::path::Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    std::fs::File::open(path).ok()?.take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The `ksym` decoder.
#[derive(Debug)]
pub struct Ksym(pub std::sync::Arc<Ksyms>);

impl Render for Ksym {
    fn text(&self, v: Value<'_>, out: &mut String) {
        use std::fmt::Write as _;
        match int_of(&v).and_then(|n| u64::try_from(n).ok().or(Some(n as u64))) {
            Some(addr) => {
                if !self.0.write(addr, out) {
                    let _ = write!(out, "{addr:#x}");
                }
            }
            None => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const KALLSYMS: &str = "\
ffffffff81000000 T _stext
ffffffff81000000 T startup_64
ffffffff81001000 t do_one_initcall
ffffffff81002000 D some_data
ffffffff81003000 T vfs_read
ffffffff81004000 W weak_fn
";

    fn text(k: &Arc<Ksyms>, v: Value<'_>) -> String {
        let mut s = String::new();
        Ksym(k.clone()).text(v, &mut s);
        s
    }

    #[test]
    fn addresses_to_functions() -> TestResult {
        let dir = tempfile::tempdir()?;
        let (ks, mods) = (dir.path().join("kallsyms"), dir.path().join("modules"));
        std::fs::write(&ks, KALLSYMS)?;
        std::fs::write(&mods, "")?;
        let k = Arc::new(Ksyms::at(ks.clone(), mods.clone(), Duration::ZERO));
        for (addr, want) in [
            (0xffffffff81001000u64, "do_one_initcall"),
            (0xffffffff81001234, "do_one_initcall"),
            (0xffffffff81002010, "do_one_initcall"), // data symbols are skipped
            (0xffffffff81003000, "vfs_read"),
            (0xffffffff81004000, "weak_fn"),
            (0xffffffff81004001, "0xffffffff81004001"), // past the last function
            (0x1000, "0x1000"),
        ] {
            assert_eq!(text(&k, Value::U(addr)), want, "{addr:#x}");
        }
        let first = text(&k, Value::Ptr(0xffffffff81000010));
        assert!(first == "_stext" || first == "startup_64", "{first}");
        // a module is loaded: the miss reads the table again
        std::fs::write(
            &ks,
            format!("{KALLSYMS}ffffffffc0000000 t mod_fn\t[mymod]\nffffffffc0001000 t mod_end\t[mymod]\n"),
        )?;
        assert_eq!(text(&k, Value::U(0xffffffffc0000010)), "0xffffffffc0000010", "modules unchanged: not re-read");
        std::fs::write(&mods, "mymod 16384 0 - Live 0x0\n")?;
        assert_eq!(text(&k, Value::U(0xffffffffc0000010)), "mod_fn");
        Ok(())
    }

    #[test]
    fn hidden_addresses_stay_numbers() -> TestResult {
        let dir = tempfile::tempdir()?;
        let ks = dir.path().join("kallsyms");
        std::fs::write(&ks, "0000000000000000 T _stext\n0000000000000000 T vfs_read\n")?;
        let k = Arc::new(Ksyms::at(ks, dir.path().join("none"), Duration::ZERO));
        assert_eq!(text(&k, Value::U(0xffffffff81003000)), "0xffffffff81003000");
        let missing = Arc::new(Ksyms::at(dir.path().join("nope"), dir.path().join("none"), Duration::ZERO));
        assert_eq!(text(&missing, Value::U(16)), "0x10");
        Ok(())
    }
}
