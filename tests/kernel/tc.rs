//! TC attachment on real interfaces: a veth pair between two network
//! namespaces each test makes (`va`, 192.0.2.1, in beed's; `vb`, 192.0.2.2,
//! in the peer's), beed running in its namespace (nsenter), UDP datagrams
//! sent from the peer's. Both ways beed attaches TC programs are covered:
//! TCX links (this kernel) and netlink tc filters (forced with
//! BEED_TC_NETLINK=1 here; the only way before Linux 6.6, run for real on
//! 6.1 by tests/kernels). Also: a killed beed leaves no XDP program. Needs
//! root, ip, tc, nsenter and bpftool.

use crate::common;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture, is_root, sample, Beed, TestResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcx,
    Netlink,
}

impl Mode {
    fn env(self, rundir: &Path) -> Vec<(String, String)> {
        let mut env = vec![("BEED_RUNTIME_DIR".to_string(), rundir.display().to_string())];
        if self == Mode::Netlink {
            env.push(("BEED_TC_NETLINK".into(), "1".into()));
        }
        env
    }
}

/// Runs a command; its stdout, or an error with its stderr.
fn run(prog: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(prog).args(args).output().map_err(|e| format!("{prog}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{prog} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The two namespaces and their veth pair; deleted when dropped.
struct Net {
    beed: String,
    peer: String,
}

impl Net {
    fn new(tag: &str) -> Result<Net, String> {
        let id = format!("beedtc-{}-{tag}", std::process::id());
        let net = Net { beed: format!("{id}-b"), peer: format!("{id}-p") };
        for ns in [&net.beed, &net.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run("ip", &["netns", "add", ns])?;
        }
        run("ip", &["-n", &net.beed, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &net.peer])?;
        run("ip", &["-n", &net.beed, "addr", "add", "192.0.2.1/24", "dev", "va"])?;
        run("ip", &["-n", &net.peer, "addr", "add", "192.0.2.2/24", "dev", "vb"])?;
        for (ns, dev) in [(&net.beed, "lo"), (&net.beed, "va"), (&net.peer, "lo"), (&net.peer, "vb")] {
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(net)
    }

    /// `tc -n BEED args...`
    fn tc(&self, args: &[&str]) -> Result<String, String> {
        let mut a = vec!["-n", &self.beed];
        a.extend_from_slice(args);
        run("tc", &a)
    }

    fn filters(&self, dir: &str) -> Result<String, String> {
        self.tc(&["filter", "show", "dev", "va", dir])
    }

    fn has_clsact(&self) -> Result<bool, String> {
        Ok(self.tc(&["qdisc", "show", "dev", "va"])?.contains("clsact"))
    }

    /// beed started in its namespace.
    fn start(&self, dir: &Path, config: &str, env: &[(String, String)]) -> Result<Beed, String> {
        let netns = format!("--net=/run/netns/{}", self.beed);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        common::start_with(dir, config, &["nsenter", &netns, "--"], &env)
    }

    /// Sends `n` UDP datagrams from the peer to 192.0.2.1:9 (va's ingress;
    /// ARP replies and ICMP port unreachables leave by va's egress).
    fn send(&self, n: usize) -> Result<(), String> {
        in_netns(&self.peer, move || {
            let s = std::net::UdpSocket::bind("192.0.2.2:0").map_err(|e| e.to_string())?;
            for _ in 0..n {
                s.send_to(b"beed tc test", "192.0.2.1:9").map_err(|e| e.to_string())?;
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })
    }

    fn scrape(&self, port: u16) -> Result<String, String> {
        in_netns(&self.beed, move || common::http_get(port, "/metrics"))
    }

    /// `bpftool net show dev va` lists nothing (no XDP program, no tc filter).
    fn bpftool_net_empty(&self) -> Result<bool, String> {
        let out = run("ip", &["netns", "exec", &self.beed, "bpftool", "net", "show", "dev", "va"])?;
        Ok(!out.lines().any(|l| l.starts_with("va(")))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.beed, &self.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Runs `f` on a thread that has joined network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> Result<T, String> + Send + 'static) -> Result<T, String> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: setns moves only this (new, short-lived) thread into the
        // network namespace whose nsfs file `file` holds open.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns {path}: {}", std::io::Error::last_os_error()));
        }
        f()
    })
    .join()
    .map_err(|_| "netns thread panicked".to_string())?
}

const METRIC: &str = "ebpf_solo_io_counter_packets";

fn config(probes: &[(&str, &Path, &str)]) -> String {
    let mut cfg = String::from(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n",
    );
    for (name, obj, prog_and_dir) in probes {
        let (prog, dir) = prog_and_dir.split_once(':').unwrap_or((prog_and_dir, ""));
        cfg.push_str(&format!("[probes.{name}]\nobject = \"{}\"\n", obj.display()));
        cfg.push_str(&format!("[probes.{name}.attach.{prog}]\ninterface = \"va\"\n"));
        if !dir.is_empty() {
            cfg.push_str(&format!("direction = \"{dir}\"\n"));
        }
    }
    cfg
}

fn tc_object(dir: &Path) -> Result<PathBuf, String> {
    common::compile(&fixture("tc_count.bpf.c"), dir)
}

/// Sends datagrams until every probe of `probes` counted some, for 15s at most.
fn wait_counts(net: &Net, beed: &Beed, probes: &[&str]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        net.send(10)?;
        std::thread::sleep(Duration::from_millis(300));
        let text = net.scrape(beed.port)?;
        let missing: Vec<&str> =
            probes.iter().copied().filter(|p| sample(&text, METRIC, &[("probe", p)]).unwrap_or(0.0) < 1.0).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no packets counted by {missing:?}:\n{text}\n{}", beed.log.join("\n")));
        }
    }
}

/// What /proc/PID/fdinfo says about a BPF program or link fd.
#[derive(Debug, Default)]
struct BpfFd {
    prog_type: Option<u32>,
    prog_id: Option<u32>,
    link_type: Option<String>,
    link_id: Option<u32>,
}

fn bpf_fds(pid: u32) -> Result<Vec<BpfFd>, String> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let Ok(e) = e else { continue };
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        let mut fd = BpfFd::default();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            let v = v.trim();
            let num = || v.split_whitespace().next().and_then(|n| n.parse().ok());
            match k {
                "prog_type" => fd.prog_type = num(),
                "prog_id" => fd.prog_id = num(),
                "link_type" => fd.link_type = Some(v.to_string()),
                "link_id" => fd.link_id = num(),
                _ => {}
            }
        }
        if fd.prog_id.is_some() {
            out.push(fd);
        }
    }
    Ok(out)
}

