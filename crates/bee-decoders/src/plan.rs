//! A map's field settings resolved, once, into decode plans whose fields
//! carry their decoders; every mistake is an error naming the probe, map
//! and field (`probes.P.maps.M.fields.F: …`).

use std::collections::BTreeMap;
use std::sync::Arc;

use bee_object::decode::{Render, Renderer};
use bee_object::schema::{Field, FieldKind, Plan};
use bee_object::Error;

use crate::cgroup::{Cgroup, Part};
use crate::settings::FieldSettings;
use crate::value::{describe, need_int};
use crate::Context;

/// Every decoder name, for messages.
pub const DECODERS: &[&str] = &[
    "ksym",
    "cgroup",
    "errno",
    "signal",
    "exit_status",
    "syscall",
    "static_map",
    "regexp",
    "hex",
    "uint",
    "int",
    "inet_ip",
    "ktime",
    "ktime_boot",
];

/// Which parameters each decoder takes.
fn takes(decoder: &str) -> &'static [&'static str] {
    match decoder {
        "static_map" => &["table", "default"],
        "regexp" => &["regexp", "overflow"],
        "cgroup" => &["parts"],
        _ => &[],
    }
}

fn renderer(r: impl Render + 'static) -> Option<Renderer> {
    Some(Renderer(Arc::new(r)))
}

fn need_u64(decoder: &str, kind: &FieldKind) -> Result<(), String> {
    match kind {
        FieldKind::Unsigned(8) | FieldKind::Signed(8) | FieldKind::Pointer => Ok(()),
        other => Err(format!("decoder `{decoder}` needs an 8-byte integer or pointer field, not {}", describe(other))),
    }
}

