//! `bee run`: load one probe with the same runtime as beed and show its
//! maps live, in a terminal UI or as JSON lines.

mod costs;
mod decode;
mod filter;
mod model;
mod prom;
mod sinks;
mod tui;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bee_object::vars::Value;
use bee_runtime::cause::{Capability, Caps};
use bee_runtime::{AttachTarget, ObjectSource, ProbeSpec, Setup};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::cli::RunArgs;
use filter::Filters;
use model::Model;
use sinks::{Out, RunConsumers};

static STOP: AtomicBool = AtomicBool::new(false);

/// Ends `bee run` at the next check (stdout was closed).
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

/// `NAME=VALUE`: an integer, `true`/`false`, or a string.
fn parse_var(s: &str) -> Result<(String, Value)> {
    let Some((name, v)) = s.split_once('=') else { bail!("--var {s:?}: expected NAME=VALUE") };
    let value = if let Ok(i) = v.parse::<i64>() {
        Value::Int(i)
    } else if let Some(h) = v.strip_prefix("0x").and_then(|h| i64::from_str_radix(h, 16).ok()) {
        Value::Int(h)
    } else if v == "true" || v == "false" {
        Value::Bool(v == "true")
    } else {
        Value::Str(v.to_string())
    };
    Ok((name.to_string(), value))
}

/// `PROGRAM:KEY=VALUE,...` → the program's attach target.
fn parse_attach(s: &str) -> Result<(String, AttachTarget)> {
    let Some((prog, kvs)) = s.split_once(':') else { bail!("--attach {s:?}: expected PROGRAM:KEY=VALUE,...") };
    let mut t = AttachTarget::default();
    for kv in kvs.split(',').filter(|kv| !kv.is_empty()) {
        let Some((k, v)) = kv.split_once('=') else { bail!("--attach {s:?}: `{kv}` is not KEY=VALUE") };
        let num = || v.parse::<u64>().with_context(|| format!("--attach {s:?}: {k} must be a number"));
        match k {
            "binary" => t.binary = Some(v.into()),
            "func" => t.func = Some(v.into()),
            "offset" => t.offset = Some(num()?),
            "pid" => t.pid = Some(v.parse().with_context(|| format!("--attach {s:?}: pid must be a number"))?),
            "provider" => t.provider = Some(v.into()),
            "name" => t.name = Some(v.into()),
            "interface" => t.interface = Some(v.into()),
            "direction" => t.direction = Some(v.into()),
            "frequency" => t.frequency = Some(num()?),
            "period" => t.period = Some(num()?),
            _ => bail!(
                "--attach {s:?}: unknown key `{k}` (binary, func, offset, pid, provider, name, interface, direction, \
                 frequency, period)"
            ),
        }
    }
    Ok((prog.to_string(), t))
}

