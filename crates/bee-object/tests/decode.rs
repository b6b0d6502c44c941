//! Decoder tests without root: C fixtures compiled by clang, plans read from
//! their BTF by beed, records built by hand at the C layout's offsets.

use bee_object::decode;
use bee_object::schema::{FieldKind, Plan};
use bee_object::{inspect, MapSpec};
use bee_testutil::{compile, fixture};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn specs(name: &str) -> Result<Vec<MapSpec>, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture(name), dir.path())?;
    let bytes = std::fs::read(&obj)?;
    Ok(inspect(&bytes, &obj.display().to_string())?)
}

fn value_plan<'a>(specs: &'a [MapSpec], map: &str) -> Result<&'a Plan, String> {
    let spec = specs.iter().find(|s| s.name == map);
    spec.and_then(|s| s.value.as_ref()).ok_or_else(|| format!("map {map} has no value plan in {specs:?}"))
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

fn json(plan: &Plan, rec: &[u8]) -> String {
    let mut s = String::new();
    assert!(decode::write_json_object(plan, rec, &mut s));
    s
}

#[test]
fn watched_maps_are_found_by_prefix() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let mut names: Vec<_> = s.iter().map(|m| (m.name.as_str(), m.output.keyword())).collect();
    names.sort();
    assert_eq!(
        names,
        [("counter_conns", "counter"), ("print_all", "print"), ("print_packed", "print"), ("print_v6", "print")]
    );
    Ok(())
}

#[test]
fn unpacked_struct_offsets_follow_btf() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let p = value_plan(&s, "print_all")?;
    assert_eq!(p.size, 104);
    let layout: Vec<(&str, usize)> = p.fields.iter().map(|f| (f.name.as_str(), f.offset)).collect();
    assert_eq!(
        layout,
        [
            ("u8v", 0),
            ("s8v", 1),
            ("u16v", 2),
            ("s16v", 4),
            ("u32v", 8),
            ("s32v", 12),
            ("u64v", 16),
            ("s64v", 24),
            ("flag", 32),
            ("name", 33),
            ("color", 40),
            ("v4", 44),
            ("v6", 48),
            ("took", 64),
            ("in_a", 72),
            ("in_b", 76),
            ("arr", 80),
            ("f", 92),
            ("d", 96),
        ]
    );
    assert_eq!(p.field("v4").map(|f| &f.kind), Some(&FieldKind::Ipv4));
    assert_eq!(p.field("v6").map(|f| &f.kind), Some(&FieldKind::Ipv6));
    assert_eq!(p.field("took").map(|f| &f.kind), Some(&FieldKind::Duration));
    assert_eq!(p.field("name").map(|f| &f.kind), Some(&FieldKind::Str(4)));
    Ok(())
}

#[test]
fn every_kind_decodes_to_json() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let p = value_plan(&s, "print_all")?;
    // padding bytes are garbage, as in a ring buffer record
    let mut r = vec![0xAAu8; 104];
    put(&mut r, 0, &[250]);
    put(&mut r, 1, &(-5i8).to_le_bytes());
    put(&mut r, 2, &65535u16.to_le_bytes());
    put(&mut r, 4, &(-300i16).to_le_bytes());
    put(&mut r, 8, &4_000_000_000u32.to_le_bytes());
    put(&mut r, 12, &(-70_000i32).to_le_bytes());
    put(&mut r, 16, &u64::MAX.to_le_bytes());
    put(&mut r, 24, &i64::MIN.to_le_bytes());
    put(&mut r, 32, &[1]);
    put(&mut r, 33, b"abcd"); // char[4] without a NUL
    put(&mut r, 40, &7u32.to_le_bytes());
    put(&mut r, 44, &[10, 1, 2, 3]);
    let mut v6 = [0u8; 16];
    v6[0] = 0xfe;
    v6[1] = 0x80;
    v6[15] = 1;
    put(&mut r, 48, &v6);
    put(&mut r, 64, &1_500_000u64.to_le_bytes());
    put(&mut r, 72, &9u16.to_le_bytes());
    put(&mut r, 76, &10u32.to_le_bytes());
    put(&mut r, 80, &1u32.to_le_bytes());
    put(&mut r, 84, &2u32.to_le_bytes());
    put(&mut r, 88, &3u32.to_le_bytes());
    put(&mut r, 92, &1.5f32.to_le_bytes());
    put(&mut r, 96, &(-0.25f64).to_le_bytes());
    assert_eq!(
        json(p, &r),
        concat!(
            r#"{"u8v":250,"s8v":-5,"u16v":65535,"s16v":-300,"u32v":4000000000,"s32v":-70000,"#,
            r#""u64v":18446744073709551615,"s64v":-9223372036854775808,"flag":true,"name":"abcd","#,
            r#""color":"BLUE","v4":"10.1.2.3","v6":"fe80::1","took":"1.5ms","in_a":9,"in_b":10,"#,
            r#""arr":[1,2,3],"f":1.5,"d":-0.25}"#
        )
    );
    // an enum value without a name stays a number; a short string stops at NUL
    put(&mut r, 40, &5u32.to_le_bytes());
    put(&mut r, 33, b"ab\0d");
    let out = json(p, &r);
    assert!(out.contains(r#""name":"ab","color":5,"#), "{out}");
    Ok(())
}

#[test]
fn packed_struct() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let p = value_plan(&s, "print_packed")?;
    assert_eq!(p.size, 11);
    let mut r = vec![0u8; 11];
    put(&mut r, 0, &[7]);
    put(&mut r, 1, &0x0102_0304_0506_0708u64.to_le_bytes());
    put(&mut r, 9, &(-2i16).to_le_bytes());
    assert_eq!(json(p, &r), r#"{"a":7,"b":72623859790382856,"c":-2}"#);
    Ok(())
}

#[test]
fn short_records_are_refused() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let p = value_plan(&s, "print_packed")?;
    let mut out = String::new();
    assert!(!decode::write_json_object(p, &[1, 2, 3], &mut out));
    assert!(out.is_empty());
    Ok(())
}

