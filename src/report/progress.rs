//! The progress bar: an indicatif bar with an ETA on stderr, shown only when
//! stderr is a terminal (never in CI logs or pipes). It advances once per
//! batch, which costs nothing measurable.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Progress;

/// A bar over a run's paths, hidden when stderr is not a terminal.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar for `paths` paths; hidden when `quiet` or stderr is no terminal.
    pub fn new(paths: u64, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(paths), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(paths);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% of {human_len} paths, ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        };
        Self { bar }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn advance(&self, paths: u64) {
        self.bar.inc(paths);
    }
}