/// Checks every `--var` against the object's `const volatile` variables
/// before anything loads, naming the option rather than beed's config key.
fn check_vars(bytes: &[u8], what: &str, spec: &ProbeSpec) -> Result<()> {
    if spec.vars.is_empty() {
        return Ok(());
    }
    let (elf, btf) = bee_object::parse_object(bytes, what)?;
    match bee_object::vars::plan(&elf, &btf, &spec.name, &spec.vars) {
        Ok(_) => Ok(()),
        Err(bee_object::Error::Setting { what: key, reason }) => {
            let name = key.rsplit('.').next().unwrap_or(&key);
            bail!("{what}: --var {name}: {reason}")
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether this process may load BPF: root, or CAP_BPF and CAP_PERFMON
/// (read as the runtime reads them for its error causes).
fn may_load_bpf() -> bool {
    let caps = Caps::current();
    nix::unistd::geteuid().is_root()
        || (caps.effective.is_some() && caps.has(Capability::Bpf) && caps.has(Capability::Perfmon))
}

/// Runs `bee run`.
pub fn run(args: &RunArgs, probe: crate::images::Probe) -> Result<()> {
    let crate::images::Probe { bytes, what, name, image } = probe;
    let maps = bee_object::inspect(&bytes, &what)?;
    if maps.is_empty() {
        bail!(
            "{what}: the probe has no watched map: name a map print_, counter_, gauge_ or hist_ (or put it in \
             section .maps.print, ...) for bee to read it"
        );
    }
    let filters = Filters::parse(&args.filter, &maps)?;
    let decoders = bee_decoders::Context::system();
    let decodes = decode::Decodes::parse(&args.decode, &maps, &decoders)?;
    let object = match &image {
        Some(i) => ObjectSource::Image { reference: i.reference.clone(), bytes: bytes.clone().into() },
        None => ObjectSource::File(args.object.clone().into()),
    };
    let mut spec = ProbeSpec::new(name, object);
    spec.interval = args.interval;
    spec.btf_path = args.btf_path.clone();
    spec.vars = args.vars.iter().map(|v| parse_var(v)).collect::<Result<BTreeMap<_, _>>>()?;
    spec.attach = args.attach.iter().map(|a| parse_attach(a)).collect::<Result<BTreeMap<_, _>>>()?;
    check_vars(&bytes, &what, &spec)?;
    if !may_load_bpf() {
        bail!("{what}: bee run loads the probe into the kernel: run it as root (sudo bee run {what})");
    }
    let json = args.no_tty || !std::io::stdout().is_terminal();
    if !json {
        tui::check_size()?;
    }

    bee_runtime::libbpf_log::install();
    if let Err(e) = bee_runtime::tracefs::ensure_mounted() {
        eprintln!("bee: warning: {e}");
    }
    // Ctrl-C and SIGTERM are read from a signalfd: the engine thread
    // inherits the blocked mask, and the probe is detached in order
    let mut sigs = SigSet::empty();
    sigs.add(Signal::SIGINT);
    sigs.add(Signal::SIGTERM);
    sigs.thread_block().context("blocking signals")?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).context("signalfd")?;

    let families = match args.prom_port {
        Some(port) => {
            let f = prom::families()?;
            prom::serve(port, &f)?;
            Some(f)
        }
        None => None,
    };
    let model = Arc::new(Mutex::new(Model { probe: spec.name.clone(), state: "loading".into(), ..Default::default() }));
    let make = {
        let model = model.clone();
        move || {
            let out = if json { Out::Json(Rc::new(RefCell::new(Vec::new()))) } else { Out::Ui(model) };
            Some(RunConsumers { out, filters, families, decodes, decoders })
        }
    };
    let setup = Setup { probes: vec![spec], poll_latency: Duration::from_millis(5), settings: () };
    let handle = bee_runtime::spawn(setup, make, None).context("starting the engine thread")?;
    let report = handle.report().context("the engine thread stopped while loading the probe")?;
    if let Some((_, e)) = report.failed.first() {
        handle.stop();
        return Err(anyhow::Error::msg(e.to_string()));
    }
    {
        let mut m = model.lock().unwrap_or_else(|p| p.into_inner());
        m.state = "running".into();
        m.programs = sections(&bytes, &what);
    }
    if json {
        // on stderr: stdout carries only records
        eprintln!("bee: running {what} ({} watched maps); Ctrl-C to stop", maps.len());
    }
    // a duration too long for the clock (`--duration 99999999999999m`) is no deadline
    let deadline = args.duration.and_then(|d| Instant::now().checked_add(d));
    let _stats_on = args.program_stats.then(costs::enable);
    let costs = args.program_stats.then_some(&handle.status);
    let res = if json {
        wait(&sfd, deadline, costs.map(|s| (s, model_probe(&model))))
    } else {
        tui::run(&model, &handle.status, &sfd, deadline, args.program_stats)
    };
    handle.stop();
    res
}

/// `name (section)` of every program.
fn sections(bytes: &[u8], what: &str) -> Vec<String> {
    match bee_object::parse_object(bytes, what) {
        Ok((elf, _)) => elf.programs().into_iter().map(|(n, s)| format!("{n} ({s})")).collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether a signal arrived on `sfd` (waiting at most `ms`).
pub fn signalled(sfd: &SignalFd, ms: u16) -> bool {
    let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0) && matches!(sfd.read_signal(), Ok(Some(_)))
}

fn model_probe(model: &Arc<Mutex<Model>>) -> String {
    model.lock().unwrap_or_else(|p| p.into_inner()).probe.clone()
}

/// JSON mode: until a signal, the deadline, or stdout closing; with
/// `costs`, a `programStats` line every second and one at the end.
fn wait(sfd: &SignalFd, deadline: Option<Instant>, costs: Option<(&bee_runtime::Status, String)>) -> Result<()> {
    let mut last = Instant::now();
    let report = |(status, probe): &(&bee_runtime::Status, String)| {
        use std::io::Write as _;
        let line = costs::json_line(probe, &costs::read(status, probe));
        let mut out = std::io::stdout().lock();
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            request_stop();
        }
    };
    loop {
        if signalled(sfd, 200) || STOP.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(c) = &costs {
                report(c);
            }
            return Ok(());
        }
        if let Some(c) = costs.as_ref().filter(|_| last.elapsed() >= Duration::from_secs(1)) {
            last = Instant::now();
            report(c);
        }
    }
}