#[test]
fn hash_key_plan_and_labels() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let spec = s.iter().find(|m| m.name == "counter_conns").ok_or("no counter_conns")?;
    let key = spec.key.as_ref().ok_or("no key plan")?;
    let value = spec.value.as_ref().ok_or("no value plan")?;
    assert_eq!(key.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["saddr", "dport"]);
    assert_eq!(value.fields.len(), 1);
    assert_eq!(value.fields[0].kind, FieldKind::Unsigned(8));
    let mut k = vec![0u8; key.size];
    put(&mut k, 0, &[127, 0, 0, 1]);
    put(&mut k, 4, &8080u16.to_le_bytes());
    let text: Vec<String> = key
        .fields
        .iter()
        .map(|f| {
            let mut s = String::new();
            if let Some(v) = decode::read(f, &k) {
                v.write_text(&mut s);
            }
            s
        })
        .collect();
    assert_eq!(text, ["127.0.0.1", "8080"]);
    Ok(())
}

#[test]
fn union_field_is_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("bad_union.bpf.c"), dir.path())?;
    let bytes = std::fs::read(&obj)?;
    let err = match inspect(&bytes, "bad_union.bpf.o") {
        Ok(s) => return Err(format!("accepted: {s:?}").into()),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("map print_ev") && err.contains("`payload`") && err.contains("union"), "{err}");
    Ok(())
}

#[test]
fn non_bpf_and_truncated_objects_are_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("decode_types.bpf.c"), dir.path())?;
    let bytes = std::fs::read(&obj)?;
    let e = inspect(b"hello", "x.o").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("x.o") && e.contains("ELF"), "{e}");
    for cut in [16, 64, bytes.len() / 2, bytes.len() - 1] {
        let e = inspect(&bytes[..cut], "cut.o").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("cut.o"), "cut at {cut}: {e}");
    }
    let mut wrong_machine = bytes.clone();
    wrong_machine[18] = 62; // x86-64
    let e = inspect(&wrong_machine, "m.o").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("not BPF"), "{e}");
    Ok(())
}

#[test]
fn in6_addr_and_bitfields() -> TestResult {
    let s = specs("decode_types.bpf.c")?;
    let p = value_plan(&s, "print_v6")?;
    assert_eq!(p.field("addr").map(|f| &f.kind), Some(&FieldKind::Ipv6));
    let mut r = vec![0u8; p.size];
    r[0] = 0x20;
    r[1] = 0x01;
    r[2] = 0x0d;
    r[3] = 0xb8;
    r[15] = 0x42;
    // flags:3 = 5, level:5 = 17, delta:8 = -3, packed little-endian from bit 0 of byte 16
    let bits: u32 = 5 | (17 << 3) | (((-3i32) as u32 & 0xff) << 8);
    put(&mut r, 16, &bits.to_le_bytes());
    assert_eq!(json(p, &r), r#"{"addr":"2001:db8::42","flags":5,"level":17,"delta":-3}"#);
    Ok(())
}
