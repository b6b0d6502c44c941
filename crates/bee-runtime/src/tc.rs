//! TC (traffic control) attachment.
//!
//! Where the kernel has TCX (Linux 6.6+), a TC program attaches as a TCX
//! link, after the TCX programs already on the hook. The kernel detaches it
//! when beed closes the link, or when beed dies however it dies; no qdisc and
//! no filter is involved. TCX programs run before the classic tc filters of
//! the same hook.
//!
//! Older kernels get a `cls_bpf` filter (direct action) on the clsact qdisc,
//! made through netlink:
//! - at a priority no filter of that hook uses (after the existing ones),
//!   created exclusively: beed never replaces a filter, and never deletes one
//!   that does not run the program it attached;
//! - the clsact qdisc is created when missing, and removed once no filter is
//!   left on it, if (and only if) beed created it;
//! - every filter and qdisc beed made is written to a state file in the
//!   runtime directory (`tc.PID`), so that the next beed start removes what
//!   a killed beed left behind (`cleanup_stale`).
//!
//! `BEED_TC_NETLINK=1` forces the netlink path where TCX exists (tests).

mod nl;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Which way the packets a TC program sees go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// `ingress` or `egress`.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    fn tcx_attach_type(self) -> libbpf_sys::bpf_attach_type {
        match self {
            Direction::Ingress => libbpf_sys::BPF_TCX_INGRESS,
            Direction::Egress => libbpf_sys::BPF_TCX_EGRESS,
        }
    }

    fn tc_point(self) -> libbpf_sys::bpf_tc_attach_point {
        match self {
            Direction::Ingress => libbpf_sys::BPF_TC_INGRESS,
            Direction::Egress => libbpf_sys::BPF_TC_EGRESS,
        }
    }

    /// The clsact class the filters of this direction hang off
    /// (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS/EGRESS)`; linux/pkt_sched.h,
    /// whose `TC_H_*` neither libc nor libbpf-sys defines).
    fn parent(self) -> u32 {
        match self {
            Direction::Ingress => 0xFFFF_FFF2,
            Direction::Egress => 0xFFFF_FFF3,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an attach failed: what beed was doing, and the kernel's answer.
#[derive(Debug)]
pub struct TcError {
    pub what: String,
    pub source: io::Error,
}

/// An attached TC program; detached when dropped.
#[derive(Debug)]
pub enum TcAttachment {
    /// A TCX link: closing its (only) fd detaches the program.
    Tcx(OwnedFd),
    /// A netlink tc filter beed made.
    Filter(Filter),
}

/// A tc filter beed made; removed (and the qdisc beed made for it, once
/// empty) when dropped.
#[derive(Debug)]
pub struct Filter {
    rec: FilterRecord,
}

impl Drop for Filter {
    fn drop(&mut self) {
        let mut st = state();
        match remove_filter(&self.rec) {
            Ok(Removed::Yes | Removed::Gone) => {}
            Ok(Removed::NotOurs(what)) => tracing::warn!(
                "{} {} pref {} handle 0x{:x} now holds {what}, not beed's program {}: left in place",
                self.rec.ifname,
                self.rec.dir,
                self.rec.prio,
                self.rec.handle,
                self.rec.prog_id
            ),
            Err(e) => tracing::warn!("removing the {}: {e}", self.rec.describe()),
        }
        st.filters.retain(|f| *f != self.rec);
        release_qdisc(&mut st, self.rec.ifindex);
        st.save();
    }
}

/// Attaches the program `prog` (named `prog_name`) to `ifname` (index
/// `ifindex`) in direction `dir`.
pub fn attach(
    prog: BorrowedFd<'_>,
    prog_name: &str,
    ifname: &str,
    ifindex: i32,
    dir: Direction,
) -> Result<TcAttachment, TcError> {
    if !force_netlink() {
        match tcx_attach(prog, ifindex, dir) {
            Ok(fd) => {
                tracing::debug!("program {prog_name}: TCX link on {ifname} {dir}");
                return Ok(TcAttachment::Tcx(fd));
            }
            // kernels before 6.6 do not know the TCX attach types
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                if !TCX_MISSING_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "this kernel has no TCX links (BPF_LINK_CREATE for {dir} on {ifname}: {e}): \
                         TC programs attach as netlink tc filters"
                    );
                }
            }
            Err(e) => return Err(TcError { what: format!("attach TCX {dir} link on {ifname}"), source: e }),
        }
    }
    netlink_attach(prog, prog_name, ifname, ifindex, dir).map(TcAttachment::Filter)
}

