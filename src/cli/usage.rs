//! Usage errors found after parsing (exit code 2, like clap's own).

/// A usage error found after parsing (e.g. `compare` with one input): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A command that scores texts was given none.
pub fn no_input() -> anyhow::Error {
    UsageError("no input: give files, `-` for stdin, --text TEXT or --jsonl FILE".into()).into()
}
