//! `bee run --program-stats`: what each program of the probe costs the
//! kernel (run count and time per run, from the kernel's BPF statistics,
//! which bee keeps on while it runs), in the UI's header and, with
//! --no-tty, as a `programStats` JSON line every second.

use bee_runtime::progstats::{self, Runs, StatsEnabled};
use bee_runtime::{ProbeState, Status};

/// Turns the statistics on for as long as the guard lives; a warning (and
/// counts that stay 0) when the kernel refuses.
pub fn enable() -> Option<StatsEnabled> {
    match progstats::enable() {
        Ok(g) => Some(g),
        Err(e) => {
            if !progstats::sysctl_enabled() {
                eprintln!("bee: warning: --program-stats: enabling BPF statistics failed ({e}); run counts stay 0");
            }
            None
        }
    }
}

/// Every program of `probe` with its counters.
pub fn read(status: &Status, probe: &str) -> Vec<(String, Runs)> {
    match status.lock().get(probe) {
        Some(ProbeState::Up(stats)) => {
            stats.programs.iter().map(|p| (p.program.clone(), p.read().unwrap_or_default())).collect()
        }
        _ => Vec::new(),
    }
}

/// `prog 1234 runs, 310 ns/run · ...` for the UI (`, N missed` when the
/// kernel skipped runs).
pub fn summary(rows: &[(String, Runs)]) -> String {
    let one = |(name, r): &(String, Runs)| {
        let runs = match r.nanos.checked_div(r.count) {
            Some(avg) => format!("{name} {} runs, {avg} ns/run", r.count),
            None => format!("{name} 0 runs"),
        };
        match r.missed {
            0 => runs,
            n => format!("{runs}, {n} missed"),
        }
    };
    rows.iter().map(one).collect::<Vec<_>>().join(" · ")
}

/// `{"probe":"…","programStats":[{"program":"…","runs":N,"runNanos":N,"missed":N}]}`.
pub fn json_line(probe: &str, rows: &[(String, Runs)]) -> String {
    let mut s = String::from("{\"probe\":");
    bee_object::decode::write_json_str(&mut s, probe);
    s.push_str(",\"programStats\":[");
    for (i, (name, r)) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"program\":");
        bee_object::decode::write_json_str(&mut s, name);
        s.push_str(&format!(",\"runs\":{},\"runNanos\":{},\"missed\":{}}}", r.count, r.nanos, r.missed));
    }
    s.push_str("]}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let rows = vec![
            ("on_exec".to_string(), Runs { count: 4, nanos: 1000, missed: 0 }),
            ("idle".into(), Runs::default()),
            ("nested".into(), Runs { count: 0, nanos: 0, missed: 3 }),
        ];
        assert_eq!(summary(&rows), "on_exec 4 runs, 250 ns/run · idle 0 runs · nested 0 runs, 3 missed");
        assert_eq!(
            json_line("p\"x", &rows),
            "{\"probe\":\"p\\\"x\",\"programStats\":[{\"program\":\"on_exec\",\"runs\":4,\"runNanos\":1000,\"missed\":0},\
             {\"program\":\"idle\",\"runs\":0,\"runNanos\":0,\"missed\":0},\
             {\"program\":\"nested\",\"runs\":0,\"runNanos\":0,\"missed\":3}]}\n"
        );
    }
}
