//! `beed`: the bee daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// beed loads BumbleBee-convention eBPF probes (maps named print_, counter_,
/// gauge_, or in sections .maps.print, ...), decodes every record from the
/// probe's BTF, and reports events to journald (or stdout as JSON lines) and
/// metrics on a Prometheus endpoint.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, after_help = "Configuration: /etc/bee/beed.toml (see packaging/beed.toml). Logs: BEED_LOG=debug for more detail.")]
struct Args {
    /// Configuration file.
    #[arg(short, long, value_name = "PATH", default_value = beed::DEFAULT_PATH)]
    config: PathBuf,

    /// Validate the configuration (PATH, else --config) and every probe
    /// object it names, then exit; loads nothing into the kernel (see --load).
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    check_config: Option<Option<PathBuf>>,

    /// With --check-config: also load every probe into the kernel to run the
    /// verifier, attaching nothing (needs root or CAP_BPF + CAP_PERFMON).
    #[arg(long, requires = "check_config")]
    load: bool,

    /// Ask the beed running as PID to reload its configuration (as SIGHUP
    /// does), wait until it has, print the outcome and exit non-zero if the
    /// configuration was invalid or a probe's new version failed (its
    /// previous version then keeps running). The unit's ExecReload= uses it.
    #[arg(long, value_name = "PID", conflicts_with = "check_config")]
    reload: Option<i32>,

    /// Debug logging (same as BEED_LOG=debug).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beed::logging::init(args.verbose);
    let res = if let Some(path) = args.check_config {
        beed::daemon::check_config(path.as_deref().unwrap_or(&args.config), args.load)
    } else if let Some(pid) = args.reload {
        beed::daemon::request_reload(pid)
    } else {
        beed::daemon::run(&args.config)
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("beed: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
