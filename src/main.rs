//! The `densi` command: score, export and compare texts; model and device info; benchmark; TUI.
//! All the work is in the library; this binary parses arguments, reads inputs, shows progress and
//! turns errors into one line on stderr and an exit code (0 ok, 1 failure, 2 usage).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
