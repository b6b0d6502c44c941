//! Object normalization on arbitrary bytes: errors are fine, panics are not,
//! and whatever it produces must itself parse as ELF with valid BTF.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bee_object::inspect(data, "fuzz.o");
    if let Ok(std::borrow::Cow::Owned(out)) = bee_object::normalize::normalize(data, "fuzz.o") {
        let elf = bee_object::elf::Elf::parse(&out, "normalized");
        assert!(elf.is_ok(), "normalized object must parse: {:?}", elf.err());
        let Ok(elf) = elf else { return };
        let btf = elf.section_data(".BTF");
        assert!(btf.is_some(), "normalized object keeps .BTF");
        let Some(btf) = btf else { return };
        let parsed = bee_object::btf::Btf::parse(btf, "normalized");
        assert!(parsed.is_ok(), "normalized BTF must parse: {:?}", parsed.err());
        let _ = bee_object::inspect(&out, "normalized");
    }
});