static TCX_MISSING_LOGGED: AtomicBool = AtomicBool::new(false);

fn force_netlink() -> bool {
    std::env::var_os("BEED_TC_NETLINK").is_some_and(|v| !v.is_empty() && v != "0")
}

fn tcx_attach(prog: BorrowedFd<'_>, ifindex: i32, dir: Direction) -> io::Result<OwnedFd> {
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as libbpf_sys::size_t,
        ..Default::default()
    };
    // SAFETY: `prog` is the fd of a loaded program, `opts` a zeroed
    // bpf_link_create_opts whose `sz` is its size (no relative program, no
    // expected revision: the link goes after the TCX programs already there).
    let fd = unsafe { libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex, dir.tcx_attach_type(), &opts) };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: `fd` is a new link fd (close-on-exec) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Priority of the first filter beed puts on an empty hook (what tc picks
/// itself for a filter added without `pref`).
const FIRST_PRIO: u32 = 0xC000;
/// beed's filters are alone in their priority, so handle 1 is theirs.
const HANDLE: u32 = 1;
/// The handle of the clsact (and ingress) qdisc, `ffff:`.
const CLSACT_HANDLE: u32 = 0xFFFF_0000;

fn netlink_attach(
    prog: BorrowedFd<'_>,
    prog_name: &str,
    ifname: &str,
    ifindex: i32,
    dir: Direction,
) -> Result<Filter, TcError> {
    let fail = |what: String| move |source| TcError { what, source };
    let mut st = state();
    // a legacy `ingress` qdisc holds the place of clsact and has no egress:
    // a filter for egress would land on its ingress
    let existing = nl::qdisc_kind(ifindex, CLSACT_HANDLE).map_err(fail(format!("list the qdiscs of {ifname}")))?;
    if let Some(kind) = existing.as_deref().filter(|k| *k != "clsact" && dir == Direction::Egress) {
        return Err(TcError {
            what: format!("attach a tc filter on {ifname} egress"),
            source: io::Error::other(format!(
                "{ifname} has an `{kind}` qdisc where clsact goes, and it has no egress hook"
            )),
        });
    }
    let created =
        existing.is_none() && create_clsact(ifindex).map_err(fail(format!("create the clsact qdisc on {ifname}")))?;
    if created {
        st.qdiscs.push(QdiscRecord { ifindex, ifname: ifname.to_string() });
    }
    let result = add_filter(prog, ifname, ifindex, dir);
    let rec = match result {
        Ok(rec) => rec,
        Err(e) => {
            release_qdisc(&mut st, ifindex);
            st.save();
            return Err(e);
        }
    };
    tracing::info!(
        "program {prog_name}: tc filter on {ifname} {dir} at pref {} handle 0x{:x}{}",
        rec.prio,
        rec.handle,
        if created { " (clsact qdisc created)" } else { "" }
    );
    st.filters.push(rec.clone());
    st.save();
    Ok(Filter { rec })
}

fn add_filter(prog: BorrowedFd<'_>, ifname: &str, ifindex: i32, dir: Direction) -> Result<FilterRecord, TcError> {
    let list_err = |source| TcError { what: format!("list the tc filters on {ifname} {dir}"), source };
    let mut tries = 0;
    loop {
        let taken: Vec<u32> = nl::filters(ifindex, dir.parent()).map_err(list_err)?.iter().map(|f| f.prio).collect();
        let Some(prio) = free_prio(&taken) else {
            return Err(TcError {
                what: format!("find a free tc filter priority on {ifname} {dir}"),
                source: io::Error::other("all 65535 priorities are in use"),
            });
        };
        let hook = tc_hook(ifindex, dir.tc_point());
        let mut opts = tc_opts(HANDLE, prio);
        opts.prog_fd = prog.as_raw_fd();
        // SAFETY: hook and opts are initialised bpf_tc_hook/bpf_tc_opts with
        // their sizes set; no BPF_TC_F_REPLACE: the kernel refuses (EEXIST)
        // rather than replace a filter at this priority and handle.
        let ret = unsafe { libbpf_sys::bpf_tc_attach(&hook, &mut opts) };
        if ret == 0 {
            return Ok(FilterRecord {
                ifindex,
                ifname: ifname.to_string(),
                dir,
                handle: opts.handle,
                prio: opts.priority,
                prog_id: opts.prog_id,
            });
        }
        let err = io::Error::from_raw_os_error(-ret);
        // another tool took the priority between the listing and the attach
        let raced = matches!(err.raw_os_error(), Some(libc::EEXIST | libc::EINVAL))
            && nl::filters(ifindex, dir.parent()).map_err(list_err)?.iter().any(|f| f.prio == prio);
        tries += 1;
        if !raced || tries >= 5 {
            return Err(TcError { what: format!("attach a tc filter on {ifname} {dir} at pref {prio}"), source: err });
        }
    }
}

/// After every priority in use, or the highest free one when 65535 is taken.
fn free_prio(taken: &[u32]) -> Option<u32> {
    match taken.iter().max() {
        None => Some(FIRST_PRIO),
        Some(&max) if max < 0xFFFF => Some(max + 1),
        Some(_) => {
            let mut used = vec![false; 0x10000];
            for &p in taken {
                if let Some(u) = used.get_mut(p as usize) {
                    *u = true;
                }
            }
            (1..0xFFFFu32).rev().find(|p| !used.get(*p as usize).copied().unwrap_or(true))
        }
    }
}

fn tc_hook(ifindex: i32, point: libbpf_sys::bpf_tc_attach_point) -> libbpf_sys::bpf_tc_hook {
    libbpf_sys::bpf_tc_hook {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_hook>() as libbpf_sys::size_t,
        ifindex,
        attach_point: point,
        ..Default::default()
    }
}

fn tc_opts(handle: u32, priority: u32) -> libbpf_sys::bpf_tc_opts {
    libbpf_sys::bpf_tc_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_tc_opts>() as libbpf_sys::size_t,
        handle,
        priority,
        ..Default::default()
    }
}

