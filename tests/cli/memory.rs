//! Peak memory of the default model, measured in a child process (`densi bench` reports the
//! process's VmHWM), against issue 9's bound: scoring a short text with the default model
//! (SmolLM2-135M Q4_1, a 98 MB file) in at most 300 MB, with the default `--weights` (resident).
//! Not timed.

use crate::common::*;

/// Issue 9's bound on the default model's peak RSS scoring a short text, in bytes (300 MB).
const MAX_PEAK_RSS: u64 = 300_000_000;

#[test]
fn default_model_scores_a_short_text_within_300_mb() {
    let Some(model) = default_model() else { return };
    let args = ["bench", "--backend", "cpu", "--tokens", "32", "--repeats", "1", "--model"];
    let out = ok(&[&args[..], &[s(&model)]].concat());
    // "     32      0.0123      0.0123        2600       12.3    143 MiB"
    let row = out.lines().find(|l| l.split_whitespace().next() == Some("32")).unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.get(6), Some(&"MiB"), "{row}");
    let peak = cols[5].parse::<u64>().unwrap() << 20;
    assert!(peak <= MAX_PEAK_RSS, "peak RSS {} MiB > 300 MB:\n{out}", peak >> 20);
}
