//! Object normalization on arbitrary bytes: errors are fine, panics are not,
//! and whatever it produces must itself parse as ELF with valid BTF.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = beed::probe::inspect(data, "fuzz.o");
    if let Ok(std::borrow::Cow::Owned(out)) = beed::normalize::normalize(data, "fuzz.o") {
        let elf = beed::elf::Elf::parse(&out, "normalized").expect("normalized object must parse");
        let btf = elf.section_data(".BTF").expect("normalized object keeps .BTF");
        beed::btf::Btf::parse(btf, "normalized").expect("normalized BTF must parse");
        let _ = beed::probe::inspect(&out, "normalized");
    }
});
