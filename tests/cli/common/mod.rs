//! Shared helpers for the CLI tests: run the real `densi` binary and look at what it did.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run from the crate root, without `DENSI_MODEL` from the caller's environment.
pub fn densi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_densi"));
    c.current_dir(root()).env_remove("DENSI_MODEL").env_remove("RUST_BACKTRACE");
    c
}

pub fn run(args: &[&str]) -> Out {
    run_with_stdin(args, None)
}

pub fn run_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Out {
    let mut cmd = densi();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().expect("start densi");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let o = child.wait_with_output().expect("wait for densi");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A run that must succeed, with nothing on stderr (progress is only drawn on a terminal).
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.code, 0, "densi {args:?} failed:\n{}", o.stderr);
    assert_eq!(o.stderr, "", "densi {args:?} wrote to stderr although it is not a terminal");
    o.stdout
}

/// A failure: exit `code`, exactly one line on stderr of the form `densi: ...` containing every
/// `needle`, no panic, no backtrace.
pub fn assert_error(o: &Out, code: i32, needles: &[&str]) {
    assert_eq!(o.code, code, "exit code; stderr: {}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "want one line on stderr, got:\n{}", o.stderr);
    assert!(lines[0].starts_with("densi: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` not in: {}", lines[0]);
    }
    assert!(!o.stderr.contains("panicked") && !o.stderr.contains("RUST_BACKTRACE"), "{}", o.stderr);
}

/// A fixture path under tests/fixtures, or None (with a loud note) when absent.
pub fn fixture(rel: &str) -> Option<PathBuf> {
    let p = root().join("tests/fixtures").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "\n*** SKIPPED: fixture {} is missing (tests/fixtures comes from make_fixtures.py) ***\n",
            p.display()
        );
        None
    }
}

pub use crate::support::default_model;

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

/// A metric from JSON: a number, or NaN for `null` (an unscored token).
pub fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Two numbers are the same value, NaN included. densi writes the shortest decimal that round-trips
/// (Rust's `{}` and serde_json's ryu), but serde_json's default parser is not correctly rounded (its
/// `float_roundtrip` feature is off) and may land a few ulps away; so "the same" is within 4 ulps.
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}
