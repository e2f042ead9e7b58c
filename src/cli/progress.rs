//! Progress on stderr with indicatif: a spinner while the model loads, a bar in tokens (with
//! tokens/s) while texts are scored. Only when stderr is a terminal and `--quiet` is not given;
//! never on stdout.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    enabled: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { enabled: !quiet && std::io::stderr().is_terminal(), quiet }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A spinner with a message, until dropped or finished.
    pub fn spinner(&self, msg: String) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }

    /// A bar over `total` tokens; the caller puts the rate (tokens/s) in the message and the text in the prefix.
    pub fn tokens(&self, total: u64) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(total);
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} tokens {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    /// A warning line on stderr (not with `--quiet`), printed above any bar.
    pub fn warn(&self, bar: Option<&ProgressBar>, msg: &str) {
        if self.quiet {
            return;
        }
        match bar {
            Some(b) if !b.is_hidden() => b.suspend(|| eprintln!("densi: warning: {msg}")),
            _ => eprintln!("densi: warning: {msg}"),
        }
    }
}
