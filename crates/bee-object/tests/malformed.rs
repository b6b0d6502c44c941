//! Broken and hostile objects: every corruption is a clear error naming the
//! object, never a panic. No root: the object layer only (through beed, the
//! broken probe is reported down while the others run: tests/kernel/malformed.rs).

use bee_object::inspect;
use bee_object::normalize::normalize;
use bee_testutil::legacy_object;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn section(obj: &[u8], name: &str) -> Option<(usize, usize)> {
    let elf = bee_object::elf::Elf::parse(obj, "x").ok()?;
    let s = elf.sections.iter().find(|s| s.name == name)?;
    Some((s.offset, s.size))
}

fn variants(obj: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for cut in [0, 4, 20, 63, 64, 200, obj.len() / 3, obj.len() / 2, obj.len() - 1] {
        v.push((format!("truncated at {cut}"), obj[..cut].to_vec()));
    }
    let mut o = obj.to_vec();
    o[40..48].copy_from_slice(&(obj.len() as u64 * 4).to_le_bytes());
    v.push(("section table offset past the end".into(), o));
    let mut o = obj.to_vec();
    o[60..62].copy_from_slice(&0xffffu16.to_le_bytes());
    v.push(("section count 65535".into(), o));
    let mut o = obj.to_vec();
    o[62..64].copy_from_slice(&0x7fffu16.to_le_bytes());
    v.push(("section name table index out of range".into(), o));
    let mut o = obj.to_vec();
    o[18] = 62;
    v.push(("machine type x86-64".into(), o));
    let mut o = obj.to_vec();
    o[4] = 1;
    v.push(("32-bit class".into(), o));
    if let Some((off, size)) = section(obj, ".BTF") {
        let mut o = obj.to_vec();
        o[off] ^= 0xff;
        v.push(("BTF magic".into(), o));
        let mut o = obj.to_vec();
        o[off + 12..off + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        v.push(("BTF type_len huge".into(), o));
        let mut o = obj.to_vec();
        o[off + 16..off + 20].copy_from_slice(&(size as u32).to_le_bytes());
        v.push(("BTF str_off past the end".into(), o));
        let mut o = obj.to_vec();
        // the first type's info word: an unknown kind
        o[off + 24 + 7] = 0x1f;
        v.push(("BTF unknown kind".into(), o));
        let mut o = obj.to_vec();
        for b in &mut o[off + 24..off + size.min(400)] {
            *b = b.wrapping_mul(31).wrapping_add(7);
        }
        v.push(("BTF types scrambled".into(), o));
    }
    v
}

#[test]
fn malformed_objects_are_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let obj = legacy_object(dir.path())?;
    // the pristine object works, both steps
    inspect(&obj, "ok.o")?;
    assert!(matches!(normalize(&obj, "ok.o")?, std::borrow::Cow::Owned(_)));
    for (what, bytes) in variants(&obj) {
        let name = format!("bad.o ({what})");
        let r = std::panic::catch_unwind(|| (inspect(&bytes, &name).map(|_| ()), normalize(&bytes, &name).map(|_| ())));
        let (a, b) = r.map_err(|_| format!("{what}: panicked"))?;
        // every corruption is caught by at least the reader of the part it broke,
        // and every error names the object
        assert!(a.is_err() || b.is_err(), "{what}: accepted");
        for e in [a.err(), b.err()].into_iter().flatten() {
            let e = e.to_string();
            assert!(e.starts_with(&name), "{what}: error does not name the object: {e}");
        }
    }
    Ok(())
}

/// Inputs the fuzzers once crashed beed with, kept as regressions.
#[test]
fn fuzz_regressions_do_not_panic() -> TestResult {
    let dir = bee_testutil::repo().join("tests/fixtures/fuzz-regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let data = std::fs::read(&path)?;
        let name = path.display().to_string();
        std::panic::catch_unwind(|| {
            let _ = inspect(&data, &name);
            let _ = normalize(&data, &name);
            if let Ok(btf) = bee_object::btf::Btf::parse(&data, &name) {
                let _ = bee_object::schema::map_defs(&btf);
                for id in 0..btf.types.len().min(256) as u32 {
                    let _ = bee_object::schema::plan(&btf, id, "m", "value");
                }
            }
        })
        .map_err(|_| format!("{name}: panicked"))?;
        n += 1;
    }
    assert!(n >= 2, "regression inputs missing from {}", dir.display());
    Ok(())
}
