//! Ctrl-C (SIGINT) or SIGTERM during `densi export -o FILE`: the temporary file is removed, the
//! target stays as it was, and the exit status is 128 + the signal (130, 143). The real binary on a
//! long input (a tiny fixture model, so it runs for seconds), signalled with `kill` once its
//! temporary output exists.
#![cfg(unix)]

use crate::common::*;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Starts `densi export` on a long text into `out`; returns once `temp` (a name test) exists in `dir`.
fn start_export(dir: &Path, out: &Path, format: &str, temp: impl Fn(&str) -> bool) -> Option<Child> {
    let model = fixture("llama")?;
    let text = dir.join("long.txt");
    std::fs::write(&text, "The quick brown fox jumps over the lazy dog, 42 times. ".repeat(20_000)).unwrap();
    let mut child = densi()
        .args(["export", "-f", format, "--backend", "cpu", "--force", "--model", s(&model), "-o", s(out), s(&text)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start densi");
    let t0 = Instant::now();
    while !names_in(dir).iter().any(|n| temp(n)) {
        assert!(child.try_wait().unwrap().is_none(), "densi ended before its output existed");
        assert!(t0.elapsed() < Duration::from_secs(30), "no temporary output after 30 s: {:?}", names_in(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child)
}

fn signal(child: &mut Child, sig: &str) -> i32 {
    // Still running: the signal interrupts the export, it does not arrive after the end.
    assert!(child.try_wait().unwrap().is_none(), "densi finished before the signal; make the input longer");
    let st = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(st.success(), "kill {sig}");
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    status.code().unwrap_or_else(|| panic!("densi died of the signal instead of handling it: {status:?}"))
}

#[test]
fn ctrl_c_during_export_removes_the_temp_file_and_keeps_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    std::fs::write(&out, "precious").unwrap();
    let Some(mut child) = start_export(dir.path(), &out, "csv", |n| n.starts_with(".out.csv.") && n.ends_with(".tmp"))
    else {
        return;
    };
    std::thread::sleep(Duration::from_millis(300)); // into the model load or the scoring
    assert_eq!(signal(&mut child, "-INT"), 130);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    assert_eq!(names_in(dir.path()), ["long.txt", "out.csv"], "no temporary file left");
}

#[test]
fn sigterm_during_a_streamed_export_removes_the_empty_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let Some(mut child) = start_export(dir.path(), &out, "jsonl", |n| n == "out.jsonl.partial") else { return };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(signal(&mut child, "-TERM"), 143);
    assert_eq!(names_in(dir.path()), ["long.txt"], "no .partial (nothing was finished) and no target");
}
