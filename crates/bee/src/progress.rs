//! Transfer progress bars (indicatif) for push and pull, drawn on stderr
//! only when it is a terminal; otherwise nothing is drawn.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar per blob, on stderr.
pub struct Bars {
    enabled: bool,
    bar: RefCell<Option<ProgressBar>>,
}

impl Bars {
    /// Bars when stderr is a terminal.
    pub fn new() -> Bars {
        Bars { enabled: std::io::stderr().is_terminal(), bar: RefCell::new(None) }
    }
}

impl bee_oci::registry::Progress for Bars {
    fn begin(&self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{msg:32} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        *self.bar.borrow_mut() = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.borrow().as_ref() {
            b.inc(n);
        }
    }

    fn end(&self) {
        if let Some(b) = self.bar.borrow_mut().take() {
            b.finish();
        }
    }
}
