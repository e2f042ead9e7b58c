//! The `densi` command: score, export and compare texts; model and device info; benchmark; TUI.
//! All the work is in the library; this binary parses arguments, reads inputs, shows progress and
//! turns errors into one line on stderr and an exit code (0 ok, 1 failure, 2 usage).

mod cli;
mod tui;

fn main() {
    // Mesa's Vulkan drivers look for a Wayland display when wgpu creates its instance, and libwayland
    // prints "XDG_RUNTIME_DIR is invalid or not set" to stderr where that variable is missing (headless
    // servers, CI). Give it a directory so that densi's stderr stays one clear line per error.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: first statement of main; no other thread exists yet to read the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    std::process::exit(cli::main());
}

/// Ctrl-C (SIGINT) or SIGTERM while an output file is being written: remove its temporary file
/// (`densi::export::atomic::remove_live_temp_files`), leave the target as it was, and exit as a shell
/// expects of a command killed by that signal (128 + signal: 130 for Ctrl-C, 143 for SIGTERM).
/// A thread waits for the signal (signal-hook's iterator), so the cleanup is ordinary code, not a
/// restricted signal-context handler.
#[cfg(unix)]
fn clean_up_outputs_on_signal() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("densi-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            densi::export::atomic::remove_live_temp_files();
            std::process::exit(128 + signal);
        }
    })?;
    Ok(())
}

/// Windows: the default Ctrl-C handling (the temporary file may stay behind).
#[cfg(not(unix))]
fn clean_up_outputs_on_signal() -> std::io::Result<()> {
    Ok(())
}