/// The fields that replace `field` under settings `s`: the field with its
/// decoder, and for `cgroup` one more field per further part.
pub fn build(field: &Field, s: &FieldSettings, ctx: &Context) -> Result<Vec<Field>, String> {
    let Some(name) = s.decode.as_deref() else {
        return match s.parameters().first() {
            Some(p) => Err(format!("`{p}` is set but no `decode`")),
            None => Ok(vec![field.clone()]),
        };
    };
    if let Some(p) = s.parameters().into_iter().find(|p| !takes(name).contains(p)) {
        return Err(format!("decoder `{name}` takes no `{p}`"));
    }
    let kind = &field.kind;
    let one = |render: Option<Renderer>| Ok(vec![Field { render, ..field.clone() }]);
    match name {
        "ksym" => {
            need_u64(name, kind)?;
            one(renderer(crate::ksym::Ksym(ctx.ksyms.clone())))
        }
        "cgroup" => {
            need_u64(name, kind)?;
            let parts: Vec<Part> = match &s.parts {
                None => Part::ALL.to_vec(),
                Some(p) if p.is_empty() => return Err("`parts` is empty".into()),
                Some(p) => p
                    .iter()
                    .map(|n| {
                        Part::parse(n).ok_or_else(|| {
                            let all: Vec<&str> = Part::ALL.iter().map(|p| p.name()).collect();
                            format!("unknown cgroup part `{n}` (parts: {})", all.join(", "))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            };
            Ok(parts
                .iter()
                .enumerate()
                .map(|(i, &part)| Field {
                    name: if i == 0 { field.name.clone() } else { format!("{}_{}", field.name, part.name()) },
                    render: renderer(Cgroup { cgroups: ctx.cgroups.clone(), part }),
                    ..field.clone()
                })
                .collect())
        }
        "errno" => {
            let (_, signed) = need_int(name, kind)?;
            one(renderer(crate::errno::Errno { signed }))
        }
        "signal" => need_int(name, kind).and_then(|_| one(renderer(crate::signal::SIGNAL))),
        "exit_status" => need_int(name, kind).and_then(|_| one(renderer(crate::exit_status::EXIT_STATUS))),
        "syscall" => need_int(name, kind).and_then(|_| one(renderer(crate::syscall::Syscall::host()))),
        "hex" => {
            let (bits, _) = need_int(name, kind)?;
            one(renderer(crate::hex::Hex { bits }))
        }
        "uint" | "int" => {
            let (bits, _) = need_int(name, kind)?;
            one(renderer(crate::int::Int { bits, signed: name == "int" }))
        }
        "inet_ip" => {
            crate::inet_ip::InetIp::check(kind)?;
            one(renderer(crate::inet_ip::InetIp))
        }
        "ktime" | "ktime_boot" => {
            need_u64(name, kind)?;
            one(renderer(crate::ktime::Ktime::new(name == "ktime_boot")))
        }
        "static_map" => {
            let table = s.table.as_ref().ok_or("decoder `static_map` needs a `table`")?;
            one(renderer(crate::static_map::StaticMap::new(kind, table, s.default.clone())?))
        }
        "regexp" => {
            if !kind.is_labelable() {
                return Err(format!("decoder `regexp` cannot match {}", describe(kind)));
            }
            let re = s.regexp.as_deref().ok_or("decoder `regexp` needs a `regexp`")?;
            one(renderer(crate::regexp::Regexp::new(re, s.overflow.clone())?))
        }
        other => Err(format!("unknown decoder `{other}` (decoders: {})", DECODERS.join(", "))),
    }
}

/// `plan` with the decoders of `fields` (those it has; see
/// [`decorate_map`] for the check that every one is somewhere), and
/// `ktime`/`ktime_boot` typedef fields converted unless configured
/// otherwise. `what(field)` names a field in errors.
pub fn decorate(
    plan: &Plan,
    fields: &BTreeMap<String, FieldSettings>,
    ctx: &Context,
    what: &dyn Fn(&str) -> String,
) -> Result<Plan, Error> {
    let mut out = Vec::with_capacity(plan.fields.len());
    for f in &plan.fields {
        let built = match (fields.get(&f.name), &f.kind) {
            (Some(s), _) => build(f, s, ctx).map_err(|reason| Error::Setting { what: what(&f.name), reason })?,
            (None, FieldKind::Ktime { boot }) => {
                vec![Field { render: renderer(crate::ktime::Ktime::new(*boot)), ..f.clone() }]
            }
            (None, _) => vec![f.clone()],
        };
        for b in built {
            if b.name != f.name && (plan.field(&b.name).is_some() || out.iter().any(|o: &Field| o.name == b.name)) {
                return Err(Error::Setting {
                    what: what(&f.name),
                    reason: format!("the derived field `{}` has the name of another field", b.name),
                });
            }
            out.push(b);
        }
    }
    Ok(Plan { fields: out, ..plan.clone() })
}

/// The key and value plans of map `map` of probe `probe` with the decoders
/// of `fields`; every configured field must be in one of them.
pub fn decorate_map(
    probe: &str,
    map: &str,
    key: Option<&Plan>,
    value: &Plan,
    fields: &BTreeMap<String, FieldSettings>,
    ctx: &Context,
) -> Result<(Option<Plan>, Plan), Error> {
    let what = |f: &str| format!("probes.{probe}.maps.{map}.fields.{f}");
    for name in fields.keys() {
        if value.field(name).is_none() && key.is_none_or(|k| k.field(name).is_none()) {
            let names: Vec<&str> =
                key.iter().flat_map(|k| k.fields.iter()).chain(value.fields.iter()).map(|f| f.name.as_str()).collect();
            return Err(Error::Setting {
                what: what(name),
                reason: format!("map `{map}` has no field `{name}` (fields: {})", names.join(", ")),
            });
        }
    }
    let key = key.map(|k| decorate(k, fields, ctx, &what)).transpose()?;
    Ok((key, decorate(value, fields, ctx, &what)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bee_object::decode::write_field_text;

    fn plan() -> Plan {
        Plan {
            type_name: "struct ev".into(),
            size: 40,
            fields: vec![
                Field::new("ret", 0, FieldKind::Signed(4)),
                Field::new("flag", 4, FieldKind::Unsigned(1)),
                Field::new("comm", 8, FieldKind::Str(16)),
                Field::new("cg", 24, FieldKind::Unsigned(8)),
                Field::new("ts", 32, FieldKind::Ktime { boot: false }),
            ],
        }
    }

    fn settings(toml_text: &str) -> BTreeMap<String, FieldSettings> {
        toml::from_str(toml_text).unwrap_or_default()
    }

    fn err(toml_text: &str) -> String {
        let f = settings(toml_text);
        assert!(!f.is_empty() || toml_text.is_empty(), "bad test TOML: {toml_text}");
        decorate_map("p", "m", None, &plan(), &f, &Context::system()).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn settings_resolve_into_plans() -> Result<(), Error> {
        let f = settings(
            "ret = { decode = \"errno\" }\n\
             cg = { decode = \"cgroup\", parts = [\"path\", \"container\"] }\n\
             comm = { decode = \"regexp\", regexp = \"^bash$\" }\n",
        );
        let (_, p) = decorate_map("p", "m", None, &plan(), &f, &Context::system())?;
        let names: Vec<&str> = p.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["ret", "flag", "comm", "cg", "cg_container", "ts"]);
        assert!(p.fields.iter().all(|f| f.render.is_some() != (f.name == "flag")), "ts converts by its typedef");
        let mut rec = vec![0u8; 40];
        rec[0..4].copy_from_slice(&(-13i32).to_le_bytes());
        rec[8..12].copy_from_slice(b"vim\0");
        let text = |i: usize| {
            let mut s = String::new();
            write_field_text(&p.fields[i], &rec, &mut s);
            s
        };
        assert_eq!((text(0), text(1), text(2)), ("EACCES".into(), "0".into(), "other".into()));
        Ok(())
    }

    #[test]
    fn mistakes_name_probe_map_and_field() {
        let at = "probes.p.maps.m.fields.";
        for (t, want) in [
            ("flag = { decode = \"ksym\" }", "flag: decoder `ksym` needs an 8-byte integer or pointer field, not a 1-byte unsigned integer"),
            ("comm = { decode = \"errno\" }", "comm: decoder `errno` needs an integer field, not a string (char[16])"),
            ("ret = { decode = \"rot13\" }", "ret: unknown decoder `rot13` (decoders: ksym, cgroup, errno, signal, exit_status, syscall, static_map, regexp, hex, uint, int, inet_ip, ktime, ktime_boot)"),
            ("comm = { decode = \"regexp\", regexp = \"(\" }", "comm: regexp `(` does not compile: "),
            ("nope = { decode = \"errno\" }", "nope: map `m` has no field `nope` (fields: ret, flag, comm, cg, ts)"),
            ("ret = { decode = \"errno\", table = { 1 = \"x\" } }", "ret: decoder `errno` takes no `table`"),
            ("ret = { table = { 1 = \"x\" } }", "ret: `table` is set but no `decode`"),
            ("ret = { decode = \"static_map\" }", "ret: decoder `static_map` needs a `table`"),
            ("ret = { decode = \"static_map\", table = { x = \"y\" } }", "ret: table key `x` is not a number (the field is a 4-byte signed integer)"),
            ("cg = { decode = \"cgroup\", parts = [\"pods\"] }", "cg: unknown cgroup part `pods` (parts: path, container_id, container, pod, namespace)"),
            ("ret = { decode = \"inet_ip\" }", ""),
            ("flag = { decode = \"inet_ip\" }", "flag: decoder `inet_ip` needs a 4-byte integer or a 4- or 16-byte array, not a 1-byte unsigned integer"),
            ("comm = { decode = \"ktime\" }", "comm: decoder `ktime` needs an 8-byte integer or pointer field, not a string (char[16])"),
        ] {
            let got = err(t);
            if want.is_empty() {
                assert_eq!(got, "", "{t}");
            } else {
                assert!(got.starts_with(&format!("{at}{want}")), "{t}:\n got {got}\nwant {at}{want}");
            }
        }
    }

    #[test]
    fn derived_names_must_be_free() {
        let mut p = plan();
        p.fields.push(Field::new("cg_pod", 0, FieldKind::Unsigned(1)));
        let f = settings("cg = { decode = \"cgroup\" }");
        let e = decorate_map("p", "m", None, &p, &f, &Context::system()).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("probes.p.maps.m.fields.cg: the derived field `cg_pod` has the name of another field")
        );
    }
}