const PROG_SCHED_CLS: u32 = 3;
const PROG_XDP: u32 = 6;

/// Program ids of beed's programs of type `prog_type`.
fn prog_ids(pid: u32, prog_type: u32) -> Result<BTreeSet<u32>, String> {
    Ok(bpf_fds(pid)?.iter().filter(|f| f.prog_type == Some(prog_type)).filter_map(|f| f.prog_id).collect())
}

/// Link ids and types of beed's links.
fn links(pid: u32) -> Result<Vec<(u32, String)>, String> {
    Ok(bpf_fds(pid)?.into_iter().filter_map(|f| Some((f.link_id?, f.link_type?))).collect())
}

/// Waits (5s at most) until none of the programs and links exists any more.
fn wait_gone(progs: &BTreeSet<u32>, links: &[(u32, String)]) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<String> = progs
            .iter()
            .filter(|id| run("bpftool", &["prog", "show", "id", &id.to_string()]).is_ok())
            .map(|id| format!("program {id}"))
            .chain(
                links
                    .iter()
                    .filter(|(id, _)| run("bpftool", &["link", "show", "id", &id.to_string()]).is_ok())
                    .map(|(id, t)| format!("{t} link {id}")),
            )
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("still in the kernel: {}", alive.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tc state files (`tc.PID`) in a runtime directory.
fn state_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|f| f.starts_with("tc."));
    v.sort();
    v
}

fn need_root() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    Ok(())
}

