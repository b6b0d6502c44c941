//! bpfman's bytecode images (`docs/developer-guide/shipping-bytecode.md`):
//! an ordinary container image whose layer is a (gzipped) tar holding the
//! object, with `io.ebpf.programs` / `io.ebpf.maps` labels in the image
//! config. Read only.

use std::collections::BTreeMap;
use std::io::Read;

/// The `io.ebpf.*` labels of an image config (`config.Labels`).
pub(crate) fn labels(config: &serde_json::Value) -> BTreeMap<String, String> {
    let labels = config.pointer("/config/Labels").and_then(|l| l.as_object());
    labels
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("io.ebpf."))
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

/// The one `.o` file of a layer (a tar, gzipped when `gzip`), read up to
/// `max` bytes of tar stream: a layer that decompresses beyond that is
/// refused, as is one with no object or several.
pub(crate) fn object(layer: &[u8], gzip: bool, max: u64) -> Result<Vec<u8>, String> {
    let input: Box<dyn Read + '_> = if gzip { Box::new(flate2::read::GzDecoder::new(layer)) } else { Box::new(layer) };
    let mut archive = tar::Archive::new(input.take(max));
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    let entries = archive.entries().map_err(|e| format!("layer is not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("layer is not a readable tar archive: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if !path.ends_with(".o") {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| format!("{path} in the layer: {e}"))?;
        found.push((path, bytes));
    }
    match found.len() {
        1 => Ok(found.remove(0).1),
        0 => Err(format!("its layer holds no .o file (read up to {max} bytes)")),
        _ => Err(format!(
            "its layer holds {} .o files ({}); a bytecode image holds one",
            found.len(),
            found.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            let _ = b.append_data(&mut h, name, *data);
        }
        b.into_inner().unwrap_or_default()
    }

    #[test]
    fn finds_the_one_object() {
        let t = tar_of(&[("README", b"x"), ("bpf/probe.o", b"\x7fELF..")]);
        assert_eq!(super::object(&t, false, 1 << 20).as_deref(), Ok(&b"\x7fELF.."[..]));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = gz.write_all(&t);
        let gz = gz.finish().unwrap_or_default();
        assert_eq!(super::object(&gz, true, 1 << 20).as_deref(), Ok(&b"\x7fELF.."[..]));
        let two = tar_of(&[("a.o", b"1"), ("b.o", b"2")]);
        assert!(super::object(&two, false, 1 << 20).is_err_and(|e| e.contains("2 .o files (a.o, b.o)")));
        let none = tar_of(&[("README", b"x")]);
        assert!(super::object(&none, false, 1 << 20).is_err_and(|e| e.contains("no .o file")));
        assert!(super::object(b"garbage", true, 1 << 20).is_err());
        // a bomb: more than `max` once decompressed is cut off, not read whole
        let big = tar_of(&[("big.o", &vec![0u8; 1 << 20])]);
        assert!(super::object(&big, false, 4096).is_err());
    }

    #[test]
    fn labels_are_the_io_ebpf_ones() {
        let c = serde_json::json!({"config": {"Labels": {"io.ebpf.programs": "{\"x\":\"kprobe\"}", "other": "y"}}});
        let l = super::labels(&c);
        assert_eq!(l.len(), 1);
        assert!(l.contains_key("io.ebpf.programs"));
    }
}
