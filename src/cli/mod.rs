//! Argument parsing (clap derive), the dispatch to one module per subcommand (here, and only here),
//! and the error → exit code mapping. Subcommands share `session` (model, backend, scoring with
//! progress), `input`, `progress` and `usage`; none of them knows the others' dispatch.

mod args;
mod bench;
mod compare;
mod devices;
mod export;
mod info;
mod input;
mod pair;
mod progress;
mod report;
mod score;
mod session;
mod tui;
mod usage;

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use progress::Progress;
use usage::UsageError;

/// Returns the process exit code.
pub fn main() -> i32 {
    // A panic is a bug in densi, not a user error: one line, no backtrace, exit 1.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("densi: internal error: {msg}{at} (a bug; please report it)");
    }));

    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_error(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_error(e),
    };
    let sub = matches.subcommand().map(|(_, m)| m.clone());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || dispatch(cli, sub.as_ref())));
    match result {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => report(e),
        Err(_) => 1,
    }
}

/// Runs the subcommand.
fn dispatch(cli: Cli, sub: Option<&clap::ArgMatches>) -> anyhow::Result<()> {
    let progress = Progress::new(cli.quiet);
    match cli.command {
        Command::Score(a) => score::run(a, sub, &progress),
        Command::Export(a) => export::run(a, sub, &progress),
        Command::Compare(a) => compare::run(a, sub, &progress),
        Command::Report(a) => report::run(a, sub, &progress),
        Command::Info(a) => info::run(a, &progress),
        Command::Devices(_) => devices::run(),
        Command::Bench(a) => bench::run(a, &progress),
        Command::Tui(a) => tui::run(a, sub),
    }
}

/// `--help`/`--version` print and exit 0; anything else is a usage error: its first line, exit 2.
fn clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand { 2 } else { 0 }
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            let first = first.trim().strip_prefix("error: ").unwrap_or(first.trim());
            eprintln!("densi: {first} (see `densi --help`)");
            2
        }
    }
}

/// One line on stderr; exit 2 for usage errors, 1 otherwise. A closed stdout (`densi ... | head`) is not an error.
fn report(e: anyhow::Error) -> i32 {
    for cause in e.chain() {
        if cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) {
            return 0;
        }
    }
    // `{:#}` would repeat a cause that a message already quotes (`path: No such file...: No such file...`).
    let mut line = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !line.contains(&c) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&c);
        }
    }
    let line = line.replace('\n', " ");
    let _ = writeln!(std::io::stderr(), "densi: {line}");
    if e.downcast_ref::<UsageError>().is_some() { 2 } else { 1 }
}