/// Two probes on va's ingress (the same priority and handle once made the
/// second replace the first) and one on its egress: all attached, all
/// counting; after SIGTERM nothing of beed's is left.
fn probes_share_an_interface(mode: Mode, tag: &str) -> TestResult {
    need_root()?;
    let net = Net::new(tag)?;
    let dir = tempfile::tempdir()?;
    let rundir = dir.path().join("run");
    let obj = tc_object(dir.path())?;
    let cfg = config(&[
        ("one", &obj, "count_packets:ingress"),
        ("two", &obj, "count_packets"),
        ("out", &obj, "count_packets:egress"),
    ]);
    let beed = net.start(dir.path(), &cfg, &mode.env(&rundir))?;
    let pid = beed.child.id();
    wait_counts(&net, &beed, &["one", "two", "out"])?;

    let progs = prog_ids(pid, PROG_SCHED_CLS)?;
    let links = links(pid)?;
    assert_eq!(progs.len(), 3, "{progs:?}");
    let (ingress, egress) = (net.filters("ingress")?, net.filters("egress")?);
    match mode {
        Mode::Tcx => {
            assert_eq!(links.iter().filter(|(_, t)| t == "tcx").count(), 3, "{links:?}");
            assert!(ingress.is_empty() && egress.is_empty(), "TCX but tc filters:\n{ingress}{egress}");
            assert!(!net.has_clsact()?, "TCX needs no clsact qdisc");
            assert!(state_files(&rundir).is_empty(), "{:?}", state_files(&rundir));
        }
        Mode::Netlink => {
            assert!(links.is_empty(), "{links:?}");
            for pref in ["pref 49152 ", "pref 49153 "] {
                assert!(ingress.contains(pref), "no filter at {pref}on ingress:\n{ingress}");
            }
            assert!(egress.contains("pref 49152 "), "{egress}");
            assert!(net.has_clsact()?);
            assert_eq!(state_files(&rundir), vec![format!("tc.{pid}")]);
        }
    }

    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    wait_gone(&progs, &links)?;
    assert_eq!(net.filters("ingress")?, "");
    assert_eq!(net.filters("egress")?, "");
    assert!(!net.has_clsact()?, "the clsact qdisc beed created is still there\n{log}");
    assert!(net.bpftool_net_empty()?);
    assert!(state_files(&rundir).is_empty(), "{:?}", state_files(&rundir));
    Ok(())
}

#[test]
fn tcx_probes_share_an_interface() -> TestResult {
    probes_share_an_interface(Mode::Tcx, "share-tcx")
}

#[test]
fn netlink_probes_share_an_interface() -> TestResult {
    probes_share_an_interface(Mode::Netlink, "share-nl")
}

/// A filter beed did not make, at handle 1 pref 1 on a clsact qdisc beed did
/// not make, is neither replaced nor removed, nor is the qdisc.
fn foreign_filter_survives(mode: Mode, tag: &str) -> TestResult {
    need_root()?;
    let net = Net::new(tag)?;
    net.tc(&["qdisc", "add", "dev", "va", "clsact"])?;
    // classic BPF "ret #0": matches nothing, every packet goes on
    net.tc(&["filter", "add", "dev", "va", "ingress", "handle", "1", "prio", "1", "bpf", "bytecode", "1,6 0 0 0,"])?;
    let before = net.filters("ingress")?;
    assert!(before.contains("pref 1 ") && before.contains("handle 0x1 "), "{before}");

    let dir = tempfile::tempdir()?;
    let rundir = dir.path().join("run");
    let obj = tc_object(dir.path())?;
    let beed = net.start(dir.path(), &config(&[("mine", &obj, "count_packets")]), &mode.env(&rundir))?;
    wait_counts(&net, &beed, &["mine"])?;
    let during = net.filters("ingress")?;
    for line in before.lines() {
        assert!(during.lines().any(|l| l == line), "foreign filter changed: {line}\nnow:\n{during}");
    }
    if mode == Mode::Netlink {
        assert!(during.contains("pref 2 "), "beed's filter should come right after the foreign one:\n{during}");
    }
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert_eq!(net.filters("ingress")?, before, "{log}");
    assert!(net.has_clsact()?, "beed removed a clsact qdisc it did not create\n{log}");
    Ok(())
}

