//! The whole path an object takes before the kernel, on arbitrary bytes:
//! ELF and BTF parsing, validation of map and program types, watched maps and
//! their decode plans, program listing, `const volatile` variables,
//! normalization of the section-suffix spelling, then libbpf opening the
//! result from memory (its own ELF, BTF and relocation parsing, in C).
//! Errors are fine; a panic or a crash is a finding.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;

static QUIET: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // libbpf's warnings about broken objects are expected by the thousand
    QUIET.call_once(|| {
        libbpf_rs::set_print(None);
    });
    let Ok((elf, btf)) = bee_object::parse_object(data, "fuzz.o") else { return };
    let _ = bee_object::inspect(data, "fuzz.o");
    let _ = elf.programs();
    let mut vars = BTreeMap::new();
    for v in bee_object::vars::rodata_vars(&elf, &btf).into_iter().take(4) {
        vars.insert(v.name.clone(), bee_object::vars::Value::Int(1));
    }
    let _ = bee_object::vars::plan(&elf, &btf, "fuzz", &vars);
    let Ok(normalized) = bee_object::normalize::normalize(data, "fuzz.o") else { return };
    let mut builder = libbpf_rs::ObjectBuilder::default();
    if let Ok(open) = builder.open_memory(&normalized) {
        for m in open.maps() {
            let _ = (m.name(), m.map_type(), m.key_size(), m.value_size(), m.max_entries());
        }
        for p in open.progs() {
            let _ = (p.name(), p.section());
        }
    }
});
