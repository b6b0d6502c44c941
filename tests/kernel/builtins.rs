//! The generic BTF decoder checked against the compiler: each built-in is
//! loaded through its libbpf-cargo skeleton, driven by real activity (a
//! process that exits with a known code; a TCP connect to a listening port
//! on 127.0.0.1), and every record of its ring buffer is read twice: by the
//! decode plan `bee_object` builds from the object's BTF, and as the
//! skeleton's compiler-generated `#[repr(C)]` struct (`plain`). Both must
//! agree on the layout (size, every field's offset) and on every field's
//! value. Needs root.

use std::cell::RefCell;
use std::mem::{offset_of, size_of, MaybeUninit};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use bee_object::decode::{self, Value};
use bee_object::schema::Plan;
use beed::builtins::exitsnoop::types::exit_event;
use beed::builtins::exitsnoop::ExitsnoopSkelBuilder;
use beed::builtins::tcpconnect::types::connect_event;
use beed::builtins::tcpconnect::TcpconnectSkelBuilder;
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{MapCore, RingBufferBuilder};

use crate::common;
use common::{is_root, TestResult};

/// The decode plan of the value of `map` in built-in `name`, from its BTF.
fn plan(name: &str, map: &str) -> Result<Plan, Box<dyn std::error::Error>> {
    let (_, bytes) =
        beed::builtins::BUILTINS.iter().find(|(n, _)| *n == name).ok_or_else(|| format!("no built-in {name}"))?;
    let specs = bee_object::inspect(bytes, name)?;
    let spec = specs.iter().find(|s| s.name == map).ok_or_else(|| format!("{name}: no watched map {map}"))?;
    Ok(spec.value.clone().ok_or_else(|| format!("{name}: {map} has no value type"))?)
}

/// The plan's (name, offset) of every field, in order.
fn layout(plan: &Plan) -> Vec<(&str, usize)> {
    plan.fields.iter().map(|f| (f.name.as_str(), f.offset)).collect()
}

/// Every field of `rec` as the generic decoder reads it, in plan order.
fn decoded<'a>(plan: &'a Plan, rec: &'a [u8]) -> Result<Vec<(&'a str, Value<'a>)>, String> {
    plan.fields
        .iter()
        .map(|f| Ok((f.name.as_str(), decode::read(f, rec).ok_or_else(|| format!("record too short for {}", f.name))?)))
        .collect()
}

/// A skeleton struct read from a record, as the compiler lays it out.
fn read_struct<T: plain::Plain + Default>(rec: &[u8]) -> Result<T, String> {
    let mut t = T::default();
    plain::copy_from_bytes(&mut t, rec).map_err(|e| format!("record of {} bytes: {e:?}", rec.len()))?;
    Ok(t)
}

/// A C `char[N]` up to its first NUL.
fn c_str(s: &[i8]) -> Vec<u8> {
    s.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect()
}

/// Every record of ring buffer `map` until `done` holds for those read (or
/// 20 s pass): records wait in the ring from the attach on.
fn collect(
    map: &dyn MapCore,
    mut done: impl FnMut(&[Vec<u8>]) -> bool,
) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let records = RefCell::new(Vec::new());
    let mut builder = RingBufferBuilder::new();
    builder.add(map, |rec: &[u8]| {
        records.borrow_mut().push(rec.to_vec());
        0
    })?;
    let rb = builder.build()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(&records.borrow()) {
        if Instant::now() > deadline {
            return Err(format!("the awaited event did not come in 20 s ({} records)", records.borrow().len()).into());
        }
        rb.poll(Duration::from_millis(100))?;
    }
    drop(rb);
    Ok(records.into_inner())
}