/// Creates the clsact qdisc on `ifindex`; false when one was there.
fn create_clsact(ifindex: i32) -> io::Result<bool> {
    let mut hook = tc_hook(ifindex, libbpf_sys::BPF_TC_INGRESS);
    // SAFETY: hook is an initialised bpf_tc_hook with its size set; libbpf
    // creates the qdisc exclusively (EEXIST when there is one).
    let ret = unsafe { libbpf_sys::bpf_tc_hook_create(&mut hook) };
    match ret {
        0 => Ok(true),
        r if -r == libc::EEXIST => Ok(false),
        r => Err(io::Error::from_raw_os_error(-r)),
    }
}

/// What became of a filter beed asked to remove.
enum Removed {
    Yes,
    /// No filter there any more (deleted, or its interface is gone).
    Gone,
    /// Something else holds that priority and handle now (what).
    NotOurs(String),
}

/// Removes the filter of `rec` if it still runs beed's program.
fn remove_filter(rec: &FilterRecord) -> io::Result<Removed> {
    // listed rather than queried with libbpf, which logs an error whenever
    // the filter is not there
    let listed = nl::filters(rec.ifindex, rec.dir.parent())?;
    let Some(found) = listed.iter().find(|f| f.prio == rec.prio && f.handle == rec.handle) else {
        return Ok(Removed::Gone);
    };
    match (found.kind.as_str(), found.bpf_id) {
        ("bpf", Some(id)) if id == rec.prog_id => {}
        ("bpf", Some(id)) => return Ok(Removed::NotOurs(format!("program id {id}"))),
        (kind, _) => return Ok(Removed::NotOurs(format!("a `{kind}` filter"))),
    }
    let hook = tc_hook(rec.ifindex, rec.dir.tc_point());
    let opts = tc_opts(rec.handle, rec.prio);
    // SAFETY: hook and opts are initialised with their sizes set; deletes
    // the bpf filter at exactly this priority and handle, which runs beed's
    // program (checked just before).
    let ret = unsafe { libbpf_sys::bpf_tc_detach(&hook, &opts) };
    match -ret {
        0 => Ok(Removed::Yes),
        libc::ENOENT | libc::ENODEV => Ok(Removed::Gone),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Removes the clsact qdisc beed created on `ifindex` once no filter
/// (beed's or anyone's) is left on it.
fn release_qdisc(st: &mut State, ifindex: i32) {
    let Some(q) = st.qdiscs.iter().find(|q| q.ifindex == ifindex).cloned() else { return };
    if st.filters.iter().any(|f| f.ifindex == ifindex) {
        return;
    }
    match remove_qdisc_if_empty(&q) {
        Ok(QdiscFate::Removed | QdiscFate::Gone) => st.qdiscs.retain(|x| *x != q),
        Ok(QdiscFate::InUse) => {}
        Err(e) => tracing::warn!("{}: removing the clsact qdisc beed created: {e}", q.ifname),
    }
}

enum QdiscFate {
    Removed,
    /// No clsact qdisc there any more (or no interface).
    Gone,
    /// Filters remain on it: it stays.
    InUse,
}

/// Deletes the clsact qdisc of `q` if no filter is left on it.
fn remove_qdisc_if_empty(q: &QdiscRecord) -> io::Result<QdiscFate> {
    if !ifindex_is(q.ifindex, &q.ifname) || nl::qdisc_kind(q.ifindex, CLSACT_HANDLE)?.as_deref() != Some("clsact") {
        return Ok(QdiscFate::Gone);
    }
    for dir in [Direction::Ingress, Direction::Egress] {
        if !nl::filters(q.ifindex, dir.parent())?.is_empty() {
            return Ok(QdiscFate::InUse);
        }
    }
    let mut hook = tc_hook(q.ifindex, libbpf_sys::BPF_TC_INGRESS | libbpf_sys::BPF_TC_EGRESS);
    // SAFETY: hook is initialised with its size set; with both attach points
    // libbpf deletes the clsact qdisc of the interface.
    let ret = unsafe { libbpf_sys::bpf_tc_hook_destroy(&mut hook) };
    match -ret {
        0 => Ok(QdiscFate::Removed),
        libc::ENOENT | libc::EINVAL | libc::ENODEV => Ok(QdiscFate::Gone),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Whether interface `ifindex` is still called `ifname`.
fn ifindex_is(ifindex: i32, ifname: &str) -> bool {
    let Ok(idx) = u32::try_from(ifindex) else { return false };
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(idx, buf.as_mut_ptr()) };
    if p.is_null() {
        return false;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    name.to_bytes() == ifname.as_bytes()
}

// ---------------------------------------------------------------------------
// What this process attached through netlink, mirrored in its state file.

#[derive(Debug, Clone, PartialEq, Eq)]
struct FilterRecord {
    ifindex: i32,
    ifname: String,
    dir: Direction,
    handle: u32,
    prio: u32,
    prog_id: u32,
}

impl FilterRecord {
    fn describe(&self) -> String {
        let (ifname, dir, prio, handle, id) = (&self.ifname, self.dir, self.prio, self.handle, self.prog_id);
        format!("tc filter on {ifname} {dir} pref {prio} handle 0x{handle:x} (program id {id})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct QdiscRecord {
    ifindex: i32,
    ifname: String,
}

struct State {
    filters: Vec<FilterRecord>,
    qdiscs: Vec<QdiscRecord>,
    /// The state file could not be written (warned once).
    warned: bool,
}

static STATE_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Sets the directory of the state files that record the TC filters this
/// process attached through netlink, so that a later run can remove what a
/// killed one left (see [`cleanup_stale`]). Set once, before any attach;
/// without it, `/run/bee` is used.
pub fn set_state_dir(dir: PathBuf) {
    let _ = STATE_DIR.set(dir);
}

fn state_dir() -> PathBuf {
    STATE_DIR.get().cloned().unwrap_or_else(|| PathBuf::from("/run/bee"))
}

static STATE: Mutex<State> = Mutex::new(State { filters: Vec::new(), qdiscs: Vec::new(), warned: false });

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Rewrites this process's state file (removes it when nothing is left).
    fn save(&mut self) {
        let path = state_path(&state_dir(), std::process::id());
        let res = if self.filters.is_empty() && self.qdiscs.is_empty() {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            Owner::current().and_then(|owner| write_state(&path, &owner, &self.filters, &self.qdiscs))
        };
        match res {
            Ok(()) => self.warned = false,
            Err(e) if !self.warned => {
                self.warned = true;
                let left: Vec<String> = self
                    .filters
                    .iter()
                    .map(|f| {
                        format!("tc filter del dev {} {} pref {} handle 0x{:x} bpf", f.ifname, f.dir, f.prio, f.handle)
                    })
                    .collect();
                tracing::warn!(
                    "cannot record beed's tc filters in {}: {e}; if beed is killed, remove them by hand: {}",
                    path.display(),
                    left.join("; ")
                );
            }
            Err(_) => {}
        }
    }
}

fn state_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("tc.{pid}"))
}

/// The process that wrote a state file: pid and start time (so a reused pid
/// is not taken for it), boot and network namespace (ifindexes are per
/// namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start: u64,
    boot: String,
    netns: String,
}

impl Owner {
    fn current() -> io::Result<Owner> {
        let pid = std::process::id();
        let start = proc_start(pid)?.ok_or_else(|| io::Error::other("this process is a zombie"))?;
        Ok(Owner { pid, start, boot: boot_id()?, netns: netns_id()? })
    }
}

/// Start time of process `pid` (field 22 of /proc/PID/stat, in clock ticks
/// since boot); None once it exited (a zombie).
fn proc_start(pid: u32) -> io::Result<Option<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // the command name (field 2) is in parentheses and may hold anything
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let mut fields = rest.split_whitespace();
    if matches!(fields.next(), Some("Z" | "X")) {
        return Ok(None);
    }
    fields
        .nth(18)
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/stat: no start time")))
}

fn boot_id() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?.trim().to_string())
}

