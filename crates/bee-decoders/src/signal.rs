//! `signal`: a signal number to its name: `11` → `SIGSEGV`. The numbers
//! are the same on x86_64 and aarch64; real-time signals are named as
//! strace names them (`SIGRTMIN`, `SIGRT_1`…`SIGRT_32`).

use crate::value::{push_int, Numbered};

const NAMES: [&str; 32] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// Appends the name of signal `n` (the number when it has none).
pub fn write(out: &mut String, n: i128) {
    match n {
        0..=31 => out.push_str(NAMES[n as usize]),
        32 => out.push_str("SIGRTMIN"),
        33..=64 => {
            out.push_str("SIGRT_");
            push_int(out, n - 32);
        }
        _ => push_int(out, n),
    }
}

/// The `signal` decoder.
pub const SIGNAL: Numbered = Numbered(write);

#[cfg(test)]
mod tests {
    use super::*;
    use bee_object::decode::{Render, Value};

    #[test]
    fn signal_names() {
        for (n, want) in [
            (1, "SIGHUP"),
            (9, "SIGKILL"),
            (11, "SIGSEGV"),
            (15, "SIGTERM"),
            (17, "SIGCHLD"),
            (31, "SIGSYS"),
            (32, "SIGRTMIN"),
            (34, "SIGRT_2"),
            (64, "SIGRT_32"),
            (0, "0"),
            (65, "65"),
            (-1, "-1"),
        ] {
            let mut s = String::new();
            SIGNAL.text(Value::I(n), &mut s);
            assert_eq!(s, want, "{n}");
        }
    }
}
