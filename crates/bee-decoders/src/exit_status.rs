//! `exit_status`: a wait status (what `wait(2)` returns, the kernel's
//! `task->exit_code`) in words: `exit 1`, `killed by SIGKILL`,
//! `killed by SIGSEGV (core dumped)`, `stopped by SIGSTOP`.

use crate::signal;
use crate::value::{push_int, Numbered};

/// Appends wait status `st` in words.
pub fn write(out: &mut String, st: i128) {
    if !(0..=0xffff).contains(&st) {
        push_int(out, st);
        return;
    }
    let (low, high) = (st & 0x7f, (st >> 8) & 0xff);
    if low == 0 {
        out.push_str("exit ");
        push_int(out, high);
    } else if low == 0x7f {
        out.push_str("stopped by ");
        signal::write(out, high);
    } else {
        out.push_str("killed by ");
        signal::write(out, low);
        if st & 0x80 != 0 {
            out.push_str(" (core dumped)");
        }
    }
}

/// The `exit_status` decoder.
pub const EXIT_STATUS: Numbered = Numbered(write);

#[cfg(test)]
mod tests {
    use super::*;
    use bee_object::decode::{Render, Value};

    #[test]
    fn wait_statuses() {
        for (st, want) in [
            (0, "exit 0"),
            (0x100, "exit 1"),
            (0xff00, "exit 255"),
            (9, "killed by SIGKILL"),
            (15, "killed by SIGTERM"),
            (0x8b, "killed by SIGSEGV (core dumped)"),
            (0x86, "killed by SIGABRT (core dumped)"),
            (0x137f, "stopped by SIGSTOP"),
            (0x10000, "65536"),
            (-1, "-1"),
        ] {
            let mut s = String::new();
            EXIT_STATUS.text(Value::I(st), &mut s);
            assert_eq!(s, want, "{st:#x}");
        }
    }
}
