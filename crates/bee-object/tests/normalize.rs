//! Normalization of the section-suffix spelling, on objects clang compiles
//! from tests/fixtures/matrix.bpf.c: with `-DLEGACY` every watched map sits
//! in a `.maps.<keyword>` section, which the rewrite merges into one `.maps`
//! section and one `.maps` DATASEC; without it the object is already what
//! libbpf reads and comes back untouched. No root.

use std::borrow::Cow;

use bee_object::btf::{Btf, Kind};
use bee_object::elf::Elf;
use bee_object::normalize::normalize;
use bee_object::schema::map_defs;
use bee_testutil::{compile_to, fixture, legacy_object};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// (map name, the section it is declared in)
type Maps = Vec<(String, String)>;

/// The object's BTF and its map names, sorted, with the section each is in.
fn maps_of(obj: &[u8]) -> Result<(Btf, Maps), Box<dyn std::error::Error>> {
    let elf = Elf::parse(obj, "obj")?;
    let btf = Btf::parse(elf.section_data(".BTF").ok_or("no .BTF")?, "obj")?;
    let mut maps: Maps = map_defs(&btf)?.into_iter().map(|d| (d.name, d.section)).collect();
    maps.sort();
    Ok((btf, maps))
}

#[test]
fn suffix_sections_merge_into_one_maps_section() -> TestResult {
    let dir = tempfile::tempdir()?;
    let obj = legacy_object(dir.path())?;
    let (_, before) = maps_of(&obj)?;
    assert!(before.iter().any(|(n, s)| n == "events" && s == ".maps.print"), "{before:?}");
    assert!(before.iter().any(|(n, s)| n == "ring_count" && s == ".maps.counter"), "{before:?}");

    let Cow::Owned(out) = normalize(&obj, "legacy.o")? else {
        return Err("a suffix object came back unchanged".into());
    };
    let elf = Elf::parse(&out, "normalized")?;
    let names: Vec<&str> = elf.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == ".maps").count(), 1, "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with(".maps.")), "{names:?}");

    // one `.maps` DATASEC holds every map; the map names are those of the original
    let (btf, after) = maps_of(&out)?;
    let secs: Vec<&str> = btf.map_sections().map(|(n, _)| n).collect();
    assert_eq!(secs, vec![".maps"]);
    let names_before: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    let names_after: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names_after, names_before);
    assert!(after.iter().all(|(_, s)| s == ".maps"), "{after:?}");
    // no type id moved: the emptied DATASECs are `const void` placeholders
    let (orig, _) = maps_of(&obj)?;
    assert_eq!(btf.types.len(), orig.types.len());
    let const_void = |b: &Btf| b.types.iter().filter(|t| matches!(t.kind, Kind::Const(0))).count();
    assert_eq!(const_void(&btf) - const_void(&orig), orig.map_sections().count() - 1);
    // the rewrite passes the object layer's own checks (ELF, BTF, map and
    // program types); which maps are watched is read from the original,
    // whose section names carry the keywords the rewrite drops
    bee_object::parse_object(&out, "normalized")?;
    assert_eq!(bee_object::inspect(&obj, "legacy.o")?.len(), before.len(), "every map of the fixture is watched");
    Ok(())
}

#[test]
fn objects_without_suffix_sections_are_borrowed_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("matrix.o");
    compile_to(&fixture("matrix.bpf.c"), &path, &[])?;
    let obj = std::fs::read(&path)?;
    let out = normalize(&obj, "matrix.o")?;
    let Cow::Borrowed(same) = out else { return Err("a plain .maps object was copied".into()) };
    assert!(std::ptr::eq(same, obj.as_slice()));
    Ok(())
}