fn netns_id() -> io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata("/proc/self/ns/net")?;
    Ok(format!("{}:{}", m.dev(), m.ino()))
}

const STATE_MAGIC: &str = "beed-tc 1";

fn write_state(path: &Path, owner: &Owner, filters: &[FilterRecord], qdiscs: &[QdiscRecord]) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
    }
    let mut text = format!(
        "{STATE_MAGIC}\n# tc filters and qdiscs beed made through netlink; the next beed start removes them if this process is gone\nowner {} {} {} {}\n",
        owner.pid, owner.start, owner.boot, owner.netns
    );
    for f in filters {
        text.push_str(&format!("filter {} {} {} {} {} {}\n", f.ifindex, f.ifname, f.dir, f.handle, f.prio, f.prog_id));
    }
    for q in qdiscs {
        text.push_str(&format!("qdisc {} {}\n", q.ifindex, q.ifname));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    crate::fsread::replace(path, &tmp, text.as_bytes(), 0o644, true)
}

struct StateFile {
    owner: Owner,
    filters: Vec<FilterRecord>,
    qdiscs: Vec<QdiscRecord>,
}

fn parse_state(text: &str) -> Option<StateFile> {
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    if lines.next()? != STATE_MAGIC {
        return None;
    }
    let mut owner = None;
    let mut filters = Vec::new();
    let mut qdiscs = Vec::new();
    for line in lines {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["owner", pid, start, boot, netns] => {
                owner = Some(Owner {
                    pid: pid.parse().ok()?,
                    start: start.parse().ok()?,
                    boot: boot.to_string(),
                    netns: netns.to_string(),
                })
            }
            ["filter", ifindex, ifname, dir, handle, prio, prog_id] => filters.push(FilterRecord {
                ifindex: ifindex.parse().ok()?,
                ifname: ifname.to_string(),
                dir: Direction::parse(dir)?,
                handle: handle.parse().ok()?,
                prio: prio.parse().ok()?,
                prog_id: prog_id.parse().ok()?,
            }),
            ["qdisc", ifindex, ifname] => {
                qdiscs.push(QdiscRecord { ifindex: ifindex.parse().ok()?, ifname: ifname.to_string() })
            }
            [] => {}
            _ => return None,
        }
    }
    Some(StateFile { owner: owner?, filters, qdiscs })
}

