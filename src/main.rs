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