#[test]
fn exitsnoop_events_decode_as_the_compiler_lays_them_out() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let plan = plan("exitsnoop", "print_exits")?;
    assert_eq!(plan.size, size_of::<exit_event>());
    assert_eq!(
        layout(&plan),
        vec![
            ("pid", offset_of!(exit_event, pid)),
            ("ppid", offset_of!(exit_event, ppid)),
            ("tid", offset_of!(exit_event, tid)),
            ("exit_code", offset_of!(exit_event, exit_code)),
            ("sig", offset_of!(exit_event, sig)),
            ("comm", offset_of!(exit_event, comm)),
            ("age", offset_of!(exit_event, age)),
        ]
    );

    let mut object = MaybeUninit::uninit();
    let mut open = ExitsnoopSkelBuilder::default().open(&mut object)?;
    // the bee convention names a ring buffer's record type as its value
    // type; the kernel wants a value size of 0 (bee_runtime does the same)
    open.maps.print_exits.set_value_size(0)?;
    let mut skel = open.load()?;
    skel.attach()?;

    // a process with a known comm that exits with code 7
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("beeskel7");
    std::fs::write(&script, "#!/bin/sh\nexit 7\n")?;
    assert!(Command::new("chmod").arg("+x").arg(&script).status()?.success());
    let mut child = Command::new(&script).spawn()?;
    let pid = child.id();
    assert_eq!(child.wait()?.code(), Some(7));
    let records = collect(&skel.maps.print_exits, |recs| {
        recs.iter().any(|r| read_struct::<exit_event>(r).is_ok_and(|e| e.pid == pid))
    })?;

    let mut ours = 0;
    for rec in records.iter() {
        assert_eq!(rec.len(), size_of::<exit_event>());
        let e: exit_event = read_struct(rec)?;
        let comm = c_str(&e.comm);
        let want = vec![
            ("pid", Value::U(e.pid.into())),
            ("ppid", Value::U(e.ppid.into())),
            ("tid", Value::U(e.tid.into())),
            ("exit_code", Value::I(e.exit_code.into())),
            ("sig", Value::I(e.sig.into())),
            ("comm", Value::Str(&comm)),
            ("age", Value::Duration(e.age)),
        ];
        assert_eq!(decoded(&plan, rec)?, want);
        if e.pid == pid {
            ours += 1;
            assert_eq!((e.exit_code, e.sig, comm.as_slice()), (7, 0, &b"beeskel7"[..]), "{e:?}");
            assert_eq!(e.ppid, std::process::id(), "{e:?}");
        }
    }
    assert_eq!(ours, 1, "{} records", records.len());
    Ok(())
}

#[test]
fn tcpconnect_events_decode_as_the_compiler_lays_them_out() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let plan = plan("tcpconnect", "print_connects")?;
    // the record is the C struct with its tail padding: 30 bytes of members, 32 in all
    assert_eq!(plan.size, size_of::<connect_event>());
    assert_eq!(
        layout(&plan),
        vec![
            ("pid", offset_of!(connect_event, pid)),
            ("comm", offset_of!(connect_event, comm)),
            ("saddr", offset_of!(connect_event, saddr)),
            ("daddr", offset_of!(connect_event, daddr)),
            ("dport", offset_of!(connect_event, dport)),
        ]
    );

    let mut object = MaybeUninit::uninit();
    let mut open = TcpconnectSkelBuilder::default().open(&mut object)?;
    // the bee convention names a ring buffer's record type as its value
    // type; the kernel wants a value size of 0 (bee_runtime does the same)
    open.maps.print_connects.set_value_size(0)?;
    let mut skel = open.load()?;
    skel.attach()?;

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let conn = TcpStream::connect(("127.0.0.1", port))?;
    let me = std::process::id();
    let is_ours = |e: &connect_event| e.pid == me && e.dport == port;
    let records = collect(&skel.maps.print_connects, |recs| {
        recs.iter().any(|r| read_struct::<connect_event>(r).is_ok_and(|e| is_ours(&e)))
    })?;
    drop(conn);

    let mut ours = 0;
    for rec in records.iter() {
        assert_eq!(rec.len(), size_of::<connect_event>());
        let e: connect_event = read_struct(rec)?;
        let comm = c_str(&e.comm);
        // ipv4_addr holds the address in network order: its bytes as they are
        let want = vec![
            ("pid", Value::U(e.pid.into())),
            ("comm", Value::Str(&comm)),
            ("saddr", Value::Ipv4(e.saddr.to_ne_bytes())),
            ("daddr", Value::Ipv4(e.daddr.to_ne_bytes())),
            ("dport", Value::U(e.dport.into())),
        ];
        assert_eq!(decoded(&plan, rec)?, want);
        if is_ours(&e) {
            ours += 1;
            assert_eq!(Ipv4Addr::from(e.daddr.to_ne_bytes()), Ipv4Addr::LOCALHOST, "{e:?}");
            assert_eq!(Ipv4Addr::from(e.saddr.to_ne_bytes()), Ipv4Addr::LOCALHOST, "{e:?}");
        }
    }
    assert_eq!(ours, 1, "{} records", records.len());
    Ok(())
}