#[test]
fn tcx_leaves_a_foreign_filter_alone() -> TestResult {
    foreign_filter_survives(Mode::Tcx, "foreign-tcx")
}

#[test]
fn netlink_leaves_a_foreign_filter_alone() -> TestResult {
    foreign_filter_survives(Mode::Netlink, "foreign-nl")
}

/// kill -9: the kernel takes TCX and XDP links down with the process.
#[test]
fn sigkill_leaves_no_tcx_link_nor_xdp_program() -> TestResult {
    need_root()?;
    let net = Net::new("kill-tcx")?;
    let dir = tempfile::tempdir()?;
    let rundir = dir.path().join("run");
    let obj = tc_object(dir.path())?;
    let xdp = dir.path().join("xdp.bpf.o");
    common::compile_to(&fixture("attach_types.bpf.c"), &xdp, &["-DKIND_xdp"])?;
    let cfg = config(&[("tc", &obj, "count_packets"), ("xdp", &xdp, "prog")]);
    let mut beed = net.start(dir.path(), &cfg, &Mode::Tcx.env(&rundir))?;
    let pid = beed.child.id();
    wait_counts(&net, &beed, &["tc"])?;
    let mut progs = prog_ids(pid, PROG_SCHED_CLS)?;
    progs.extend(prog_ids(pid, PROG_XDP)?);
    let links = links(pid)?;
    let types: BTreeSet<&str> = links.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, BTreeSet::from(["tcx", "xdp"]), "{links:?}");
    assert_eq!(progs.len(), 2, "{progs:?}");
    let link_show = run("ip", &["-n", &net.beed, "link", "show", "va"])?;
    assert!(link_show.contains("xdp"), "{link_show}");

    beed.child.kill()?;
    beed.child.wait()?;
    wait_gone(&progs, &links)?;
    let link_show = run("ip", &["-n", &net.beed, "link", "show", "va"])?;
    assert!(!link_show.contains("xdp"), "XDP program left on va:\n{link_show}");
    assert!(net.bpftool_net_empty()?);
    assert_eq!(net.filters("ingress")?, "");
    assert!(!net.has_clsact()?);
    Ok(())
}

/// kill -9 with netlink filters: they stay (the kernel does not own them),
/// and the next beed start removes them, but neither a foreign filter nor
/// the clsact qdisc it sits on; that qdisc goes at a later start, once empty.
#[test]
fn sigkill_netlink_filters_removed_at_next_start() -> TestResult {
    need_root()?;
    let net = Net::new("kill-nl")?;
    let dir = tempfile::tempdir()?;
    let rundir = dir.path().join("run");
    let env = Mode::Netlink.env(&rundir);
    let obj = tc_object(dir.path())?;
    let cfg = config(&[("in", &obj, "count_packets:ingress"), ("out", &obj, "count_packets:egress")]);

    let mut first = net.start(dir.path(), &cfg, &env)?;
    let pid1 = first.child.id();
    wait_counts(&net, &first, &["in", "out"])?;
    let progs1 = prog_ids(pid1, PROG_SCHED_CLS)?;
    assert_eq!(progs1.len(), 2);
    // someone else's filter on the qdisc beed made
    net.tc(&["filter", "add", "dev", "va", "egress", "handle", "1", "prio", "1", "bpf", "bytecode", "1,6 0 0 0,"])?;
    let foreign = net.filters("egress")?.lines().filter(|l| l.contains("pref 1 ")).collect::<Vec<_>>().join("\n");
    first.child.kill()?;
    first.child.wait()?;
    std::thread::sleep(Duration::from_millis(300));
    // the kernel kept the filters and their programs
    assert!(net.filters("ingress")?.contains("pref 49152 "));
    assert!(run("bpftool", &["prog", "show", "id", &progs1.iter().next().unwrap_or(&0).to_string()]).is_ok());
    assert_eq!(state_files(&rundir), vec![format!("tc.{pid1}")]);

    let second = net.start(dir.path(), &cfg, &env)?;
    let pid2 = second.child.id();
    wait_gone(&progs1, &[])?;
    let log = second.log.join("\n");
    assert!(log.contains(&format!("left by beed process {pid1}")), "{log}");
    wait_counts(&net, &second, &["in", "out"])?;
    let egress = net.filters("egress")?;
    for l in foreign.lines() {
        assert!(egress.lines().any(|e| e == l), "foreign filter gone: {l}\n{egress}");
    }
    // the first beed's qdisc is still in use: its record stays for later
    let mut want = vec![format!("tc.{pid1}"), format!("tc.{pid2}")];
    want.sort();
    assert_eq!(state_files(&rundir), want);
    let progs2 = prog_ids(pid2, PROG_SCHED_CLS)?;
    let (status, log) = second.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    wait_gone(&progs2, &[])?;
    assert_eq!(net.filters("ingress")?, "");
    assert!(net.has_clsact()?, "removed the qdisc under a foreign filter\n{log}");
    assert_eq!(state_files(&rundir), vec![format!("tc.{pid1}")]);

    // once the foreign filter is gone, the next start removes the qdisc
    net.tc(&["filter", "del", "dev", "va", "egress", "handle", "1", "prio", "1", "bpf"])?;
    let third = net.start(dir.path(), &config(&[]), &env)?;
    let log = third.log.join("\n");
    assert!(!net.has_clsact()?, "{log}");
    assert!(log.contains(&format!("removed the clsact qdisc on va made by beed process {pid1}")), "{log}");
    assert!(state_files(&rundir).is_empty(), "{:?}", state_files(&rundir));
    let (status, log) = third.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    Ok(())
}