/// Removes the tc filters and clsact qdiscs that beed processes which are
/// gone (killed, crashed) recorded in `dir`, leaving those of running beeds
/// and anything that is no longer what they attached. Called once at start,
/// before any probe attaches.
pub fn cleanup_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = match Owner::current() {
        Ok(me) => me,
        Err(e) => {
            tracing::warn!("not cleaning up after earlier beeds: cannot identify this process: {e}");
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("tc.")).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let path = entry.path();
        if let Err(e) = cleanup_file(&path, pid, &me) {
            tracing::warn!("{}: cleaning up after beed process {pid}: {e}", path.display());
        }
    }
}

fn cleanup_file(path: &Path, pid: u32, me: &Owner) -> io::Result<()> {
    // a FIFO or a huge file in the runtime directory must not stop beed's start
    let text = crate::fsread::read_regular_string(path, 1 << 20)?;
    let Some(mut file) = parse_state(&text).filter(|f| f.owner.pid == pid) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a beed tc state file; left alone"));
    };
    let o = &file.owner;
    if o.boot != me.boot {
        // a reboot took the filters and qdiscs with it
        return std::fs::remove_file(path);
    }
    if *o == *me || proc_start(o.pid).is_ok_and(|s| s == Some(o.start)) {
        return Ok(()); // a running beed's
    }
    if o.netns != me.netns {
        tracing::debug!("{}: filters of a beed in another network namespace; left for it", path.display());
        return Ok(());
    }
    let mut kept = Vec::new();
    for f in std::mem::take(&mut file.filters) {
        if !ifindex_is(f.ifindex, &f.ifname) {
            continue; // the interface went, with its filters
        }
        match remove_filter(&f) {
            Ok(Removed::Yes) => {
                tracing::info!("removed the {} left by beed process {pid}", f.describe())
            }
            Ok(Removed::Gone) => {}
            Ok(Removed::NotOurs(what)) => tracing::info!(
                "{} {} pref {} handle 0x{:x} now holds {what}, not the program beed process {pid} attached: left in place",
                f.ifname,
                f.dir,
                f.prio,
                f.handle
            ),
            Err(e) => {
                tracing::warn!("removing the {} left by beed process {pid}: {e}", f.describe());
                kept.push(f);
            }
        }
    }
    let mut kept_qdiscs = Vec::new();
    for q in std::mem::take(&mut file.qdiscs) {
        if kept.iter().any(|f| f.ifindex == q.ifindex) {
            kept_qdiscs.push(q);
            continue;
        }
        match remove_qdisc_if_empty(&q) {
            Ok(QdiscFate::Removed) => {
                tracing::info!("removed the clsact qdisc on {} made by beed process {pid}", q.ifname)
            }
            Ok(QdiscFate::Gone) => {}
            // other filters use it now: try again at the next start
            Ok(QdiscFate::InUse) => kept_qdiscs.push(q),
            Err(e) => {
                tracing::warn!("{}: removing the clsact qdisc made by beed process {pid}: {e}", q.ifname);
                kept_qdiscs.push(q);
            }
        }
    }
    if kept.is_empty() && kept_qdiscs.is_empty() {
        std::fs::remove_file(path)
    } else {
        write_state(path, &file.owner, &kept, &kept_qdiscs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_go_after_the_existing_ones() {
        assert_eq!(free_prio(&[]), Some(FIRST_PRIO));
        assert_eq!(free_prio(&[1, 1, 5]), Some(6));
        assert_eq!(free_prio(&[0xFFFF, 0xFFFE, 3]), Some(0xFFFD));
        let all: Vec<u32> = (1..=0xFFFF).collect();
        assert_eq!(free_prio(&all), None);
    }

    #[test]
    fn state_files_round_trip() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let owner = Owner { pid: 42, start: 7, boot: "b-1".into(), netns: "4:4026531840".into() };
        let f = FilterRecord {
            ifindex: 3,
            ifname: "veth0".into(),
            dir: Direction::Egress,
            handle: 1,
            prio: 49152,
            prog_id: 99,
        };
        let q = QdiscRecord { ifindex: 3, ifname: "veth0".into() };
        let path = state_path(dir.path(), 42);
        write_state(&path, &owner, std::slice::from_ref(&f), std::slice::from_ref(&q))?;
        let back = parse_state(&std::fs::read_to_string(&path)?).ok_or("unparsable")?;
        assert_eq!(back.owner, owner);
        assert_eq!(back.filters, vec![f]);
        assert_eq!(back.qdiscs, vec![q]);
        assert!(parse_state("something else\nowner 1 2 3 4\n").is_none());
        assert!(parse_state("beed-tc 1\nfilter 1 x sideways 1 1 1\nowner 1 2 3 4\n").is_none());
        Ok(())
    }
}
