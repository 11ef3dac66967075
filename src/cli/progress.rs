//! Progress bars and spinners on stderr.
//!
//! They draw only when stderr is a terminal and `--quiet` is off, so logs,
//! pipes and tests see nothing. Every bar is cleared when its work ends:
//! results are printed by the commands, not left behind in progress lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes progress indicators, or hidden ones when they must stay silent.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Visible when not `quiet` and stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Progress {
            visible: !quiet && std::io::stderr().is_terminal(),
        }
    }

    fn target(&self) -> ProgressDrawTarget {
        if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        }
    }

    /// A spinner with elapsed time, for work that cannot be counted (a
    /// smartcore fit, a tract run). It ticks on its own thread.
    pub fn spinner(&self, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(None, self.target());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} {msg} [{elapsed}]")
                .expect("valid template"),
        );
        bar.set_message(message.into());
        if self.visible {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        bar
    }

    /// A bar over `total` bytes (reading a file).
    pub fn bytes(&self, total: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), self.target());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} ({eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }

    /// A bar over `total` counted items (rows, trees).
    pub fn items(&self, total: u64, message: impl Into<String>) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), self.target());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30.cyan/blue}] {pos}/{len} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.into());
        bar
    }
}

/// Runs `work` under a spinner showing `message`, then clears it.
pub fn with_spinner<T>(p: Progress, message: impl Into<String>, work: impl FnOnce() -> T) -> T {
    let bar = p.spinner(message);
    let out = work();
    bar.finish_and_clear();
    out
}