/// A `direction` that contradicts the section (`tc/egress`) fails that
/// probe, naming the program and both directions; the others run. (An
/// unknown direction is a config error, see src/config.rs.)
#[test]
fn direction_must_agree_with_the_section() -> TestResult {
    need_root()?;
    let net = Net::new("dir")?;
    let dir = tempfile::tempdir()?;
    let egress = dir.path().join("tc_egress.bpf.o");
    common::compile_to(&fixture("tc_count.bpf.c"), &egress, &["-DSECTION=\"tc/egress\""])?;
    let cfg = config(&[("clash", &egress, "count_packets:ingress"), ("fine", &egress, "count_packets:egress")]);
    let beed = net.start(dir.path(), &cfg, &Mode::Tcx.env(&dir.path().join("run")))?;
    let log = beed.log.join("\n");
    let want = "program count_packets (SEC(\"tc/egress\")): direction = \"ingress\" contradicts the section name, \
                which attaches on egress";
    assert!(log.contains(want), "{log}");
    wait_counts(&net, &beed, &["fine"])?;
    let _ = beed.terminate();
    Ok(())
}

/// Netlink path, with a legacy `ingress` qdisc where clsact would go: an
/// ingress probe attaches to it, an egress probe fails clearly (a filter
/// for egress would land on ingress), and beed leaves the qdisc alone.
#[test]
fn netlink_with_an_ingress_qdisc() -> TestResult {
    need_root()?;
    let net = Net::new("ingress-qdisc")?;
    net.tc(&["qdisc", "add", "dev", "va", "ingress"])?;
    let dir = tempfile::tempdir()?;
    let obj = tc_object(dir.path())?;
    let cfg = config(&[("in", &obj, "count_packets:ingress"), ("out", &obj, "count_packets:egress")]);
    let beed = net.start(dir.path(), &cfg, &Mode::Netlink.env(&dir.path().join("run")))?;
    let log = beed.log.join("\n");
    let want = "program count_packets (SEC(\"tc\")): attach a tc filter on va egress failed";
    assert!(log.contains(want) && log.contains("va has an `ingress` qdisc where clsact goes"), "{log}");
    wait_counts(&net, &beed, &["in"])?;
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert_eq!(net.filters("ingress")?, "");
    assert!(net.tc(&["qdisc", "show", "dev", "va"])?.contains("qdisc ingress ffff:"));
    Ok(())
}
